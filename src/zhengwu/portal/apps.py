"""接入应用: departments' existing H5 apps plugged into the unified mobile front end.

Staff with ``portal.apps`` register an app by its name, a line about it, an icon, its entry address, the
OIDC client it is registered as at this node's provider, and the items it serves. The portal lists the
apps (the 应用 page, the mobile API, the guide pages of their items) and opens one with single sign-on:
``/apps/{id}/open`` sends a logged-in person to the entry address as an OIDC third-party-initiated login
(OIDC Core §4: ``iss`` and ``target_link_uri``); the app then runs the authorization-code flow with its
own state and PKCE, and the provider, finding the person's session, answers with a code and no login
page. The entry address must be on a site the client may receive codes at (the origin of one of its
redirect URIs), so a registration cannot route people elsewhere under an app's name.

Every change is an audited change. Takes the session, never commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.identity.oidc import service as oidc_clients
from zhengwu.identity.oidc.errors import ClientNotFound
from zhengwu.identity.oidc.service import is_loopback
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes.task_code import validate_task_code
from zhengwu.portal import images
from zhengwu.portal.errors import AppNotFound, PortalError
from zhengwu.portal.models import PortalApp

ENTITY: Final = "portal_app"
MAX_ITEMS: Final = 200
_CATALOG_CODE: Final = re.compile(r"^[0-9A-Za-z]{12}$")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _check_entry(url: str, *, allow_http: bool) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.fragment
        or len(url) > 500
        or re.search(r"[\s<>\"']", url)
    ):
        raise PortalError(
            "入口地址须是完整的 https:// 地址，不含空格、引号和 # 片段", detail_en="bad entry url"
        )
    if parts.scheme == "http" and not (allow_http or is_loopback(parts.hostname)):
        raise PortalError("入口地址须使用 https", detail_en="entry url must use https")
    return url


def _check_items(codes: Iterable[str]) -> list[str]:
    kept: list[str] = []
    wrong: list[str] = []
    for raw in codes:
        code = raw.strip()
        if not code:
            continue
        if _CATALOG_CODE.match(code) or validate_task_code(code).ok:
            if code not in kept:
                kept.append(code)
        else:
            wrong.append(code[:40])
    if wrong:
        raise PortalError(
            "服务事项须填写实施编码或基本目录编码，下列编码不对：" + "、".join(wrong[:5]),
            detail_en="bad item codes",
        )
    if len(kept) > MAX_ITEMS:
        raise PortalError(f"服务事项不超过 {MAX_ITEMS} 项", detail_en="too many items")
    return kept


def _check_client(session: Session, client_id: str, entry_url: str) -> str:
    try:
        client = oidc_clients.get_client(session, client_id.strip()[:64])
    except ClientNotFound:
        raise PortalError(
            "没有该接入应用（统一身份认证中登记的客户端编号不对）", detail_en="no such client"
        ) from None
    if client.status != "active":
        raise PortalError("该接入应用已停用，请先在统一身份认证中启用", detail_en="client not active")
    if "authorization_code" not in (client.grant_types or []):
        raise PortalError(
            "该接入应用不能以授权码方式登录，无法单点登录", detail_en="client lacks authorization_code"
        )
    if _origin(entry_url) not in {_origin(u) for u in client.redirect_uris or []}:
        raise PortalError(
            "入口地址须与该接入应用登记的回调地址在同一网站（协议、域名和端口相同）",
            detail_en="entry url origin not among the client's redirect uris",
        )
    return client.client_id


def _state(app: PortalApp) -> dict[str, Any]:
    return {
        "name": app.name,
        "description": app.description,
        "entry_url": app.entry_url,
        "client_id": app.client_id,
        "items": list(app.items or []),
        "icon_bytes": len(app.icon or b""),
        "status": app.status,
    }


@dataclass(frozen=True, slots=True)
class AppSpec:
    """What staff say of an app (the icon apart): checked by :func:`register` and :func:`change`."""

    name: str
    entry_url: str
    client_id: str
    description: str = ""
    items: Sequence[str] = ()
    allow_http: bool = False  # plain http entry addresses off production (loopback always)


def _apply(session: Session, app: PortalApp, spec: AppSpec, icon: bytes | None) -> None:
    """Check ``spec`` and ``icon`` (every text problem at once) and set them on ``app``."""
    name, description = spec.name.strip(), spec.description.strip()
    problems = []
    if not name or len(name) > 60:
        problems.append("应用名称须填写，不超过 60 字")
    if len(description) > 200:
        problems.append("应用简介不超过 200 字")
    if problems:
        raise PortalError("；".join(problems), detail_en="invalid app")
    entry = _check_entry(spec.entry_url, allow_http=spec.allow_http)
    app.client_id = _check_client(session, spec.client_id, entry)
    app.name, app.description, app.entry_url = name, description, entry
    app.items = _check_items(spec.items)
    if icon is not None:
        app.icon_type, app.icon = images.image_type(icon, what="应用图标"), icon
    app.updated_at = utcnow()


def register(session: Session, spec: AppSpec, *, icon: bytes | None = None, actor: str) -> PortalApp:
    """Register an app; it shows in the mobile front end at once."""
    app = PortalApp(status="active", created_at=utcnow())
    _apply(session, app, spec, icon)
    session.add(app)
    session.flush()
    record_change(session, actor=actor, action="portal.app.register", entity=ENTITY, entity_id=app.id,
                  after=_state(app))  # fmt: skip
    return app


def change(
    session: Session, app_id: str, spec: AppSpec, *, icon: bytes | None = None, actor: str
) -> PortalApp:
    """Change an app's registration; ``icon`` None keeps the icon it has."""
    app = get(session, app_id)
    if app.status != "active":
        raise AppNotFound("该应用已下架，不能修改", detail_en="withdrawn")
    before = _state(app)
    _apply(session, app, spec, icon)
    session.flush()
    record_change(session, actor=actor, action="portal.app.change", entity=ENTITY, entity_id=app.id,
                  before=before, after=_state(app))  # fmt: skip
    return app


