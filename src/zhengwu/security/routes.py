"""The security events API: the security administrator reads the node's events (ADR 0010 guard)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.security import rights, service
from zhengwu.security.models import SecurityEvent
from zhengwu.security.schemas import SecurityEventRead
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
