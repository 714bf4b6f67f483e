"""通知公告 and 栏目 across tiers, and the header style an upper node offers.

A node publishes a notice (text) or a column entry (an application resource: a title, a link, a line of
explanation). It is stored here and queued on ``portal.dn_portal_notice``; the exchange's downward feed
carries it to every lower node, which applies it by its key (``<origin>:<id>``: applied once however
often it arrives, changed by ``U``, withdrawn by ``D``) and passes it on to its own lower nodes (route
``*``). A lower node shows the upper nodes' entries beside its own and may add local ones; it cannot change
or withdraw what came from above.

The style (header text, logo, header colour, footer) travels the same way on ``portal.dn_portal_style``:
what the upper node shows is offered, and a lower node keeps its own look until an operator adopts the
offer (:func:`adopt_style`). The logo travels as its bytes (PNG or JPEG, at most 64 KB, checked again on
arrival) and the lower node serves it itself: a path would name a file the lower node does not have.
Every step is an audited change. Takes the session, never commits.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import emit
from zhengwu.kernel.node import ServiceKey
from zhengwu.kernel.stamps import StampedCache, bump, remember, watch
from zhengwu.kernel.topics import ReceivedRow, RowError
from zhengwu.portal import images
from zhengwu.portal.errors import NoticeNotFound, NotOurs, PortalError, StyleNotOffered
from zhengwu.portal.models import PortalNotice, PortalStyle

NOTICE_TOPIC: Final = "portal.dn_portal_notice"
#: Raised with every change of the notices and columns shown here, this node's or come from above
#: (kernel.stamps): lists derived from them are kept until it moves.
NOTICES_STAMP: Final = "portal.notices"
# Every write of the notices' table, here or applied from above, moves the stamp in the writer's own
# transaction (kernel.stamps.watch): the writers need not bump it, and none is missed. Watched where the
# rows are written, so a command or a worker that writes them watches it too.
watch(PortalNotice.__tablename__, NOTICES_STAMP)
NOTICE_TABLE: Final = "dn_portal_notice"
STYLE_TOPIC: Final = "portal.dn_portal_style"
STYLE_TABLE: Final = "dn_portal_style"
ENTITY: Final = "portal_notice"
KINDS: Final = {"notice": "通知公告", "column": "栏目"}
_COLOUR: Final = re.compile(r"^#[0-9a-fA-F]{6}$")
_URL: Final = re.compile(r"^(https?://[^\s<>\"']{1,490}|/[^\s<>\"']{0,499})$")


def _luminance(colour: str) -> float:
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on_white(colour: str) -> bool:
    """WCAG 2.1 contrast of white text on ``colour`` is at least 4.5:1 (the header and the buttons)."""
    return _COLOUR.match(colour) is not None and 1.05 / (_luminance(colour) + 0.05) >= 4.5


def _checked(kind: str, title: str, body: str, url: str | None) -> tuple[str, str, str | None]:
    title, body, link = title.strip(), body.strip(), (url or "").strip() or None
    problems = []
    if kind not in KINDS:
        problems.append("类别只能是通知公告（notice）或栏目（column）")
    if not title or len(title) > 200:
        problems.append("标题须填写，不超过 200 字")
    if len(body) > 8000:
        problems.append("正文不超过 8000 字")
    if kind == "notice" and not body:
        problems.append("通知公告须有正文")
    if kind == "column" and link is None:
        problems.append("栏目须有链接地址")
    if link is not None and not _URL.match(link):
        problems.append("链接地址须以 http://、https:// 或 / 开头，且不含空格和引号")
    if problems:
        raise PortalError("；".join(problems), detail_en="invalid notice or column")
    return title, body, link


def _payload(notice: PortalNotice) -> dict[str, Any]:
    return {
        "notice_key": notice.notice_key,
        "kind": notice.kind,
        "origin": notice.origin,
        "origin_name": notice.origin_name,
        "title": notice.title,
        "body": notice.body,
        "url": notice.url or "",
        "published_at": notice.published_at.isoformat(),
    }


def _state(notice: PortalNotice) -> dict[str, Any]:
    return {
        "kind": notice.kind,
        "title": notice.title,
        "url": notice.url,
        "withdrawn": notice.withdrawn_at is not None,
    }


def publish(
    session: Session,
    settings: Settings,
    *,
    kind: str,
    title: str,
    body: str = "",
    url: str | None = None,
    actor: str,
) -> PortalNotice:
    """Publish a notice or a column entry on this node and queue it for the lower nodes."""
    title, body, link = _checked(kind, title, body, url)
    notice_id = new_id()
    now = utcnow()
    notice = PortalNotice(
        id=notice_id, notice_key=f"{settings.node_id}:{notice_id}", kind=kind, origin=settings.node_id,
        origin_name=(settings.portal.title or settings.node_name)[:100], title=title, body=body, url=link,
        published_at=now, updated_at=now,
    )  # fmt: skip
    session.add(notice)
    session.flush()
    emit(session, NOTICE_TOPIC, _payload(notice), key=notice.notice_key)
    record_change(
        session, actor=actor, action=f"portal.{kind}.publish", entity=ENTITY, entity_id=notice.id,
        after=_state(notice),
    )  # fmt: skip
    return notice


def _ours(session: Session, settings: Settings, notice_id: str) -> PortalNotice:
    notice = get(session, notice_id)
    if notice.origin != settings.node_id:
        raise NotOurs(detail_en=f"published by {notice.origin}: changed there only")
    return notice


def change(
    session: Session,
    settings: Settings,
    notice_id: str,
    *,
    title: str,
    body: str = "",
    url: str | None = None,
    actor: str,
) -> PortalNotice:
    """Change a notice or column this node published; the change travels down as ``U``."""
    notice = _ours(session, settings, notice_id)
    if notice.withdrawn_at is not None:
        raise NotOurs("该内容已撤回，不能再修改", detail_en="withdrawn")
    before = _state(notice)
    notice.title, notice.body, notice.url = _checked(notice.kind, title, body, url)
    notice.updated_at = utcnow()
    session.flush()
    emit(session, NOTICE_TOPIC, _payload(notice), key=notice.notice_key, operation="U")
    record_change(
        session, actor=actor, action=f"portal.{notice.kind}.change", entity=ENTITY, entity_id=notice.id,
        before=before, after=_state(notice),
    )  # fmt: skip
    return notice


def withdraw(session: Session, settings: Settings, notice_id: str, *, actor: str) -> PortalNotice:
    """Withdraw a notice or column this node published, here and (``D``) on every lower node. Again: no-op."""
    notice = _ours(session, settings, notice_id)
    if notice.withdrawn_at is not None:
        return notice
    before = _state(notice)
    notice.withdrawn_at = notice.updated_at = utcnow()
    session.flush()
    emit(session, NOTICE_TOPIC, _payload(notice), key=notice.notice_key, operation="D")
    record_change(
        session, actor=actor, action=f"portal.{notice.kind}.withdraw", entity=ENTITY, entity_id=notice.id,
        before=before, after=_state(notice),
    )  # fmt: skip
    return notice


def get(session: Session, notice_id: str) -> PortalNotice:
    """One notice or column (withdrawn ones included), or 404."""
    notice = session.get(PortalNotice, notice_id[:32])
    if notice is None:
        raise NoticeNotFound(detail_en=f"no portal notice {notice_id[:40]!r}")
    return notice


def shown(session: Session, notice_id: str) -> PortalNotice:
    """One notice or column as the public sees it: withdrawn ones are not found."""
    notice = get(session, notice_id)
    if notice.withdrawn_at is not None:
        raise NoticeNotFound(detail_en="withdrawn")
    return notice


def current(
    session: Session, kind: str, *, offset: int = 0, limit: int = 20, withdrawn: bool = False
) -> tuple[list[PortalNotice], int]:
    """The entries of one kind, newest first (upper nodes' and this node's together), and their number."""
    where = [PortalNotice.kind == kind]
    if not withdrawn:
        where.append(PortalNotice.withdrawn_at.is_(None))
    total = session.scalar(select(func.count()).select_from(PortalNotice).where(*where)) or 0
    rows = session.scalars(
        select(PortalNotice)
        .where(*where)
        .order_by(PortalNotice.published_at.desc(), PortalNotice.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


def latest(session: Session, kind: str, limit: int) -> list[PortalNotice]:
    """The newest entries of one kind in force (one query: the home page does not count them)."""
    return list(
        session.scalars(
            select(PortalNotice)
            .where(PortalNotice.kind == kind, PortalNotice.withdrawn_at.is_(None))
            .order_by(PortalNotice.published_at.desc(), PortalNotice.id)
            .limit(limit)
        )
    )


def _text(data: Mapping[str, Any], name: str, limit: int) -> str:
    return str(data.get(name) or "").strip()[:limit]


def notice_applier(settings: Settings) -> Callable[[Session, Sequence[ReceivedRow]], Mapping[str, RowError]]:
    """Table hook of ``dn_portal_notice``: store, change or withdraw each entry by its key."""

    def apply(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
        errors: dict[str, RowError] = {}
        now = utcnow()
        for inbound in sorted(rows, key=lambda r: r.order):
            data = inbound.row
            key, kind = _text(data, "notice_key", 100), _text(data, "kind", 16)
            if not key or kind not in KINDS:
                errors[inbound.row_guid] = RowError("portal_notice_incomplete", "通知公告缺少编号或类别")
                continue
            if key.split(":", 1)[0] == settings.node_id:
                continue  # our own entry come back round: we hold the original
            if inbound.operation == "D":
                session.execute(
                    update(PortalNotice)
                    .where(PortalNotice.notice_key == key, PortalNotice.withdrawn_at.is_(None))
                    .values(withdrawn_at=now, updated_at=now)
                )
                continue
            try:
                published_at = datetime.fromisoformat(str(data["published_at"]))
                title, body, link = _checked(kind, str(data.get("title") or ""), str(data.get("body") or ""),
                                             str(data.get("url") or "") or None)  # fmt: skip
            except (KeyError, ValueError, PortalError) as exc:
                reason = exc.detail if isinstance(exc, PortalError) else "发布时间缺失或格式不对"
                errors[inbound.row_guid] = RowError("portal_notice_invalid", f"通知公告无法采用：{reason}")
                continue
            values = {
                "kind": kind, "origin": _text(data, "origin", 63) or inbound.origin[:63],
                "origin_name": _text(data, "origin_name", 100) or inbound.origin[:100], "title": title,
                "body": body, "url": link, "published_at": published_at, "updated_at": now,
            }  # fmt: skip
            insert = dialect_insert(session, PortalNotice).values(
                id=new_id(), notice_key=key, received_at=now, **values
            )
            session.execute(insert.on_conflict_do_update(index_elements=["notice_key"], set_=values))
        return errors

    return apply


# --- the style -------------------------------------------------------------------------------------


def offer_style(
    session: Session, settings: Settings, *, actor: str, logo: bytes | None = None
) -> dict[str, Any]:
    """Offer this node's look (``ZHENGWU_PORTAL__*``, or the one it adopted) to the lower nodes.

    ``logo``: the image the lower nodes show (PNG or JPEG, ≤ 64 KB); without it, the logo of the style this
    node adopted is passed on, else none (the node's own ``logo_url`` is a path only this node serves)."""
    look = effective_look(session, settings)
    logo_type = None
    if logo is not None:
        logo_type = images.image_type(logo, what="标志图片")
    else:
        adopted = _adopted(session)
        if adopted is not None and adopted.logo and adopted.logo_type:
            logo, logo_type = adopted.logo, adopted.logo_type
    payload = {
        "origin": settings.node_id,
        "origin_name": (settings.portal.title or settings.node_name)[:100],
        "title": look["title"],
        "logo_url": "",
        "logo": base64.b64encode(logo).decode() if logo else "",
        "logo_type": logo_type or "",
        "header_colour": look["header_colour"],
        "footer": look["footer"],
        "offered_at": utcnow().isoformat(),
    }
    emit(session, STYLE_TOPIC, payload, key=settings.node_id, operation="U")
    record_change(
        session, actor=actor, action="portal.style.offer", entity="portal_style", entity_id=settings.node_id,
        after={**{k: payload[k] for k in ("title", "header_colour", "footer", "logo_type")},
               "logo_bytes": len(logo or b"")},
    )  # fmt: skip
    return payload


def _offered_logo(data: Mapping[str, Any]) -> tuple[bytes | None, str | None]:
    """The logo an offer carries, checked as on the offering node; (None, None) without one."""
    text = str(data.get("logo") or "")
    if not text:
        return None, None
    if len(text) > images.MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise PortalError("标志图片不能超过 64 KB", detail_en="logo too large")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PortalError("标志图片的编码不对", detail_en="logo is not base64") from None
    return raw, images.image_type(raw, what="标志图片", declared=str(data.get("logo_type") or "") or None)


def style_applier(settings: Settings) -> Callable[[Session, Sequence[ReceivedRow]], Mapping[str, RowError]]:
    """Table hook of ``dn_portal_style``: keep the newest offer per origin, and the adoption decision."""

    def apply(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
        errors: dict[str, RowError] = {}
        for inbound in sorted(rows, key=lambda r: r.order):
            data = inbound.row
            origin = _text(data, "origin", 63)
            colour = _text(data, "header_colour", 7)
            logo = _text(data, "logo_url", 500)
            try:
                offered_at = datetime.fromisoformat(str(data["offered_at"]))
            except (KeyError, ValueError):
                offered_at = None
            try:
                logo_bytes, logo_type = _offered_logo(data)
            except PortalError as exc:
                errors[inbound.row_guid] = RowError("portal_style_logo", f"页面样式无法采用：{exc.detail}")
                continue
            if (
                not origin
                or offered_at is None
                or not readable_on_white(colour)
                or (logo and not _URL.match(logo))
            ):
                errors[inbound.row_guid] = RowError(
                    "portal_style_invalid",
                    "页面样式无法采用：来源、时间、颜色（与白色对比度须不低于 4.5:1）或标志地址不对",
                )
                continue
            if origin == settings.node_id:
                continue
            values = {
                "origin_name": _text(data, "origin_name", 100) or origin, "title": _text(data, "title", 60),
                "logo_url": logo, "header_colour": colour, "footer": _text(data, "footer", 500),
                "offered_at": offered_at, "updated_at": utcnow(), "logo": logo_bytes, "logo_type": logo_type,
            }  # fmt: skip
            insert = dialect_insert(session, PortalStyle).values(
                id=new_id(), origin=origin, adopted=False, **values
            )
            session.execute(insert.on_conflict_do_update(index_elements=["origin"], set_=values))
            bump(session, STYLE_STAMP)  # the adopted offer may be the one that changed
        return errors

    return apply


def offers(session: Session) -> list[PortalStyle]:
    """The styles upper nodes offered, newest first."""
    return list(session.scalars(select(PortalStyle).order_by(PortalStyle.offered_at.desc())))


def adopt_style(session: Session, origin: str | None, *, actor: str) -> PortalStyle | None:
    """Adopt the style ``origin`` offered (None: go back to the node's own look)."""
    chosen = None
    if origin is not None:
        chosen = session.scalar(select(PortalStyle).where(PortalStyle.origin == origin[:63]))
        if chosen is None:
            raise StyleNotOffered(detail_en=f"no style offered by {origin[:63]!r}")
    session.execute(update(PortalStyle).values(adopted=False))
    if chosen is not None:
        chosen.adopted = True
    session.flush()
    bump(session, STYLE_STAMP)
    record_change(
        session, actor=actor, action="portal.style.adopt", entity="portal_style", entity_id=origin or "own",
        after={"adopted": origin},
    )  # fmt: skip
    return chosen


#: Raised with every change of the offered or adopted styles (kernel.stamps): pages keep the look.
STYLE_STAMP = "portal.style"
LOOKS: ServiceKey[StampedCache[dict[str, str]]] = ServiceKey("portal.looks")


def page_look(session: Session, settings: Settings) -> dict[str, str]:
    """:func:`effective_look` kept in the process until a style changes (every page shows it)."""
    own = settings.portal
    key = (settings.node_name, own.title, own.logo_url, own.header_colour, own.footer)
    kept: dict[str, str] = remember(
        session, LOOKS, (STYLE_STAMP,), key, lambda: effective_look(session, settings)
    )
    return dict(kept)


def effective_look(session: Session, settings: Settings) -> dict[str, str]:
    """The header text, logo, colour and footer pages show: the node's own, or the adopted offer's (its
    empty values leave the node's own in place)."""
    own = settings.portal
    look = {"title": own.title or settings.node_name, "logo_url": own.logo_url,
            "header_colour": own.header_colour, "footer": own.footer}  # fmt: skip
    adopted = _adopted(session)
    if adopted is not None:
        for name in look:
            value = getattr(adopted, name)
            if value:
                look[name] = value
        if adopted.logo_type:
            look["logo_url"] = logo_path(adopted)
    return look


def _adopted(session: Session) -> PortalStyle | None:
    return session.scalar(select(PortalStyle).where(PortalStyle.adopted.is_(True)).limit(1))


def logo_path(style: PortalStyle) -> str:
    """Where this node serves the logo an upper node sent (the time of the offer keeps caches honest)."""
    return f"/portal/style/{style.origin}/logo?v={int(style.offered_at.timestamp())}"


def offered_logo(session: Session, origin: str) -> tuple[bytes, str] | None:
    """The logo bytes and type an upper node offered, or None."""
    style = session.scalar(select(PortalStyle).where(PortalStyle.origin == origin[:63]))
    if style is None or not style.logo or not style.logo_type:
        return None
    return style.logo, style.logo_type
