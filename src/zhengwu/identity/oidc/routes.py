"""Protocol endpoints: discovery, JWKS, authorize (with login, step-up and consent), token, userinfo,
introspection, revocation and RP-initiated logout.

The token endpoint is a plain Starlette route: the client-credentials path runs in the event loop with
cached clients and keys and waits only for the group commit of its audit row.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import orjson
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from zhengwu.identity import deps
from zhengwu.identity import service as core
from zhengwu.identity.audit import RequestMeta
from zhengwu.identity.context import of
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.oidc import claims as claims_service
from zhengwu.identity.oidc import fastlane, federation
from zhengwu.identity.oidc import openapi as doc
from zhengwu.identity.oidc.clients import RegisteredClient
from zhengwu.identity.oidc.issuance import write_issuance
from zhengwu.identity.oidc.models import OidcGrant, OidcRpSession
from zhengwu.identity.oidc.protocol import (
    authlib_error,
    error_page,
    from_authlib,
    json_response,
    oauth_error,
    oauth_error_body,
    render,
)
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.server import (
    OAuthRequest,
    Subject,
    acr_level,
    acr_value,
    bind_session,
    public_token,
    unbind_session,
)
from zhengwu.identity.oidc.tokens import TokenRejected
from zhengwu.identity.requirements import AuthRequirement, ItemDemand, ItemRequirements
from zhengwu.identity.servicekeys import ITEM_REQUIREMENTS, OIDC
from zhengwu.identity.web import retrying_when_busy
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession

log = get_logger("zhengwu.identity.oidc")

router = APIRouter(tags=["identity 统一身份认证 OIDC"])

LOGIN_PATH = "/identity/login"
STEP_UP_PATH = "/identity/step-up"
MAX_FORM = 16 * 1024


def runtime_of(request: Request) -> OidcRuntime:
    """The node's provider."""
    return node_of(request).services.provide(OIDC)


def _params(raw: str) -> dict[str, list[str]]:
    return parse_qs(raw, keep_blank_values=False, max_num_fields=64)


