"""Management API: clients (identity administrators only), a person's own consents and data releases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity import deps
from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.oidc import claims as claims_service
from zhengwu.identity.oidc import service
from zhengwu.identity.oidc.models import OidcClient, OidcLogoutDelivery
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import (
    ClientCreate,
    ClientCreated,
    ClientRead,
    ClientStatusChange,
    ClientUpdate,
    ConsentRead,
    ConsentWithdraw,
    LogoutDeliveryRead,
    ReleaseRead,
)
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.identity.rights import CLIENTS_MANAGE
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession

router = APIRouter(prefix="/api/v1/identity", tags=["identity 接入应用与授权管理"])

# Identity administrators and platform administrators: the staff-rights policy decides (identity.rights).
Admin = Annotated[StaffPrincipal, Depends(guard(CLIENTS_MANAGE))]


def _runtime(request: Request) -> OidcRuntime:
    return node_of(request).services.provide(OIDC)


def _audit(db: Session, admin: StaffPrincipal, action: str, client_id: str, request: Request) -> None:
    record_auth_event(
        db,
        f"oidc_client_{action}"[:32],
        success=True,
        account_id=admin.account_id,
        session_id=admin.session_id,
        client_id=client_id,
        meta=deps.request_meta(request),
    )


@router.post("/clients", response_model=ClientCreated, status_code=201, summary="登记接入应用")
def create_client(
    data: ClientCreate, request: Request, response: Response, db: DbSession, admin: Admin
) -> ClientCreated | Response:
    """Register a client; the secret is in this answer only (a replay with the same key omits it)."""
    idem = Idempotency(
        db, request, scope=f"identity.oidc.clients:{admin.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    runtime = _runtime(request)
    row, secret = service.create_client(
        db, runtime.node_keys, data, actor=admin.account_id, allow_http=runtime.allow_http
    )
    _audit(db, admin, "created", row.client_id, request)
    created = ClientCreated.model_validate(row)
    created.client_secret = secret
    stored = created.model_dump(mode="json")
    stored["client_secret"] = None  # never persisted: a retry must rotate the secret to learn one
    idem.remember(201, stored)
    response.headers["Location"] = f"/api/v1/identity/clients/{row.client_id}"
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get("/clients", response_model=list[ClientRead], summary="接入应用列表")
def list_clients(
    request: Request,
    response: Response,
    db: DbSession,
    admin: Admin,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[ClientRead]:
    """All clients, oldest first."""
    rows, total = service.list_clients(db, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [ClientRead.model_validate(r) for r in rows]


@router.get("/clients/{client_id}", response_model=ClientRead, summary="接入应用详情")
def get_client(client_id: str, db: DbSession, admin: Admin) -> ClientRead:
    """One client."""
    return ClientRead.model_validate(service.get_client(db, client_id))


@router.patch("/clients/{client_id}", response_model=ClientRead, summary="修改接入应用")
def update_client(
    client_id: str, data: ClientUpdate, request: Request, db: DbSession, admin: Admin
) -> ClientRead:
    """Change redirect URIs, scope, minimum level and the like."""
    runtime = _runtime(request)
    row = service.update_client(db, client_id, data, allow_http=runtime.allow_http, actor=admin.account_id)
    runtime.clients.invalidate(client_id)
    _audit(db, admin, "updated", client_id, request)
    return ClientRead.model_validate(row)


@router.post("/clients/{client_id}/status", response_model=ClientRead, summary="停用、恢复或注销接入应用")
def change_status(
    client_id: str, data: ClientStatusChange, request: Request, db: DbSession, admin: Admin
) -> ClientRead:
    """Suspend (reversible) or revoke (final) a client, with a reason."""
    runtime = _runtime(request)
    row = service.change_status(db, client_id, data, actor=admin.account_id)
    runtime.clients.invalidate(client_id)
    _audit(db, admin, data.status, client_id, request)
    return ClientRead.model_validate(row)


@router.post("/clients/{client_id}/secret", response_model=ClientCreated, summary="重置应用密钥")
def rotate_secret(
    client_id: str, request: Request, response: Response, db: DbSession, admin: Admin
) -> ClientCreated:
    """A new secret (shown once); the old one stops working at once."""
    runtime = _runtime(request)
    secret = service.rotate_secret(db, runtime.node_keys, client_id, actor=admin.account_id)
    runtime.clients.invalidate(client_id)
    _audit(db, admin, "secret_rotated", client_id, request)
    created = ClientCreated.model_validate(service.get_client(db, client_id))
    created.client_secret = secret
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get(
    "/clients/{client_id}/logout-deliveries",
    response_model=list[LogoutDeliveryRead],
    summary="单点注销通知记录",
)
def logout_deliveries(
    client_id: str,
    request: Request,
    response: Response,
    db: DbSession,
    admin: Admin,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[LogoutDeliveryRead]:
    """Back-channel logout deliveries to a client and their outcomes, newest first."""
    service.get_client(db, client_id)
    query = select(OidcLogoutDelivery).where(OidcLogoutDelivery.client_id == client_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(OidcLogoutDelivery.created_at.desc(), OidcLogoutDelivery.id)
        .offset(page.offset)
        .limit(page.limit)
    )
    set_page_headers(request, response, total=total, page=page)
    return [LogoutDeliveryRead.model_validate(r) for r in rows]


# --- a person's own consents -------------------------------------------------------------------------


@router.get("/consents", response_model=list[ConsentRead], summary="我的授权记录")
def my_consents(db: DbSession, auth: deps.RequiredSession) -> list[ConsentRead]:
    """Every consent version the person gave, newest first."""
    rows = claims_service.list_consents(db, auth.account.id)
    wanted = sorted({r.client_id for r in rows})
    query = select(OidcClient.client_id, OidcClient.name).where(OidcClient.client_id.in_(wanted))
    names = {cid: name for cid, name in db.execute(query)}
    result = []
    for row in rows:
        item = ConsentRead.model_validate(row)
        item.client_name = names.get(row.client_id)
        result.append(item)
    return result


@router.post("/consents/{consent_id}/withdraw", response_model=ConsentRead, summary="撤回授权")
def withdraw(
    consent_id: str, data: ConsentWithdraw, request: Request, db: DbSession, auth: deps.RequiredSession
) -> ConsentRead:
    """Withdraw a consent; the client's tokens that relied on it are revoked."""
    runtime = _runtime(request)
    consent = claims_service.withdraw_consent(
        db, auth.account.id, consent_id, reason=data.reason, meta=deps.request_meta(request)
    )
    runtime.revoke_consent_grants(db, auth.account.id, consent.client_id, reason="consent_withdrawn")
    return ConsentRead.model_validate(consent)


@router.get("/data-releases", response_model=list[ReleaseRead], summary="我的信息使用记录")
def my_releases(db: DbSession, auth: deps.RequiredSession) -> list[ReleaseRead]:
    """Which department systems received the person's data, when, and under which consent."""
    return [ReleaseRead.model_validate(r) for r in claims_service.list_releases(db, auth.account.id)]
