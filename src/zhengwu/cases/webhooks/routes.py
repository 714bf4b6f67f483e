"""HTTP API of the department systems: the pull feed of case events and their own cases (a
client-credentials token with ``cases.handle``), and for the platform administrator the webhook
endpoints, the delivery log and replays."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from zhengwu.cases import rights, service
from zhengwu.cases.webhooks import service as hooks
from zhengwu.cases.webhooks.guard import HANDLE_SCOPE, CaseClientGuard, ensure_department
from zhengwu.identity.machine import MachineClient
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.limits import MAX_DB_BIGINT
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession

router = APIRouter(prefix="/api/v1/cases", tags=["cases 办件"])
admin_router = APIRouter(prefix="/api/v1/department-systems", tags=["cases 办件"])

Client = Annotated[MachineClient, Depends(CaseClientGuard(HANDLE_SCOPE))]
Admin = Annotated[StaffPrincipal, Depends(guard(rights.WEBHOOKS))]


@router.get("/events", summary="拉取本部门办件事件（推送之外的另一种方式）", responses=errors(401, 403))
def pull(
    db: DbSession,
    client: Client,
    after: Annotated[int, Query(ge=0, le=MAX_DB_BIGINT, description="上次取到的最后一个 cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The events of the client's department after ``after``, oldest first, each with its cursor; the
    bodies are those of the webhooks (same ``webhook-id``)."""
    assert client.department_id is not None  # the guard refuses a client without a department
    rows = hooks.pull(db, client.department_id, after=after, limit=limit)
    events = [{"cursor": r.seq, "webhook_id": r.msg_id, **json.loads(r.body)} for r in rows]
    return {"events": events, "next_cursor": rows[-1].seq if rows else after}


@admin_router.get("/cases", summary="本部门办件（部门业务系统调用）", responses=errors(401, 403))
def system_cases(
    db: DbSession,
    client: Client,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_DB_BIGINT)] = 0,
) -> dict[str, Any]:
    """The queue of the client's department (the same rows staff see)."""
    from zhengwu.cases import machine
    from zhengwu.cases.views import case_read

    assert client.department_id is not None
    known = [s for s in (status or []) if s in machine.LABELS]
    rows, total = service.queue(
        db,
        department_ids=[client.department_id],
        statuses=known or None,
        due=None,
        offset=offset,
        limit=limit,
    )
    return {
        "total": total,
        "cases": [case_read(db, c, with_history=False).model_dump(mode="json") for c in rows],
    }


@admin_router.get(
    "/cases/{case_no}", summary="本部门办件详情（部门业务系统调用）", responses=errors(401, 403, 404)
)
def system_case(case_no: str, db: DbSession, client: Client) -> dict[str, Any]:
    """One case of the client's department; to a department asked for its 联办 opinion, the case narrowed
    to what its opinion needs; 404 for any other."""
    from zhengwu.cases.views import case_read

    case = service.get_case(db, case_no)
    if case.department_id != client.department_id and client.department_id in hooks.asked_departments(
        db, case_no
    ):
        return case_read(db, case, narrowed=True).model_dump(mode="json")
    ensure_department(client, case.department_id)
    return case_read(db, case).model_dump(mode="json")


class EndpointIn(BaseModel):
    """A department system's webhook endpoint."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=8, max_length=500)
    event_types: list[str] | None = Field(
        default=None,
        max_length=len(hooks.EVENT_KINDS),
        description="订阅的事件类型（如 case.submitted）；不填为全部事件，包括以后新增的类型",
    )


@admin_router.post(
    "/webhooks",
    status_code=201,
    summary="登记部门业务系统的推送地址（密钥只显示一次）",
    responses=errors(403, 404, 422),
)
def register(data: EndpointIn, db: DbSession, admin: Admin) -> dict[str, Any]:
    """Register or re-register (a new secret) the client's endpoint; the secret is in this answer only."""
    done = hooks.register(
        db, data.client_id, data.url, actor=f"account:{admin.account_id}", event_types=data.event_types
    )
    return {
        "client_id": done.endpoint.client_id,
        "url": done.endpoint.url,
        "department_id": done.endpoint.department_id,
        "event_types": done.endpoint.event_types,
        "secret": done.secret,
        "schemes": ["v1", "v1sm3"],
    }


@admin_router.get("/webhooks/deliveries", summary="办件推送投递记录", responses=errors(403))
def deliveries(
    db: DbSession,
    admin: Admin,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|dead)$")] = None,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The delivery log, newest first."""
    return [d.as_json() for d in hooks.deliveries(db, status=status, client_id=client_id, limit=limit)]


@admin_router.post(
    "/webhooks/deliveries/{delivery_id}/replay", summary="重新投递", responses=errors(403, 404)
)
def replay(delivery_id: str, db: DbSession, admin: Admin) -> dict[str, Any]:
    """Queue one delivery again (same webhook-id and body)."""
    return {"replayed": hooks.replay(db, delivery_id=delivery_id, actor=f"account:{admin.account_id}")}
