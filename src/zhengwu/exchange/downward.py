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

import json
import secrets
from typing import Any, Final

import httpx
from sqlalchemy import func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from zhengwu.exchange import applying, exlog
from zhengwu.exchange.errors import MalformedEnvelope, UpstreamFailed
from zhengwu.exchange.frontdb_sync import PollStats
from zhengwu.exchange.models import ExchangeDownward, ExchangeWatermark
from zhengwu.exchange.receiving import (
    IncomingRecord,
    authenticate_child,
    check_fresh,
    ingest,
    parse_time,
)
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.signing import open_envelope, seal, verify
from zhengwu.exchange.transports import TransportError
from zhengwu.exchange.transports.http import API, post_json, raise_for_answer
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.session import unit_of_work

PAGE: Final = 1_000
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


def pull(runtime: ExchangeRuntime, client: httpx.Client | None = None) -> PollStats:
    """Lower node: fetch and take in the upstream's new downward rows (all pages)."""
    stats = PollStats()
    credential = runtime.credentials.uplink()
    if credential is None or not runtime.settings.upstream_url:
        return stats
    http = client or httpx.Client(timeout=runtime.settings.exchange.request_timeout_seconds)
    try:
        while True:
            with unit_of_work(runtime.session_factory) as session:
                mark = session.get(ExchangeWatermark, FEED_MARK)
                after = mark.last_id if mark is not None else 0
            nonce = secrets.token_hex(16)
            request = {"type": "feed", "sender": runtime.node_id, "after": after, "limit": PAGE,
                       "sent_at": utcnow().isoformat(), "nonce": nonce}  # fmt: skip
            body = json.dumps(seal(request, credential), ensure_ascii=False).encode()
            try:
                response = post_json(http, f"{runtime.settings.upstream_url}{API}/feed", body, None)
                raise_for_answer(response)
                opened = verify(
                    response.json(), runtime.credentials.upstream_trust(), at=utcnow(), revocation="none"
                )
            except (TransportError, ValueError) as exc:
                raise UpstreamFailed("获取上级下发数据失败", detail_en=f"feed: {exc}") from exc
            page = opened.document
            if page.get("type") != "feed.page" or page.get("nonce") != nonce or page.get("after") != after:
                raise UpstreamFailed(
                    "上级下发数据应答无效", detail_en="feed page does not answer the request"
                )
            records = [
                r for r in page.get("records") or [] if isinstance(r, dict) and isinstance(r.get("row"), dict)
            ]
            if not records:
                return stats
            with unit_of_work(runtime.session_factory) as session:
                exlog.write_first(session)
                by_table: dict[tuple[str, str], list[IncomingRecord]] = {}
                for r in records:
                    key = (str(r.get("topic") or ""), str(r.get("table") or ""))
                    by_table.setdefault(key, []).append(
                        IncomingRecord(
                            str(r.get("message_id")), int(r.get("seq") or 0), r.get("trace_id"), r["row"]
                        )
                    )
                for (topic, table), items in by_table.items():
                    result = ingest(session, runtime.registry, sender="upstream", division_code=None,
                                    batch_id=f"feed:{after}", topic_name=topic, table_name=table, records=items)  # fmt: skip
                    stats.applied += result.accepted
                    stats.rejected += result.rejected
                    applying.after_pull(session, runtime, topic_name=topic, table_name=table, records=items,
                                        result=result)  # fmt: skip
                last = max(int(r.get("seq") or 0) for r in records)
                stmt = dialect_insert(session, ExchangeWatermark).values(
                    name=FEED_MARK, cd_time="00000000000000", last_id=last, updated_at=utcnow()
                )
                session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["name"], set_={"last_id": last, "updated_at": utcnow()}
                    )
                )
                exlog.append(session, direction="in", kind="feed.received", peer="upstream", ref=str(after),
                             digest=opened.digest, detail={"rows": len(records)})  # fmt: skip
            stats.rows += len(records)
            if len(records) < PAGE:
                return stats
    finally:
        if client is None:
            http.close()
