"""API shapes of the portal's notices, columns and style."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zhengwu.portal import notices
from zhengwu.portal.models import PortalNotice, PortalStyle


class NoticeCreate(BaseModel):
    """A notice (通知公告: title and text) or a column entry (栏目: title, link, a line of explanation)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["notice", "column"] = "notice"
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=8000)
    url: str | None = Field(default=None, max_length=500, description="栏目的链接：http(s):// 或本站路径 /…")


class NoticeChange(BaseModel):
    """New title, text and link of an entry this node published."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=8000)
    url: str | None = Field(default=None, max_length=500)


class NoticeRead(BaseModel):
    """One notice or column entry; ``local`` when this node published it. Times in UTC."""

    id: str
    kind: str
    kind_label: str
    title: str
    body: str
    url: str | None
    origin: str
    origin_name: str
    local: bool
    published_at: datetime
    withdrawn_at: datetime | None


class StyleAdopt(BaseModel):
    """The upper node whose offered style the pages adopt; null: the node's own look again."""

    model_config = ConfigDict(extra="forbid")

    origin: str | None = Field(default=None, max_length=63)


class StyleOffer(BaseModel):
    """A style an upper node offered."""

    origin: str
    origin_name: str
    title: str
    logo_url: str
    header_colour: str
    footer: str
    offered_at: datetime
    adopted: bool


class StyleRead(BaseModel):
    """The look the pages show now, and the offers received from upper nodes."""

    look: dict[str, str]
    offers: list[StyleOffer]


def read_notice(notice: PortalNotice, own_node: str) -> NoticeRead:
    """The API shape of an entry."""
    return NoticeRead(
        id=notice.id, kind=notice.kind, kind_label=notices.KINDS.get(notice.kind, ""), title=notice.title,
        body=notice.body, url=notice.url, origin=notice.origin, origin_name=notice.origin_name,
        local=notice.origin == own_node, published_at=notice.published_at, withdrawn_at=notice.withdrawn_at,
    )  # fmt: skip


def read_offer(style: PortalStyle) -> StyleOffer:
    """The API shape of an offer."""
    return StyleOffer(
        origin=style.origin, origin_name=style.origin_name, title=style.title, logo_url=style.logo_url,
        header_colour=style.header_colour, footer=style.footer, offered_at=style.offered_at, adopted=style.adopted,
    )  # fmt: skip
