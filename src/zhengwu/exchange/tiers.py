"""Upward through the tiers: a lower node's rows go on to our upper node with their origin; refusals
come back down the way the rows came up.

The same software runs at every tier (``ZHENGWU_TIER``). A node that receives a lower node's rows on a
national ``up_*`` table validates and applies them like any receiver and, in the same transaction,
queues each applied row in its own outbox for the relay: the row as received (``row_guid``,
``data_source``, ``cd_time`` unchanged) plus its origin — the path of nodes from the one that made the
row to the one that sent it to us, and the origin's division and tier. A crash can therefore never
leave a row applied but not queued, and a batch sent again is taken once by the inbox, so it is
queued once. The relay sends the origin with the path extended by this node; the upper node checks
that the path ends with the authenticated sender and that the origin's division lies within the
sender's, and keeps the route with the row (inbox, aggregate, per-route counts). zhengwu's own reports
(node status, security events and posture, audit heads) are not national tables: their owners declare
them ``relayed`` (``kernel.topics.TopicDeclaration``) and they go up the same way, over the HTTP exchange
only (the 前置库 holds national tables), so the top node hears from every node with the origin the
exchange checked (``InboundRow.origin``/``route``). A national node has no upper node: it queues nothing.

A refusal made after our receipt accepted a row — the upper node refused it when we passed it on, or
an operator here refused it — is queued for the node that sent us the row (``exchange_feedback_down``).
That node fetches its refusals with a signed request (``POST /exchange/v1/feedback``), marks its own
outbox row refused and shows the abnormal feedback to its operators; when it had itself only passed the
row on, it queues the refusal for the node below, and so on down to where the row was made.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from zhengwu.exchange import bulk, exlog, pulling
from zhengwu.exchange.canonical import loads, sm3_hex
from zhengwu.exchange.errors import FeedbackNotFound, MalformedEnvelope
from zhengwu.exchange.models import (
    ExchangeAggregate,
    ExchangeFeedback,
    ExchangeFeedbackDown,
    ExchangeInbox,
    ExchangeNode,
    ExchangeRouteStats,
    ExchangeTopicStats,
)
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import InboundRow, Topic
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Tier
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.topics import RowError

log = get_logger("zhengwu.exchange.tiers")

RELAY_KEY: Final = "_zw_relay"  # in a relayed row's outbox payload: the origin (never sent as a column)
MAX_PATH: Final = 6
PAGE: Final = pulling.PAGE
FEEDBACK_MARK: Final = "feedback:upstream"
UPSTREAM: Final = "upstream"  # the sender name of rows pulled from the upper node
NODE_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DIVISION_RE: Final = re.compile(r"^\d{6}$")
GUID_RE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,32}$")
TIERS: Final = frozenset(t.value for t in Tier)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a row was made and who passed it on: ``path`` runs from the origin to the sender."""

    path: tuple[str, ...]
    division: str | None
    tier: str | None

    @property
    def node(self) -> str:
        """The node that made the row."""
        return self.path[0]

    @property
    def route(self) -> str:
        """``origin/…/sender``."""
        return "/".join(self.path)

    def onward(self, node_id: str) -> dict[str, Any]:
        """The origin as this node sends it upward (the path extended by this node)."""
        return {"path": [*self.path, node_id], "division": self.division, "tier": self.tier}


def division_prefix(code: str) -> str:
    """The digits that every division inside ``code`` shares (130100 → 1301, 000000 → everything)."""
    prefix = code
    while prefix.endswith("00"):
        prefix = prefix[:-2]
    return prefix


def within(code: str, parent: str) -> bool:
    """True when division ``code`` lies inside division ``parent`` (GB/T 2260 prefixes)."""
    return code.startswith(division_prefix(parent))


