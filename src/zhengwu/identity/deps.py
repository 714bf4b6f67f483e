"""FastAPI dependencies: the session behind the cookie, ``require_session`` and ``require_level`` (step-up).

Staff routes use the staff-rights policy instead (``identity.policy.guard``, ADR 0010).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.identity import service
from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.context import current
from zhengwu.identity.errors import InsufficientLevel, NotAuthenticated, SessionExpired, StepUpRequired
from zhengwu.identity.models import Account, UserSession
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import SESSION_COOKIE, security
from zhengwu.kernel.session import DbSession

COOKIE = "zw_session"
SECURE_COOKIE = "__Host-zw_session"


def cookie_name() -> str:
    """``__Host-`` prefixed when cookies are Secure (then the browser pins it to this host and path /)."""
    return SECURE_COOKIE if current().secure_cookies else COOKIE


def request_meta(request: Request) -> RequestMeta:
    """Client address and user agent of a request (for audit and rate limits)."""
    ip = request.client.host if request.client else None
    return RequestMeta(ip=ip, user_agent=request.headers.get("user-agent"))


def set_session_cookie(response: Response, token: str) -> None:
    """Secure (when configured), HttpOnly, SameSite=Lax, host-only; lives until the absolute timeout."""
    ctx = current()
    response.set_cookie(
        cookie_name(),
        token,
        max_age=int(ctx.absolute_timeout.total_seconds()),
        path="/",
        secure=ctx.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    """Remove the session cookie."""
    ctx = current()
    response.delete_cookie(cookie_name(), path="/", secure=ctx.secure_cookies, httponly=True, samesite="lax")


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A valid session and its account."""

    session: UserSession
    account: Account


def _resolve(request: Request, db: Session) -> Authenticated | None:
    if hasattr(request.state, "identity_auth"):
        cached: Authenticated | None = request.state.identity_auth
        return cached
    result: Authenticated | None = None
    token = request.cookies.get(cookie_name())
    if token:
        user_session = service.session_by_token(db, token)
        if user_session is not None and not user_session.mfa_pending:
            reason = service.session_expiry(user_session)
            if reason is None:
                account = db.get(Account, user_session.account_id)
                if account is not None and account.status == "active":
                    service.touch_session(user_session)
                    result = Authenticated(user_session, account)
            elif user_session.ended_at is None:
                # 等保 8.1.4.1.b: a timed-out session is ended for good, and the end is audited and
                # published (back-channel logout) — committed here, at the edge, even if the route then fails.
                service.end_session(
                    db, user_session.id, reason, bus=node_of(request).bus, meta=request_meta(request)
                )
                db.commit()
                request.state.identity_expired = reason
    request.state.identity_auth = result
    return result


def current_session(request: Request, db: DbSession) -> Authenticated | None:
    """The logged-in session (idle and absolute timeouts checked), or None."""
    return _resolve(request, db)


CurrentSession = Annotated[Authenticated | None, Depends(current_session)]


def session_scheme() -> dict[str, str]:
    """The session cookie as an OpenAPI security scheme (its name depends on Secure cookies)."""
    return {
        "type": "apiKey",
        "in": "cookie",
        "name": cookie_name(),
        "description": "登录后的会话 Cookie（HttpOnly）/ the session cookie set by a login",
    }


@security(SESSION_COOKIE, session_scheme)
def require_session(request: Request, auth: CurrentSession) -> Authenticated:
    """A logged-in session, or 401 (``identity.session_expired`` when it just timed out)."""
    if auth is None:
        if getattr(request.state, "identity_expired", None):
            raise SessionExpired()
        raise NotAuthenticated()
    return auth


RequiredSession = Annotated[Authenticated, Depends(require_session)]


def require_level(level: int, max_age: timedelta | int | None = None) -> Callable[..., Authenticated]:
    """A dependency demanding a real-name level and, optionally, an authentication at most ``max_age`` old."""
    limit = timedelta(seconds=max_age) if isinstance(max_age, int) else max_age

    def dependency(request: Request, db: DbSession, auth: RequiredSession) -> Authenticated:
        if auth.account.real_name_level < level:
            # No fresh login can help: the account itself must be verified to a higher level.
            raise InsufficientLevel(
                extra={"required_level": level, "account_level": auth.account.real_name_level}
            )
        too_old = limit is not None and utcnow() - auth.session.auth_time > limit
        if auth.session.auth_level < level or too_old:
            account_id, session_id, session_level = auth.account.id, auth.session.id, auth.session.auth_level
            meta = request_meta(request)
            # The refusal is kept, the request's own writes are not: the event goes in a unit of its own.
            write_apart(
                db,
                lambda apart: record_auth_event(
                    apart,
                    "step_up_required",
                    success=False,
                    account_id=account_id,
                    session_id=session_id,
                    meta=meta,
                    detail={"required_level": level, "session_level": session_level, "too_old": too_old},
                ),
            )
            raise StepUpRequired(
                extra={
                    "required_level": level,
                    "session_level": session_level,
                    "max_age": int(limit.total_seconds()) if limit is not None else None,
                }
            )
        return auth

    return dependency
