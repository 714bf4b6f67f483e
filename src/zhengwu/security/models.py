"""Persistence of security events and of how far the WAF audit log has been read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class SecurityEvent(IdMixin, Base):
    """安全事件 — one event, or one summary of a flood of alike events (``count`` > 1).

    ``detail`` never holds personal data: rule ids, tags, the request path without its query, counts.
    ``peer`` is the remote address the event is about (等保 8.1.4.3 asks for the source of an event).
    """

    __tablename__ = "security_event"
    __table_args__ = (
        Index("ix_security_event_time", "occurred_at"),
        Index("ix_security_event_type_time", "event_type", "occurred_at"),
    )

    event_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))  # the component that saw it: waf, node.ratelimit, ...
    peer: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())  # = occurred_at unless a summary
    count: Mapped[int] = mapped_column(Integer, default=1)
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    # The source's own id of the event (ModSecurity's unique_id): a line read twice is stored once.
    source_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The lower node that reported the event upward (security.upward); None: seen on this node.
    origin: Mapped[str | None] = mapped_column(String(63), index=True)


class SecurityPosture(IdMixin, Base):
    """The newest security posture summary of a node below (one row per node): ``sender`` is the node
    it describes (a middle node passes its lower nodes' summaries on), ``route`` the way it came."""

    __tablename__ = "security_posture"

    sender: Mapped[str] = mapped_column(String(63), unique=True)
    route: Mapped[str | None] = mapped_column(String(255))
    node_name: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(40), default="")
    summary: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reports: Mapped[int] = mapped_column(Integer, default=1)


class SecurityNotice(IdMixin, Base):
    """安全通报 — a notice from the national security centre (received) or one this node issued.

    Received notices are handled here: assigned to a staff member, acknowledged, closed with a note;
    each step is an audited change (``audit_change`` rows with entity ``security_notice``).
    """

    __tablename__ = "security_notice"

    notice_key: Mapped[str] = mapped_column(String(100), unique=True)  # <issuer>:<id at the issuer>
    direction: Mapped[str] = mapped_column(String(16))  # issued | received
    issuer: Mapped[str] = mapped_column(String(63))
    to_node: Mapped[str] = mapped_column(String(63))  # a node id, or * for every lower node
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(4000))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # issued | open | assigned | acknowledged | closed
    assignee: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(2000))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SecurityNoticeReceipt(IdMixin, Base):
    """What a lower node reported about a notice this node issued: acknowledged (when), closed (when, note).

    One row per notice and node, moved forward by the receipts the node sends up (a later step never
    goes back: an acknowledgement arriving after the closing changes nothing).
    """

    __tablename__ = "security_notice_receipt"
    __table_args__ = (UniqueConstraint("notice_key", "node_id"),)

    notice_key: Mapped[str] = mapped_column(String(100))
    node_id: Mapped[str] = mapped_column(String(63))  # the node that handled it (as the exchange checked)
    route: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))  # acknowledged | closed
    note: Mapped[str | None] = mapped_column(String(2000))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WafCursor(Base):
    """How far one ModSecurity audit log file has been ingested (by path; a new file starts again)."""

    __tablename__ = "security_waf_cursor"

    path: Mapped[str] = mapped_column(String(1000), primary_key=True)
    inode: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    offset: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    line: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    # SM3 of the file's first line: a rotated file that got the old inode back is still a new file.
    head_digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
