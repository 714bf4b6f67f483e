"""What becomes of the downward rows a node takes from its upper node: the apply log, passing rows on to
the lower nodes they concern, and feeding refusals back up.

``downward.pull`` takes a page of the upper node's feed into the inbox (exactly once per row, the
owners' table hooks applying it); then, in the same transaction, :func:`after_pull`

* writes one ``exchange_applied`` row per new row: ``applied`` (a hook took it), ``stored`` (no hook:
  kept in the aggregate only) or ``refused`` with the reason, plus the remarks hooks left
  (``kernel.topics.note``, e.g. the catalog's cross-tier check);
* passes accepted rows on through this node's own feed when their topic says so (``route_column``)
  and no hook settled them here (``kernel.topics.settled_here``: a license status change applied to a
  license this node issued reaches the lower node's shared copy as this node's own change) —
  at a province or city always, whether or not a lower node has joined yet, so that one joining later
  reads them from the feed's start (``replay_backlog`` adds what an older node never passed on):
  ``*`` to every lower node, a column name to the lower node whose area holds the division in it (or
  to every lower node when the row's column holds ``*``)
  (``exchange_downward.division_code``, filtered when the feed is served). The row keeps its control
  columns (row_guid, data_source …); its message id is derived from the upper one, so it is passed on
  once however often it arrives;
* queues a refused row's reason on ``exchange.apply_feedback`` for the upper node (relayed like any
  upward row), which records it in its own apply log as ``refused_below`` under the node that refused
  it and, when it had passed the row on from its own upper node, sends the refusal on up: a refusal
  travels back to the node the row came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog
from zhengwu.exchange.canonical import sm3_hex
from zhengwu.exchange.models import ExchangeAggregate, ExchangeApplied, ExchangeDownward, ExchangeNode
from zhengwu.exchange.receiving import IncomingRecord, IngestResult, resolve_topic
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import Topic, TopicRegistry
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.events import emit
from zhengwu.kernel.topics import Declaration, RowError, TableHook, TopicDeclaration, take_notes, take_settled

FEEDBACK_TOPIC: Final = "exchange.apply_feedback"
FEEDBACK_TABLE: Final = "exchange_apply_feedback"
EVERY: Final = "*"
UPSTREAM: Final = "upstream"
OUTCOMES: Final = ("applied", "stored", "refused", "refused_below")
_DIVISION_RE: Final = re.compile(r"^\d{6}$")
#: The apply-log remark of a row a hook settled here (``kernel.topics.settled_here``); a replay for a
#: lower node that joins later skips such rows as the first pass did.
SETTLED_NOTE: Final = "本节点持有该数据，已在本节点应用，不再下传"


def declarations(settings: Settings) -> list[Declaration]:
    """The refusal a lower node feeds back about a downward row, and its hook on the upper node."""
    return [
        TopicDeclaration(
            FEEDBACK_TOPIC, table=FEEDBACK_TABLE, key_column="feedback_key", label="下发数据应用失败反馈"
        ),
        TableHook(FEEDBACK_TABLE, feedback_recorder(settings)),
    ]


def area(division: str) -> str:
    """The prefix shared by every division inside ``division`` (000000 → all, 130000 → 13, 130100 →
    1301, a county → itself)."""
    if division == "000000":
        return ""
    if division.endswith("0000"):
        return division[:2]
    if division.endswith("00"):
        return division[:4]
    return division


def within(division: str, container: str) -> bool:
    """True when ``division`` lies inside ``container`` (or is it)."""
    return division.startswith(area(container))


def route_column(registry: TopicRegistry, topic: Topic | None) -> str | None:
    """How rows of this topic travel on: its own route, else that of a registered topic on its table."""
    if topic is None:
        return None
    if topic.route_column:
        return topic.route_column
    for name in registry.names():
        other = registry.get(name)
        if other is not None and other.table == topic.table and other.route_column:
            return other.route_column
    return None


def division_of(column: str | None, row: Mapping[str, Any]) -> str | None:
    """The division a row is for (its route column), None when unrouted or not a division code."""
    if not column or column == EVERY:
        return None
    value = str(row.get(column) or "").strip()
    return value if _DIVISION_RE.match(value) else None


@dataclass(frozen=True, slots=True)
class AppliedCounts:
    """What :func:`after_pull` did with one page of one table."""

    applied: int = 0
    refused: int = 0
    forwarded: int = 0
    fed_back: int = 0


def _passes_on(session: Session, settings: Settings) -> bool:
    """True when this node keeps passed-on rows in its feed: a province or city always (a lower node
    joining later reads the feed from its start), a county only once a node below it asked to join."""
    if settings.tier is not Tier.COUNTY:
        return True
    found = session.scalar(
        select(ExchangeNode.id).where(ExchangeNode.status.in_(("approved", "pending"))).limit(1)
    )
    return found is not None


def _forward(
    session: Session, topic: Topic, message_id: str, key: str | None, trace_id: str | None,
    row: Mapping[str, Any], division: str | None, now: datetime,
) -> None:  # fmt: skip
    """Put a row taken from the upper node into this node's feed, once: its message id derives from the
    upper node's, so however often it arrives (or is replayed) it is passed on once."""
    stmt = dialect_insert(session, ExchangeDownward).values(
        message_id=sm3_hex(f"forward:{message_id}".encode())[:32], topic=topic.name, table_name=topic.table,
        business_key=(key or "")[:128] or None, trace_id=trace_id, content=dict(row), published_at=now,
        division_code=division,
    )  # fmt: skip
    session.execute(stmt.on_conflict_do_nothing(index_elements=["message_id"]))