async def _form(request: Request) -> dict[str, list[str]] | None:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = await request.body()
    if len(body) > MAX_FORM:
        return None
    try:
        return _params(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


# --- discovery and keys ---------------------------------------------------------------------------


def discovery_document(runtime: OidcRuntime) -> dict[str, Any]:
    """OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414)."""
    return {
        "issuer": runtime.issuer,
        "authorization_endpoint": runtime.url("/authorize"),
        "token_endpoint": runtime.url("/token"),
        "userinfo_endpoint": runtime.url("/userinfo"),
        "jwks_uri": runtime.url("/jwks"),
        "end_session_endpoint": runtime.url("/logout"),
        "revocation_endpoint": runtime.url("/revoke"),
        "introspection_endpoint": runtime.url("/introspect"),
        "scopes_supported": [
            "openid",
            "profile",
            "phone",
            "email",
            "citizen_id",
            "enterprise",
            "offline_access",
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [acr_value(level) for level in (2, 3, 4, 5)],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "sid",
            "nonce",
            "name",
            "real_name_level",
            "account_type",
            "email",
            "phone_number",
            "phone_number_verified",
            "citizen_id",
            "cert_type",
            "acting_for",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "ui_locales_supported": ["zh-CN"],
        "authorization_response_iss_parameter_supported": False,
    }


@router.get(
    "/.well-known/openid-configuration",
    summary="OpenID 提供方元数据",
    response_class=Response,
    responses=doc.DISCOVERY_RESPONSES,
)
def openid_configuration(request: Request) -> Response:
    """OIDC Discovery document."""
    return json_response(
        200, discovery_document(runtime_of(request)), {"Cache-Control": "public, max-age=300"}
    )


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 授权服务器元数据",
    response_class=Response,
    responses=doc.DISCOVERY_RESPONSES,
)
def oauth_metadata(request: Request) -> Response:
    """RFC 8414 metadata (same document)."""
    return json_response(
        200, discovery_document(runtime_of(request)), {"Cache-Control": "public, max-age=300"}
    )


@router.get("/oidc/jwks", summary="签名公钥集", response_class=Response, responses=doc.JWKS_RESPONSES)
def jwks(request: Request) -> Response:
    """The node's public ES256 keys (active and retired), by ``kid``."""
    material = runtime_of(request).key_material()
    return json_response(200, material.jwks, {"Cache-Control": "public, max-age=300"})


# --- authorize --------------------------------------------------------------------------------------


def _marker(runtime: OidcRuntime, at: int) -> str:
    mac = runtime.node_keys.digest(f"reauth|{at}")[:32]
    return f"{at}.{mac}"


def _marker_time(runtime: OidcRuntime, value: str | None) -> float | None:
    # A signed "re-authentication requested at" time: after login the browser comes back with it, and an
    # authentication newer than it satisfies prompt=login / max_age / step-up without looping.
    if not value or "." not in value:
        return None
    at = value.split(".", 1)[0]
    if not at.isdigit() or not hmac.compare_digest(_marker(runtime, int(at)), value):
        return None
    if time.time() - int(at) > 900:
        return None
    return float(int(at))


def _redirect_error(err: OAuth2Error, state: str | None) -> Response:
    err.state = state
    _, _, headers = err()
    return RedirectResponse(dict(headers)["Location"], status_code=302, headers={"Cache-Control": "no-store"})


def _error_to(redirect_uri: str, error: str, description: str, state: str | None) -> Response:
    query = {"error": error, "error_description": description}
    if state:
        query["state"] = state
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(
        f"{redirect_uri}{sep}{urlencode(query)}", status_code=302, headers={"Cache-Control": "no-store"}
    )


def _login_redirect(
    runtime: OidcRuntime, params: dict[str, list[str]], *, reauth: bool, level: int = 2
) -> Response:
    query = [(k, v) for k, values in params.items() if k != "zw_reauth" for v in values]
    if reauth:
        query.append(("zw_reauth", _marker(runtime, int(time.time()))))
    target = f"/oidc/authorize?{urlencode(query)}"
    # No session: log in. A session that is too old or too weak: re-authenticate in it (二次认证),
    # telling the page the level to reach (a password alone reaches 3, a second factor 4, a UKey 5).
    page = STEP_UP_PATH if reauth else LOGIN_PATH
    args = {"next": target, **({"level": str(level)} if reauth and level > 2 else {})}
    return RedirectResponse(
        f"{page}?{urlencode(args)}", status_code=303, headers={"Cache-Control": "no-store"}
    )


def _pass_on(runtime: OidcRuntime, db: Session, params: dict[str, list[str]]) -> Response | None:
    """A lower node asked for a top-tier login and nobody is logged in here: log the person in at our
    own upper node (passing the marker on), then come back to this very authorization request. None
    when this node trusts no upper node (the top tier): its own login page answers."""
    upper = federation.upstream_federation(db)
    if upper is None:
        return None
    target = f"/oidc/authorize?{urlencode([(k, v) for k, values in params.items() for v in values])}"
    provider, issuer = upper.id, upper.issuer[:200]

    def begin() -> str:  # a GET that writes (the pending login): again on SQLite's busy snapshot
        url = federation.begin_login(db, runtime, provider, target, onward=True)
        runtime.audit(db, "federated_login_passed_on", success=True, detail={"provider": issuer})
        return url

    url = retrying_when_busy(db, begin)
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _audit_unmet(
    runtime: OidcRuntime,
    db: Session,
    client: RegisteredClient,
    auth: deps.Authenticated,
    required: int | None,
    *,
    item: str | None = None,
) -> None:
    detail: dict[str, Any] = {"item": item} if item is not None else {}
    detail.update(required=required, account_level=auth.account.real_name_level)
    runtime.audit(
        db, "acr_unmet", success=False, client_id=client.client_id, account_id=auth.account.id, detail=detail
    )


def _item_level_page(
    runtime: OidcRuntime,
    auth: deps.Authenticated,
    client: RegisteredClient,
    demand: ItemDemand,
    redirect_uri: str,
    state: str | None,
) -> Response:
    # No login can raise the account's own level, so say how to raise it; "back" answers the client
    # with the OIDC error it can act on.
    back = _error_to(
        redirect_uri, "unmet_authentication_requirements", "real-name level below the item's", state
    )
    return render(
        "oidc_level.html",
        status=403,
        title="实名等级不足",
        node_name=runtime.node.node_name,
        item_name=demand.name,
        client_name=client.name,
        required=RealNameLevel(demand.requirement.level or 2).label_zh,
        current=RealNameLevel(auth.account.real_name_level).label_zh,
        account_url="/identity/account",
        back_url=back.headers["location"],
    )


def _csrf(runtime: OidcRuntime, session_id: str, purpose: str) -> str:
    return runtime.node_keys.digest(f"csrf|{purpose}|{session_id}")[:40]


def _subject(auth: deps.Authenticated) -> Subject:
    return Subject(
        account_id=auth.account.id,
        session_id=auth.session.id,
        auth_time=auth.session.auth_time,
        acr_level=min(int(auth.session.auth_level), int(auth.account.real_name_level)),
        amr=list(auth.session.amr or []),
        acting_for=auth.session.acting_for,
    )


def item_requirements(request: Request) -> ItemRequirements | None:
    """The catalog's lookup of what signing in for an item demands (wired by the composition root)."""
    return node_of(request).services.get(ITEM_REQUIREMENTS)


def _authorize(request: Request, db: Session, params: dict[str, list[str]]) -> Response:
    runtime = runtime_of(request)
    token = bind_session(db)
    try:
        return _authorize_bound(runtime, request, db, params)
    finally:
        unbind_session(token)


def _authorize_bound(
    runtime: OidcRuntime, request: Request, db: Session, params: dict[str, list[str]]
) -> Response:
    node_name = runtime.node.node_name
    first = {k: v[0] for k, v in params.items() if v}
    if any(
        len(v) > 1
        for k, v in params.items()
        if k in ("client_id", "redirect_uri", "state", "scope", "response_type", "max_age", "item_code")
    ):
        return error_page("invalid_request", message="请求参数重复", node_name=node_name)
    client = runtime.server.query_client(first.get("client_id", "")) if first.get("client_id") else None
    if client is None:
        return error_page("invalid_client", message="该应用未在平台登记或已停用", node_name=node_name)
    redirect_uri = first.get("redirect_uri")
    if not redirect_uri or not client.check_redirect_uri(redirect_uri):
        # RFC 6749 §4.1.2.1: an unverified redirection URI is never redirected to.
        runtime.audit(
            db, "bad_redirect_uri", success=False, client_id=client.client_id, meta=deps.request_meta(request)
        )
        return error_page("invalid_redirect_uri", node_name=node_name)
    state = first.get("state")
    auth = deps.current_session(request, db)
    subject = _subject(auth) if auth is not None else None
    oreq = OAuthRequest("GET", runtime.url("/authorize"), request.headers, params, {})
    try:
        grant = runtime.server.get_consent_grant(request=oreq, end_user=subject)
    except OAuth2Error as err:
        if err.redirect_uri:
            return _redirect_error(err, state)
        return error_page(err.error or "invalid_request", node_name=node_name)

    prompts = set((first.get("prompt") or "").split())
    max_age_raw = first.get("max_age")
    if max_age_raw is not None and not max_age_raw.isdigit():
        return _error_to(redirect_uri, "invalid_request", "max_age must be a non-negative integer", state)
    requested = [
        lvl for lvl in (acr_level(v) for v in (first.get("acr_values") or "").split()) if lvl is not None
    ]
    # OIDC Registration §2: a request's max_age overrides the client's default_max_age.
    requirement = AuthRequirement(
        client.min_acr_level, int(max_age_raw) if max_age_raw is not None else client.default_max_age
    )
    demand = None
    if first.get("item_code"):
        lookup = item_requirements(request)
        demand = lookup(db, first["item_code"]) if lookup is not None else None
        if demand is None:
            return _error_to(redirect_uri, "invalid_request", "item_code names no published item", state)
        requirement = requirement.stricter(demand.requirement)
    wanted = max(requirement.level or 2, min(requested) if requested else 2)

    if auth is None or subject is None:
        if first.get(federation.ONWARD_PARAM) == "1":
            onward = _pass_on(runtime, db, params)
            if onward is not None:
                return onward
        return _login_redirect(runtime, params, reauth=False)
    # No login can raise the account's own level: the person must be verified first.
    if auth.account.real_name_level < client.min_acr_level:
        _audit_unmet(runtime, db, client, auth, client.min_acr_level)
        return _error_to(redirect_uri, "access_denied", "real-name level below the client's minimum", state)
    if demand is not None and auth.account.real_name_level < (demand.requirement.level or 2):
        _audit_unmet(runtime, db, client, auth, demand.requirement.level, item=demand.code)
        if "none" in prompts:
            return _error_to(
                redirect_uri, "unmet_authentication_requirements", "real-name level below the item's", state
            )
        return _item_level_page(runtime, auth, client, demand, redirect_uri, state)
    marker = _marker_time(runtime, first.get("zw_reauth"))
    fresh = marker is not None and auth.session.auth_time.timestamp() >= marker
    reasons = []
    if not fresh:
        if "login" in prompts:
            reasons.append("prompt_login")
        if requirement.max_age is not None and utcnow() - auth.session.auth_time > timedelta(
            seconds=requirement.max_age
        ):
            reasons.append("max_age")
    if subject.acr_level < wanted <= auth.account.real_name_level:
        reasons.append("step_up")
    if reasons:
        if "none" in prompts:
            error = "interaction_required" if reasons == ["step_up"] else "login_required"
            return _error_to(redirect_uri, error, "re-authentication required", state)
        return _login_redirect(runtime, params, reauth=True, level=wanted)

    scope = oreq.scope or ""
    if client.consent_required and claims_service.consent_scopes(scope):
        consent = claims_service.covering_consent(db, auth.account.id, client, scope)
        if consent is None or "consent" in prompts:
            if "none" in prompts:
                return _error_to(redirect_uri, "consent_required", "consent required", state)
            scopes = claims_service.consent_scopes(scope)
            return render(
                "oidc_consent.html",
                title="授权确认",
                node_name=node_name,
                client_name=client.name,
                labels=[claims_service.SCOPE_LABELS[s] for s in scopes],
                purpose=claims_service.purpose_text(client, scopes),
                action="/oidc/authorize/decision",
                csrf_token=_csrf(runtime, auth.session.id, "consent"),
                params=[("request_params", urlencode([(k, v) for k, vs in params.items() for v in vs]))],
            )
        subject.consent_id = consent.id
    status, body, headers = runtime.server.create_authorization_response(
        request=oreq, grant_user=subject, grant=grant
    )
    if status == 302:
        runtime.audit(
            db,
            "code_issued",
            success=True,
            client_id=client.client_id,
            account_id=auth.account.id,
            session_id=auth.session.id,
            detail={"acr": subject.acr_level, **({"item": demand.code} if demand is not None else {})},
        )
        return RedirectResponse(
            dict(headers)["Location"], status_code=302, headers={"Cache-Control": "no-store"}
        )
    return from_authlib(status, body, headers)


@router.get("/oidc/authorize", summary="授权端点（登录）", response_class=Response)
async def authorize_get(request: Request, session: DbSession) -> Response:
    """OIDC authentication request (code flow)."""
    params = _params(request.url.query)
    return await run_in_threadpool(_authorize, request, session, params)


@router.post("/oidc/authorize", summary="授权端点（表单提交）", response_class=Response)
async def authorize_post(request: Request, session: DbSession) -> Response:
    """OIDC Core §3.1.2.1: the authorization endpoint also accepts form posts."""
    params = await _form(request)
    if params is None:
        return error_page("invalid_request")
    return await run_in_threadpool(_authorize, request, session, params)


def _decision(request: Request, db: Session, csrf_token: str, decision: str, request_params: str) -> Response:
    runtime = runtime_of(request)
    auth = deps.current_session(request, db)
    if auth is None:
        return error_page("login_required", status=401, message="登录已失效，请重新登录后再授权")
    if not hmac.compare_digest(csrf_token, _csrf(runtime, auth.session.id, "consent")):
        return error_page("invalid_request", status=403, message="页面已过期，请返回应用重新登录")
    params = _params(request_params)
    first = {k: v[0] for k, v in params.items() if v}
    client = runtime.clients.get(db, first.get("client_id", ""))
    redirect_uri = first.get("redirect_uri", "")
    if client is None or not client.check_redirect_uri(redirect_uri):
        return error_page("invalid_redirect_uri")
    if decision != "approve":
        runtime.audit(
            db, "consent_denied", success=False, client_id=client.client_id, account_id=auth.account.id
        )
        return _error_to(redirect_uri, "access_denied", "the user denied consent", first.get("state"))
    scope = client.get_allowed_scope(first.get("scope")) or ""
    claims_service.grant_consent(db, auth.account.id, client, scope, meta=deps.request_meta(request))
    if "prompt" in params:
        remaining = [p for p in params["prompt"][0].split() if p != "consent"]
        if remaining:
            params["prompt"] = [" ".join(remaining)]
        else:
            del params["prompt"]
    return _authorize(request, db, params)


@router.post("/oidc/authorize/decision", summary="授权同意提交", response_class=Response)
def authorize_decision(
    request: Request,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=100)],
    decision: Annotated[str, Form(pattern="^(approve|deny)$")],
    request_params: Annotated[str, Form(max_length=8000)],
) -> Response:
    """The consent page's answer."""
    return _decision(request, session, csrf_token, decision, request_params)


