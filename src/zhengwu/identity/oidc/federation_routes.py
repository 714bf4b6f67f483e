"""Routes of this node as a relying party of other nodes (trust transfer and both-way logout)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from zhengwu.identity import deps
from zhengwu.identity.context import of
from zhengwu.identity.oidc import federation
from zhengwu.identity.oidc import openapi as doc
from zhengwu.identity.oidc.protocol import error_page, oauth_error
from zhengwu.identity.oidc.routes import _form, _params, runtime_of
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession

router = APIRouter(tags=["identity 信任传递"])


def _http(request: Request) -> httpx.Client:
    runtime = runtime_of(request)
    return httpx.Client(timeout=runtime.settings.federation_http_timeout_seconds, follow_redirects=False)


@router.get("/api/v1/identity/login-options", summary="可用的跨级登录方式")
def login_options(session: DbSession) -> list[dict[str, str]]:
    """Buttons for the login page (label and URL of each trusted provider)."""
    return federation.login_options(session)


def _begin(request: Request, db: Session) -> Response:
    params = _params(request.url.query)
    provider = params.get("provider", [None])[0]
    return_to = params.get("next", [None])[0]
    onward = params.get("onward", [None])[0] == "1"
    try:
        url = federation.begin_login(db, runtime_of(request), provider, return_to, onward=onward)
    except DomainError as exc:
        return error_page("temporarily_unavailable", status=exc.status_code, message=exc.detail)
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/oidc/federation/login", summary="跳转上级（或对端）平台登录", response_class=Response)
async def federation_login(request: Request, session: DbSession) -> Response:
    """Start a login at a trusted provider ("使用国家政务服务平台账号登录")."""
    return await run_in_threadpool(_begin, request, session)


def _callback(request: Request, db: Session) -> Response:
    params = _params(request.url.query)
    first = {k: v[0] for k, v in params.items() if v}
    runtime = runtime_of(request)
    with _http(request) as http:
        try:
            user_session, return_to = federation.complete_login(
                db,
                runtime,
                state=first.get("state", ""),
                code=first.get("code"),
                error=first.get("error"),
                http=http,
                meta=deps.request_meta(request),
                bus=node_of(request).bus,
            )
        except DomainError as exc:
            runtime.audit(
                db,
                "federated_login",
                success=False,
                meta=deps.request_meta(request),
                detail={"error": exc.instance_code},
            )
            return error_page(
                "access_denied", status=exc.status_code, message=exc.detail, node_name=runtime.node.node_name
            )
    response = RedirectResponse(return_to, status_code=303, headers={"Cache-Control": "no-store"})
    deps.set_session_cookie(of(db), response, user_session.token)
    return response


@router.get("/oidc/federation/callback", summary="跨级登录回调", response_class=Response)
async def federation_callback(request: Request, session: DbSession) -> Response:
    """The provider sends the browser back here with a code."""
    return await run_in_threadpool(_callback, request, session)


def _backchannel(request: Request, db: Session, logout_token: str) -> Response:
    runtime = runtime_of(request)
    with _http(request) as http:
        try:
            federation.receive_backchannel_logout(
                db, runtime, logout_token, http=http, bus=node_of(request).bus
            )
        except DomainError as exc:
            runtime.audit(
                db, "federated_logout_in", success=False, detail={"error": exc.detail_en or exc.instance_code}
            )
            reason = exc.detail_en if exc.detail_en and exc.detail_en.isascii() else "Logout token rejected."
            return oauth_error(400, "invalid_request", reason)
    return Response(status_code=200, headers={"Cache-Control": "no-store"})


@router.post(
    "/oidc/federation/backchannel-logout",
    summary="接收对端平台的后端注销通知",
    response_class=Response,
    responses=doc.BACKCHANNEL_RESPONSES,
    openapi_extra=doc.form_body(doc.BackchannelLogoutForm),
)
async def federation_backchannel_logout(request: Request, session: DbSession) -> Response:
    """OIDC Back-Channel Logout 1.0 §2.5 receiver (logout_token in a form body)."""
    form = await _form(request)
    token = form.get("logout_token", [None])[0] if form else None
    if not token:
        return oauth_error(400, "invalid_request", "Missing logout_token.")
    return await run_in_threadpool(_backchannel, request, session, token)
