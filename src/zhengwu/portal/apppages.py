"""接入应用 in the portal: the 应用 page, opening an app with single sign-on, the apps' icons.

The native mobile app opens one without a second login through a one-time launch address
(``/apps/launch/{code}``, made by ``POST /api/v1/mobile/me/apps/{id}/launch``; ``portal.launch``), which
opens a session in its web view and continues at ``/apps/{id}/open``.

Opening (``/apps/{id}/open``) asks for the person's session here (else the login page, and back), then
sends the browser to the app's entry address as an OIDC third-party-initiated login (OIDC Core §4):
``iss`` names this node's provider and ``target_link_uri`` the entry. The app starts its own
authorization-code request (its state, its PKCE); the provider finds the session and answers with a code,
so the person does not log in a second time. Opening writes nothing: it only reads and redirects.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from zhengwu.identity import context as identity_context
from zhengwu.identity import service as identity_service
from zhengwu.identity.deps import current_session, request_meta, set_session_cookie
from zhengwu.kernel.node import node_of
from zhengwu.kernel.ratelimit import per_address
from zhengwu.kernel.session import DbSession
from zhengwu.portal import apps, launch
from zhengwu.portal.errors import AppNotFound
from zhengwu.portal.pages import render
from zhengwu.portal.schemas import icon_url

router = APIRouter(include_in_schema=False)


def _missing(request: Request, db: DbSession) -> HTMLResponse:
    return render(
        request,
        db,
        "portal/message.html",
        {"title": "没有找到这个应用", "message": "应用不存在或已下架。请回到应用列表查看。"},
        status_code=404,
    )


@router.get("/apps", response_class=HTMLResponse)
def apps_page(request: Request, db: DbSession) -> HTMLResponse:
    """应用: the departments' apps that open with this node's login, by name."""
    shown = [(app, icon_url(app)) for app in apps.listing(db)]
    return render(request, db, "portal/apps.html", {"apps": shown})


def launch_url(entry_url: str, issuer: str) -> str:
    """The entry address with the third-party-initiated login's parameters added to its own."""
    parts = urlsplit(entry_url)
    extra = urlencode({"iss": issuer, "target_link_uri": entry_url})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@router.get("/apps/{app_id}/open")
def open_app(app_id: str, request: Request, db: DbSession) -> Response:
    """Open an app: log in here first if need be, then on to the app, which finds this login."""
    try:
        app = apps.shown(db, app_id)
    except AppNotFound:
        return _missing(request, db)
    if current_session(request, db) is None:
        return RedirectResponse(f"/identity/login?{urlencode({'next': request.url.path})}", status_code=303)
    if not apps.client_active(db, app):
        # Identity suspended or revoked the app's client: its login would fail there, so say it here.
        return render(request, db, "portal/message.html", {
            "title": f"{app.name}暂停服务", "message": "该应用目前无法登录。请稍后再试，或通过本平台在线办理。"},
            status_code=409)  # fmt: skip
    issuer = node_of(request).settings.public_url
    response = RedirectResponse(launch_url(app.entry_url, issuer), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/portal/apps/{app_id}/icon")
def app_icon(app_id: str, db: DbSession) -> Response:
    """An app's icon, as it was checked on registration (PNG or JPEG)."""
    try:
        app = apps.shown(db, app_id)
    except AppNotFound:
        return Response(status_code=404)
    if not app.icon or not app.icon_type:
        return Response(status_code=404)
    return Response(
        app.icon,
        media_type=app.icon_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


_REFUSED_STATUS: Final = {"unknown": 404, "replayed": 410, "expired": 410, "app_gone": 404, "app_suspended": 409,
                          "account": 403, "other_person": 409}  # fmt: skip


# Unknown codes are refused and recorded; the limit keeps a guesser from filling the audit chain.
_LAUNCH_LIMIT = Depends(per_address("portal.launch", lambda s: s.security.public_rate_per_minute))


@router.get("/apps/launch/{code}", dependencies=[_LAUNCH_LIMIT])
def launch_app(code: str, request: Request, db: DbSession) -> Response:
    """Take a one-time launch code: a session for its person in this browser (the web view of the mobile
    app) unless it holds theirs already, then on to the app's single sign-on. A browser logged in as
    someone else is refused, not switched. The code never travels on: no referrer, nothing cached."""
    private = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    held = current_session(request, db)
    try:
        row, app, account = launch.redeem(
            db, code[:100], held_by=held.account.id if held else None, meta=request_meta(request)
        )
    except launch.LaunchRefused as exc:
        refused = render(request, db, "portal/message.html", {"title": "无法打开应用",
                         "message": launch.REFUSALS[exc.reason]}, status_code=_REFUSED_STATUS[exc.reason])  # fmt: skip
        refused.headers.update(private)
        return refused
    response = RedirectResponse(f"/apps/{app.id}/open", status_code=303, headers=private)
    if held is not None:
        return response  # this web view is already logged in as the person
    started = identity_service.start_session(
        db,
        account,
        auth_level=row.auth_level,
        amr=list(row.amr),
        acting_for=row.acting_for,
        meta=request_meta(request),
    )
    # Never fresher nor stronger than the login behind the app's token: its time, no second factor here.
    started.auth_time, started.second_factor_at = row.auth_time, None
    assert started.token is not None
    set_session_cookie(identity_context.of(db), response, started.token)
    return response
