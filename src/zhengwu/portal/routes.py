"""The portal's publishing API: notices, columns and the style, for the platform administrator (ADR 0010
guard, second factor). Reading them is public: the mobile API and the pages."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from zhengwu.audit.changes import actor_of
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.portal import notices, rights
from zhengwu.portal.schemas import (
    NoticeChange,
    NoticeCreate,
    NoticeRead,
    StyleAdopt,
    StyleRead,
    read_notice,
    read_offer,
)

router = APIRouter(prefix="/api/v1/portal", tags=["portal 门户"])

Publisher = Annotated[StaffPrincipal, Depends(guard(rights.PUBLISH))]


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


@router.post("/style/offer", response_model=StyleRead, summary="向下级平台下发本平台页面样式")
def offer_style(request: Request, db: DbSession, staff: Publisher) -> StyleRead:
    """Send this node's look down the feed; lower nodes may adopt it."""
    notices.offer_style(db, node_of(request).settings, actor=actor_of(staff.account_id))
    return _style(request, db)


@router.post(
    "/style/adopt", response_model=StyleRead, summary="采用上级平台下发的页面样式", responses=errors(404)
)
def adopt_style(request: Request, body: StyleAdopt, db: DbSession, staff: Publisher) -> StyleRead:
    """Show the upper node's style (origin), or this node's own again (null)."""
    notices.adopt_style(db, body.origin, actor=actor_of(staff.account_id))
    return _style(request, db)
