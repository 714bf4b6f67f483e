"""The security events API: the security administrator reads the node's events (ADR 0010 guard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from zhengwu.audit.changes import actor_of, list_changes
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.limits import MAX_DB_BIGINT
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.security import notices, rights, service
from zhengwu.security.models import SecurityEvent, SecurityNotice, SecurityNoticeReceipt
from zhengwu.security.schemas import (
    NoticeAssign,
    NoticeClose,
    NoticeRead,
    NoticeReceiptRead,
    SecurityEventRead,
)
from zhengwu.security.severity import Severity

router = APIRouter(prefix="/api/v1/security", tags=["security 安全保障"])

SecurityAdmin = Annotated[StaffPrincipal, Depends(guard(rights.READ))]


def read(event: SecurityEvent) -> SecurityEventRead:
    """The API shape of an event."""
    severity = Severity(event.severity)
    return SecurityEventRead(
        id=event.id, event_type=event.event_type, type_label=service.EVENT_TYPES.get(event.event_type, event.event_type),
        severity=severity.value, severity_label=severity.label, source=event.source, peer=event.peer,
        occurred_at=event.occurred_at, last_at=event.last_at, count=event.count, summary=event.summary,
        detail=event.detail, origin=event.origin,
    )  # fmt: skip


@router.get(
    "/events",
    response_model=list[SecurityEventRead],
    summary="安全事件列表（安全管理员）",
    responses=errors(422),
)
def list_events(
    request: Request,
    response: Response,
    db: DbSession,
    staff: SecurityAdmin,
    page: Annotated[PageParams, Depends(page_params)],
    event_type: Annotated[str | None, Query(alias="type", max_length=64, description="事件类型")] = None,
    min_severity: Annotated[Severity | None, Query(description="最低严重程度")] = None,
) -> list[SecurityEventRead]:
    """The node's security events, newest first (WAF refusals, rate-limit hits, lockouts, ...)."""
    rows, total = service.list_events(
        db, offset=page.offset, limit=page.limit, event_type=event_type, min_severity=min_severity
    )
    set_page_headers(request, response, total=total, page=page)
    return [read(row) for row in rows]


NoticeHandler = Annotated[StaffPrincipal, Depends(guard(rights.HANDLE_NOTICES))]


def read_notice(
    notice: SecurityNotice,
    trail: list[dict[str, Any]] | None = None,
    receipts: Sequence[SecurityNoticeReceipt] = (),
) -> NoticeRead:
    """The API shape of a notice (with, for one this node issued, the lower nodes' receipts)."""
    severity = Severity(notice.severity)
    return NoticeRead(
        id=notice.id, direction=notice.direction, issuer=notice.issuer, to_node=notice.to_node,
        title=notice.title, body=notice.body, severity=severity.value, severity_label=severity.label,
        status=notice.status, status_label=notices.STATUS_LABELS.get(notice.status, notice.status),
        assignee=notice.assignee, note=notice.note, issued_at=notice.issued_at, received_at=notice.received_at,
        acknowledged_at=notice.acknowledged_at, closed_at=notice.closed_at, trail=trail or [],
        receipts=[
            NoticeReceiptRead(node_id=r.node_id, route=r.route or r.node_id, status=r.status,
                              status_label=notices.STATUS_LABELS.get(r.status, r.status), note=r.note,
                              acknowledged_at=r.acknowledged_at, closed_at=r.closed_at, received_at=r.received_at)
            for r in receipts
        ],
    )  # fmt: skip


def read_notices(db: Session, rows: Sequence[SecurityNotice]) -> list[NoticeRead]:
    """Notices in their API shape, each issued one with its receipts (one query for all)."""
    found = notices.receipts(db, [n.notice_key for n in rows if n.direction == "issued"])
    return [read_notice(n, receipts=found.get(n.notice_key, ())) for n in rows]


@router.get(
    "/notices", response_model=list[NoticeRead], summary="安全通报列表（安全管理员）", responses=errors(422)
)
def list_notices(
    db: DbSession,
    staff: NoticeHandler,
    status: Annotated[str | None, Query(max_length=16, description="状态")] = None,
) -> list[NoticeRead]:
    """Notices received from the national security centre (and those this node issued), newest first."""
    return read_notices(db, notices.list_notices(db, status=status))


@router.get(
    "/notices/{notice_id}", response_model=NoticeRead, summary="安全通报及处理记录", responses=errors(404)
)
def get_notice(notice_id: str, db: DbSession, staff: NoticeHandler) -> NoticeRead:
    """One notice with its audited trail."""
    notice = notices.get(db, notice_id)
    found = notices.receipts(db, [notice.notice_key]) if notice.direction == "issued" else {}
    return read_notice(notice, notices.trail(db, notice.id), found.get(notice.notice_key, ()))


@router.post(
    "/notices/{notice_id}/assign",
    response_model=NoticeRead,
    summary="指派安全通报",
    responses=errors(404, 409, 422),
)
def assign_notice(notice_id: str, body: NoticeAssign, db: DbSession, staff: NoticeHandler) -> NoticeRead:
    """Give the notice to a staff member."""
    notice = notices.assign(db, notice_id, assignee=body.assignee, actor=actor_of(staff.account_id))
    return read_notice(notice, notices.trail(db, notice.id))


@router.post(
    "/notices/{notice_id}/ack", response_model=NoticeRead, summary="确认安全通报", responses=errors(404, 409)
)
def acknowledge_notice(notice_id: str, db: DbSession, staff: NoticeHandler) -> NoticeRead:
    """Confirm the assigned notice is being handled."""
    notice = notices.acknowledge(db, notice_id, actor=actor_of(staff.account_id))
    return read_notice(notice, notices.trail(db, notice.id))


@router.post(
    "/notices/{notice_id}/close",
    response_model=NoticeRead,
    summary="关闭安全通报",
    responses=errors(404, 409, 422),
)
def close_notice(notice_id: str, body: NoticeClose, db: DbSession, staff: NoticeHandler) -> NoticeRead:
    """Close the acknowledged notice with what was done."""
    notice = notices.close(db, notice_id, note=body.note, actor=actor_of(staff.account_id))
    return read_notice(notice, notices.trail(db, notice.id))


AuditAdmin = Annotated[StaffPrincipal, Depends(guard(rights.AUDIT_READ))]


@router.get("/audit/changes", summary="审计变更日志（审计管理员）", responses=errors(422))
def audit_changes(
    db: DbSession,
    staff: AuditAdmin,
    entity: Annotated[str | None, Query(max_length=64, description="对象类型")] = None,
    entity_id: Annotated[str | None, Query(max_length=128, description="对象编号")] = None,
    before_seq: Annotated[
        int | None, Query(ge=1, le=MAX_DB_BIGINT, description="只看此序号之前的记录")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The hash-chained change log, newest first: who changed what, before and after."""
    rows = list_changes(db, entity=entity, entity_id=entity_id, before_seq=before_seq, limit=limit)
    return [
        {"seq": r.seq, "at": r.at.isoformat(), "actor": r.actor, "action": r.action, "entity": r.entity,
         "entity_id": r.entity_id, "department_id": r.department_id, "before": r.before, "after": r.after}
        for r in rows
    ]  # fmt: skip
