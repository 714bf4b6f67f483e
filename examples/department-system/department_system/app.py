"""The web application: clerks' pages (zh-CN, server-rendered), single sign-on through the node, the
webhook receiver and the back-channel logout endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from joserfc.errors import JoseError

from department_system import signatures
from department_system.config import Config
from department_system.node import Node, NodeError
from department_system.store import Store

log = logging.getLogger("department_system")

COOKIE = "deptsys_session"
BEIJING = timezone(timedelta(hours=8))
BCL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_BODY = 256 * 1024  # the node's case events are a few hundred bytes

STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "已申报，待受理",
    "accepted": "已受理",
    "not_accepted": "不予受理",
    "in_process": "办理中",
    "supplement_requested": "待补正",
    "special_procedure": "特别程序中",
    "joint_review": "联办征求意见中",
    "concluded": "已办结",
    "delivered": "已送达",
    "withdrawn": "已撤回",
}
EVENT_LABELS = {
    "case.submitted": "申报",
    "case.accepted": "受理",
    "case.rejected": "不予受理",
    "case.supplement_requested": "一次性告知补正",
    "case.resubmitted": "申请人补正",
    "case.step_completed": "环节办理",
    "case.step_added": "增加环节",
    "case.opinions_requested": "征求联办意见",
    "case.opinion_given": "联办意见",
    "case.special_started": "特别程序开始",
    "case.special_ended": "特别程序结束",
    "case.concluded": "办结",
    "case.delivered": "送达",
    "case.withdrawn": "申请人撤回",
    "case.evaluated": "评价",
}
ACTION_LABELS = {
    "accept": "受理",
    "request_supplement": "一次性告知补正",
    "conclude": "办结",
    "give_opinion": "联办意见",
    "accept_step": "接收本环节",
    "complete_step": "完成本环节",
}


def beijing(value: str | None) -> str:
    """An ISO time as 北京时间 (``2026-12-05 16:00``)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def create_app(
    config: Config,
    *,
    node: Node | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The application; ``node``, ``store`` and ``clock`` are replaceable for tests."""
    node = node or Node(config)
    store = store or Store(config.database)
    pages = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    pages.filters["beijing"] = beijing
    pages.globals.update(title=config.title, status_labels=STATUS_LABELS, event_labels=EVENT_LABELS,
                         action_labels=ACTION_LABELS)  # fmt: skip
    app = FastAPI(title=config.title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.node, app.state.store = node, store

    def render(name: str, code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(pages.get_template(name).render(**context), status_code=code)

    def clerk_of(request: Request) -> dict[str, Any] | None:
        return store.session(request.cookies.get(COOKIE, ""))

    def csrf_ok(clerk: dict[str, Any], given: str) -> bool:
        return secrets.compare_digest(clerk["csrf"], given)

    # single sign-on ----------------------------------------------------------------------------------

    @app.get("/login")
    def login() -> Response:
        """To the node's authorization endpoint (code + PKCE S256, state, nonce)."""
        try:
            meta = node.metadata()
        except NodeError as exc:
            return render("message.html", 502, clerk=None, heading="无法登录", text=str(exc))
        verifier, challenge = _pkce()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        store.start_login(state, verifier, nonce)
        query = {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": config.redirect_uri,
            "scope": "openid profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return RedirectResponse(f"{meta['authorization_endpoint']}?{urlencode(query)}", status_code=302)

    @app.get("/callback")
    def callback(request: Request) -> Response:
        """The node's answer: code for tokens, ID token checked, the person's name from userinfo."""
        params = request.query_params
        pending = store.finish_login(params.get("state", ""))
        if pending is None:
            return render("message.html", 400, clerk=None, heading="登录请求已失效", text="请重新登录。")
        if "code" not in params:
            reason = {"access_denied": "您拒绝了授权或账号不满足要求。"}.get(params.get("error", ""), "")
            return render("message.html", 400, clerk=None, heading="未能登录", text=reason or "请重新登录。")
        verifier, nonce = pending
        try:
            meta = node.metadata()
            got = node.http.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": params["code"],
                    "redirect_uri": config.redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(config.client_id, config.client_secret),
            )
        except (NodeError, httpx.HTTPError) as exc:
            log.warning("token endpoint unreachable: %s", exc)
            return render(
                "message.html", 502, clerk=None, heading="无法登录", text="无法连接政务服务平台，请稍后重试。"
            )
        if got.status_code != 200:
            log.warning("token endpoint refused the code: %s", got.text[:300])
            return render("message.html", 400, clerk=None, heading="未能登录", text="请重新登录。")
        tokens = got.json()
        try:
            claims = node.check_jwt(tokens["id_token"])
        except (JoseError, ValueError, KeyError) as exc:
            log.warning("ID token refused: %s", exc)
            return render(
                "message.html", 400, clerk=None, heading="未能登录", text="身份令牌无效，请重新登录。"
            )
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            return render("message.html", 400, clerk=None, heading="未能登录", text="请重新登录。")
        info = node.http.get(
            meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).json()
        if info.get("sub") != claims["sub"]:
            return render("message.html", 400, clerk=None, heading="未能登录", text="请重新登录。")
        # Only the platform's staff accounts handle cases here; a citizen who signs in is turned away.
        if info.get("account_type") != "staff":
            return render("message.html", 403, clerk=None, heading="无权使用本系统",
                          text="本系统仅供部门工作人员使用。")  # fmt: skip
        token = store.open_session(claims["sub"], claims.get("sid"), info.get("name"), tokens["id_token"])
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=config.secure_cookies)
        return response

    @app.post("/logout")
    def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
        """End our session and the node's (RP-initiated logout)."""
        clerk = clerk_of(request)
        if clerk is None or not csrf_ok(clerk, csrf_token):
            return RedirectResponse("/", status_code=303)
        store.close_session(request.cookies.get(COOKIE, ""))
        query = urlencode(
            {"id_token_hint": clerk["id_token"], "post_logout_redirect_uri": f"{config.base_url}/"}
        )
        response = RedirectResponse(f"{node.metadata()['end_session_endpoint']}?{query}", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.post("/backchannel-logout")
    async def backchannel_logout(request: Request) -> Response:
        """The node says a person logged out somewhere: end their sessions here (OIDC BCL 1.0)."""
        form = await request.form()
        try:
            claims = node.check_jwt(str(form.get("logout_token", "")))
            if BCL_EVENT not in (claims.get("events") or {}) or "nonce" in claims:
                raise ValueError("not a logout token")
            if not claims.get("sid") and not claims.get("sub"):
                raise ValueError("neither sid nor sub")
        except (JoseError, ValueError) as exc:
            log.warning("logout token refused: %s", exc)
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        store.end_sessions(sid=claims.get("sid"), sub=claims.get("sub"))
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    # webhooks and the pull feed ----------------------------------------------------------------------

    @app.post("/webhooks")
    async def webhook(request: Request) -> Response:
        """A signed case event: verified on the raw body before parsing, stored once per webhook-id."""
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        body = await request.body()
        try:
            msg_id, scheme = signatures.verify(
                config.webhook_secret, request.headers, body,
                now=clock(), schemes=config.schemes, tolerance=config.tolerance,
            )  # fmt: skip
            event = json.loads(body)
            if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
                raise signatures.Refused("the body is not an event")
        except (signatures.Refused, ValueError) as exc:
            log.warning("webhook refused: %s", exc)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        if event.get("schema_version") != "1":
            # A version this code was not written for: refuse, so the node keeps it for a later replay.
            return JSONResponse({"error": "unsupported schema_version"}, status_code=422)
        fresh = store.record_event(msg_id, event, via="push")
        # A webhook-id seen before (a retry after a lost answer, a replay) is acknowledged, never reapplied.
        return JSONResponse({"received": msg_id, "duplicate": not fresh, "scheme": scheme})

    def catch_up() -> tuple[int, int]:
        """Pull the feed from the stored cursor to its end; (events read, new ones)."""
        read = new = 0
        after = store.cursor()
        while True:
            got = node.events(after)
            if not got.ok:
                raise NodeError(got.reason)
            events = got.body["events"]
            for event in events:
                read += 1
                new += store.record_event(event["webhook_id"], event, via="pull", cursor=int(event["cursor"]))
            after = int(got.body["next_cursor"])
            store.set_cursor(after)
            if not events:
                return read, new

    app.state.catch_up = catch_up

    # the clerks' pages -------------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request, status: str = "", synced: str = "") -> Response:
        """The queue: every case this system heard of, most recently changed first."""
        clerk = clerk_of(request)
        if clerk is None:
            return render("login.html", clerk=None)
        rows = store.queue(status if status in STATUS_LABELS else None)
        return render("queue.html", clerk=clerk, cases=rows, status=status, synced=synced)

    @app.post("/sync")
    def sync(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
        """Catch up through the pull feed (events missed while this system was down)."""
        clerk = clerk_of(request)
        if clerk is None or not csrf_ok(clerk, csrf_token):
            return RedirectResponse("/", status_code=303)
        try:
            read, new = catch_up()
        except NodeError as exc:
            return render("message.html", 502, clerk=clerk, heading="同步失败", text=str(exc))
        return RedirectResponse(f"/?{urlencode({'synced': f'{read}:{new}'})}", status_code=303)

    def case_page(
        clerk: dict[str, Any], case_no: str, *, error: str = "", typed: dict[str, Any] | None = None,
        status: int = 200, done: str = "",
    ) -> Response:  # fmt: skip
        try:
            got = node.case(case_no)
        except NodeError as exc:
            return render("message.html", 502, clerk=clerk, heading="无法读取办件", text=str(exc))
        if got.status == 404:
            return render("message.html", 404, clerk=clerk, heading="未找到办件", text="本部门没有这个办件。")
        if not got.ok:
            return render("message.html", 502, clerk=clerk, heading="无法读取办件", text=got.reason)
        case = got.body
        store.remember_case(case)
        types = license_types()
        wanted = (typed or {}).get("license_type_code") or (types[0]["code"] if types else "")
        return render(
            "case.html", status, clerk=clerk, case=case, events=store.events_of(case_no),
            actions=store.actions_of(case_no), error=error, typed=typed or {}, done=done,
            types=types, face_type=next((t for t in types if t["code"] == wanted), None),
            action_key=str(uuid.uuid4()),
        )  # fmt: skip

    def license_types() -> list[dict[str, Any]]:
        every = node.license_types()
        if config.license_types:
            return [t for t in every if t["code"] in config.license_types]
        return every

    @app.get("/cases/{case_no}", response_class=HTMLResponse)
    def case_detail(request: Request, case_no: str, done: str = "", license_type: str = "") -> Response:
        """One case, read live from the node, with the events received and the actions its clerks took."""
        clerk = clerk_of(request)
        if clerk is None:
            return RedirectResponse("/", status_code=303)
        typed = {"license_type_code": license_type} if license_type else None
        return case_page(clerk, case_no, done=done, typed=typed)

    @app.post("/cases/{case_no}/actions")
    async def act(request: Request, case_no: str) -> Response:
        """Accept, send back for a supplement, conclude, give a 联办 opinion, or accept and complete this
        department's 联办 step of another department's case (the node knows the department from the
        client): one node call with this form's idempotency key
        (rendered with the page, so a double click or a resent form acts once)."""
        clerk = clerk_of(request)
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if clerk is None or not csrf_ok(clerk, fields.get("csrf_token", "")):
            return render("message.html", 403, clerk=clerk, heading="请求已失效", text="请刷新页面后重试。")
        action = fields.get("action", "")
        key = fields.get("action_key", "")
        if action not in ACTION_LABELS or not key:
            return case_page(clerk, case_no, error="请选择要办理的操作。", typed=fields, status=422)
        opinion = fields.get("opinion", "").strip()
        body: dict[str, Any] = {"action": action, "opinion": opinion or None}
        if action == "request_supplement":
            body["materials"] = [str(m) for m in form.getlist("materials")]
            body["fields"] = [f.strip() for f in fields.get("fields", "").split(",") if f.strip()]
        if action == "give_opinion":
            # 联办: another department's case, on which the node asked this department for its opinion.
            if not config.department:
                return case_page(clerk, case_no, error="未配置本部门统一社会信用代码（DEPTSYS_DEPARTMENT），不能提出联办意见。",
                                 typed=fields, status=422)  # fmt: skip
            body["department"] = config.department
            body["verdict"] = "refuse" if fields.get("verdict") == "refuse" else "agree"
        if action == "conclude":
            body["outcome"] = fields.get("outcome", "approved")
            if body["outcome"] == "approved" and fields.get("license_type_code"):
                body["result_kind"] = "license"
                body["license_type_code"] = fields["license_type_code"]
                body["license_face"] = {
                    k.removeprefix("face_"): v.strip()
                    for k, v in fields.items()
                    if k.startswith("face_") and v.strip()
                }
            else:
                body["result_kind"] = "none"
        try:
            got = node.act(case_no, body, key)
        except NodeError as exc:
            return case_page(clerk, case_no, error=str(exc), typed=fields, status=502)
        store.record_action(key, case_no, action, clerk, got.status)
        if not got.ok:
            return case_page(clerk, case_no, error=got.reason, typed=fields, status=got.status)
        return RedirectResponse(f"/cases/{case_no}?{urlencode({'done': action})}", status_code=303)

    return app
