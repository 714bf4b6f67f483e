"""Server-rendered zh-CN pages: registration, login (with second factor), step-up, reset, account."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhengwu.identity import certlogin, mfa, realname, registration, reset, service
from zhengwu.identity.audit import events_for_account, record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.deps import (
    Authenticated,
    clear_session_cookie,
    cookie_name,
    current_session,
    request_meta,
    set_session_cookie,
)
from zhengwu.identity.errors import CsrfFailed, SessionExpired
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.routes import (
    FRESH,
    account_read,
    certificate_proof,
    certificate_trust,
    notifier_of,
    real_name_verifier,
)
from zhengwu.identity.web import (
    TEMPLATES,
    attach_csrf_cookie,
    check_csrf,
    csrf_token,
    end_read_phase,
    retrying_when_busy,
    safe_next,
)
from zhengwu.kernel.assets import static_asset
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import read_only_transactions
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession

router = APIRouter(prefix="/identity", include_in_schema=False)
_STATIC = Path(__file__).parent / "static"

# Events shown to the owner on the account page, in Chinese.
EVENT_LABELS = {
    "login": "登录",
    "logout": "退出/会话结束",
    "lockout": "账号锁定",
    "mfa": "动态验证码验证",
    "mfa_enrol": "开启动态验证码",
    "mfa_disabled": "关闭动态验证码",
    "session_start": "建立会话",
    "step_up": "二次认证",
    "step_up_required": "要求二次认证",
    "pii_read": "身份证号码被读取",
    "register": "注册",
    "register_legal": "注册法人账号",
    "password_change": "修改密码",
    "password_rehashed": "密码升级为新算法",
    "reset_request": "申请重置密码",
    "reset_confirm": "重置密码",
    "acting_for": "切换办事身份",
    "agent_granted": "获得经办授权",
    "token_issued": "向应用签发令牌",
    "app_launch_issued": "手机应用申请打开接入应用",
    "app_launch": "在手机应用中打开接入应用（单点登录）",
    "csrf": "页面令牌校验失败",
    "real_name_verification": "实名核验（人口库/法人库比对）",
    "real_name_level": "实名等级变更",
}


# Which personal datum a "pii_read" event is about (phones are read for department systems too).
PII_LABELS = {"citizen_id": "身份证号码被读取", "phone": "手机号码被读取"}


def _event_label(event: Any) -> str:
    kind = str(event.event_type)
    if kind == "pii_read":
        return PII_LABELS.get(str((event.detail or {}).get("field")), "个人信息被读取")
    return EVENT_LABELS.get(kind, kind)


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render a page with a CSRF token and the logged-in account, if any."""
    ctx: dict[str, Any] = {
        "csrf_token": csrf_token(request),
        "node_name": node_of(request).settings.node_name,
    }
    ctx.update(context or {})
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    attach_csrf_cookie(request, response)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _fail(
    request: Request, db: Session, exc: DomainError, template: str, context: dict[str, Any]
) -> HTMLResponse:
    # Keep the failure's audit rows and counters; drop anything else the attempt wrote.
    if isinstance(exc, CsrfFailed):
        db.rollback()
        record_auth_event(
            db, "csrf", success=False, meta=request_meta(request), detail={"path": request.url.path}
        )
    if getattr(exc, "keep_writes", False):
        db.commit()
    else:
        db.rollback()
    errors = {e["field"]: e["message"] for e in exc.extra.get("errors", []) if isinstance(e, dict)}
    return render(
        request,
        template,
        {**context, "error": exc.detail, "field_errors": errors},
        status_code=exc.status_code,
    )


def _csrf_failed(request: Request, db: Session, template: str, context: dict[str, Any]) -> HTMLResponse:
    return _fail(request, db, CsrfFailed(), template, context)


def _login_url(next_url: str) -> str:
    return "/identity/login?next=" + quote(next_url, safe="")


