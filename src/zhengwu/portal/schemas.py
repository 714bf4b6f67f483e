"""API shapes of the portal's notices, columns, style and registered apps."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from zhengwu.portal import notices
from zhengwu.portal.models import PortalApp, PortalNotice, PortalStyle


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


class StyleOfferIn(BaseModel):
    """What goes with an offer besides the look: the logo image the lower nodes will show."""

    model_config = ConfigDict(extra="forbid")

    logo_base64: str | None = Field(
        default=None,
        max_length=90_000,
        description="标志图片：PNG 或 JPEG，不超过 64 KB，Base64；不填则转发已采用样式的标志",
    )


class StyleOffer(BaseModel):
    """A style an upper node offered (``logo_url``: where this node serves the logo it sent)."""

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
        origin=style.origin, origin_name=style.origin_name, title=style.title,
        logo_url=notices.logo_path(style) if style.logo_type else style.logo_url,
        header_colour=style.header_colour, footer=style.footer, offered_at=style.offered_at, adopted=style.adopted,
    )  # fmt: skip


class AppWrite(BaseModel):
    """A department H5 app registered in the mobile front end (接入应用)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, description="应用名称")
    description: str = Field(default="", max_length=200, description="一句话简介")
    entry_url: str = Field(
        max_length=500,
        description="入口地址（OIDC 第三方发起登录地址，与客户端某个回调地址同源）",
    )
    client_id: str = Field(max_length=64, description="统一身份认证中登记的客户端编号")
    items: list[str] = Field(
        default_factory=list, max_length=200, description="服务事项：实施编码或基本目录编码"
    )
    icon_base64: str | None = Field(
        default=None,
        max_length=90_000,
        description="图标：PNG 或 JPEG，不超过 64 KB，Base64；修改时不填则不变",
    )


class AppRead(BaseModel):
    """An app as staff see it. Times in UTC."""

    id: str
    name: str
    description: str
    entry_url: str
    client_id: str
    items: list[str]
    icon_url: str | None
    open_url: str
    status: str
    created_at: datetime
    updated_at: datetime


class AppShown(BaseModel):
    """An app as the mobile front end lists it: open it with ``open_url`` in the browser that holds the
    person's session (single sign-on)."""

    id: str
    name: str
    description: str
    icon_url: str | None
    open_url: str
    items: list[str]


def read_app(app: PortalApp) -> AppRead:
    """The staff API shape of an app."""
    return AppRead(
        id=app.id, name=app.name, description=app.description, entry_url=app.entry_url,
        client_id=app.client_id, items=list(app.items or []), icon_url=icon_url(app),
        open_url=f"/apps/{app.id}/open", status=app.status, created_at=app.created_at,
        updated_at=app.updated_at,
    )  # fmt: skip


def shown_app(app: PortalApp) -> AppShown:
    """The public shape of an app."""
    return AppShown(
        id=app.id, name=app.name, description=app.description, icon_url=icon_url(app),
        open_url=f"/apps/{app.id}/open", items=list(app.items or []),
    )  # fmt: skip


def icon_url(app: PortalApp) -> str | None:
    """Where the node serves the app's icon (the version in the query lets browsers cache it)."""
    if not app.icon_type:
        return None
    return f"/portal/apps/{app.id}/icon?v={int(app.updated_at.timestamp())}"