# --- token ------------------------------------------------------------------------------------------


def _client_id_of(oreq: OAuthRequest) -> str | None:
    basic_id, _ = extract_basic_authorization(oreq.headers)
    return basic_id or oreq.form.get("client_id")


def _token_in_transaction(runtime: OidcRuntime, oreq: OAuthRequest, meta: Any) -> tuple[int, Any, list[Any]]:
    # The grant reads (client, code, refresh token) and then writes; on SQLite another writer committing
    # in between refuses the write (SQLITE_BUSY_SNAPSHOT). Nothing was written then, so the request is
    # run again on a fresh snapshot.
    def attempt() -> tuple[int, Any, list[Any]]:
        oreq.issued.clear()
        status, body, headers = runtime.server.create_token_response(oreq)
        if oreq.issued:
            write_issuance(db, oreq.issued)
        if status != 200:
            _audit_token_failure(runtime, db, oreq, body, meta)
        return status, body, headers

    with runtime.session_factory() as db:
        bound = bind_session(db)
        try:
            result = retrying_when_busy(db, attempt)
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            unbind_session(bound)
    return result


def _audit_token_failure(runtime: OidcRuntime, db: Session, oreq: OAuthRequest, body: Any, meta: Any) -> None:
    error = body.get("error") if isinstance(body, dict) else None
    client_id = (_client_id_of(oreq) or "")[:64] or None
    runtime.audit(
        db,
        "token_denied",
        success=False,
        client_id=client_id,
        meta=meta,
        detail={
            "error": error,
            "grant_type": (oreq.form.get("grant_type") or "")[:32],
            # Why client authentication failed (unknown_client, wrong_secret, method_not_registered ...):
            # the answer says only invalid_client (RFC 6749 §5.2), the trail says which.
            "client_auth": oreq.auth_failure,
            "auth_method": (oreq.auth_attempt or "")[:32] or None,
        },
    )


