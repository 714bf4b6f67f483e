"""What a person typed into an application when their session had expired: kept for them.

The POST of a form whose session has timed out cannot be saved (nobody is logged in), but what was typed
must not be lost. When the browser still carries the cookie of a real session of this node (ended by a
timeout or not), the typed fields and the licenses chosen go back to that browser in a cookie encrypted
with the node's field key (SM4-GCM, the purpose bound as AAD: never in the clear, not readable by
script, only this path), bound to the account and the item. After the login the apply page puts them
back once, if the same account is logged in, within :data:`KEPT_SECONDS`, and deletes the cookie.
Uploaded files are not kept: the page says so.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping
from typing import Any, Final

from fastapi import Request, Response
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.context import of
from zhengwu.identity.deps import cookie_name
from zhengwu.identity.protection import decrypt_field, encrypt_field

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
    task_code: str,
    values: Mapping[str, str],
    choices: Mapping[str, str],
) -> bool:
    """Put the typed values into the encrypted cookie on ``response``; False when they do not fit."""
    data = {"a": account_id, "t": task_code, "at": int(time.time()),
            "v": {k: v for k, v in values.items() if v}, "c": dict(choices)}  # fmt: skip
    blob = encrypt_field(of(db).keys, json.dumps(data, ensure_ascii=False), purpose=PURPOSE)
    text = base64.urlsafe_b64encode(blob).decode().rstrip("=")
    if len(text) > _MAX_COOKIE:
        return False
    response.set_cookie(
        COOKIE, text, max_age=KEPT_SECONDS, path=f"/items/{task_code}/apply", httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return True


def take(request: Request, db: Session, *, account_id: str, task_code: str) -> dict[str, Any] | None:
    """The kept values for this account and item (``{"v": fields, "c": material → license}``), or None."""
    raw = request.cookies.get(COOKIE, "")
    if not raw:
        return None
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        data = json.loads(decrypt_field(of(db).keys, blob, purpose=PURPOSE))
    except Exception:
        return None
    fresh = isinstance(data, dict) and time.time() - int(data.get("at") or 0) <= KEPT_SECONDS
    if not fresh or data.get("a") != account_id or data.get("t") != task_code:
        return None
    return {"v": dict(data.get("v") or {}), "c": dict(data.get("c") or {})}


def forget(response: Response, task_code: str) -> None:
    """Delete the cookie (once restored)."""
    response.delete_cookie(COOKIE, path=f"/items/{task_code}/apply")
