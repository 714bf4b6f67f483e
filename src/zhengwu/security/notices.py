"""National security notices (安全通报) coming down: issued at the upper node, handled at the lower one.

The upper node issues a notice to one lower node or to all; it travels on ``security.dn_security_notice``
through the exchange's downward feed, routed by ``to_division`` (the addressee's division, or ``*``): the
feed serves it only to the lower node of that division, and a notice to all goes on down through every
tier (province → city → county), each taking it. A lower node takes only the notices addressed to it or
to all. The lower node assigns
it to a staff member, acknowledges it and closes it with a note. Every step is an audited change
(entity ``security_notice``): the notice's trail is its audit rows.

The acknowledgement and the closing go back up as receipts (``security.notice_receipt``, in the
transaction of the step), so the issuing node sees per notice which nodes acknowledged and closed it,
when, and with what note. A receipt travels through the tiers like the node's other reports (the topic
is relayed, with its origin): a middle node passes on the receipts of notices issued above it and keeps
those of its own notices, so a city's acknowledgement of a national notice reaches the national node,
named by the city and the route it took. Takes the session, never commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import list_changes, record_change
from zhengwu.exchange.models import ExchangeNode
from zhengwu.identity.models import Account, AccountKind, AccountStatus
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import emit
from zhengwu.kernel.node import node_in
from zhengwu.kernel.topics import ReceivedRow, RowError, settled_here
from zhengwu.security.errors import NoticeNotFound, NoticeStateConflict, SecurityError, UnknownNode
from zhengwu.security.models import SecurityNotice, SecurityNoticeReceipt
from zhengwu.security.severity import Severity

TOPIC: Final = "security.dn_security_notice"
TABLE: Final = "dn_security_notice"
RECEIPT_TOPIC: Final = "security.notice_receipt"
RECEIPT_TABLE: Final = "security_notice_receipt"
#: How far a receipt moves a notice on at the issuer (a late acknowledgement never undoes a closing).
_RECEIPT_RANK: Final = {"acknowledged": 1, "closed": 2}
ROUTE_COLUMN: Final = "to_division"
ENTITY: Final = "security_notice"
EVERY_NODE: Final = "*"

#: What people read for each state.
STATUS_LABELS: Final = {
    "issued": "已下发",
    "open": "待处理",
    "assigned": "已指派",
    "acknowledged": "已确认",
    "closed": "已关闭",
}


class UnknownAssignee(SecurityError):
    """The staff member named to handle a notice has no active staff account on this node."""

    status_code = 422
    code = "security.unknown_assignee"
    default_detail = "没有该工作人员账号，无法指派"


def _state(notice: SecurityNotice) -> dict[str, Any]:
    return {"status": notice.status, "assignee": notice.assignee, "note": notice.note}


def _payload(notice: SecurityNotice, to_division: str) -> dict[str, Any]:
    return {
        "notice_key": notice.notice_key,
        # The route through the tiers (exchange.applying): the addressee's division, or * for all.
        ROUTE_COLUMN: to_division,
        "issuer": notice.issuer,
        "to_node": notice.to_node,
        "title": notice.title,
        "body": notice.body,
        "severity": notice.severity,
        "issued_at": notice.issued_at.isoformat(),
    }


def _known_node(session: Session, node_id: str) -> str | None:
    """The division of a joined lower node (None: not joined, or revoked)."""
    return session.scalar(
        select(ExchangeNode.division_code)
        .where(ExchangeNode.node_id == node_id, ExchangeNode.status == "approved")
        .limit(1)
    )


def issue(
    session: Session,
    settings: Settings,
    *,
    to_node: str,
    title: str,
    body: str,
    severity: Severity,
    actor: str,
) -> SecurityNotice:
    """Issue a notice to one joined lower node (or ``*``: all) and queue it on the downward feed."""
    title, body = title.strip(), body.strip()
    if not title or not body or len(title) > 200 or len(body) > 4000:
        raise SecurityError(
            "通报标题（1–200 字）和正文（1–4000 字）均须填写",
            detail_en="title (1-200) and body (1-4000 characters) are required",
        )
    to_division = EVERY_NODE if to_node == EVERY_NODE else _known_node(session, to_node)
    if to_division is None:
        raise UnknownNode(
            f"节点 {to_node[:63]} 未接入本节点的数据交换（或已被吊销），无法下发通报",
            detail_en=f"node {to_node[:63]!r} has not joined this node's exchange (or was revoked)",
        )
    notice_id = new_id()
    notice = SecurityNotice(
        id=notice_id,
        notice_key=f"{settings.node_id}:{notice_id}",
        direction="issued",
        issuer=settings.node_id,
        to_node=to_node,
        title=title,
        body=body,
        severity=severity.value,
        status="issued",
        issued_at=utcnow(),
        updated_at=utcnow(),
    )
    session.add(notice)
    session.flush()
    emit(session, TOPIC, _payload(notice, to_division), key=notice.notice_key)
    record_change(
        session, actor=actor, action="security.notice.issue", entity=ENTITY, entity_id=notice.id,
        after={"to_node": to_node, "title": title, "severity": severity.value, "status": "issued"},
    )  # fmt: skip
    return notice


def applier(settings: Settings) -> Callable[[Session, Sequence[ReceivedRow]], Mapping[str, RowError]]:
    """The table hook of received notices: take those addressed to this node or to all, once each."""

    def apply(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
        errors: dict[str, RowError] = {}
        for inbound in rows:
            data = inbound.row
            if str(data.get("to_node")) not in (EVERY_NODE, settings.node_id):
                continue  # addressed to a sibling: the feed is shared
            try:
                issued_at = datetime.fromisoformat(str(data["issued_at"]))
                key, title, body = str(data["notice_key"]), str(data["title"]), str(data["body"])
            except (KeyError, ValueError):
                errors[inbound.row_guid] = RowError(
                    "security_notice_incomplete", "安全通报缺少编号、标题或时间"
                )
                continue
            severity = str(data.get("severity") or "")
            notice_id = new_id()
            insert = dialect_insert(session, SecurityNotice).values(
                id=notice_id, notice_key=key[:100], direction="received", issuer=str(data.get("issuer") or inbound.sender)[:63],
                to_node=str(data.get("to_node"))[:63], title=title[:200], body=body[:4000],
                severity=severity if severity in {s.value for s in Severity} else Severity.MEDIUM.value,
                status="open", issued_at=issued_at, received_at=utcnow(), updated_at=utcnow(),
            )  # fmt: skip
            stored = session.scalar(
                insert.on_conflict_do_nothing(index_elements=["notice_key"]).returning(SecurityNotice.id)
            )
            if stored is not None:
                record_change(
                    session, actor=None, action="security.notice.receive", entity=ENTITY, entity_id=notice_id,
                    after={"issuer": inbound.sender, "title": title[:200], "status": "open"},
                )  # fmt: skip
        return errors

    return apply


def get(session: Session, notice_id: str) -> SecurityNotice:
    """One notice, or 404."""
    notice = session.get(SecurityNotice, notice_id)
    if notice is None:
        raise NoticeNotFound(detail_en=f"no security notice {notice_id[:40]!r}")
    return notice


def _step(
    session: Session, notice: SecurityNotice, *, allowed: set[str], action: str, actor: str, **changes: Any
) -> SecurityNotice:
    if notice.direction != "received" or notice.status not in allowed:
        label = STATUS_LABELS.get(notice.status, notice.status)
        raise NoticeStateConflict(
            f"该通报{'为本节点下发的' if notice.direction != 'received' else '当前为「' + label + '」'}，不能执行此操作",
            detail_en=f"the notice is {notice.direction} / {notice.status}: {action} not allowed",
        )
    before = _state(notice)
    for name, value in changes.items():
        setattr(notice, name, value)
    notice.updated_at = utcnow()
    session.flush()
    record_change(
        session, actor=actor, action=f"security.notice.{action}", entity=ENTITY, entity_id=notice.id,
        before=before, after=_state(notice),
    )  # fmt: skip
    if notice.status in _RECEIPT_RANK:
        _queue_receipt(session, notice)
    return notice


def _queue_receipt(session: Session, notice: SecurityNotice) -> None:
    """The step, for the issuer (a received notice came over the HTTP exchange: there is an upstream)."""
    row = {
        "receipt_key": f"{notice.notice_key}:{notice.status}"[:160],
        "notice_key": notice.notice_key,
        "status": notice.status,
        "acknowledged_at": notice.acknowledged_at.isoformat() if notice.acknowledged_at else None,
        "closed_at": notice.closed_at.isoformat() if notice.closed_at else None,
        "note": notice.note,
    }
    emit(session, RECEIPT_TOPIC, row, key=row["receipt_key"])


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _issued_above(session: Session, notice_key: str) -> bool:
    """The notice was issued by a node other than this one (its key starts with the issuer's node id)
    and came down through here: a middle tier passes its receipts on up."""
    try:
        own = node_in(session).settings.node_id
    except RuntimeError:  # a session opened outside a node: nothing to pass on
        return False
    issuer = notice_key.split(":", 1)[0]
    return bool(issuer) and issuer != own and ":" in notice_key


def apply_receipts(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
    """Keep, per notice this node issued and lower node (the origin: a receipt may come through a middle
    tier), the furthest step reported; pass on receipts of notices issued further up (the topic is
    relayed); refuse receipts of notices this node issued, but not to that node."""
    errors: dict[str, RowError] = {}
    for inbound in rows:
        data = inbound.row
        node = (inbound.origin or inbound.sender)[:63]
        status = str(data.get("status") or "")
        try:
            acknowledged, closed = _moment(data.get("acknowledged_at")), _moment(data.get("closed_at"))
        except ValueError:
            acknowledged = closed = None
            status = ""
        key = str(data.get("notice_key") or "")[:100]
        if status not in _RECEIPT_RANK or (status == "closed" and closed is None):
            errors[inbound.row_guid] = RowError("security_receipt_incomplete", "通报回执缺少状态或时间")
            continue
        notice = session.scalar(
            select(SecurityNotice).where(
                SecurityNotice.notice_key == key, SecurityNotice.direction == "issued"
            )
        )
        if notice is None and _issued_above(session, key):
            continue  # a notice issued further up: the receipt goes on up to its issuer (relayed)
        if notice is None or notice.to_node not in (EVERY_NODE, node):
            errors[inbound.row_guid] = RowError(
                "security_receipt_unknown_notice", "回执所指的安全通报不是本节点向该节点下发的"
            )
            continue
        settled_here(session, inbound.row_guid)  # issued here: the receipt ends here
        receipt = session.scalar(
            select(SecurityNoticeReceipt).where(
                SecurityNoticeReceipt.notice_key == key, SecurityNoticeReceipt.node_id == node
            )
        )
        if receipt is None:
            receipt = SecurityNoticeReceipt(id=new_id(), notice_key=key, node_id=node, status=status)
            session.add(receipt)
        elif _RECEIPT_RANK[status] < _RECEIPT_RANK.get(receipt.status, 0):
            continue  # late: the node has gone further already
        receipt.status = status
        receipt.route = (inbound.route or inbound.sender)[:255]
        receipt.acknowledged_at = acknowledged or receipt.acknowledged_at
        receipt.closed_at = closed
        receipt.note = str(data["note"])[:2000] if status == "closed" and data.get("note") else None
        receipt.received_at = utcnow()
        session.flush()
    return errors


def receipts(session: Session, notice_keys: Sequence[str]) -> dict[str, list[SecurityNoticeReceipt]]:
    """The lower nodes' receipts of the notices ``notice_keys`` (issued here), by notice key, by node."""
    found: dict[str, list[SecurityNoticeReceipt]] = {key: [] for key in notice_keys}
    if not notice_keys:
        return found
    query = (
        select(SecurityNoticeReceipt)
        .where(SecurityNoticeReceipt.notice_key.in_(list(notice_keys)))
        .order_by(SecurityNoticeReceipt.node_id)
    )
    for row in session.scalars(query):
        found[row.notice_key].append(row)
    return found


def assign(session: Session, notice_id: str, *, assignee: str, actor: str) -> SecurityNotice:
    """Give a received notice to a staff member (again: reassign, until acknowledged)."""
    notice = get(session, notice_id)
    staff = session.scalar(
        select(Account.login_name).where(
            Account.login_name == assignee,
            Account.kind == AccountKind.STAFF,
            Account.status == AccountStatus.ACTIVE,
        )
    )
    if staff is None:
        raise UnknownAssignee(
            f"没有登录名为 {assignee[:64]} 的工作人员，无法指派",
            detail_en=f"no staff member {assignee[:64]!r}",
        )
    return _step(session, notice, allowed={"open", "assigned"}, action="assign", actor=actor,
                 status="assigned", assignee=staff)  # fmt: skip


def acknowledge(session: Session, notice_id: str, *, actor: str) -> SecurityNotice:
    """Confirm that the notice was read and is being handled (after it was assigned)."""
    notice = get(session, notice_id)
    return _step(session, notice, allowed={"assigned"}, action="ack", actor=actor,
                 status="acknowledged", acknowledged_at=utcnow())  # fmt: skip


def close(session: Session, notice_id: str, *, note: str, actor: str) -> SecurityNotice:
    """Close an acknowledged notice with what was done."""
    note = note.strip()
    if not note or len(note) > 2000:
        raise SecurityError(
            "关闭通报须写明处置情况（1–2000 字）", detail_en="a closing note (1-2000 characters) is required"
        )
    notice = get(session, notice_id)
    return _step(session, notice, allowed={"acknowledged"}, action="close", actor=actor,
                 status="closed", note=note, closed_at=utcnow())  # fmt: skip


def list_notices(session: Session, *, status: str | None = None, limit: int = 100) -> list[SecurityNotice]:
    """Notices newest first."""
    query = select(SecurityNotice).order_by(SecurityNotice.issued_at.desc(), SecurityNotice.id.desc())
    if status:
        query = query.where(SecurityNotice.status == status)
    return list(session.scalars(query.limit(limit)))


def trail(session: Session, notice_id: str) -> list[dict[str, Any]]:
    """The notice's audited steps, oldest first."""
    rows = reversed(list_changes(session, entity=ENTITY, entity_id=notice_id, limit=1000))
    return [
        {"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "before": r.before, "after": r.after}
        for r in rows
    ]
