"""Persistence of the node PKI (keys, certificates, CRLs, trust anchors) and the seal registry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class SealsKey(IdMixin, Base):
    """签名密钥 — a key reference, its public key and, for software keys, the SM4-wrapped private key."""

    __tablename__ = "seals_key"

    key_ref: Mapped[str] = mapped_column(String(255), unique=True)
    backend: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SealsCertificate(IdMixin, Base):
    """本节点签发的证书 — CA, seal maker, TSA, seal signer and node exchange certificates, with revocation."""

    __tablename__ = "seals_certificate"
    __table_args__ = (UniqueConstraint("issuer_id", "serial"),)

    issuer_id: Mapped[str | None] = mapped_column(ForeignKey("seals_certificate.id"), index=True)
    profile: Mapped[str] = mapped_column(String(32), index=True)
    serial: Mapped[str] = mapped_column(String(40))  # upper-case hex, RFC 5280 ≤ 20 octets
    subject: Mapped[str] = mapped_column(String(1000))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str | None] = mapped_column(ForeignKey("seals_key.id"))
    node_id: Mapped[str | None] = mapped_column(String(63))  # the peer node of an exchange certificate
    status: Mapped[str] = mapped_column(String(16), default="valid")  # valid | revoked
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SealsCrl(IdMixin, Base):
    """证书撤销列表 — every CRL a node CA issued (the newest is published)."""

    __tablename__ = "seals_crl"
    __table_args__ = (UniqueConstraint("issuer_id", "number"),)

    issuer_id: Mapped[str] = mapped_column(ForeignKey("seals_certificate.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SealsTrustAnchor(IdMixin, Base):
    """受信任的外部根证书 — a CA root of another PKI, what it is trusted for, and where its CRL comes from."""

    __tablename__ = "seals_trust_anchor"

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


class Seal(IdMixin, Base):
    """电子印章 — a GB/T 38540 v4 seal of a department, its signer certificate and its status."""

    __tablename__ = "seals_seal"

    es_id: Mapped[str] = mapped_column(String(64), unique=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    seal_type: Mapped[int] = mapped_column(Integer)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("seals_certificate.id"))
    der: Mapped[bytes] = mapped_column(LargeBinary)  # DER SESeal as made (Seal.esl)
    picture_type: Mapped[str] = mapped_column(String(8))
    valid_start: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status_changed_by: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SealStatusEvent(IdMixin, Base):
    """印章状态变更 — the history that answers "what was the seal's status at time t" (conventions §14)."""

    __tablename__ = "seals_seal_event"

    seal_id: Mapped[str] = mapped_column(ForeignKey("seals_seal.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # order of events of one seal (same-second changes)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class SealUsage(IdMixin, Base):
    """用印记录 — one document sealed by this node: who, when, and the digests before and after."""

    __tablename__ = "seals_usage"

    seal_id: Mapped[str] = mapped_column(ForeignKey("seals_seal.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    document_sm3: Mapped[str] = mapped_column(String(64))
    signed_sm3: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
