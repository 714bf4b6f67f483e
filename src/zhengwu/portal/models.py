"""Persistence of the portal's notices, columns and the header style offered by upper nodes.

Rows made here and rows that came down the exchange's feed share one table: ``origin`` says which node
published it (this node's id for local ones), so a lower node shows the upper node's notices beside its
own and may add local ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, UTCDateTime


class PortalNotice(IdMixin, Base):
    """通知公告 (``kind`` notice) or a 栏目 entry (``kind`` column: an application resource, a link)."""

    __tablename__ = "portal_notice"
    __table_args__ = (Index("ix_portal_notice_listing", "kind", "withdrawn_at", "published_at"),)

    notice_key: Mapped[str] = mapped_column(String(100), unique=True)  # <origin>:<id at the origin>
    kind: Mapped[str] = mapped_column(String(16))  # notice | column
    origin: Mapped[str] = mapped_column(String(63))
    origin_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(8000), default="")
    url: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PortalStyle(IdMixin, Base):
    """The header style (logo, colour, header text, footer) an upper node offers; one row per origin.

    Offered is not applied: a lower node keeps its own look until an operator adopts the offer
    (``adopted``); a newer offer from the same origin replaces the values and keeps the decision.
    """

    __tablename__ = "portal_style"

    origin: Mapped[str] = mapped_column(String(63), unique=True)
    origin_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(60), default="")
    logo_url: Mapped[str] = mapped_column(String(500), default="")
    header_colour: Mapped[str] = mapped_column(String(7))
    footer: Mapped[str] = mapped_column(String(500), default="")
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    adopted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