# --- login -----------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None, logged_out: int = 0) -> HTMLResponse:
    """The login form."""
    notice = "您已安全退出" if logged_out else None
    return render(request, "identity/login.html", {"next": safe_next(next), "notice": notice})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: DbSession,
    identifier: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the password; continue to the second factor or to ``next``."""
    target = safe_next(next)
    # What was typed is not echoed back: it may be an ID number or a phone.
    context = {"next": target}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, "identity/login.html", context)
    if not identifier.strip() or not password:
        return render(
            request, "identity/login.html", {**context, "error": "请输入账号和密码"}, status_code=422
        )
    meta = request_meta(request)

    # The check reads and hashes for tens of milliseconds: on SQLite without holding the write lock.
    with read_only_transactions():
        check = service.check_password(db, identifier, password, meta=meta)
    end_read_phase(db, check.account)
    try:
        account = service.record_password_check(db, check, meta=meta)
    except DomainError as exc:
        return _fail(request, db, exc, "identity/login.html", context)
    pending = account.totp_enabled
    user_session = service.start_session(db, account, amr=["pwd"], mfa_pending=pending, meta=meta)
    response = _redirect(("/identity/login/mfa?next=" + quote(target, safe="")) if pending else target)
    assert user_session.token is not None
    set_session_cookie(of(db), response, user_session.token)
    return response


_LOGIN_BY_CERTIFICATE = {
    "heading": "数字证书登录",
    "lead": "使用数字证书（UKey）登录，实名等级为五级。",
    "button": "使用数字证书登录",
    "action": "/identity/login/certificate",
    "back_url": "/identity/login",
    "back_label": "返回账号密码登录",
}
_STEP_UP_BY_CERTIFICATE = {
    "heading": "数字证书二次认证",
    "lead": "使用本人的数字证书（UKey）再次验证身份，本次登录的实名等级将达到五级。",
    "button": "使用数字证书验证",
    "action": "/identity/step-up/certificate",
    "back_url": "/identity/step-up",
    "back_label": "改用密码验证",
}


def _certificate_context(request: Request, kind: dict[str, str], next_url: str) -> dict[str, Any]:
    return {**kind, "next": next_url, "agent_url": node_of(request).settings.identity.ukey_agent_url}


def _certificate_answer(
    challenge: str, certificate: str, chain: str, signature: str
) -> certlogin.CertificateProof:
    return certificate_proof(challenge, certificate, [c for c in chain.split(",") if c.strip()], signature)


@router.get("/login/certificate", response_class=HTMLResponse)
def certificate_login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """数字证书登录: the page asks the local UKey agent (证书助手) to sign a challenge."""
    context = _certificate_context(request, _LOGIN_BY_CERTIFICATE, safe_next(next))
    return render(request, "identity/login_certificate.html", context)


@router.post("/login/certificate", response_class=HTMLResponse)
def certificate_login_submit(
    request: Request,
    db: DbSession,
    challenge: str = Form(""),
    certificate: str = Form(""),
    chain: str = Form(""),
    signature: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the signed challenge and the certificate; log in at real-name level 5."""
    template = "identity/login_certificate.html"
    target = safe_next(next)
    context = _certificate_context(request, _LOGIN_BY_CERTIFICATE, target)
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, template, context)
    try:
        proof = _certificate_answer(challenge, certificate, chain, signature)
        _, user_session = certlogin.login(
            db,
            proof,
            issuer=node_of(request).settings.public_url,
            trust=certificate_trust(request),
            meta=request_meta(request),
        )
    except DomainError as exc:
        return _fail(request, db, exc, template, context)
    response = _redirect(target)
    assert user_session.token is not None
    set_session_cookie(of(db), response, user_session.token)
    return response


@router.get("/step-up/certificate", response_class=HTMLResponse)
def certificate_step_up_page(request: Request, db: DbSession, next: str | None = None) -> Response:
    """二次认证 with the logged-in person's own certificate (the session reaches level 5)."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    context = _certificate_context(request, _STEP_UP_BY_CERTIFICATE, safe_next(next))
    return render(request, "identity/login_certificate.html", context)


@router.post("/step-up/certificate", response_class=HTMLResponse)
def certificate_step_up_submit(
    request: Request,
    db: DbSession,
    challenge: str = Form(""),
    certificate: str = Form(""),
    chain: str = Form(""),
    signature: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the certificate names the logged-in person; raise the session to level 5 and continue."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    template = "identity/login_certificate.html"
    target = safe_next(next)
    context = _certificate_context(request, _STEP_UP_BY_CERTIFICATE, target)
    try:
        check_csrf(request, csrf_token)
        proof = _certificate_answer(challenge, certificate, chain, signature)
        certlogin.step_up(
            db,
            auth.session,
            auth.account,
            proof,
            issuer=node_of(request).settings.public_url,
            trust=certificate_trust(request),
            meta=request_meta(request),
        )
    except DomainError as exc:
        return _fail(request, db, exc, template, context)
    response = _redirect(target)
    set_session_cookie(of(db), response, service.rotate_session_token(db, auth.session))
    return response


@router.get("/static/certlogin.js", include_in_schema=False)
async def certificate_login_script(request: Request) -> Response:
    """The certificate login page's script (a file, so that a Content-Security-Policy can allow it)."""
    return await static_asset(request, _STATIC / "certlogin.js", "text/javascript; charset=utf-8")


