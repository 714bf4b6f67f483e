"""Opening a department app from the native mobile app without a second login (接入应用, 单点登录).

The native app holds the person's access token (scope ``mobile``), which a web view must never see: a
token in an address ends up in histories, logs and ``Referer`` headers. So the app asks this node, with
the token, for a one-time launch address for one registered app (:func:`issue`) and opens it in its web
view. The address carries only a random code (256 bits; the node keeps its SM3 digest); taking it
(:func:`redeem`) opens a portal session in the web view and sends it on as the OIDC third-party-initiated
login of ``/apps/{id}/open``, where the department app's own authorization request finds that session.

The code lives ``LAUNCH_SECONDS``, is taken once (a conditional update: two concurrent takers cannot both
win), names the app and the OIDC client the app had when the code was made (a re-registered app refuses
it), and the session it opens inherits the level, methods, enterprise and login time of the grant behind
the token — never fresher or stronger than that login, and without a second factor of its own. Every issue,
use and refusal is an authentication event of identity's audit chain.

Takes the session, never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.models import Account
from zhengwu.identity.oidc.models import OidcGrant
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.portal import apps
from zhengwu.portal.errors import AppNotFound
from zhengwu.portal.models import PortalApp, PortalAppLaunch

#: How long a launch address serves: long enough for a web view to open it, too short to be passed on.
LAUNCH_SECONDS: Final = 60
#: Taken or expired codes are kept this long past their end, so that a late replay is still recorded as
#: one (then deleted when the next code is made).
_KEPT: Final = timedelta(minutes=10)
_CODE_LENGTH: Final = range(20, 65)

#: Why a launch was refused, in the words the web view shows.
REFUSALS: Final = {
    "unknown": "这个打开链接无效。请回到手机应用重新打开。",
    "replayed": "这个打开链接已经用过了，每个链接只能用一次。请回到手机应用重新打开。",
    "expired": "这个打开链接已过期（有效期 1 分钟）。请回到手机应用重新打开。",
    "app_gone": "该应用已下架，或已更换登录方式。请回到手机应用查看。",
    "app_suspended": "该应用目前无法登录。请稍后再试，或通过本平台在线办理。",
    "account": "您的账号目前不能登录。请联系平台客服。",
    "other_person": "这个浏览器已登录了另一个账号。请先在本页面上方退出，再回到手机应用重新打开。",
}


def _digest(code: str) -> str:
    return sm3(code.encode()).hex()


@dataclass(frozen=True, slots=True)
class Issued:
    """A launch code (shown once, to the app that asked) and when it stops serving."""

    code: str
    expires_at: datetime


class LaunchRefused(Exception):
    """A launch code that opens nothing; ``reason`` is a key of :data:`REFUSALS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issue(session: Session, app: PortalApp, grant: OidcGrant, *, meta: RequestMeta) -> Issued:
    """A one-time code opening ``app`` for the person of ``grant`` (the mobile app's token)."""
    now = utcnow()
    session.execute(delete(PortalAppLaunch).where(PortalAppLaunch.expires_at < now - _KEPT))
    code = secrets.token_urlsafe(32)
    row = PortalAppLaunch(
        code_hash=_digest(code), app_id=app.id, client_id=app.client_id, issued_to=grant.client_id,
        account_id=grant.account_id, acting_for=grant.acting_for, auth_level=grant.acr_level,
        auth_time=grant.auth_time, amr=list(grant.amr or []), created_at=now,
        expires_at=now + timedelta(seconds=LAUNCH_SECONDS),
    )  # fmt: skip
    session.add(row)
    session.flush()
    record_auth_event(
        session, "app_launch_issued", success=True, account_id=grant.account_id, client_id=grant.client_id,
        meta=meta, detail={"launch": row.id, "app": app.id, "app_client": app.client_id},
    )  # fmt: skip
    return Issued(code, row.expires_at)


def _refuse(session: Session, row: PortalAppLaunch | None, reason: str, meta: RequestMeta) -> LaunchRefused:
    record_auth_event(
        session, "app_launch", success=False, account_id=row.account_id if row else None,
        client_id=row.client_id if row else None, meta=meta,
        detail={"reason": reason, **({"launch": row.id, "app": row.app_id} if row else {})},
    )  # fmt: skip
    return LaunchRefused(reason)


def redeem(
    session: Session, code: str, *, held_by: str | None, meta: RequestMeta
) -> tuple[PortalAppLaunch, PortalApp, Account]:
    """Take a launch code once: its record, the app it opens and the person it logs in
    (:class:`LaunchRefused` when it opens nothing — unknown, used, expired, the app or person gone, or the
    browser logged in as someone else: ``held_by``, its session's account. A code opened in somebody
    else's browser must not swap their login for the code's person — what a link sent to them would do)."""
    row = session.scalar(select(PortalAppLaunch).where(PortalAppLaunch.code_hash == _digest(code))) if len(
        code) in _CODE_LENGTH else None  # fmt: skip
    if row is None:
        raise _refuse(session, None, "unknown", meta)
    now = utcnow()
    if row.used_at is not None:
        raise _refuse(session, row, "replayed", meta)
    if row.expires_at <= now:
        raise _refuse(session, row, "expired", meta)
    taken = session.execute(
        update(PortalAppLaunch)
        .where(PortalAppLaunch.id == row.id, PortalAppLaunch.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise _refuse(session, row, "replayed", meta)  # another request took it a moment earlier
    try:
        app = apps.shown(session, row.app_id)
    except AppNotFound:
        raise _refuse(session, row, "app_gone", meta) from None
    if app.client_id != row.client_id:
        raise _refuse(session, row, "app_gone", meta)
    if not apps.client_active(session, app):
        raise _refuse(session, row, "app_suspended", meta)
    account = session.get(Account, row.account_id)
    if account is None or account.status != "active":
        raise _refuse(session, row, "account", meta)
    if held_by is not None and held_by != account.id:
        raise _refuse(session, row, "other_person", meta)
    record_auth_event(
        session, "app_launch", success=True, account_id=row.account_id, client_id=row.client_id, meta=meta,
        detail={"launch": row.id, "app": app.id, "issued_to": row.issued_to},
    )  # fmt: skip
    return row, app, account
