"""Persistence of the seal registry: seals, their status history and usage (certificates are in zhengwu.pki)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class Seal(IdMixin, Base):
    """电子印章 — a GB/T 38540 v4 seal of a department, its signer certificate and its status."""

    __tablename__ = "seals_seal"

    es_id: Mapped[str] = mapped_column(String(64), unique=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    seal_type: Mapped[int] = mapped_column(Integer)
    certificate_id: Mapped[str] = mapped_column(ForeignKey("pki_certificate.id"))
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