def origin_of(raw: Any, *, sender: str, division: str | None, tier: str | None) -> Origin | RowError:
    """The origin a record claims, checked against the authenticated sender; the sender itself when
    the record claims none."""
    if raw is None:
        return Origin((sender,), division, tier)
    path = raw.get("path") if isinstance(raw, Mapping) else None
    if (
        not isinstance(path, list)
        or not 1 <= len(path) <= MAX_PATH
        or not all(isinstance(p, str) and NODE_RE.match(p) for p in path)
        or len(set(path)) != len(path)
    ):
        return RowError("origin_invalid", "来源路径格式错误", None)
    if path[-1] != sender:
        return RowError("origin_mismatch", f"来源路径的最后一级（{path[-1]}）不是发送节点 {sender}", None)
    claimed = raw.get("division")
    if not isinstance(claimed, str) or not DIVISION_RE.match(claimed):
        return RowError("origin_invalid", "来源行政区划代码无效", None)
    if division and not within(claimed, division):
        return RowError(
            "origin_outside_division", f"来源行政区划 {claimed} 不在发送节点辖区 {division} 内", None
        )
    origin_tier = raw.get("tier")
    return Origin(tuple(path), claimed, origin_tier if origin_tier in TIERS else None)


def relays(runtime: ExchangeRuntime) -> bool:
    """True when this node passes lower nodes' rows on (every tier but the national one)."""
    return runtime.settings.tier is not Tier.NATIONAL


def relays_reports(runtime: ExchangeRuntime) -> bool:
    """True when this node also passes its lower nodes' own reports on: it relays and talks to its
    upper node over HTTP (a 前置库 has no table for them)."""
    settings = runtime.settings
    return relays(runtime) and bool(settings.upstream_url) and settings.exchange.transport == "http"


def belongs_upward(topic: Topic, *, reports: bool = False) -> bool:
    """National ``up_*`` tables travel to the top; zhengwu's own reports do when their owner declared
    them relayed and ``reports`` (``relays_reports``) says this node can pass them on."""
    if topic.relayed:
        return reports
    return topic.spec is not None and topic.table.startswith("up_")


def relay_message_id(row_guid: str) -> str:
    """The outbox message id of a relayed row: its row_guid (an SM3 of it when that does not fit)."""
    return row_guid if GUID_RE.match(row_guid) else sm3_hex(row_guid.encode())[:32]


# --- upward ----------------------------------------------------------------------------------------

_OUTBOX_COLUMNS: Final = (
    "message_id", "topic", "key", "operation", "payload", "trace_id", "status", "attempts", "created_at",
    "updated_at",
)  # fmt: skip


def queue_upward(
    session: Session,
    rows: Sequence[InboundRow],
    origins: Mapping[str, Origin],
    traces: Mapping[str, str | None],
    now: datetime,
    key_column: str | None = None,
) -> int:
    """Queue applied rows for the upper node in the receiving transaction (a row already queued, e.g.
    by another lower node sending the same row_guid, is not queued twice). A business key outside the
    national columns (``row_key`` of child rows) was dropped from the stored row: it goes back in."""
    if not rows:
        return 0
    stamp = bulk.timestamp(session, now)
    values = []
    for r in sorted(rows, key=lambda x: x.order):
        origin = origins[r.row_guid]
        payload = {**r.row, RELAY_KEY: {"path": list(origin.path), "division": origin.division,
                                        "tier": origin.tier}}  # fmt: skip
        if key_column is not None and key_column not in payload:
            payload[key_column] = r.business_key
        values.append(
            (
                relay_message_id(r.row_guid), r.topic, r.business_key[:128], r.operation[:1],
                bulk.json_text(payload), traces.get(r.row_guid), OutboxStatus.PENDING, 0, stamp, stamp,
            )
        )  # fmt: skip
    for start in range(0, len(values), 500):
        bulk.insert_many(
            session,
            "kernel_outbox",
            _OUTBOX_COLUMNS,
            values[start : start + 500],
            json_columns=frozenset({"payload"}),
            conflict="ON CONFLICT (message_id) DO NOTHING",
        )
    return len(values)