def _pending(request: Request, db: Session) -> tuple[UserSession, Account] | None:
    token = request.cookies.get(cookie_name(of(db)))
    user_session = service.session_by_token(db, token) if token else None
    if user_session is None or not user_session.mfa_pending or user_session.ended_at is not None:
        return None
    if utcnow() - user_session.created_at > FRESH:
        return None
    account = db.get(Account, user_session.account_id)
    return (user_session, account) if account is not None else None


@router.get("/login/mfa", response_class=HTMLResponse)
def mfa_page(request: Request, db: DbSession, next: str | None = None) -> Response:
    """Second-factor form."""
    if _pending(request, db) is None:
        return _redirect(_login_url(safe_next(next)))
    return render(request, "identity/mfa.html", {"next": safe_next(next)})


@router.post("/login/mfa", response_class=HTMLResponse)
def mfa_submit(
    request: Request,
    db: DbSession,
    code: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the TOTP or recovery code and finish the login."""
    target = safe_next(next)
    context = {"next": target}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, "identity/mfa.html", context)
    pending = _pending(request, db)
    if pending is None:
        return _fail(
            request, db, SessionExpired("登录已超时，请重新输入账号和密码"), "identity/login.html", context
        )
    user_session, account = pending
    try:
        mfa.complete_login(db, user_session, account, code, meta=request_meta(request))
    except DomainError as exc:
        return _fail(request, db, exc, "identity/mfa.html", context)
    response = _redirect(target)
    assert user_session.token is not None
    set_session_cookie(of(db), response, user_session.token)
    return response


@router.post("/logout")
def logout_submit(request: Request, db: DbSession, csrf_token: str = Form("")) -> Response:
    """End the session (single logout: department systems are told through back-channel logout)."""
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, "identity/message.html", {"title": "退出失败"})
    token = request.cookies.get(cookie_name(of(db)))

    def attempt() -> None:
        user_session = service.session_by_token(db, token) if token else None
        if user_session is not None and user_session.ended_at is None:
            service.end_session(
                db, user_session.id, "logout", bus=node_of(request).bus, meta=request_meta(request)
            )

    retrying_when_busy(db, attempt)
    response = _redirect("/identity/login?logged_out=1")
    clear_session_cookie(of(db), response)
    return response


# --- registration ----------------------------------------------------------------------------------


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> HTMLResponse:
    """Natural-person registration form."""
    return render(request, "identity/register.html", {"form": {}})


@router.post("/register", response_class=HTMLResponse)
def register_submit(
    request: Request,
    db: DbSession,
    name: str = Form(""),
    id_number: str = Form(""),
    phone: str = Form(""),
    email: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Register (level 2), answered alike whether or not the ID number or phone was registered before."""
    # Only the name is echoed back into the form: ID number and phone are never put into a page twice.
    context: dict[str, Any] = {"form": {"name": name, "email": email}}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, "identity/register.html", context)
    if password != password2:
        return render(
            request,
            "identity/register.html",
            {
                **context,
                "error": "两次输入的密码不一致",
                "field_errors": {"password2": "两次输入的密码不一致"},
            },
            status_code=422,
        )
    try:
        registration.register_natural(
            db,
            notifier_of(request),
            name=name,
            id_number=id_number,
            phone=phone,
            password=password,
            email=email or None,
            meta=request_meta(request),
        )
    except DomainError as exc:
        return _fail(request, db, exc, "identity/register.html", context)
    return _registration_accepted(request, registration.ACCEPTED)


def _registration_accepted(request: Request, message: str) -> Response:
    # No session is started: a new account and an existing one must read the same (ADR 0014).
    return render(
        request,
        "identity/message.html",
        {"title": "注册申请已受理", "message": message, "link": "/identity/login"},
        status_code=202,
    )


@router.get("/register/legal", response_class=HTMLResponse)
def register_legal_page(request: Request, db: DbSession) -> HTMLResponse:
    """Legal-person registration form (the logged-in person becomes the administrator agent)."""
    auth = current_session(request, db)
    return render(
        request, "identity/register_legal.html", {"form": {}, "agent": auth.account if auth else None}
    )