def _audit_failure_alone(runtime: OidcRuntime, oreq: OAuthRequest, body: Any, meta: Any) -> None:
    with runtime.session_factory() as db:
        _audit_token_failure(runtime, db, oreq, body, meta)
        db.commit()


async def issue_token(
    runtime: OidcRuntime, headers: Mapping[str, str], form: dict[str, list[str]] | None, meta: RequestMeta
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """RFC 6749 §3.2 token endpoint logic (all grants): status, JSON body and extra headers."""
    if form is None:
        return (
            400,
            oauth_error_body("invalid_request", "Expected an application/x-www-form-urlencoded body."),
            {},
        )
    if any(len(v) > 1 for v in form.values()):
        return 400, oauth_error_body("invalid_request", "Repeated parameters."), {}
    oreq = OAuthRequest("POST", runtime.url("/token"), headers, {}, form)
    grant_type = oreq.form.get("grant_type")
    client_id = _client_id_of(oreq)
    fast = grant_type == "client_credentials" and runtime.settings.issuance_batch and client_id is not None
    if fast and client_id is not None:
        # Warm the caches with read-only work off the event loop; all writes then go through the one
        # issuance writer (concurrent SQLite transactions that read first and write later would collide).
        # Twice: the client entry may expire while the key reloads (their lifetimes differ).
        for _ in range(2):
            if runtime.clients.cached(client_id) is None:
                await run_in_threadpool(runtime.clients.loader(runtime.session_factory), client_id)
            if runtime.fresh_key_material() is None:
                await run_in_threadpool(runtime.key_material)
            fast = runtime.clients.cached(client_id) is not None and runtime.fresh_key_material() is not None
            if fast:
                break
    if fast:
        # Everything needed is in memory: sign in the event loop, then wait for the audit group commit.
        status, body, extra = runtime.server.create_token_response(oreq)
        if status == 200 and oreq.issued:
            try:
                await runtime.issuance.record(oreq.issued)
            except RuntimeError:
                return 500, oauth_error_body("server_error", "The issuance could not be recorded."), {}
        if status != 200:
            await run_in_threadpool(_audit_failure_alone, runtime, oreq, body, meta)
    else:
        status, body, extra = await run_in_threadpool(_token_in_transaction, runtime, oreq, meta)
    if status == 200 and isinstance(body, dict):
        return 200, public_token(body), {}
    return authlib_error(status, body, extra)


async def token_endpoint(request: Request) -> Response:
    """RFC 6749 §3.2 token endpoint (the routed variant; the shortcut in ``wiring`` is used normally)."""
    runtime = runtime_of(request)
    status, body, headers = await issue_token(
        runtime, request.headers, await _form(request), deps.request_meta(request)
    )
    return json_response(status, body, headers)


_FORM_TYPE = b"application/x-www-form-urlencoded"


async def token_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The token endpoint as a bare ASGI callable: no Request/Response objects on the hottest path."""
    runtime = node_of(scope["app"]).services.provide(OIDC)
    authorization: bytes | None = None
    form_type = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"content-type":
            form_type = value.startswith(_FORM_TYPE)
    chunks = []
    size = 0
    more = True
    while more:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM:
            form_type = False
            break
        chunks.append(chunk)
        more = message.get("more_body", False)
    raw = b"".join(chunks)
    if form_type and runtime.settings.issuance_batch:
        fast = fastlane.prepare(runtime, authorization, raw)
        if fast is not None:
            # No token leaves without its committed issuance record (see issuance.py).
            try:
                await runtime.issuance.record([fast.record])
            except RuntimeError:
                error = oauth_error_body("server_error", "The issuance could not be recorded.")
                await _send_json(send, 500, orjson.dumps(error), {})
                return
            await _send_json(send, 200, fast.body, {})
            return
    headers = {"Authorization": authorization.decode("latin-1")} if authorization is not None else {}
    form = None
    if form_type:
        try:
            form = _params(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            form = None
    client = scope.get("client")
    meta = RequestMeta(ip=client[0] if client else None, user_agent=None)
    status, body, extra = await issue_token(runtime, headers, form, meta)
    await _send_json(
        send, status, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), extra
    )


async def _send_json(send: Send, status: int, payload: bytes, extra: Mapping[str, str]) -> None:
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        (b"pragma", b"no-cache"),
    ]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


# Served by the shortcut in ``wiring`` in front of everything; this route is its routed twin and what the
# OpenAPI document describes (the form is read by hand: RFC 6749 errors, not the API's 422 envelope).
router.add_api_route(
    "/oidc/token",
    token_endpoint,
    methods=["POST"],
    summary="令牌端点",
    description="RFC 6749 §3.2 token endpoint: authorization code (with PKCE), refresh token and client "
    "credentials grants. Clients authenticate with client_secret_basic, client_secret_post or, for "
    "public clients, none.",
    response_class=Response,
    responses=doc.TOKEN_RESPONSES,
    openapi_extra=doc.form_body(*doc.TOKEN_FORMS),
)


# --- userinfo ---------------------------------------------------------------------------------------


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def _invalid_token(description: str) -> Response:
    return oauth_error(
        401,
        "invalid_token",
        description,
        {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
    )


def _userinfo(request: Request, db: Session, form_token: str | None) -> Response:
    runtime = runtime_of(request)
    value = _bearer(request) or form_token
    if not value:
        return oauth_error(401, "invalid_token", "Missing bearer token.", {"WWW-Authenticate": "Bearer"})
    try:
        claims = runtime.verify_own(value, typ="at+jwt", leeway=0)
    except TokenRejected as exc:
        return _invalid_token(f"Token rejected: {exc.reason}.")
    jti = str(claims.get("jti", ""))
    grant = db.query(OidcGrant).filter(OidcGrant.access_jti == jti).one_or_none()
    if grant is None:
        return _invalid_token("Not a token issued for a person.")
    if grant.revoked_at is not None or runtime.is_jti_revoked(db, jti):
        return _invalid_token("Token revoked.")
    if "openid" not in grant.scope.split():
        return oauth_error(403, "insufficient_scope", "The openid scope is required.")
    client = runtime.clients.get(db, grant.client_id)
    if client is None:
        return _invalid_token("Client no longer active.")
    needs_consent = client.consent_required and claims_service.consent_scopes(grant.scope)
    consent = (
        claims_service.covering_consent(db, grant.account_id, client, grant.scope) if needs_consent else None
    )
    if needs_consent and consent is None:
        # Conventions §6: a withdrawn consent is refused on the next use.
        runtime.audit(
            db, "consent_refused", success=False, client_id=client.client_id, account_id=grant.account_id
        )
        return _invalid_token("Consent withdrawn or missing.")
    account = db.get(Account, grant.account_id)
    if account is None or account.status != "active":
        return _invalid_token("Account not active.")
    user_session = db.get(UserSession, grant.session_id) if grant.session_id else None
    body = claims_service.userinfo(
        db,
        runtime.node_keys,
        client,
        account,
        scope=grant.scope,
        acting_for=grant.acting_for,
        user_session=user_session,
        consent_id=consent.id if consent is not None else None,
        meta=deps.request_meta(request),
    )
    return json_response(200, body)


@router.get(
    "/oidc/userinfo", summary="用户信息端点", response_class=Response, responses=doc.USERINFO_GET_RESPONSES
)
def userinfo_get(request: Request, session: DbSession) -> Response:
    """OIDC Core §5.3 (bearer token in the Authorization header)."""
    return _userinfo(request, session, None)


@router.post(
    "/oidc/userinfo",
    summary="用户信息端点（POST）",
    response_class=Response,
    responses=doc.USERINFO_POST_RESPONSES,
    openapi_extra=doc.form_body(doc.UserInfoForm, required=False),
)
async def userinfo_post(request: Request, session: DbSession) -> Response:
    """OIDC Core §5.3 with the token in the header or the form body (RFC 6750 §2.2)."""
    form = await _form(request)
    token = form.get("access_token", [None])[0] if form else None
    return await run_in_threadpool(_userinfo, request, session, token)


# --- introspection and revocation ------------------------------------------------------------------


def _endpoint(request: Request, db: Session, name: str, form: dict[str, list[str]]) -> Response:
    runtime = runtime_of(request)
    oreq = OAuthRequest("POST", runtime.url(f"/{name}"), request.headers, {}, form)
    bound = bind_session(db)
    try:
        result = runtime.server.create_endpoint_response(name, oreq)
    finally:
        unbind_session(bound)
    status, body, headers = result
    if status != 200:
        _audit_token_failure(runtime, db, oreq, body, deps.request_meta(request))
    return from_authlib(status, body, headers)


@router.post(
    "/oidc/introspect",
    summary="令牌内省（RFC 7662）",
    response_class=Response,
    responses=doc.INTROSPECTION_RESPONSES,
    openapi_extra=doc.form_body(doc.IntrospectionForm),
)
async def introspect(request: Request, session: DbSession) -> Response:
    """For resource servers: is this token active, and what does it carry."""
    form = await _form(request)
    if form is None:
        return oauth_error(400, "invalid_request", "Expected a form body.")
    return await run_in_threadpool(_endpoint, request, session, "introspection", form)


@router.post(
    "/oidc/revoke",
    summary="令牌撤销（RFC 7009）",
    response_class=Response,
    responses=doc.REVOCATION_RESPONSES,
    openapi_extra=doc.form_body(doc.RevocationForm),
)
async def revoke(request: Request, session: DbSession) -> Response:
    """Revoke an access or refresh token."""
    form = await _form(request)
    if form is None:
        return oauth_error(400, "invalid_request", "Expected a form body.")
    return await run_in_threadpool(_endpoint, request, session, "revocation", form)


# --- RP-initiated logout ------------------------------------------------------------------------------


def _logout(request: Request, db: Session, params: dict[str, list[str]], confirmed: bool) -> Response:
    runtime = runtime_of(request)
    first = {k: v[0] for k, v in params.items() if v}
    node_name = runtime.node.node_name
    hint_claims: dict[str, Any] | None = None
    if first.get("id_token_hint"):
        try:
            # Expired ID tokens are fine as hints (RP-Initiated Logout 1.0 §2).
            hint_claims = runtime.verify_own(first["id_token_hint"], typ=None, leeway=10**9)
        except TokenRejected:
            return error_page("invalid_request", message="注销请求中的身份令牌无效", node_name=node_name)
    client_id = first.get("client_id") or (str(hint_claims.get("aud")) if hint_claims else None)
    client = runtime.clients.get(db, client_id) if client_id else None
    return_to = first.get("post_logout_redirect_uri")
    if return_to and (client is None or return_to not in client.post_logout_redirect_uris):
        return error_page(
            "invalid_redirect_uri",
            message="注销后跳转地址未在该应用登记，出于安全考虑不予跳转",
            node_name=node_name,
        )
    # Back-channel from a node: the client authenticates and names the session by the hint's sid.
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    rp_session = None
    if hint_claims and hint_claims.get("sid"):
        rp_session = (
            db.query(OidcRpSession).filter(OidcRpSession.sid == str(hint_claims["sid"])).one_or_none()
        )
    if (
        basic_id
        and client is not None
        and basic_id == client.client_id
        and client.check_client_secret(basic_secret or "")
    ):
        if rp_session is not None and rp_session.client_id == client.client_id:
            core.end_session(
                db,
                rp_session.session_id,
                "rp_logout",
                bus=node_of(request).bus,
                meta=deps.request_meta(request),
            )
            runtime.audit(
                db, "rp_logout", success=True, client_id=client.client_id, account_id=rp_session.account_id
            )
        return json_response(200, {"status": "ok"})
    auth = deps.current_session(request, db)
    if auth is not None:
        same_person = rp_session is None or rp_session.session_id == auth.session.id
        if not confirmed and (hint_claims is None or not same_person):
            # Without a matching hint a third party could log the person out: ask first (§2 of the spec).
            return render(
                "oidc_logout.html",
                title="退出登录",
                node_name=node_name,
                confirm=True,
                action="/oidc/logout",
                message="是否退出政务服务平台的登录？退出后，通过本平台登录的各部门系统也将同时退出。",
                csrf_token=_csrf(runtime, auth.session.id, "logout"),
                params=[
                    (k, v)
                    for k, v in first.items()
                    if k in ("client_id", "post_logout_redirect_uri", "state", "id_token_hint")
                ],
                return_to=None,
            )
        if confirmed and not hmac.compare_digest(
            first.get("csrf_token", ""), _csrf(runtime, auth.session.id, "logout")
        ):
            return error_page(
                "invalid_request", status=403, message="页面已过期，请重新操作", node_name=node_name
            )
        core.end_session(
            db, auth.session.id, "logout", bus=node_of(request).bus, meta=deps.request_meta(request)
        )
    if return_to:
        sep = "&" if "?" in return_to else "?"
        target = (
            f"{return_to}{sep}{urlencode({'state': first['state']})}" if first.get("state") else return_to
        )
        response: Response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    else:
        response = render(
            "oidc_logout.html",
            title="已退出登录",
            node_name=node_name,
            confirm=False,
            action="",
            message="您已安全退出政务服务平台，各部门系统的登录状态也已同步退出。",
            csrf_token="",
            params=[],
            return_to=None,
        )
    deps.clear_session_cookie(of(db), response)
    return response


@router.get("/oidc/logout", summary="RP 发起的注销", response_class=Response)
async def logout_get(request: Request, session: DbSession) -> Response:
    """OIDC RP-Initiated Logout 1.0."""
    return await run_in_threadpool(_logout, request, session, _params(request.url.query), False)


@router.post("/oidc/logout", summary="RP 发起的注销（表单）", response_class=Response)
async def logout_post(request: Request, session: DbSession) -> Response:
    """Form variant (confirmation page answer, or a node's back-channel call with client credentials)."""
    form = await _form(request)
    if form is None:
        return error_page("invalid_request")
    confirmed = form.get("decision", [""])[0] == "logout"
    return await run_in_threadpool(_logout, request, session, form, confirmed)