def update_route_stats(
    session: Session,
    table_name: str,
    counts: Mapping[str, tuple[Origin, int, int]],
    now: datetime,
) -> None:
    """Add a batch's (received, applied) rows per route."""
    target = ExchangeRouteStats.__table__
    for route, (origin, received, applied) in counts.items():
        stmt = (
            dialect_insert(session, ExchangeRouteStats)
            .values(
                route=route[:255],
                origin=origin.node,
                origin_division=origin.division,
                origin_tier=origin.tier,
                table_name=table_name,
                received=received,
                applied=applied,
                rejected=received - applied,
                last_received_at=now,
            )
            .on_conflict_do_update(
                index_elements=[target.c.route, target.c.table_name],
                set_={
                    "received": target.c.received + received,
                    "applied": target.c.applied + applied,
                    "rejected": target.c.rejected + (received - applied),
                    "last_received_at": now,
                },
            )
        )
        session.execute(stmt)


# --- refusals travelling down ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused row to tell the lower node ``target`` about."""

    target: str
    row_guid: str
    topic: str | None
    table_name: str
    business_key: str | None
    code: str
    reason: str


def pass_down(session: Session, refusals: Sequence[Refusal], *, feedback_guid: str, refused_by: str) -> int:
    """Queue refusals for the lower nodes that sent us the rows (idempotent per refusal)."""
    if not refusals:
        return 0
    now = utcnow()
    session.execute(
        dialect_insert(session, ExchangeFeedbackDown).on_conflict_do_nothing(),
        [
            {"target": r.target, "feedback_guid": feedback_guid[:64], "row_guid": r.row_guid[:50],
             "topic": r.topic, "table_name": r.table_name, "business_key": r.business_key,
             "error_code": r.code[:100], "reason": r.reason, "refused_by": refused_by[:63], "created_at": now}
            for r in refusals
        ],
    )  # fmt: skip
    return len(refusals)


def sender_of(relay_origin: Any) -> str | None:
    """The lower node that sent us a relayed row (the last node of its stored path)."""
    path = relay_origin.get("path") if isinstance(relay_origin, Mapping) else None
    if isinstance(path, list) and path and isinstance(path[-1], str):
        return path[-1]
    return None


def lower_sender(onward: Mapping[str, Any] | None) -> str | None:
    """The lower node that sent us a row we passed on, from the origin we sent upward with it."""
    path = onward.get("path") if onward is not None else None
    if isinstance(path, list) and len(path) >= 2 and isinstance(path[-2], str):
        return path[-2]
    return None


def refuse_received(
    session: Session, runtime: ExchangeRuntime, row_guid: str, reason: str, *, actor: str
) -> int:
    """An operator refuses a lower node's row this node had accepted: the row leaves the aggregate,
    is not passed on (unless it already went), and the refusal goes down to where the row came from."""
    exlog.write_first(session)
    received = list(
        session.scalars(
            select(ExchangeInbox).where(
                ExchangeInbox.row_guid == row_guid,
                ExchangeInbox.status == "applied",
                ExchangeInbox.sender.not_in((UPSTREAM, runtime.node_id)),
            )
        )
    )
    if not received:
        raise FeedbackNotFound(
            "未找到该下级节点已接收的记录", detail_en=f"no applied row {row_guid} from a lower node"
        )
    feedback_guid = f"{runtime.node_id}:refused"
    for row in received:
        row.status = "rejected"
        row.error_code = "refused_by_operator"
        row.reason = reason
        session.execute(
            delete(ExchangeAggregate).where(
                ExchangeAggregate.sender == row.sender,
                ExchangeAggregate.table_name == row.table_name,
                ExchangeAggregate.row_guid == row_guid,
            )
        )
        session.execute(
            update(ExchangeTopicStats)
            .where(ExchangeTopicStats.sender == row.sender, ExchangeTopicStats.topic == row.topic)
            .values(applied=ExchangeTopicStats.applied - 1, rejected=ExchangeTopicStats.rejected + 1)
        )
        if row.route:
            session.execute(
                update(ExchangeRouteStats)
                .where(ExchangeRouteStats.route == row.route, ExchangeRouteStats.table_name == row.table_name)
                .values(applied=ExchangeRouteStats.applied - 1, rejected=ExchangeRouteStats.rejected + 1)
            )
        pass_down(
            session,
            [Refusal(row.sender, row_guid, row.topic, row.table_name, row.business_key,
                     "refused_by_operator", reason)],
            feedback_guid=feedback_guid,
            refused_by=runtime.node_id,
        )  # fmt: skip
    # Not yet passed on: it never goes (a row already sent stays with the upper node).
    session.execute(
        update(OutboxRecord)
        .where(
            OutboxRecord.message_id == relay_message_id(row_guid),
            OutboxRecord.status == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.REJECTED, last_error=f"refused_by_operator: {reason}"[:2000])
    )
    exlog.append(
        session,
        direction="local",
        kind="row.refused",
        peer=received[0].sender,
        ref=row_guid[:64],
        detail={"actor": actor, "rows": len(received)},
    )
    return len(received)