def for_every_node(route: str | None, row: Mapping[str, Any]) -> bool:
    """The row goes to every lower node: its topic says so, or its route column holds ``*`` (a notice
    addressed to all)."""
    return route == EVERY or (route is not None and str(row.get(route) or "").strip() == EVERY)


def _routed_here(route: str | None, row: Mapping[str, Any], division: str | None, own: str) -> bool:
    """A row of this route goes on below this node: to everyone, or to a division inside ours."""
    return for_every_node(route, row) or (division is not None and division != own and within(division, own))


def replay_backlog(session: Session, runtime: ExchangeRuntime) -> int:
    """Put into the feed the rows taken from the upper node that were never passed on — taken while
    this node kept no feed (a county before anyone asked to join it, or before this rule existed) — in
    their current state (the aggregate's newest row per business object). Run when a lower node is
    approved: it reads the feed from its start, so it gets everything pushed before it joined. Idempotent
    (the feed's message id derives from the upper node's)."""
    own = runtime.settings.division_code
    now = utcnow()
    pending = session.execute(
        select(ExchangeApplied, ExchangeAggregate.payload)
        .join(
            ExchangeAggregate,
            and_(
                ExchangeAggregate.sender == UPSTREAM,
                ExchangeAggregate.table_name == ExchangeApplied.table_name,
                ExchangeAggregate.row_guid == ExchangeApplied.row_guid,
            ),
        )
        .where(
            ExchangeApplied.direction == "in",
            ExchangeApplied.peer == UPSTREAM,
            ExchangeApplied.outcome.in_(("applied", "stored")),
            ExchangeApplied.forwarded.is_(False),
        )
        .order_by(ExchangeApplied.seq)
    ).all()
    replayed = []
    for entry, payload in pending:
        topic = resolve_topic(runtime.registry, entry.topic, entry.table_name)
        route = route_column(runtime.registry, topic)
        if (
            topic is None
            or route is None
            or not isinstance(payload, dict)
            or SETTLED_NOTE in (entry.notes or [])
        ):
            continue
        division = division_of(route, payload)
        if not _routed_here(route, payload, division, own):
            continue
        _forward(session, topic, entry.message_id, entry.business_key, None, payload, division, now)
        replayed.append(entry.seq)
    if replayed:
        session.execute(
            update(ExchangeApplied).where(ExchangeApplied.seq.in_(replayed)).values(forwarded=True)
        )
        exlog.append(session, direction="local", kind="downward.replayed", detail={"rows": len(replayed)})
    return len(replayed)


