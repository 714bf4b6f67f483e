"""Operator-facing services: status, abnormal feedback, resend, the national overview, log verification."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.exchange import exlog, tiers
from zhengwu.exchange.errors import FeedbackNotFound
from zhengwu.exchange.models import (
    ExchangeAggregate,
    ExchangeCredential,
    ExchangeFeedback,
    ExchangeNode,
    ExchangeTopicBackoff,
    ExchangeTopicStats,
)
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import OutboxRecord, OutboxStatus, emit
from zhengwu.kernel.topics import RefusalSettled

STATUSES = (
    OutboxStatus.PENDING,
    OutboxStatus.SENT,
    OutboxStatus.ACKNOWLEDGED,
    OutboxStatus.REJECTED,
    OutboxStatus.DEAD,
)


def _seconds(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 3)


def outbox_status(session: Session) -> list[dict[str, Any]]:
    """Per topic: pending, sent, acknowledged, rejected, dead; lag = age of the oldest undelivered row."""
    now = utcnow()
    topics: dict[str, dict[str, Any]] = defaultdict(lambda: {s: 0 for s in STATUSES})
    for topic, status, count in session.execute(
        select(OutboxRecord.topic, OutboxRecord.status, func.count()).group_by(
            OutboxRecord.topic, OutboxRecord.status
        )
    ):
        topics[topic][status] = int(count)
    oldest = dict(
        session.execute(
            select(OutboxRecord.topic, func.min(OutboxRecord.created_at))
            .where(OutboxRecord.status.in_((OutboxStatus.PENDING, OutboxStatus.SENT)))
            .group_by(OutboxRecord.topic)
        ).all()
    )
    backoff = {b.topic: b for b in session.scalars(select(ExchangeTopicBackoff))}
    result = []
    for topic in sorted(topics):
        counts = topics[topic]
        first = oldest.get(topic)
        if first is not None and first.tzinfo is None:  # func.min bypasses the UTC column type on SQLite
            first = datetime.fromisoformat(str(first)).replace(tzinfo=now.tzinfo)
        held = backoff.get(topic)
        result.append(
            {
                "topic": topic,
                **counts,
                "lag_seconds": _seconds(first, now),
                "retry_at": held.until.isoformat() if held is not None and held.until > now else None,
                "last_error": held.reason if held is not None and held.until > now else None,
            }
        )
    return result


def status(session: Session, runtime: ExchangeRuntime) -> dict[str, Any]:
    """Everything ``exchange status`` shows: node, uplink, per-topic counts and lag, open feedback."""
    settings = runtime.settings
    uplink = session.scalars(
        select(ExchangeCredential)
        .where(ExchangeCredential.purpose == "uplink", ExchangeCredential.status.in_(("active", "pending")))
        .order_by(ExchangeCredential.created_at.desc())
        .limit(1)
    ).first()
    open_feedback = session.scalar(
        select(func.count()).select_from(ExchangeFeedback).where(ExchangeFeedback.status == "open")
    )
    return {
        "node_id": settings.node_id,
        "tier": settings.tier.value,
        "division_code": settings.division_code,
        "transport": settings.exchange.transport,
        "upstream_url": settings.upstream_url,
        "uplink": None
        if uplink is None
        else {
            "status": uplink.status,
            "request_id": uplink.request_id,
            "fingerprint": uplink.fingerprint,
            "not_after": uplink.not_after.isoformat() if uplink.not_after else None,
        },
        "topics": outbox_status(session),
        "open_feedback": int(open_feedback or 0),
    }


def list_feedback(
    session: Session,
    *,
    status: str | None = "open",
    topic: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ExchangeFeedback], int]:
    """Abnormal feedback, newest first."""
    query = select(ExchangeFeedback)
    if status:
        query = query.where(ExchangeFeedback.status == status)
    if topic:
        query = query.where(ExchangeFeedback.topic == topic)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ExchangeFeedback.received_at.desc(), ExchangeFeedback.id).offset(offset).limit(limit)
    )
    return list(rows), int(total)


def resend_dead(session: Session, *, topic: str | None = None, actor: str | None = None) -> int:
    """Put dead-lettered rows back in the queue (after the cause was fixed, e.g. a renewed certificate);
    an operator's act, so a change-log record names who did it besides the exchange log's entry."""
    stmt = update(OutboxRecord).where(OutboxRecord.status == OutboxStatus.DEAD)
    if topic:
        stmt = stmt.where(OutboxRecord.topic == topic)
    count = session.execute(
        stmt.values(
            status=OutboxStatus.PENDING,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
            updated_at=utcnow(),
        )
    ).rowcount  # type: ignore[attr-defined]
    backoff = delete(ExchangeTopicBackoff)
    if topic:
        backoff = backoff.where(ExchangeTopicBackoff.topic == topic)
    session.execute(backoff)
    if count:
        exlog.append(
            session, direction="local", kind="resend.dead", detail={"topic": topic, "rows": int(count)}
        )
        record_change(session, actor=actor, action="exchange.resend_dead", entity="exchange.outbox",
                      entity_id=topic or "*", after={"rows": int(count)})  # fmt: skip
    return int(count)


def resend_feedback(
    session: Session,
    registry: TopicRegistry,
    *,
    feedback_id: str | None = None,
    topic: str | None = None,
    actor: str | None = None,
) -> dict[str, int]:
    """Resend refused rows as new rows (new row_guid): the owner's current version when it registered a
    refresh function (the operator fixed the data at the source), else the original payload."""
    query = select(ExchangeFeedback).where(ExchangeFeedback.status == "open")
    if feedback_id:
        query = query.where(ExchangeFeedback.id == feedback_id)
    if topic:
        query = query.where(ExchangeFeedback.topic == topic)
    items = list(session.scalars(query.order_by(ExchangeFeedback.received_at)))
    if feedback_id and not items:
        raise FeedbackNotFound()
    counts = {"resent": 0, "resolved": 0, "skipped": 0}
    now = utcnow()
    for item in items:
        original = session.get(OutboxRecord, item.outbox_seq) if item.outbox_seq is not None else None
        if original is None or tiers.RELAY_KEY in (original.payload or {}):
            # A lower node's row we only passed on: it is fixed and resent where it was made.
            counts["skipped"] += 1
            continue
        spec = registry.get(original.topic)
        payload: dict[str, Any] | None = dict(original.payload)
        if spec is not None and spec.refresh is not None and original.key is not None:
            payload = spec.refresh(session, original.key)
        if payload is None:
            item.status, item.resolved_at = "resolved", now
            counts["resolved"] += 1
        else:
            record = emit(session, original.topic, payload, key=original.key, operation=original.operation)
            session.flush()
            item.status, item.resent_message_id, item.resolved_at = "resent", record.message_id, now
            counts["resent"] += 1
        # The owner of the table queued the same refusal (e.g. licenses' abnormal data): it closes too.
        registry.settled(session, item.table_name, [item.row_guid])
    if counts["resent"] or counts["resolved"]:
        exlog.append(session, direction="local", kind="resend.feedback", detail={"topic": topic, **counts})
        record_change(session, actor=actor, action="exchange.resend_feedback", entity="exchange.feedback",
                      entity_id=feedback_id or topic or "*", after=dict(counts))  # fmt: skip
    return counts


def reported_value(session: Session, table: str, business_key: str, column: str) -> str | None:
    """A column of the newest row lower nodes reported under ``business_key`` — withdrawn (``D``) rows
    too: a license suspended below is still where it was — or None when none reported it."""
    payload = session.scalars(
        select(ExchangeAggregate.payload)
        .where(ExchangeAggregate.table_name == table, ExchangeAggregate.business_key == business_key)
        .order_by(ExchangeAggregate.updated_at.desc(), ExchangeAggregate.id.desc())
        .limit(1)
    ).first()
    found = payload.get(column) if isinstance(payload, dict) else None
    return str(found) if found not in (None, "") else None


def received_rows(
    session: Session,
    table: str,
    *,
    business_key: str | None = None,
    sender: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[ExchangeAggregate], int]:
    """The rows of ``table`` lower nodes reported, as they stand (one per sender and key; deleted ones
    left out), newest first — what upper-node staff look through before refusing one."""
    query = select(ExchangeAggregate).where(
        ExchangeAggregate.table_name == table, ExchangeAggregate.deleted.is_(False)
    )
    if business_key:
        query = query.where(ExchangeAggregate.business_key == business_key)
    if sender:  # the node that sent it, or the one below that made it (two cities, one province)
        query = query.where((ExchangeAggregate.sender == sender) | (ExchangeAggregate.origin == sender))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ExchangeAggregate.updated_at.desc(), ExchangeAggregate.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total)


def node_names(session: Session, node_ids: list[str]) -> dict[str, str]:
    """The names lower nodes joined with, by node id (the latest request of each; unknown ids left out)."""
    if not node_ids:
        return {}
    query = select(ExchangeNode.node_id, ExchangeNode.node_name).where(
        ExchangeNode.node_id.in_(sorted(set(node_ids)))
    )
    return {node_id: name for node_id, name in session.execute(query.order_by(ExchangeNode.requested_at))}


def received_row(session: Session, row_id: int) -> ExchangeAggregate | None:
    """One reported row by its id (None when unknown or deleted since)."""
    row = session.get(ExchangeAggregate, row_id)
    return row if row is not None and not row.deleted else None


def settle_feedback(session: Session, event: RefusalSettled) -> int:
    """Close the open feedback entries of a refusal its owner settled in its own queue (subscriber of
    ``kernel.topics.RefusalSettled``, in the owner's transaction): resubmitted → ``resent``, dismissed →
    ``resolved``. The owner names the refusal by the guid its refusal hook was given: the refused row's
    message id, or, for a 前置库 feedback row without its outbox row, ``<feedback table>:<row id>``."""
    match = or_(ExchangeFeedback.row_guid == event.row_guid, ExchangeFeedback.message_id == event.row_guid)
    name, _, row_id = event.row_guid.rpartition(":")
    if name and row_id:
        match = or_(
            match, and_(ExchangeFeedback.source == "frontdb", ExchangeFeedback.feedback_guid == row_id)
        )
    status = "resent" if event.outcome == "resubmitted" else "resolved"
    items = list(
        session.scalars(
            select(ExchangeFeedback).where(
                ExchangeFeedback.status == "open", ExchangeFeedback.table_name == event.table, match
            )
        )
    )
    now = utcnow()
    for item in items:
        item.status, item.resolved_at = status, now
    if items:
        exlog.append(session, direction="local", kind="feedback.settled",
                     detail={"table": event.table, "outcome": event.outcome, "entries": len(items)})  # fmt: skip
    return len(items)


def overview(session: Session) -> dict[str, Any]:
    """The national page: lower nodes, and per node and topic received / applied / rejected and lag."""
    now = utcnow()
    nodes: dict[str, dict[str, Any]] = {}
    for node in session.scalars(
        select(ExchangeNode).order_by(ExchangeNode.division_code, ExchangeNode.requested_at)
    ):
        if node.status == "revoked" and node.node_id in nodes:
            continue
        nodes[node.node_id] = {
            "node_id": node.node_id,
            "node_name": node.node_name,
            "division_code": node.division_code,
            "tier": node.tier,
            "status": node.status,
            "topics": [],
        }
    for stats in session.scalars(
        select(ExchangeTopicStats).order_by(ExchangeTopicStats.sender, ExchangeTopicStats.topic)
    ):
        entry: dict[str, Any] = nodes.setdefault(
            stats.sender,
            {"node_id": stats.sender, "node_name": stats.sender, "division_code": "", "tier": "", "status": "frontdb",
             "topics": []},
        )  # fmt: skip
        entry["topics"].append(
            {
                "topic": stats.topic,
                "table": stats.table_name,
                "received": stats.received,
                "applied": stats.applied,
                "rejected": stats.rejected,
                "duplicates": stats.duplicates,
                "last_received_at": stats.last_received_at.isoformat() if stats.last_received_at else None,
                "lag_seconds": round(stats.last_lag_seconds, 1)
                if stats.last_lag_seconds is not None
                else None,
                "idle_seconds": _seconds(stats.last_received_at, now),
            }
        )
    tree = tiers.lower_tree(session)
    for node_id, entry in nodes.items():
        below = tree.get(node_id)
        entry["tables"] = below["tables"] if below else []
        entry["totals"] = below["totals"] if below else {"received": 0, "applied": 0, "rejected": 0}
        entry["lower"] = below["lower"] if below else []
    return {"generated_at": now.isoformat(), "nodes": list(nodes.values())}


def received_lag(session: Session) -> list[tuple[str, str, float | None, float | None]]:
    """Per lower node and national table: (sender, table, lag of the last batch received, seconds since it
    arrived) — the inbound half of the exchange lag."""
    now = utcnow()
    return [
        (s.sender, s.table_name, s.last_lag_seconds, _seconds(s.last_received_at, now))
        for s in session.scalars(select(ExchangeTopicStats).order_by(ExchangeTopicStats.sender))
    ]


def verify_log(session: Session) -> exlog.LogVerdict:
    """Verify the exchange log's hash chain."""
    return exlog.verify(session)
