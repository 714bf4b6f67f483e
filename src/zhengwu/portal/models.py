"""Persistence of the portal's notices, columns, the header style offered by upper nodes and the
department H5 apps registered in the mobile front end.

Rows made here and rows that came down the exchange's feed share one table: ``origin`` says which node
published it (this node's id for local ones), so a lower node shows the upper node's notices beside its
own and may add local ones.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


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
    logo_url: Mapped[str] = mapped_column(String(500), default="")  # a path, from nodes before the bytes
    # The logo itself (PNG or JPEG, checked on arrival): served by this node, so nothing to copy by hand.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    logo_type: Mapped[str | None] = mapped_column(String(16))
    header_colour: Mapped[str] = mapped_column(String(7))
    footer: Mapped[str] = mapped_column(String(500), default="")
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    adopted: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PortalApp(IdMixin, Base):
    """接入应用 of the mobile front end: a department's H5 app, opened with the node's single sign-on.

    ``client_id`` names the app's registration at this node's OIDC provider: opening the app sends the
    person to ``entry_url`` as an OIDC third-party-initiated login, and the app's own authorize request
    finds the person's session here. ``items`` are the implementation or basic catalog codes it serves
    (its guide pages link it). The icon is kept as bytes: the pages allow images from the node only.
    """

    __tablename__ = "portal_app"

    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(200), default="")
    entry_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(64))
    items: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    icon: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # listings do not load it
    icon_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | withdrawn
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PortalAppLaunch(IdMixin, Base):
    """A one-time code with which the person's mobile app opens a department app in its web view, logged
    in (the token stays in the app; only this code's SM3 digest is stored).

    The code is bound to the app and to the OIDC client the app was registered with when it was made,
    lives ``LAUNCH_SECONDS`` and is taken once (``used_at``); the login it opens carries the level, methods
    and time of the login behind the app's token, so it is never fresher or stronger than that one.
    """

    __tablename__ = "portal_app_launch"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(String(64))  # the app's client when the code was made
    issued_to: Mapped[str] = mapped_column(String(64))  # the mobile app's client that asked for it
    account_id: Mapped[str] = mapped_column(String(32))
    acting_for: Mapped[str | None] = mapped_column(String(32))
    auth_level: Mapped[int] = mapped_column(Integer)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