def after_pull(
    session: Session,
    runtime: ExchangeRuntime,
    *,
    topic_name: str,
    table_name: str,
    records: Sequence[IncomingRecord],
    result: IngestResult,
    feed_back: bool = True,
) -> AppliedCounts:
    """Log, pass on and feed back the rows of one ingested page (see the module docstring). Refusals of
    rows read from the 前置库 go up through it too (the relay writes them into ``zw_apply_feedback``, which
    a zhengwu upper node reads; the national centre does not)."""
    notes = take_notes(session)
    settled = take_settled(session)  # applied to what this node holds: not passed on
    topic = resolve_topic(runtime.registry, topic_name, table_name)
    handled = topic is not None and bool(topic.apply)
    route = route_column(runtime.registry, topic)
    settings = runtime.settings
    own = settings.division_code
    lower = route is not None and _passes_on(session, settings)
    by_key = {(r.message_id, str(r.row.get("row_guid") or "")[:50]): r for r in records}
    now = utcnow()
    applied = refused = forwarded = fed_back = 0
    for verdict in result.verdicts:
        if verdict.duplicate:
            continue  # taken before: logged, passed on and fed back then
        record = by_key[(verdict.message_id, verdict.row_guid)]
        row = record.row
        division = division_of(route, row)
        key = topic.business_key(row) if topic is not None else None
        passes = (topic is not None and verdict.applied and lower and verdict.row_guid not in settled
                  and _routed_here(route, row, division, own))  # fmt: skip
        if passes and topic is not None:
            _forward(session, topic, record.message_id, key, record.trace_id, row, division, now)
            forwarded += 1
        back = feed_back and not verdict.applied and bool(settings.upstream_url)
        if back:
            _feed_back(session, settings, record, table_name, topic, key, verdict.code, verdict.reason)
            fed_back += 1
        applied += verdict.applied
        refused += not verdict.applied
        stmt = dialect_insert(session, ExchangeApplied).values(
            at=now, direction="in", peer=UPSTREAM, message_id=record.message_id[:64], row_guid=verdict.row_guid,
            topic=(topic.name if topic else topic_name or table_name)[:64], table_name=table_name[:64],
            business_key=key, cd_operation=str(row.get("cd_operation") or "")[:2] or None, division_code=division,
            outcome=("applied" if handled else "stored") if verdict.applied else "refused",
            error_code=None if verdict.applied else (verdict.code or "refused")[:100],
            reason=verdict.reason, forwarded=passes, fed_back=back,
            notes=(([*notes, SETTLED_NOTE] if verdict.row_guid in settled else notes) or None) if verdict.applied else None,
        )  # fmt: skip
        session.execute(stmt.on_conflict_do_nothing(index_elements=["peer", "message_id", "row_guid"]))
    counts = AppliedCounts(applied, refused, forwarded, fed_back)
    if applied or refused:
        exlog.append(session, direction="local", kind="downward.applied", ref=table_name[:64],
                     detail={"applied": applied, "refused": refused, "forwarded": forwarded, "fed_back": fed_back})  # fmt: skip
    return counts


_FEEDBACK_FIELDS: Final = ("node_id", "division_code", "pushed_message_id", "pushed_row_guid", "topic",
                            "table_name", "business_key", "cd_operation", "error_code", "reason")  # fmt: skip


def _feedback_key(node_id: str, message_id: str, guid: str) -> str:
    return sm3_hex(f"{node_id}:{message_id}:{guid}".encode())[:64]


def _feed_back(
    session: Session,
    settings: Settings,
    record: IncomingRecord,
    table_name: str,
    topic: Topic | None,
    key: str | None,
    code: str | None,
    reason: str | None,
) -> None:
    row = record.row
    guid = str(row.get("row_guid") or "")[:50]
    payload = {
        "feedback_key": _feedback_key(settings.node_id, record.message_id, guid),
        "node_id": settings.node_id,
        "division_code": settings.division_code,
        # Not row_guid/message_id: those are the control columns of the feedback row itself.
        "pushed_message_id": record.message_id[:64],
        "pushed_row_guid": guid,
        "topic": topic.name if topic else None,
        "table_name": table_name[:64],
        "business_key": key,
        "cd_operation": row.get("cd_operation"),
        "error_code": (code or "refused")[:100],
        "reason": (reason or "下级节点未能应用")[:2000],
    }
    emit(session, FEEDBACK_TOPIC, payload, key=payload["feedback_key"])


