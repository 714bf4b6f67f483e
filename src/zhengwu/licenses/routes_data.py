"""HTTP API of the abnormal license data queue (staff with ``licenses.manage`` and a second factor).

Lists are narrowed to the departments the right reaches, and an entry is read or handled only by a holder
of the right over its department; entries that name no department of this node (an upper refusal for a
license it does not hold) are the platform administrators'.
Included before the licenses router, whose ``/{license_id}`` would otherwise take ``/abnormal``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.node import CurrentNode
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import abnormal, feedback, rights
from zhengwu.licenses.datamodels import LicenseAbnormal
from zhengwu.licenses.dataschemas import (
    AbnormalDetail,
    AbnormalDismiss,
    AbnormalRead,
    AbnormalResubmit,
    StatusPushCreate,
    StatusPushRead,
)

router = APIRouter(prefix="/api/v1/licenses/abnormal", tags=["licenses 电子证照"])

Manager = Annotated[StaffPrincipal, Depends(guard(rights.MANAGE))]


def _actor(staff: StaffPrincipal) -> str:
    return f"account:{staff.account_id}"


def _detail(db: Session, entry: LicenseAbnormal) -> AbnormalDetail:
    return AbnormalDetail(**AbnormalRead.of(entry).model_dump(), values=abnormal.detail(db, entry))


@router.get("", response_model=list[AbnormalRead], summary="证照异常数据列表")
def list_abnormal(
    request: Request,
    response: Response,
    db: DbSession,
    staff: Manager,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[Literal["open", "resubmitted", "resolved", "dismissed"] | None, Query()] = "open",
    source: Annotated[Literal["import", "upper"] | None, Query()] = None,
) -> list[AbnormalRead]:
    """Entries within the caller's departments, newest first."""
    rows, total = abnormal.list_entries(db, departments=staff.departments(rights.MANAGE), status=status,
                                        source=source, offset=page.offset, limit=page.limit)  # fmt: skip
    set_page_headers(request, response, total=total, page=page)
    return [AbnormalRead.of(r) for r in rows]


@router.get(
    "/{entry_id}", response_model=AbnormalDetail, summary="证照异常数据详情", responses=errors(403, 404)
)
def get_abnormal(entry_id: str, db: DbSession, staff: Manager) -> AbnormalDetail:
    """One entry with the refused values (holder code masked)."""
    entry = abnormal.get_entry(db, entry_id)
    staff.ensure(rights.MANAGE, entry.department_id)
    return _detail(db, entry)


@router.post(
    "/{entry_id}/resubmit",
    response_model=AbnormalDetail,
    summary="更正并重新提交证照异常数据",
    responses=errors(404, 409, 422),
)
def resubmit_abnormal(
    entry_id: str, data: AbnormalResubmit, db: DbSession, node: CurrentNode, staff: Manager
) -> AbnormalDetail:
    """Import the corrected row, or queue a corrected ``up_lic_data`` row for the upper node."""
    entry = abnormal.get_entry(db, entry_id)
    staff.ensure(rights.MANAGE, entry.department_id)
    fix = abnormal.Correction(face=data.face, holder_name=data.holder_name, holder_code=data.holder_code,
                              holder_code_type=data.holder_code_type)  # fmt: skip
    done = abnormal.resubmit(db, node.settings, entry, fix, actor=_actor(staff), bus=node.bus)
    return _detail(db, done)


@router.post(
    "/{entry_id}/dismiss",
    response_model=AbnormalDetail,
    summary="忽略证照异常数据",
    responses=errors(404, 409),
)
def dismiss_abnormal(
    entry_id: str, data: AbnormalDismiss, db: DbSession, node: CurrentNode, staff: Manager
) -> AbnormalDetail:
    """Close an entry without resubmitting it; the reason is kept."""
    entry = abnormal.get_entry(db, entry_id)
    staff.ensure(rights.MANAGE, entry.department_id)
    return _detail(db, abnormal.dismiss(db, entry, reason=data.reason, actor=_actor(staff), bus=node.bus))


status_router = APIRouter(prefix="/api/v1/licenses/status-pushes", tags=["licenses 电子证照"])

Pusher = Annotated[StaffPrincipal, Depends(guard(rights.PUSH_STATUS))]


@status_router.post(
    "",
    response_model=StatusPushRead,
    status_code=202,
    summary="向下级节点下发证照状态变更",
    responses=errors(422),
)
def push_status(
    data: StatusPushCreate, request: Request, response: Response, db: DbSession, staff: Pusher
) -> StatusPushRead | Response:
    """Queue a ``licenses.dn_lic_status`` row for the feed; the lower node holding the license applies it
    (reason ``上级系统：…``). Send ``Idempotency-Key`` so that a retry queues nothing twice."""
    idem = Idempotency(
        db, request, scope=f"licenses.status_push:{staff.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    pushed = feedback.push_status(db, data.identifier, data.status, data.reason, area_code=data.area_code,
                                  actor=_actor(staff))  # fmt: skip
    result = StatusPushRead(identifier=pushed.identifier, status=pushed.status, reason=pushed.reason,
                            area_code=pushed.area_code)  # fmt: skip
    idem.remember(202, result.model_dump(mode="json"))
    return result
