"""Persistence of the audit capability: chain heads, the change log, the read log and signed heads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, PortableJSON, UTCDateTime

BigSeq = BigInteger().with_variant(Integer(), "sqlite")


class AuditChainHead(Base):
    """The head of one named hash chain: how many records it holds and the last hash (locked to append)."""

    __tablename__ = "audit_chain_head"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class ChainedRecord:
    """The columns a record of a hash chain carries (``audit.chain``): its number, previous hash, hash."""

    seq: Mapped[int] = mapped_column(BigSeq, primary_key=True, autoincrement=False)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChange(ChainedRecord, Base):
    """变更日志 — one administrative write: who, what, which object, in which department, before and after."""

    __tablename__ = "audit_change"
    __table_args__ = (
        Index("ix_audit_change_entity", "entity", "entity_id"),
        Index("ix_audit_change_department", "department_id", "seq"),
    )

    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(128))
    department_id: Mapped[str | None] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    trace_id: Mapped[str | None] = mapped_column(String(64))


class AuditRead(ChainedRecord, Base):
    """读取审计 — a staff member or a machine read a person's data: who, why, what, when."""

    __tablename__ = "audit_read"
    __table_args__ = (Index("ix_audit_read_subject", "subject_account_id", "seq"),)

    at: Mapped[datetime] = mapped_column(UTCDateTime())
    subject_account_id: Mapped[str] = mapped_column(String(32))
    reader: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(String(128))
    trace_id: Mapped[str | None] = mapped_column(String(64))


class AuditSignedHead(Base):
    """链头签名 — the node's SM2 signature over a chain's sequence, hash and time."""

    __tablename__ = "audit_signed_head"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_signed_head_chain_seq"),)

    id: Mapped[int] = mapped_column(BigSeq, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Thumbprint of the node certificate whose key signed (verification uses the PKI's copy, not this row).
    signer: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class AuditReportedHead(Base):
    """上报的链头 — a lower node's signed chain head, kept by the upper node."""

    __tablename__ = "audit_reported_head"
    __table_args__ = (
        UniqueConstraint("sender", "chain", "seq", name="uq_audit_reported_head_sender_chain_seq"),
    )

    id: Mapped[int] = mapped_column(BigSeq, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(63))
    chain: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    signer: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
