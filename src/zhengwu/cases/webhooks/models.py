"""Persistence of the department-system webhooks: endpoints, events (the pull feed's cursor), deliveries
and their attempts (the delivery log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEndpoint(IdMixin, Base):
    """推送地址 — where one department system (an OIDC client with a department) receives case events."""

    __tablename__ = "cases_webhook_endpoint"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted at rest; shown once at registration
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The event types it subscribed to; NULL: every type (also those added later).
    event_types: Mapped[list[str] | None] = mapped_column(PortableJSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))


class WebhookEvent(Base):
    """One case event as sent: its body is stored byte for byte so replays and pulls sign the same bytes."""

    __tablename__ = "cases_webhook_event"
    __table_args__ = (Index("ix_cases_webhook_event_dept_seq", "department_id", "seq"),)

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)  # the pull cursor
    msg_id: Mapped[str] = mapped_column(String(40), unique=True)  # webhook-id
    type: Mapped[str] = mapped_column(String(64))
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"))
    case_no: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAudience(Base):
    """联办 — another department that hears of an event: one asked for its opinion on the case. The
    item's own department is implied by the event; these rows make push and pull agree for the others."""

    __tablename__ = "cases_webhook_audience"
    __table_args__ = (Index("ix_cases_webhook_audience_dept_seq", "department_id", "event_seq"),)

    event_seq: Mapped[int] = mapped_column(_SEQ, ForeignKey("cases_webhook_event.seq"), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), primary_key=True)


class WebhookDelivery(IdMixin, Base):
    """投递 — one event to one endpoint: pending until delivered, dead after the last attempt fails."""

    __tablename__ = "cases_webhook_delivery"
    __table_args__ = (Index("ix_cases_webhook_delivery_due", "status", "next_attempt_at"),)

    event_seq: Mapped[int] = mapped_column(ForeignKey("cases_webhook_event.seq"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / delivered / dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The token of the dispatch round holding the row (NULL: none); its outcome is written only while
    # the row still names it, so a round that outlived its lease cannot overwrite a newer round's.
    lease: Mapped[str | None] = mapped_column(String(32), index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(IdMixin, Base):
    """One HTTP attempt of a delivery (the delivery log)."""

    __tablename__ = "cases_webhook_attempt"

    delivery_id: Mapped[str] = mapped_column(ForeignKey("cases_webhook_delivery.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
