"""Downward data (下发): catalog changes, notices and registry data an upper node publishes for its lower
nodes, in the national ``dn_*`` tables' shape.

A capability emits a topic on a ``dn_*`` table (``catalog.dn_task_general_basic``) into the outbox; the
upper node's worker publishes such rows into ``exchange_downward`` (an append-only feed with its own
sequence) instead of relaying them upward. Lower nodes pull the feed over the signed exchange
(``POST /exchange/v1/feed``, request/response like everything else) from their last sequence, verify
the signed page, and take the rows into their inbox exactly once — the same path as received batches.
A row routed to a division (its topic's ``route_column``) is served only to the lower node whose area
holds it. What the lower node does with each row next (apply log, passing it on, feedback) is in
``exchange.applying``.
"""

from __future__ import annotations

from typing import Any, Final

import httpx
from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from zhengwu.exchange import applying, exlog, pulling
from zhengwu.exchange.errors import MalformedEnvelope
from zhengwu.exchange.frontdb_sync import PollStats
from zhengwu.exchange.models import ExchangeDownward
from zhengwu.exchange.receiving import (
    IncomingRecord,
    authenticate_child,
    check_fresh,
    ingest,
    parse_time,
)
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.signing import open_envelope, seal
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.session import unit_of_work

PAGE: Final = pulling.PAGE
FEED_MARK: Final = "feed:upstream"


def is_downward(runtime: ExchangeRuntime, topic: str) -> bool:
    """True for topics on a national ``dn_*`` table (published to lower nodes, never relayed upward)."""
    spec = runtime.registry.get(topic)
    return spec is not None and spec.table.startswith("dn_")


def _topics(session: Session) -> list[str]:
    rows = session.execute(
        text(
            "WITH RECURSIVE t(topic) AS (SELECT MIN(topic) FROM kernel_outbox UNION ALL "
            "SELECT (SELECT MIN(topic) FROM kernel_outbox WHERE topic > t.topic) FROM t "
            "WHERE t.topic IS NOT NULL) SELECT topic FROM t WHERE topic IS NOT NULL"
        )
    ).scalars()
    return list(rows)


def publish(runtime: ExchangeRuntime, *, limit: int = 5_000) -> int:
    """Move pending downward outbox rows into the feed (same transaction: exactly once)."""
    moved = 0
    with unit_of_work(runtime.session_factory) as session:  # read only: most nodes publish nothing
        topics = [t for t in _topics(session) if is_downward(runtime, t)]
        waiting = bool(topics) and session.scalar(
            select(OutboxRecord.seq)
            .where(OutboxRecord.topic.in_(topics), OutboxRecord.status == OutboxStatus.PENDING)
            .limit(1)
        )
    if not waiting:
        return 0
    with unit_of_work(runtime.session_factory) as session:
        exlog.write_first(session)
        rows = session.execute(
            select(OutboxRecord)
            .where(OutboxRecord.topic.in_(topics), OutboxRecord.status == OutboxStatus.PENDING)
            .order_by(OutboxRecord.seq)
            .limit(limit)
        ).scalars()
        values = []
        seqs = []
        for record in rows:
            spec = runtime.registry.get(record.topic)
            assert spec is not None
            row = {
                **(record.payload or {}),
                "row_guid": record.message_id,
                "cd_batch": f"dn{record.seq:030d}"[-32:],
                "cd_operation": record.operation,
                "cd_time": to_beijing_compact(record.created_at),
                "data_source": runtime.settings.exchange.data_source,
            }
            division = applying.division_of(applying.route_column(runtime.registry, spec), row)
            values.append(
                {"message_id": record.message_id, "topic": record.topic, "table_name": spec.table,
                 "business_key": record.key, "trace_id": record.trace_id, "content": row, "published_at": utcnow(),
                 "division_code": division}
            )  # fmt: skip
            seqs.append(record.seq)
        if values:
            session.execute(insert(ExchangeDownward), values)
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.seq.in_(seqs))
                .values(
                    status=OutboxStatus.ACKNOWLEDGED, attempts=OutboxRecord.attempts + 1, updated_at=utcnow()
                )
            )
            exlog.append(session, direction="local", kind="downward.published", detail={"rows": len(values)})
            moved = len(values)
    return moved


def answer_feed(session: Session, runtime: ExchangeRuntime, envelope: Any) -> dict[str, Any]:
    """Upper node: one signed page of the feed after the lower node's last sequence."""
    trust = runtime.credentials.children_trust()
    signer = runtime.credentials.downlink()
    opened = open_envelope(envelope)
    doc = opened.document
    sender, after, nonce = doc.get("sender"), doc.get("after"), doc.get("nonce")
    if (
        doc.get("type") != "feed"
        or not isinstance(sender, str)
        or isinstance(after, bool)
        or not isinstance(after, int)
    ):
        raise MalformedEnvelope("不是下发数据请求", detail_en="not a feed request")
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise MalformedEnvelope("请求缺少随机数", detail_en="nonce missing")
    exlog.write_first(session)
    node = authenticate_child(session, trust, opened, sender)
    check_fresh(session, runtime, sender, parse_time(doc.get("sent_at"), "sent_at"), nonce)
    limit = min(PAGE, max(1, int(doc.get("limit") or PAGE)))
    rows = session.scalars(
        select(ExchangeDownward)
        .where(
            ExchangeDownward.seq > after,
            or_(
                ExchangeDownward.division_code.is_(None),
                ExchangeDownward.division_code.startswith(applying.area(node.division_code), autoescape=True),
            ),
        )
        .order_by(ExchangeDownward.seq)
        .limit(limit)
    ).all()
    last = session.scalar(select(func.max(ExchangeDownward.seq))) or 0
    page = {
        "type": "feed.page",
        "nonce": nonce,
        "after": after,
        "last": last,
        "records": [
            {"seq": r.seq, "message_id": r.message_id, "topic": r.topic, "table": r.table_name,
             "trace_id": r.trace_id, "row": r.content}
            for r in rows
        ],
    }  # fmt: skip
    exlog.append(session, direction="out", kind="feed.served", peer=node.node_id, ref=str(after),
                 detail={"rows": len(rows)})  # fmt: skip
    return seal(page, signer)


FEED: Final = pulling.PullKind(
    "feed", FEED_MARK, "feed.received", "获取上级下发数据失败", "上级下发数据应答无效"
)


def pull(runtime: ExchangeRuntime, client: httpx.Client | None = None) -> PollStats:
    """Lower node: fetch and take in the upstream's new downward rows (all pages)."""
    stats = PollStats()

    def take(session: Session, records: list[dict[str, Any]], after: int) -> None:
        by_table: dict[tuple[str, str], list[IncomingRecord]] = {}
        for r in records:
            key = (str(r.get("topic") or ""), str(r.get("table") or ""))
            by_table.setdefault(key, []).append(
                IncomingRecord(str(r.get("message_id")), int(r.get("seq") or 0), r.get("trace_id"), r["row"])
            )
        for (topic, table), items in by_table.items():
            result = ingest(session, runtime.registry, sender="upstream", division_code=None,
                            batch_id=f"feed:{after}", topic_name=topic, table_name=table, records=items)  # fmt: skip
            stats.applied += result.accepted
            stats.rejected += result.rejected
            applying.after_pull(session, runtime, topic_name=topic, table_name=table, records=items,
                                result=result)  # fmt: skip
        stats.rows += len(records)

    pulling.pull_pages(runtime, client, FEED, take, usable=lambda r: isinstance(r.get("row"), dict))
    return stats
