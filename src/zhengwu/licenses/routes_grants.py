"""HTTP API of the per-client grants (用证授权): platform staff holding ``licenses.grants`` (with a second
factor) list, grant and revoke department systems' use of license types. Included before the licenses
router, whose ``/{license_id}`` would otherwise take ``/grants``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import grants, rights, service
from zhengwu.licenses.grant_schemas import GrantCreate, GrantRead, GrantRevoke
from zhengwu.licenses.schemas import UsageRead

router = APIRouter(prefix="/api/v1/licenses/grants", tags=["licenses 电子证照"])

Granter = Annotated[StaffPrincipal, Depends(guard(rights.GRANTS))]


def _actor(staff: StaffPrincipal) -> str:
    return f"account:{staff.account_id}"


@router.get("", response_model=list[GrantRead], summary="用证授权列表")
def list_grants(
    request: Request,
    response: Response,
    db: DbSession,
    staff: Granter,
    page: Annotated[PageParams, Depends(page_params)],
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    type_code: Annotated[str | None, Query(max_length=21)] = None,
    current: Annotated[bool, Query(description="只列出当前有效的授权")] = False,
) -> list[GrantRead]:
    """Grants, newest first, optionally of one client or type, or only those in force."""
    rows, total = grants.list_grants(db, client_id=client_id, type_code=type_code, current_only=current,
                                     offset=page.offset, limit=page.limit)  # fmt: skip
    set_page_headers(request, response, total=total, page=page)
    return [GrantRead.of(g) for g in rows]


@router.post(
    "", response_model=GrantRead, status_code=201, summary="授予用证授权", responses=errors(404, 409, 422)
)
def add_grant(
    data: GrantCreate, request: Request, response: Response, db: DbSession, staff: Granter
) -> GrantRead | Response:
    """Grant a department system the use of one license type for the operations and purpose named."""
    idem = Idempotency(
        db, request, scope=f"licenses.grants:{staff.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    grant = grants.add(db, client_id=data.client_id, type_code=data.type_code, operations=data.operations,
                       purpose=data.purpose, valid_from=data.valid_from, valid_until=data.valid_until,
                       actor=_actor(staff))  # fmt: skip
    result = GrantRead.of(grant)
    idem.remember(201, result.model_dump(mode="json"))
    response.headers["Location"] = f"/api/v1/licenses/grants/{grant.id}"
    return result


@router.get("/{grant_id}", response_model=GrantRead, summary="用证授权详情", responses=errors(404))
def get_grant(grant_id: str, db: DbSession, staff: Granter) -> GrantRead:
    """One grant."""
    return GrantRead.of(grants.get(db, grant_id))


@router.post(
    "/{grant_id}/revoke", response_model=GrantRead, summary="撤销用证授权", responses=errors(404, 409, 422)
)
def revoke_grant(grant_id: str, data: GrantRevoke, db: DbSession, staff: Granter) -> GrantRead:
    """End a grant at once; uses already made keep naming it."""
    return GrantRead.of(grants.revoke(db, grant_id, reason=data.reason, actor=_actor(staff)))


@router.get(
    "/{grant_id}/usage", response_model=list[UsageRead], summary="依据该授权的用证记录", responses=errors(404)
)
def grant_usage(
    grant_id: str,
    request: Request,
    response: Response,
    db: DbSession,
    staff: Granter,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[UsageRead]:
    """What department systems did under one grant (newest first): who, when, why, the result."""
    rows, total = grants.usage(db, grant_id, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    purposes = service.grant_purposes(db, [u for u, _ in rows])
    return [UsageRead.of(u, lic, purposes) for u, lic in rows]
