"""HTTP helpers shared by the identity pages and API: audit-keeping, CSRF, safe redirects, templates."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from zhengwu.identity.context import current
from zhengwu.identity.errors import CsrfFailed, UnsupportedMediaType
from zhengwu.identity.protection import token_mac
from zhengwu.kernel.errors import DomainError

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CSRF_COOKIE = "zw_csrf"
CSRF_FIELD = "csrf_token"


@contextmanager
def keeping_audit(db: Session) -> Iterator[None]:
    """Commit the audit rows and counters of a failure marked ``keep_writes`` before it propagates."""
    try:
        yield
    except DomainError as exc:
        if getattr(exc, "keep_writes", False):
            db.commit()
        else:
            db.rollback()
        raise


def safe_next(value: str | None, default: str = "/identity/account") -> str:
    """A same-site relative path to continue to (open redirects refused)."""
    if not value or len(value) > 4000:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def csrf_token(request: Request, response: Response | None = None) -> str:
    """The form token for this browser (double-submit: HMAC of a random cookie nonce)."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request.state.csrf_nonce = nonce
    return token_mac(nonce, purpose="csrf")


def attach_csrf_cookie(request: Request, response: Response) -> None:
    """Send the nonce cookie when this request minted one."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE, nonce, path="/", httponly=True, samesite="lax", secure=current().secure_cookies
        )


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form whose token does not match this browser's nonce (raises CsrfFailed)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted or not secrets.compare_digest(token_mac(nonce, purpose="csrf"), submitted):
        raise CsrfFailed()


def require_json(request: Request) -> None:
    """API writes take JSON only: a cross-site form cannot send it without a CORS preflight."""
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower() == "application/json":
        raise UnsupportedMediaType(
            "请求内容类型必须为 application/json", detail_en="Content-Type must be application/json"
        )