def answer_feedback(session: Session, runtime: ExchangeRuntime, envelope: Any) -> dict[str, Any]:
    """Upper node: one signed page of the refusals queued for the asking lower node."""
    from zhengwu.exchange.receiving import authenticate_child, check_fresh, parse_time
    from zhengwu.exchange.signing import open_envelope, seal

    trust = runtime.credentials.children_trust()
    signer = runtime.credentials.downlink()
    opened = open_envelope(envelope)
    doc = opened.document
    sender, after, nonce = doc.get("sender"), doc.get("after"), doc.get("nonce")
    if (
        doc.get("type") != "feedback"
        or not isinstance(sender, str)
        or isinstance(after, bool)
        or not isinstance(after, int)
    ):
        raise MalformedEnvelope("不是异常反馈请求", detail_en="not a feedback request")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise MalformedEnvelope("请求缺少随机数", detail_en="nonce missing")
    exlog.write_first(session)
    node = authenticate_child(session, trust, opened, sender)
    check_fresh(session, runtime, sender, parse_time(doc.get("sent_at"), "sent_at"), nonce)
    limit = min(PAGE, max(1, int(doc.get("limit") or PAGE)))
    rows = session.scalars(
        select(ExchangeFeedbackDown)
        .where(ExchangeFeedbackDown.target == node.node_id, ExchangeFeedbackDown.seq > after)
        .order_by(ExchangeFeedbackDown.seq)
        .limit(limit)
    ).all()
    page = {
        "type": "feedback.page",
        "nonce": nonce,
        "after": after,
        "records": [
            {"seq": r.seq, "feedback_guid": r.feedback_guid, "row_guid": r.row_guid, "topic": r.topic,
             "table": r.table_name, "business_key": r.business_key, "code": r.error_code,
             "reason": r.reason, "refused_by": r.refused_by}
            for r in rows
        ],
    }  # fmt: skip
    if rows:
        exlog.append(session, direction="out", kind="feedback.served", peer=node.node_id, ref=str(after),
                     detail={"rows": len(rows)})  # fmt: skip
    return seal(page, signer)


@dataclass
class FeedbackStats:
    """What a feedback pull did."""

    rows: int = 0
    own: int = 0
    passed_down: int = 0
    unknown: int = 0
    targets: list[str] = field(default_factory=list)


