"""The receiving side: authenticate a signed batch, take each row exactly once, apply, sign a receipt.

The inbox is idempotent on (sender, message id, row_guid): a batch sent again after a crash on either
side gets the same verdicts back and changes nothing. Rows are validated against the national table
and the topic owner's validators; refused rows are kept with their reasons and travel back in the
receipt (HTTP) or as ``dn_*`` abnormal rows (前置库) as abnormal feedback. A row a lower node passed on
carries its origin, which is checked and kept; on every tier but the national one the applied ``up_*``
rows are queued for the upper node in the same transaction (exchange.tiers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.exchange import bulk, exlog, tiers
from zhengwu.exchange.canonical import canonical_bytes, sm3_hex
from zhengwu.exchange.errors import (
    BatchConflict,
    BatchTooLarge,
    CertificateRejected,
    MalformedEnvelope,
    Replayed,
    UnknownSender,
)
from zhengwu.exchange.models import (
    ExchangeInboundBatch,
    ExchangeNode,
    ExchangeNonce,
    ExchangeTopicStats,
)
from zhengwu.exchange.national import parse_compact
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.signing import Opened, check_certificate, check_signature, open_envelope, seal
from zhengwu.exchange.topics import InboundRow, Topic, TopicRegistry
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.pki import TrustStore
from zhengwu.kernel.topics import RowError, settled_rows

log = get_logger("zhengwu.exchange.receiving")

ID_RE: Final = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
CHUNK: Final = 500
_INBOX_COLUMNS: Final = (
    "sender", "message_id", "row_guid", "batch_id", "topic", "table_name", "business_key", "cd_operation",
    "cd_time", "data_source", "status", "error_code", "reason", "trace_id", "payload", "received_at", "origin",
    "origin_division", "route",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IncomingRecord:
    """A row as received, with the sender's message id, order and trace id."""

    message_id: str
    order: int
    trace_id: str | None
    row: dict[str, Any]
    # The origin the sender claims for a row it passes on (exchange.tiers); None for its own rows.
    origin: Any = None


@dataclass(frozen=True, slots=True)
class RowVerdict:
    """What became of one received row."""

    row_guid: str
    message_id: str
    applied: bool
    code: str | None = None
    reason: str | None = None
    column: str | None = None
    duplicate: bool = False