def feedback_recorder(settings: Settings) -> Callable[[Session, Sequence[Any]], Mapping[str, RowError]]:
    """Table hook of ``exchange_apply_feedback`` on an upper node: a node below could not apply a row this
    node passed down. Kept in the apply log under the node that refused it; when this node had the row
    from its own upper node, the refusal goes on up (the row's ``row_guid`` is the same at every tier)."""

    def record(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
        now = utcnow()
        for inbound in rows:
            row = inbound.row
            origin = str(row.get("node_id") or inbound.sender)[:63]
            guid = str(row.get("pushed_row_guid") or inbound.row_guid)[:50]
            division = str(row.get("division_code") or "")
            stmt = dialect_insert(session, ExchangeApplied).values(
                at=now, direction="feedback", peer=origin,
                message_id=str(row.get("pushed_message_id") or inbound.row_guid)[:64], row_guid=guid,
                topic=str(row.get("topic") or row.get("table_name") or "")[:64],
                table_name=str(row.get("table_name") or "")[:64],
                business_key=str(row["business_key"])[:256] if row.get("business_key") else None,
                cd_operation=str(row.get("cd_operation") or "")[:2] or None,
                division_code=division if _DIVISION_RE.match(division) else None, outcome="refused_below",
                error_code=str(row.get("error_code") or "refused")[:100], reason=str(row.get("reason") or "")[:2000],
                forwarded=False, fed_back=False, notes=None,
            )  # fmt: skip
            stored = session.scalar(
                stmt.on_conflict_do_nothing(index_elements=["peer", "message_id", "row_guid"]).returning(
                    ExchangeApplied.seq
                )
            )
            if stored is None or not settings.upstream_url:
                continue
            taken = session.scalar(
                select(ExchangeApplied.message_id)
                .where(
                    ExchangeApplied.row_guid == guid,
                    ExchangeApplied.direction == "in",
                    ExchangeApplied.peer == UPSTREAM,
                    ExchangeApplied.forwarded.is_(True),
                )
                .limit(1)
            )
            if taken is None:
                continue  # this node published the row itself
            payload = {name: row.get(name) for name in _FEEDBACK_FIELDS}
            payload.update(
                node_id=origin, pushed_message_id=taken, feedback_key=_feedback_key(origin, taken, guid)
            )
            emit(session, FEEDBACK_TOPIC, payload, key=payload["feedback_key"])
            session.execute(
                update(ExchangeApplied).where(ExchangeApplied.seq == stored).values(fed_back=True)
            )
        return {}

    return record


def list_applied(
    session: Session,
    *,
    outcome: str | None = None,
    table: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ExchangeApplied], int]:
    """The apply log, newest first."""
    query = select(ExchangeApplied)
    if outcome:
        query = query.where(ExchangeApplied.outcome == outcome)
    if table:
        query = query.where(ExchangeApplied.table_name == table)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(ExchangeApplied.seq.desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def as_dict(entry: ExchangeApplied) -> dict[str, Any]:
    """JSON form of an apply-log entry."""
    return {
        "seq": entry.seq, "at": entry.at.isoformat(), "direction": entry.direction, "peer": entry.peer,
        "message_id": entry.message_id, "row_guid": entry.row_guid, "topic": entry.topic,
        "table": entry.table_name, "business_key": entry.business_key, "cd_operation": entry.cd_operation,
        "division_code": entry.division_code, "outcome": entry.outcome, "error_code": entry.error_code,
        "reason": entry.reason, "forwarded": entry.forwarded, "fed_back": entry.fed_back,
        "notes": list(entry.notes or []),
    }  # fmt: skip
