"""Persistence of the node PKI: keys, the certificates this node issued, their CRLs, external trust anchors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class PkiKey(IdMixin, Base):
    """签名密钥 — a key reference, its public key and, for software keys, the SM4-wrapped private key."""

    __tablename__ = "pki_key"

    key_ref: Mapped[str] = mapped_column(String(255), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PkiCertificate(IdMixin, Base):
    """本节点签发的证书 — CA, seal maker, TSA, seal signer and node exchange certificates, with revocation."""

    __tablename__ = "pki_certificate"
    __table_args__ = (UniqueConstraint("issuer_id", "serial"),)

    issuer_id: Mapped[str | None] = mapped_column(ForeignKey("pki_certificate.id"), index=True)
    profile: Mapped[str] = mapped_column(String(32), index=True)
    serial: Mapped[str] = mapped_column(String(40))  # upper-case hex, RFC 5280 ≤ 20 octets
    subject: Mapped[str] = mapped_column(String(1000))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str | None] = mapped_column(ForeignKey("pki_key.id"))
    node_id: Mapped[str | None] = mapped_column(String(63))  # the peer node of an exchange certificate
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid | revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PkiCrl(IdMixin, Base):
    """证书撤销列表 — every CRL a node CA issued (the newest is published)."""

    __tablename__ = "pki_crl"
    __table_args__ = (UniqueConstraint("issuer_id", "number"),)

    issuer_id: Mapped[str] = mapped_column(ForeignKey("pki_certificate.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PkiTrustAnchor(IdMixin, Base):
    """受信任的外部根证书 — a CA root of another PKI, what it is trusted for, and where its CRL comes from."""

    __tablename__ = "pki_trust_anchor"

    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(1000))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    purposes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    crl_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    crl_sm3: Mapped[str | None] = mapped_column(String(64))  # which CRL is stored (trust store cache key)
    crl_url: Mapped[str | None] = mapped_column(String(1000))
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
