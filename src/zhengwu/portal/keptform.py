"""What a person typed into a form when their session had expired: kept for them.

The POST of a form whose session has timed out cannot be saved (nobody is logged in), but what was typed
must not be lost. When the browser still carries the cookie of a real session of this node (ended by a
timeout or not), the typed fields (and, on the apply page, the licenses chosen) go back to that browser in
a cookie encrypted with the node's field key (SM4-GCM, the purpose bound as AAD: never in the clear, not
readable by script, only the page's path), bound to the account and the form (``key``: the item applied
for, the case answered or evaluated, the license shared). After the login the page puts them back once,
if the same account is logged in, within :data:`KEPT_SECONDS`, and deletes the cookie. Uploaded files are
not kept: the pages say so.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.context import of
from zhengwu.identity.deps import cookie_name
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.protection import decrypt_field, encrypt_field
from zhengwu.identity.web import check_csrf

COOKIE: Final = "zw_kept_form"
PURPOSE: Final = "portal.kept_form"
KEPT_SECONDS: Final = 1800
_MAX_COOKIE: Final = 3500  # browsers keep at least 4096 bytes per cookie


def expired_account(request: Request, db: Session) -> str | None:
    """The account of the session cookie the browser still sends (a real session of this node), or None."""
    token = request.cookies.get(cookie_name(of(db)), "")
    found = identity.session_by_token(db, token) if token else None
    return found.account_id if found is not None else None


def keep(
    response: Response,
    request: Request,
    db: Session,
    *,
    account_id: str,
    key: str,
    path: str,
    values: Mapping[str, str],
    choices: Mapping[str, str] | None = None,
) -> bool:
    """Put the typed values into the encrypted cookie on ``response`` for the page at ``path``; False when
    they do not fit."""
    data = {"a": account_id, "t": key, "at": int(time.time()),
            "v": {k: v for k, v in values.items() if v}, "c": dict(choices or {})}  # fmt: skip
    blob = encrypt_field(of(db).keys, json.dumps(data, ensure_ascii=False), purpose=PURPOSE)
    text = base64.urlsafe_b64encode(blob).decode().rstrip("=")
    if len(text) > _MAX_COOKIE:
        return False
    response.set_cookie(
        COOKIE, text, max_age=KEPT_SECONDS, path=path, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return True


def take(request: Request, db: Session, *, account_id: str, key: str) -> dict[str, Any] | None:
    """The kept values for this account and form (``{"v": fields, "c": material → license}``), or None."""
    raw = request.cookies.get(COOKIE, "")
    if not raw:
        return None
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        data = json.loads(decrypt_field(of(db).keys, blob, purpose=PURPOSE))
    except Exception:
        return None
    fresh = isinstance(data, dict) and time.time() - int(data.get("at") or 0) <= KEPT_SECONDS
    if not fresh or data.get("a") != account_id or data.get("t") != key:
        return None
    return {"v": dict(data.get("v") or {}), "c": dict(data.get("c") or {})}


def forget(response: Response, path: str) -> None:
    """Delete the cookie of the page at ``path`` (once restored)."""
    response.delete_cookie(COOKIE, path=path)


def keep_and_login(
    request: Request,
    db: Session,
    *,
    page: str,
    key: str,
    csrf_token: str,
    values: Mapping[str, str],
    choices: Mapping[str, str] | None = None,
) -> RedirectResponse:
    """The answer to a form posted without a session: the login page, then back to ``page``; what was
    typed goes along (encrypted) when the browser holds a real session of this node and the form is its
    own (the CSRF check), else nothing is kept."""
    response = RedirectResponse("/identity/login?next=" + quote(page, safe=""), status_code=303)
    account_id = expired_account(request, db)
    if account_id is None:
        return response
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed:
        return response  # not this browser's form
    keep(response, request, db, account_id=account_id, key=key, path=page, values=values, choices=choices)
    return response


def kept_values(request: Request, db: Session, *, account_id: str, key: str) -> dict[str, str] | None:
    """The typed values kept for this account and form, or None (call :func:`forget` on the answer)."""
    if COOKIE not in request.cookies:
        return None
    kept = take(request, db, account_id=account_id, key=key)
    return None if kept is None else {k: str(v)[:1000] for k, v in kept["v"].items()}


def forget_on(request: Request, response: Response, path: str) -> Response:
    """``response`` with the kept values of the page at ``path`` deleted, if the browser sent any."""
    if COOKIE in request.cookies:
        forget(response, path)
    return response
