"""The portal's publishing API: notices, columns and the style, for the platform administrator, and the
registered apps (接入应用) for platform and identity administrators (ADR 0010 guard, second factor).
Reading them is public: the mobile API and the pages."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from zhengwu.audit.changes import actor_of
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.portal import apps, notices, rights
from zhengwu.portal.errors import PortalError
from zhengwu.portal.schemas import (
    AppRead,
    AppWrite,
    NoticeChange,
    NoticeCreate,
    NoticeRead,
    StyleAdopt,
    StyleOfferIn,
    StyleRead,
    read_app,
    read_notice,
    read_offer,
)

router = APIRouter(prefix="/api/v1/portal", tags=["portal 门户"])

Publisher = Annotated[StaffPrincipal, Depends(guard(rights.PUBLISH))]
AppKeeper = Annotated[StaffPrincipal, Depends(guard(rights.APPS))]


@router.get(
    "/notices", response_model=list[NoticeRead], summary="通知公告和栏目（含已撤回）", responses=errors(422)
)
def list_notices(
    request: Request,
    response: Response,
    db: DbSession,
    staff: Publisher,
    page: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[
        Literal["notice", "column"], Query(description="notice 通知公告 / column 栏目")
    ] = "notice",
) -> list[NoticeRead]:
    """This node's and the upper nodes' entries, newest first, withdrawn ones included."""
    rows, total = notices.current(db, kind, offset=page.offset, limit=page.limit, withdrawn=True)
    set_page_headers(request, response, total=total, page=page)
    own = node_of(request).settings.node_id
    return [read_notice(n, own) for n in rows]


@router.post(
    "/notices",
    response_model=NoticeRead,
    status_code=201,
    summary="发布通知公告或栏目",
    responses=errors(422),
)
def publish_notice(request: Request, body: NoticeCreate, db: DbSession, staff: Publisher) -> NoticeRead:
    """Publish here; the lower nodes receive it through the exchange's downward feed."""
    settings = node_of(request).settings
    notice = notices.publish(
        db, settings, kind=body.kind, title=body.title, body=body.body, url=body.url,
        actor=actor_of(staff.account_id),
    )  # fmt: skip
    return read_notice(notice, settings.node_id)


@router.put(
    "/notices/{notice_id}",
    response_model=NoticeRead,
    summary="修改通知公告或栏目",
    responses=errors(404, 409, 422),
)
def change_notice(
    notice_id: str, request: Request, body: NoticeChange, db: DbSession, staff: Publisher
) -> NoticeRead:
    """Change an entry this node published (an upper node's entries are changed there)."""
    settings = node_of(request).settings
    notice = notices.change(
        db,
        settings,
        notice_id,
        title=body.title,
        body=body.body,
        url=body.url,
        actor=actor_of(staff.account_id),
    )
    return read_notice(notice, settings.node_id)


@router.post(
    "/notices/{notice_id}/withdraw",
    response_model=NoticeRead,
    summary="撤回通知公告或栏目",
    responses=errors(404, 409),
)
def withdraw_notice(notice_id: str, request: Request, db: DbSession, staff: Publisher) -> NoticeRead:
    """Withdraw an entry this node published, here and on the lower nodes."""
    settings = node_of(request).settings
    notice = notices.withdraw(db, settings, notice_id, actor=actor_of(staff.account_id))
    return read_notice(notice, settings.node_id)


def _style(request: Request, db: DbSession) -> StyleRead:
    settings = node_of(request).settings
    return StyleRead(
        look=notices.effective_look(db, settings), offers=[read_offer(s) for s in notices.offers(db)]
    )


@router.get("/style", response_model=StyleRead, summary="页面样式及上级下发的样式")
def get_style(request: Request, db: DbSession, staff: Publisher) -> StyleRead:
    """The look the pages show and the styles upper nodes offered."""
    return _style(request, db)


@router.post(
    "/style/offer", response_model=StyleRead, summary="向下级平台下发本平台页面样式", responses=errors(422)
)
def offer_style(
    request: Request, db: DbSession, staff: Publisher, body: StyleOfferIn | None = None
) -> StyleRead:
    """Send this node's look down the feed, with the logo's bytes; lower nodes may adopt it."""
    logo = _decoded(body.logo_base64, "标志图片") if body is not None else None
    notices.offer_style(db, node_of(request).settings, actor=actor_of(staff.account_id), logo=logo)
    return _style(request, db)


@router.post(
    "/style/adopt", response_model=StyleRead, summary="采用上级平台下发的页面样式", responses=errors(404)
)
def adopt_style(request: Request, body: StyleAdopt, db: DbSession, staff: Publisher) -> StyleRead:
    """Show the upper node's style (origin), or this node's own again (null)."""
    notices.adopt_style(db, body.origin, actor=actor_of(staff.account_id))
    return _style(request, db)


# --- 接入应用 ----------------------------------------------------------------------------------------


def _decoded(text: str | None, what: str) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PortalError(f"{what}须是 Base64 编码的 PNG 或 JPEG 图片", detail_en="not base64") from None


def _icon(body: AppWrite) -> bytes | None:
    return _decoded(body.icon_base64, "图标")


def _spec(request: Request, body: AppWrite) -> apps.AppSpec:
    return apps.AppSpec(
        name=body.name, entry_url=body.entry_url, client_id=body.client_id, description=body.description,
        items=body.items, allow_http=not node_of(request).settings.production,
    )  # fmt: skip


@router.get("/apps", response_model=list[AppRead], summary="接入应用（含已下架）")
def list_apps(db: DbSession, staff: AppKeeper) -> list[AppRead]:
    """Every registered app by name, taken-down ones included."""
    return [read_app(a) for a in apps.listing(db, withdrawn=True)]


@router.post("/apps", response_model=AppRead, status_code=201, summary="登记接入应用", responses=errors(422))
def register_app(request: Request, body: AppWrite, db: DbSession, staff: AppKeeper) -> AppRead:
    """Register a department's H5 app: listed in the mobile front end and opened with single sign-on."""
    app = apps.register(db, _spec(request, body), icon=_icon(body), actor=actor_of(staff.account_id))
    return read_app(app)


@router.put("/apps/{app_id}", response_model=AppRead, summary="修改接入应用", responses=errors(404, 422))
def change_app(app_id: str, request: Request, body: AppWrite, db: DbSession, staff: AppKeeper) -> AppRead:
    """Change an app's registration (without ``icon_base64`` the icon stays)."""
    app = apps.change(db, app_id, _spec(request, body), icon=_icon(body), actor=actor_of(staff.account_id))
    return read_app(app)


@router.post("/apps/{app_id}/withdraw", response_model=AppRead, summary="下架接入应用", responses=errors(404))
def withdraw_app(app_id: str, db: DbSession, staff: AppKeeper) -> AppRead:
    """Take an app off the front end at once (its OIDC client stays identity's to disable)."""
    return read_app(apps.withdraw(db, app_id, actor=actor_of(staff.account_id)))
