"""HTTP helpers shared by the identity pages and API: audit-keeping, CSRF, safe redirects, templates."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from zhengwu.identity.context import for_node
from zhengwu.identity.errors import CsrfFailed, UnsupportedMediaType
from zhengwu.identity.protection import token_mac
from zhengwu.kernel.assets import guarded_templates
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import answers

TEMPLATES = guarded_templates(Path(__file__).parent / "templates")
CSRF_COOKIE = "zw_csrf"
CSRF_FIELD = "csrf_token"


T = TypeVar("T")
_BUSY_ATTEMPTS = 5


def _sqlite_busy(exc: OperationalError) -> bool:
    """SQLite refused a write or lock ("database is locked"): safe to roll back and run again."""
    return "database is locked" in str(exc.orig)


def retrying_when_busy(db: Session, work: Callable[[], T]) -> T:
    """Run ``work`` and flush; on SQLite's "database is locked" roll back and run it again.

    In WAL mode a transaction that read before another writer committed cannot write afterwards
    (SQLITE_BUSY_SNAPSHOT, not covered by busy_timeout). Logins read, verify the password for tens of
    milliseconds, then write, so under concurrency they meet this often; PostgreSQL never does.
    """
    for attempt in range(_BUSY_ATTEMPTS):
        try:
            result = work()
            db.flush()
            return result
        except OperationalError as exc:
            if not _sqlite_busy(exc) or attempt == _BUSY_ATTEMPTS - 1:
                raise
            db.rollback()
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


def end_read_phase(db: Session, *keep: object) -> None:
    """On SQLite, end the read-only transaction of a login before its write phase (objects in ``keep`` survive).

    Nothing has been written yet, so rolling back loses nothing; the write phase then starts with the
    audit-chain lock and never meets a snapshot overtaken during the slow password hash.
    """
    bind = db.get_bind()
    if bind.dialect.name != "sqlite" or db.new or db.dirty or db.deleted:
        return
    for obj in keep:
        if obj is not None and obj in db:
            db.expunge(obj)
    db.rollback()


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
    return token_mac(for_node(node_of(request)).keys, nonce, purpose="csrf")


def attach_csrf_cookie(request: Request, response: Response) -> None:
    """Send the nonce cookie when this request minted one."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path="/",
            httponly=True,
            samesite="lax",
            secure=for_node(node_of(request)).secure_cookies,
        )


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form whose token does not match this browser's nonce (raises CsrfFailed)."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if (
        not nonce
        or not submitted
        or not secrets.compare_digest(
            token_mac(for_node(node_of(request)).keys, nonce, purpose="csrf"), submitted
        )
    ):
        raise CsrfFailed()


@answers(415)
async def require_json(request: Request) -> None:
    """API writes take JSON only: a cross-site form cannot send it without a CORS preflight (async: no thread hop)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().lower() == "application/json":
        raise UnsupportedMediaType(
            "请求内容类型必须为 application/json", detail_en="Content-Type must be application/json"
        )