def take_feedback(session: Session, records: Sequence[Mapping[str, Any]], stats: FeedbackStats) -> None:
    """Lower node: record refusals from the upper node, refuse our outbox rows, pass relayed ones down."""
    now = utcnow()
    for item in records:
        guid = str(item.get("row_guid") or "")[:50]
        feedback_guid = str(item.get("feedback_guid") or "")[:64]
        if not guid or not feedback_guid:
            continue
        code = str(item.get("code") or "rejected")[:100]
        refused_by = str(item.get("refused_by") or UPSTREAM)[:63]
        reason = str(item.get("reason") or "上级节点拒收")
        table_name = str(item.get("table") or "")[:64]
        topic = item.get("topic") if isinstance(item.get("topic"), str) else None
        key = item.get("business_key") if isinstance(item.get("business_key"), str) else None
        message_id = relay_message_id(guid)
        outbox = session.scalars(select(OutboxRecord).where(OutboxRecord.message_id == message_id)).first()
        if outbox is None:
            stats.unknown += 1
        else:
            if outbox.status != OutboxStatus.REJECTED:
                outbox.status = OutboxStatus.REJECTED
                outbox.last_error = f"{code}: {reason}"[:2000]
                outbox.updated_at = now
            payload = outbox.payload if isinstance(outbox.payload, dict) else loads(outbox.payload or "{}")
            lower = sender_of(payload.get(RELAY_KEY))
            if lower is not None:
                pass_down(
                    session,
                    [
                        Refusal(
                            lower, guid, topic or outbox.topic, table_name, key or outbox.key, code, reason
                        )
                    ],
                    feedback_guid=feedback_guid,
                    refused_by=refused_by,
                )
                stats.passed_down += 1
                stats.targets.append(lower)
            else:
                stats.own += 1
        session.execute(
            dialect_insert(session, ExchangeFeedback)
            .values(
                id=new_id(),
                source="upstream",
                feedback_guid=feedback_guid,
                topic=topic or (outbox.topic if outbox is not None else None),
                table_name=table_name,
                row_guid=guid,
                message_id=message_id,
                outbox_seq=outbox.seq if outbox is not None else None,
                business_key=outbox.key if outbox is not None and outbox.key else key,
                error_code=code,
                reason=f"{reason}（拒收节点：{refused_by}）",
                status="open",
                received_at=now,
            )
            .on_conflict_do_nothing()
        )
        stats.rows += 1


FEEDBACK: Final = pulling.PullKind(
    "feedback", FEEDBACK_MARK, "feedback.received", "获取上级异常反馈失败", "上级异常反馈应答无效"
)


def pull_feedback(runtime: ExchangeRuntime, client: httpx.Client | None = None) -> FeedbackStats:
    """Lower node: fetch and take in the refusals the upper node queued for us (all pages)."""
    stats = FeedbackStats()

    def take(session: Session, records: list[dict[str, Any]], _after: int) -> None:
        take_feedback(session, records, stats)
        log.info("exchange_feedback_pulled", rows=len(records), passed_down=stats.passed_down)

    pulling.pull_pages(runtime, client, FEEDBACK, take)
    return stats


# --- the recursive overview -------------------------------------------------------------------------


def lower_tree(session: Session) -> dict[str, dict[str, Any]]:
    """Per direct lower node (the last hop of each route): the nodes beneath it, recursively, with the
    per-table counts of the rows each one made."""
    names = {
        n.node_id: n for n in session.scalars(select(ExchangeNode).where(ExchangeNode.status == "approved"))
    }
    tops: dict[str, dict[str, Any]] = {}
    index: dict[tuple[str, ...], dict[str, Any]] = {}

    def entry(path: tuple[str, ...]) -> dict[str, Any]:
        found = index.get(path)
        if found is None:
            known = names.get(path[0]) if len(path) == 1 else None
            found = index[path] = {
                "node_id": path[0],
                "route": "/".join(path),
                "division_code": known.division_code if known else None,
                "tier": known.tier if known else None,
                "tables": [],
                "totals": {"received": 0, "applied": 0, "rejected": 0},
                "lower": [],
            }
            if len(path) == 1:
                tops[path[0]] = found
            else:
                parent = entry(path[1:])
                parent["lower"].append(found)
        return found

    stats = session.scalars(
        select(ExchangeRouteStats).order_by(ExchangeRouteStats.route, ExchangeRouteStats.table_name)
    )
    for row in stats:
        path = tuple(row.route.split("/"))  # the node first, the direct lower node last
        node = entry(path)
        node["division_code"] = node["division_code"] or row.origin_division
        node["tier"] = node["tier"] or row.origin_tier
        node["tables"].append(
            {
                "table": row.table_name,
                "received": row.received,
                "applied": row.applied,
                "rejected": row.rejected,
                "last_received_at": row.last_received_at.isoformat() if row.last_received_at else None,
            }
        )
        for depth in range(len(path)):  # the counts add up along the way to the top
            totals = index[path[depth:]]["totals"]
            totals["received"] += row.received
            totals["applied"] += row.applied
            totals["rejected"] += row.rejected
    return tops