@dataclass(slots=True)
class IngestResult:
    """Verdicts of a batch, in the order received."""

    verdicts: list[RowVerdict] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows applied (now or before)."""
        return sum(1 for v in self.verdicts if v.applied)

    @property
    def rejected(self) -> int:
        """Rows refused (now or before)."""
        return sum(1 for v in self.verdicts if not v.applied)

    @property
    def duplicates(self) -> int:
        """Rows already received earlier."""
        return sum(1 for v in self.verdicts if v.duplicate)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def resolve_topic(registry: TopicRegistry, topic_name: str, table_name: str) -> Topic | None:
    """The topic by name, else by national table (rows read from a 前置库 name only the table)."""
    topic = registry.get(topic_name) if topic_name else None
    if topic is None and table_name:
        topic = registry.get(f"exchange.{table_name}")
    if topic is not None and table_name and topic.table != table_name:
        return None
    return topic


def ingest(
    session: Session,
    registry: TopicRegistry,
    *,
    sender: str,
    division_code: str | None,
    batch_id: str,
    topic_name: str,
    table_name: str,
    records: Sequence[IncomingRecord],
    sender_tier: str | None = None,
    relay: bool = False,
    relay_reports: bool = False,
) -> IngestResult:
    """Take a batch of rows into the inbox exactly once and apply the valid new ones; with ``relay``,
    queue the applied rows of national ``up_*`` tables for the upper node in the same transaction (with
    ``relay_reports`` too, the rows of topics declared relayed)."""
    now = utcnow()
    topic = resolve_topic(registry, topic_name, table_name)
    topic_label = topic.name if topic else (topic_name or f"exchange.{table_name}")
    existing: dict[tuple[str, str], RowVerdict] = {}
    guids = [str(r.row.get("row_guid") or "")[:50] for r in records]
    # Looked up by (sender, message_id): the leading columns of the inbox's unique index (driver level:
    # this runs for every batch).
    mark = "%s" if bulk.is_postgres(session) else "?"
    for chunk in _chunks(sorted({r.message_id for r in records}), 1_000):
        sql = (
            "SELECT message_id, row_guid, status, error_code, reason FROM exchange_inbox "  # noqa: S608 - fixed text
            f"WHERE sender = {mark} AND message_id IN ({', '.join(mark for _ in chunk)})"
        )
        for mid, guid, status, code, reason in session.connection().exec_driver_sql(sql, (sender, *chunk)):
            existing[(mid, guid)] = RowVerdict(guid, mid, status == "applied", code, reason, None, True)

    result = IngestResult()
    pending: dict[tuple[str, str], tuple[IncomingRecord, dict[str, Any], list[RowError]]] = {}
    origins: dict[str, tiers.Origin] = {}
    traces: dict[str, str | None] = {}
    order: list[tuple[str, str]] = []
    inbound: list[InboundRow] = []
    for record, guid in zip(records, guids, strict=True):
        key = (record.message_id, guid)
        order.append(key)
        if key in existing or key in pending:
            continue
        row = record.row
        if topic is None:
            errors = [RowError("unknown_table", f"接收方未登记该数据表：{table_name}", None)]
            clean = dict(row)
        else:
            errors, clean = topic.check(row)
        origin = tiers.origin_of(record.origin, sender=sender, division=division_code, tier=sender_tier)
        if isinstance(origin, RowError):
            errors = [*errors, origin]
            origin = tiers.Origin((sender,), division_code, sender_tier)
        origins[guid] = origin
        traces[guid] = record.trace_id
        pending[key] = (record, clean, errors)
        if not errors and topic is not None:
            inbound.append(
                InboundRow(
                    sender=sender,
                    division_code=origin.division or division_code,
                    message_id=record.message_id,
                    row_guid=guid,
                    topic=topic.name,
                    table_name=topic.table,
                    business_key=topic.business_key(row) or guid,
                    operation=str(row["cd_operation"]).upper(),
                    cd_time=str(row.get("cd_time")),
                    order=record.order,
                    row=clean,
                    origin=origin.node,
                    route=origin.route,
                )
            )

    refused: dict[str, RowError] = {}
    if topic is not None and inbound:
        for apply in topic.apply:
            refused.update(apply(session, [r for r in inbound if r.row_guid not in refused]))
    applied = [r for r in inbound if r.row_guid not in refused]
    _upsert_aggregate(session, applied, origins, now)
    if relay and topic is not None and tiers.belongs_upward(topic, reports=relay_reports):
        ended = settled_rows(session)  # rows that end here (e.g. a receipt of a notice this node issued)
        onward = [r for r in applied if r.row_guid not in ended] if ended else applied
        tiers.queue_upward(session, onward, origins, traces, now, topic.key_column)

    inserts: list[tuple[Any, ...]] = []
    stamp = bulk.timestamp(session, now)
    verdicts: dict[tuple[str, str], RowVerdict] = dict(existing)
    routes: dict[str, tuple[tiers.Origin, int, int]] = {}
    for key, (record, clean, found) in pending.items():
        guid = key[1]
        errors = [refused[guid]] if guid in refused else found
        ok = not errors
        origin = origins[guid]
        seen_route = routes.get(origin.route)
        routes[origin.route] = (
            origin,
            (seen_route[1] if seen_route else 0) + 1,
            (seen_route[2] if seen_route else 0) + int(ok),
        )
        verdict = RowVerdict(
            guid,
            record.message_id,
            ok,
            None if ok else errors[0].code,
            None if ok else "；".join(e.reason for e in errors)[:2000],
            None if ok else errors[0].column,
        )
        verdicts[key] = verdict
        inserts.append(
            (
                sender,
                record.message_id,
                guid,
                batch_id,
                topic_label,
                table_name,
                topic.business_key(record.row) if topic else None,
                _short(record.row.get("cd_operation"), 2),
                _short(record.row.get("cd_time"), 14),
                _short(record.row.get("data_source"), 10),
                "applied" if ok else "rejected",
                verdict.code,
                verdict.reason,
                _short(record.trace_id, 64),
                # Applied rows live on in the aggregate; the inbox keeps the content of refused ones.
                None if ok else bulk.json_text(clean),
                stamp,
                origin.node,
                origin.division,
                origin.route[:255],
            )
        )
    for chunk in _chunks(inserts):
        bulk.insert_many(
            session, "exchange_inbox", _INBOX_COLUMNS, chunk, json_columns=frozenset({"payload"})
        )
    seen: set[tuple[str, str]] = set()
    for key in order:
        verdict = verdicts[key]
        if key in seen or key in existing:
            verdict = RowVerdict(
                verdict.row_guid, verdict.message_id, verdict.applied, verdict.code, verdict.reason,
                verdict.column, True,
            )  # fmt: skip
        seen.add(key)
        result.verdicts.append(verdict)
    _update_stats(session, sender, topic_label, table_name, result, records, now)
    if sender != tiers.UPSTREAM:
        tiers.update_route_stats(session, topic.table if topic else table_name, routes, now)
    return result


def _short(value: Any, length: int) -> str | None:
    return None if value is None else str(value)[:length]


def _upsert_aggregate(
    session: Session, rows: Sequence[InboundRow], origins: Mapping[str, tiers.Origin], now: datetime
) -> None:
    # Keep the newest row per business object (the sender's order), so one statement never touches a key
    # twice; an object is the origin's (two cities may use the same key).
    latest: dict[tuple[str, str, str], InboundRow] = {}
    for row in rows:
        key = (origins[row.row_guid].node, row.table_name, row.business_key)
        if key not in latest or row.order >= latest[key].order:
            latest[key] = row
    if not latest:
        return
    stamp = bulk.timestamp(session, now)
    pg = bulk.is_postgres(session)
    values = [
        (
            r.sender, origins[r.row_guid].node, r.table_name, r.business_key, r.division_code, r.row_guid,
            r.operation, r.cd_time, r.order, (r.operation == "D") if pg else int(r.operation == "D"),
            bulk.json_text(r.row), stamp, origins[r.row_guid].route[:255],
        )
        for r in latest.values()
    ]  # fmt: skip
    updated = ("division_code", "row_guid", "cd_operation", "cd_time", "source_order", "deleted", "payload",
               "updated_at", "route")  # fmt: skip
    conflict = (
        "ON CONFLICT (sender, origin, table_name, business_key) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in updated)
        + " WHERE excluded.source_order >= exchange_aggregate.source_order"
    )
    for chunk in _chunks(values):
        bulk.insert_many(
            session,
            "exchange_aggregate",
            ("sender", "origin", "table_name", "business_key", *updated),
            chunk,
            json_columns=frozenset({"payload"}),
            conflict=conflict,
        )


def _lag_seconds(records: Sequence[IncomingRecord], now: datetime) -> float | None:
    times = [r.row.get("cd_time") for r in records]
    latest = max((t for t in times if isinstance(t, str) and len(t) == 14 and t.isdigit()), default=None)
    if latest is None:
        return None
    try:
        return max(0.0, (now - parse_compact(latest)).total_seconds())
    except ValueError:
        return None


def _update_stats(
    session: Session,
    sender: str,
    topic: str,
    table_name: str,
    result: IngestResult,
    records: Sequence[IncomingRecord],
    now: datetime,
) -> None:
    new = [v for v in result.verdicts if not v.duplicate]
    applied = sum(1 for v in new if v.applied)
    stmt = dialect_insert(session, ExchangeTopicStats)
    target = ExchangeTopicStats.__table__
    lag = _lag_seconds(records, now)
    stmt = stmt.values(
        sender=sender,
        topic=topic,
        table_name=table_name,
        received=len(new),
        applied=applied,
        rejected=len(new) - applied,
        duplicates=result.duplicates,
        last_received_at=now,
        last_lag_seconds=lag,
    ).on_conflict_do_update(
        index_elements=[target.c.sender, target.c.topic],
        set_={
            "received": target.c.received + len(new),
            "applied": target.c.applied + applied,
            "rejected": target.c.rejected + (len(new) - applied),
            "duplicates": target.c.duplicates + result.duplicates,
            "last_received_at": now,
            "last_lag_seconds": lag,
        },
    )
    session.execute(stmt)


# --- signed HTTP batches -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """The fields of a batch document this node understands (others are ignored)."""

    batch_id: str
    sender: str
    topic: str
    table: str
    sent_at: datetime
    nonce: str
    trace_id: str | None
    records: tuple[IncomingRecord, ...]


def _text(doc: Mapping[str, Any], name: str, pattern: re.Pattern[str] = ID_RE) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise MalformedEnvelope(f"交换报文字段无效：{name}", detail_en=f"invalid field {name}")
    return value


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 timestamp with offset."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise MalformedEnvelope(f"时间格式错误：{name}", detail_en=f"bad timestamp {name}") from exc
    if moment.tzinfo is None:
        raise MalformedEnvelope(f"时间缺少时区：{name}", detail_en=f"timestamp without offset {name}")
    return moment


def parse_batch(document: Mapping[str, Any], *, max_rows: int) -> ParsedBatch:
    """Read a batch document tolerantly: unknown members are ignored, known ones must be well-formed."""
    if document.get("type") != "batch":
        raise MalformedEnvelope("不是交换批次报文", detail_en="document type is not batch")
    raw_records = document.get("records")
    if not isinstance(raw_records, list) or not raw_records:
        raise MalformedEnvelope("批次中没有记录", detail_en="records missing")
    if len(raw_records) > max_rows:
        raise BatchTooLarge(
            f"批次记录数 {len(raw_records)} 超过上限 {max_rows}",
            detail_en=f"{len(raw_records)} rows exceed the limit of {max_rows}",
        )
    records: list[IncomingRecord] = []
    for index, item in enumerate(raw_records):
        if not isinstance(item, Mapping) or not isinstance(item.get("row"), dict):
            raise MalformedEnvelope(f"第 {index + 1} 条记录格式错误", detail_en=f"record {index} malformed")
        message_id = item.get("message_id")
        seq = item.get("seq")
        trace = item.get("trace_id")
        if not isinstance(message_id, str) or not ID_RE.match(message_id):
            raise MalformedEnvelope(
                f"第 {index + 1} 条记录缺少消息标识", detail_en=f"record {index}: message_id"
            )
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise MalformedEnvelope(f"第 {index + 1} 条记录缺少序号", detail_en=f"record {index}: seq")
        records.append(
            IncomingRecord(
                message_id, seq, trace if isinstance(trace, str) else None, item["row"], item.get("origin")
            )
        )
    trace_id = document.get("trace_id")
    return ParsedBatch(
        batch_id=_text(document, "batch_id"),
        sender=_text(document, "sender"),
        topic=_text(document, "topic"),
        table=_text(document, "table"),
        sent_at=parse_time(document.get("sent_at"), "sent_at"),
        nonce=_text(document, "nonce"),
        trace_id=trace_id if isinstance(trace_id, str) and ID_RE.match(trace_id) else None,
        records=tuple(records),
    )


def authenticate_child(session: Session, trust: TrustStore, opened: Opened, claimed: str) -> ExchangeNode:
    """The sender is an approved lower node, presenting the certificate issued to it, validly signed."""
    if opened.certificate.subject.common_name != claimed:
        raise UnknownSender(
            "证书主体与发送方不一致", detail_en="certificate subject does not name the sender"
        )
    check_certificate(opened, trust, at=utcnow())
    nodes = list(
        session.scalars(
            select(ExchangeNode)
            .where(
                ExchangeNode.node_id == claimed, ExchangeNode.fingerprint == opened.certificate.fingerprint
            )
            .limit(1)
        )
    )
    if not nodes:
        raise UnknownSender(
            "发送方不是本节点已批准接入的节点", detail_en=f"{claimed} is not an approved node"
        )
    node = nodes[0]
    if node.status == "revoked":
        raise CertificateRejected("发送方交换证书已被撤销", detail_en="certificate revoked")
    if node.status != "approved":
        raise UnknownSender("发送方接入状态无效", detail_en=f"node status {node.status}")
    check_signature(opened)
    return node


def check_fresh(
    session: Session, runtime: ExchangeRuntime, sender: str, sent_at: datetime, nonce: str
) -> None:
    """Refuse documents outside the freshness window and any nonce seen before (replays)."""
    now = utcnow()
    window = timedelta(seconds=runtime.settings.exchange.freshness_seconds)
    if abs(now - sent_at) > window:
        raise Replayed(
            "报文时间超出有效窗口（过期或重放）", detail_en="document outside the freshness window"
        )
    try:
        with session.begin_nested():
            session.add(ExchangeNonce(sender=sender, nonce=nonce, seen_at=now))
            session.flush()
    except IntegrityError as exc:
        raise Replayed("重放的交换报文（随机数已使用）", detail_en="nonce already used (replay)") from exc


def receive_batch(session: Session, runtime: ExchangeRuntime, envelope: Any) -> dict[str, Any]:
    """Authenticate, de-duplicate, validate and apply one signed batch; return the signed receipt."""
    # Credentials first: creating them takes the log lock in a transaction of their own.
    trust = runtime.credentials.children_trust()
    signer = runtime.credentials.downlink()
    opened = open_envelope(envelope)
    batch = parse_batch(opened.document, max_rows=runtime.settings.exchange.max_batch_rows)
    exlog.lock_head(session)  # first write: serialises receivers (SQLite) before any read
    node = authenticate_child(session, trust, opened, batch.sender)
    check_fresh(session, runtime, batch.sender, batch.sent_at, batch.nonce)
    # The batch's identity is the set of row identities it carries (rows are taken once each anyway).
    records_digest = sm3_hex(canonical_bytes([[r.message_id, r.row["row_guid"]] for r in batch.records]))
    previous = session.scalars(
        select(ExchangeInboundBatch).where(
            ExchangeInboundBatch.sender == batch.sender, ExchangeInboundBatch.batch_id == batch.batch_id
        )
    ).first()
    if previous is not None and previous.digest != records_digest:
        raise BatchConflict("批次号已被使用且内容不同", detail_en="batch id reused with different records")
    result = ingest(
        session,
        runtime.registry,
        sender=batch.sender,
        division_code=node.division_code,
        batch_id=batch.batch_id,
        topic_name=batch.topic,
        table_name=batch.table,
        records=batch.records,
        sender_tier=node.tier,
        relay=tiers.relays(runtime),
        relay_reports=tiers.relays_reports(runtime),
    )
    receipt_doc = {
        "type": "receipt",
        "batch_id": batch.batch_id,
        "sender": batch.sender,
        "receiver": runtime.node_id,
        "batch_digest": opened.digest,
        "records_digest": records_digest,
        "received_at": utcnow().isoformat(),
        "duplicate": previous is not None,
        "accepted": [v.row_guid for v in result.verdicts if v.applied],
        "rejected": [
            {"row_guid": v.row_guid, "message_id": v.message_id, "code": v.code, "reason": v.reason,
             "column": v.column}
            for v in result.verdicts
            if not v.applied
        ],
    }  # fmt: skip
    receipt = seal(receipt_doc, signer)
    counts = {"rows": len(batch.records), "accepted": result.accepted, "rejected": result.rejected,
              "duplicates": result.duplicates}  # fmt: skip
    if previous is None:
        session.add(
            ExchangeInboundBatch(
                sender=batch.sender,
                batch_id=batch.batch_id,
                topic=batch.topic,
                table_name=batch.table,
                digest=records_digest,
                record_count=len(batch.records),
                accepted=result.accepted,
                rejected=result.rejected,
                duplicates=result.duplicates,
                trace_id=batch.trace_id,
                receipt=receipt,
            )
        )
    exlog.append(
        session, direction="in", kind="batch.received", peer=batch.sender, ref=batch.batch_id,
        digest=opened.digest, detail={"topic": batch.topic, "table": batch.table, **counts},
    )  # fmt: skip
    exlog.append(
        session, direction="out", kind="receipt.sent", peer=batch.sender, ref=batch.batch_id,
        digest=receipt["signature"]["digest"], detail=counts,
    )  # fmt: skip
    log.info(
        "exchange_batch_received", sender=batch.sender, topic=batch.topic, batch_id=batch.batch_id, **counts
    )
    return receipt


def record_refusal(runtime: ExchangeRuntime, body: bytes, exc: Exception, claimed: Mapping[str, Any]) -> None:
    """Log a refused document in the hash-chained log (its own transaction: the request rolls back)."""
    from zhengwu.kernel.session import unit_of_work

    sender = claimed.get("sender")
    ref = claimed.get("batch_id")
    code = getattr(exc, "instance_code", type(exc).__name__)
    with unit_of_work(runtime.session_factory) as session:
        exlog.append(
            session,
            direction="in",
            kind="document.refused",
            peer=sender[:63] if isinstance(sender, str) else None,
            ref=ref[:64] if isinstance(ref, str) else None,
            digest=sm3_hex(body),
            detail={"code": str(code), "bytes": len(body)},
        )
    log.warning(
        "exchange_document_refused",
        code=str(code),
        sender=str(sender)[:63] if sender else None,
        security_event=True,  # conventions §16: zhengwu.security stores it as a security event
    )