def withdraw(session: Session, app_id: str, *, actor: str) -> PortalApp:
    """Take an app off the front end (again: nothing new). Its OIDC client is identity's to disable."""
    app = get(session, app_id)
    if app.status == "withdrawn":
        return app
    before = _state(app)
    app.status = "withdrawn"
    app.updated_at = utcnow()
    session.flush()
    record_change(session, actor=actor, action="portal.app.withdraw", entity=ENTITY, entity_id=app.id,
                  before=before, after=_state(app))  # fmt: skip
    return app


def get(session: Session, app_id: str) -> PortalApp:
    """One app (withdrawn ones included), or 404."""
    app = session.get(PortalApp, app_id[:32])
    if app is None:
        raise AppNotFound(detail_en=f"no portal app {app_id[:40]!r}")
    return app


def shown(session: Session, app_id: str) -> PortalApp:
    """One app as people see it: a withdrawn one is not found."""
    app = get(session, app_id)
    if app.status != "active":
        raise AppNotFound(detail_en="withdrawn")
    return app


def listing(session: Session, *, withdrawn: bool = False) -> list[PortalApp]:
    """The apps by name (a province registers tens of them, not thousands: no paging)."""
    query = select(PortalApp).order_by(PortalApp.name, PortalApp.id)
    if not withdrawn:
        query = query.where(PortalApp.status == "active")
    return list(session.scalars(query))


def serving(session: Session, task_code: str, catalog_code: str) -> list[PortalApp]:
    """The active apps that serve an item, named by its implementation code or its basic catalog code."""
    wanted = {task_code, catalog_code} - {""}
    return [app for app in listing(session) if wanted & set(app.items or [])]


def client_active(session: Session, app: PortalApp) -> bool:
    """Whether the app's OIDC client can log people in now (identity may have suspended or revoked it)."""
    try:
        return oidc_clients.get_client(session, app.client_id).status == "active"
    except ClientNotFound:
        return False