@router.post("/register/legal", response_class=HTMLResponse)
def register_legal_submit(
    request: Request,
    db: DbSession,
    credit_code: str = Form(""),
    name: str = Form(""),
    legal_rep_name: str = Form(""),
    phone: str = Form(""),
    password: str = Form(""),
    password2: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Register an enterprise account."""
    auth = current_session(request, db)
    agent = auth.account if auth is not None and auth.account.kind == "natural" else None
    context: dict[str, Any] = {"form": {"name": name, "legal_rep_name": legal_rep_name}, "agent": agent}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return _csrf_failed(request, db, "identity/register_legal.html", context)
    if password != password2:
        return render(
            request,
            "identity/register_legal.html",
            {
                **context,
                "error": "两次输入的密码不一致",
                "field_errors": {"password2": "两次输入的密码不一致"},
            },
            status_code=422,
        )
    try:
        registration.register_legal(
            db,
            notifier_of(request),
            credit_code=credit_code,
            name=name,
            legal_rep_name=legal_rep_name,
            password=password,
            phone=phone or None,
            agent=agent,
            meta=request_meta(request),
        )
    except DomainError as exc:
        return _fail(request, db, exc, "identity/register_legal.html", context)
    return _registration_accepted(request, registration.ACCEPTED_LEGAL)


# --- account, step-up, second factor ---------------------------------------------------------------


def _auth_or_login(request: Request, db: Session) -> Authenticated | RedirectResponse:
    auth = current_session(request, db)
    if auth is None:
        return _redirect(_login_url(request.url.path))
    return auth


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, db: DbSession, verified: int = 0) -> Response:
    """The citizen's own account: level, masked identifiers, enterprises, second factor, recent events."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    events = events_for_account(db, auth.account.id, limit=20)
    return render(
        request,
        "identity/account.html",
        {
            "account": account_read(of(db).keys, auth.account),
            "level_label": RealNameLevel(auth.account.real_name_level).label_zh,
            "session": auth.session,
            "claims": service.account_claims(db, auth.account, session=auth.session),
            "enterprises": service.agent_authorizations(db, auth.account.id),
            "events": [(e, _event_label(e)) for e in events],
            "notice": "实名核验通过，实名等级已提升为三级" if verified else None,
            "can_verify": auth.account.kind in ("natural", "legal")
            and auth.account.real_name_level < RealNameLevel.REGISTRY_MATCHED,
        },
    )


@router.post("/real-name-verification", response_class=HTMLResponse)
def real_name_verification_submit(request: Request, db: DbSession, csrf_token: str = Form("")) -> Response:
    """Match one's own data against the registry (实名核验, level 2 → 3)."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    try:
        check_csrf(request, csrf_token)
        realname.verify_real_name(db, auth.account, real_name_verifier(request), meta=request_meta(request))
    except DomainError as exc:
        return _fail(
            request,
            db,
            exc,
            "identity/message.html",
            {"title": "实名核验未完成", "link": "/identity/account"},
        )
    return _redirect("/identity/account?verified=1")


@router.post("/acting-for", response_class=HTMLResponse)
def acting_for_submit(
    request: Request, db: DbSession, legal_entity_id: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """Switch the enterprise acted for."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    try:
        check_csrf(request, csrf_token)
        service.set_acting_for(db, auth.session, legal_entity_id or None, meta=request_meta(request))
    except DomainError as exc:
        return _fail(
            request, db, exc, "identity/message.html", {"title": "切换失败", "link": "/identity/account"}
        )
    return _redirect("/identity/account")


def _level_hint(level: int | None, totp: bool) -> str | None:
    """What the person must use when a password alone cannot reach the level asked for."""
    if level is None or level <= RealNameLevel.REGISTRY_MATCHED:
        return None
    if level >= RealNameLevel.CERTIFICATE:
        return "该应用或事项要求实名等级五级：请使用数字证书（UKey）验证。"
    if totp:
        return "该应用或事项要求实名等级四级：请输入密码和动态验证码，或使用数字证书（UKey）验证。"
    return "该应用或事项要求实名等级四级：请使用数字证书（UKey）验证，或先在个人中心开启动态验证码。"


@router.get("/step-up", response_class=HTMLResponse)
def step_up_page(
    request: Request, db: DbSession, next: str | None = None, level: int | None = None
) -> Response:
    """Re-authentication form (二次认证); ``level`` is the real-name level the caller asked for."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    totp = auth.account.totp_enabled
    return render(
        request,
        "identity/step_up.html",
        {"next": safe_next(next), "mfa": totp, "notice": _level_hint(level, totp)},
    )


@router.post("/step-up", response_class=HTMLResponse)
def step_up_submit(
    request: Request,
    db: DbSession,
    password: str = Form(""),
    code: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Check the password (and the second factor when enrolled), then continue."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    target = safe_next(next)
    context = {"next": target, "mfa": auth.account.totp_enabled}
    meta = request_meta(request)
    try:
        check_csrf(request, csrf_token)
        service.verify_current_password(db, auth.account, password, meta=meta)
        amr = ["pwd"]
        if auth.account.totp_enabled:
            amr += [mfa.verify_second_factor(db, auth.account, code, meta=meta), "mfa"]
    except DomainError as exc:
        return _fail(request, db, exc, "identity/step_up.html", context)
    service.step_up(db, auth.session, auth.account, amr=amr, meta=meta)
    response = _redirect(target)
    token = service.rotate_session_token(db, auth.session)
    set_session_cookie(of(db), response, token)
    return response


def _fresh(auth: Authenticated) -> bool:
    if utcnow() - auth.session.auth_time > FRESH:
        return False
    # Enrolling again replaces the factor: with one enrolled, the step-up must have used it.
    passed = auth.session.second_factor_at
    return not auth.account.totp_enabled or (passed is not None and utcnow() - passed <= FRESH)


@router.get("/mfa/setup", response_class=HTMLResponse)
def mfa_setup_page(request: Request, db: DbSession) -> Response:
    """Start TOTP enrolment (after a fresh authentication)."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    if not _fresh(auth):
        return _redirect("/identity/step-up?next=" + quote("/identity/mfa/setup", safe=""))
    secret, uri = mfa.begin_enrolment(db, auth.account)
    return render(request, "identity/mfa_setup.html", {"secret": secret, "uri": uri})


@router.post("/mfa/setup", response_class=HTMLResponse)
def mfa_setup_submit(
    request: Request, db: DbSession, code: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """Confirm enrolment and show the recovery codes once."""
    auth = _auth_or_login(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    try:
        check_csrf(request, csrf_token)
        codes = mfa.confirm_enrolment(db, auth.account, code, meta=request_meta(request))
    except DomainError as exc:
        return _fail(request, db, exc, "identity/mfa_setup.html", {"secret": None, "uri": None})
    return render(request, "identity/recovery_codes.html", {"codes": codes})


# --- password reset --------------------------------------------------------------------------------


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_page(request: Request) -> HTMLResponse:
    """Ask for a reset code."""
    return render(request, "identity/forgot.html")


@router.post("/password/forgot", response_class=HTMLResponse)
def forgot_submit(
    request: Request, db: DbSession, identifier: str = Form(""), csrf_token: str = Form("")
) -> Response:
    """Send the code (the same answer whether or not the account exists)."""
    try:
        check_csrf(request, csrf_token)
        reset.request_reset(db, identifier, notifier=notifier_of(request), meta=request_meta(request))
    except DomainError as exc:
        return _fail(request, db, exc, "identity/forgot.html", {})
    return render(
        request,
        "identity/reset.html",
        {"notice": "如该账号存在且绑定了手机或邮箱，验证码已发送，10分钟内有效。"},
    )


@router.get("/password/reset", response_class=HTMLResponse)
def reset_page(request: Request) -> HTMLResponse:
    """Enter the code and a new password."""
    return render(request, "identity/reset.html")


@router.post("/password/reset", response_class=HTMLResponse)
def reset_submit(
    request: Request,
    db: DbSession,
    identifier: str = Form(""),
    code: str = Form(""),
    new_password: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    """Set the new password; every session of the account ends."""
    try:
        check_csrf(request, csrf_token)
        reset.confirm_reset(
            db, identifier, code, new_password, bus=node_of(request).bus, meta=request_meta(request)
        )
    except DomainError as exc:
        return _fail(request, db, exc, "identity/reset.html", {})
    return render(
        request,
        "identity/message.html",
        {
            "title": "密码已重置",
            "message": "请使用新密码登录。所有设备上的登录均已退出。",
            "link": "/identity/login",
        },
    )


@router.get("/", include_in_schema=False)
def identity_home() -> RedirectResponse:
    """/identity/ → the account page."""
    return _redirect("/identity/account")
