"""Polling a 前置库 by ``cd_time`` watermark: an upper node ingests ``up_*`` rows (and answers refused
rows with ``dn_*`` abnormal rows) and a zhengwu lower node's refusals of downward rows
(``zw_apply_feedback``); a lower node collects the abnormal feedback addressed to it, and applies the
``dn_*`` rows pushed to it, its refusals going back up through ``zw_apply_feedback`` as over HTTP."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.exchange import applying, exlog, national, tiers
from zhengwu.exchange.canonical import loads
from zhengwu.exchange.models import ExchangeFeedback, ExchangeInbox, ExchangeNode, ExchangeWatermark
from zhengwu.exchange.national import AUDIT_ABNORMAL, LIC_ERROR, UC_ABNORMAL
from zhengwu.exchange.receiving import IncomingRecord, IngestResult, ingest
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.transports.frontdb import (
    APPLY_FEEDBACK_TABLE,
    FrontDb,
    abnormal_rows,
    beijing_now_naive,
    compact,
)
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import RefusedRow, RowError

log = get_logger("zhengwu.exchange.frontdb")

START: Final = ("19700101000000", 0)


@dataclass
class PollStats:
    """Rows read and what became of them."""

    rows: int = 0
    applied: int = 0
    rejected: int = 0
    feedback: int = 0
    late: int = 0  # rows the trailing cursor took (their writers committed late)


def _watermark(session: Session, name: str) -> tuple[str, int]:
    row = session.get(ExchangeWatermark, name)
    return (row.cd_time, row.last_id) if row is not None else START


def _advance(session: Session, name: str, cd_time: str, last_id: int) -> None:
    stmt = dialect_insert(session, ExchangeWatermark).values(
        name=name, cd_time=cd_time, last_id=last_id, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={"cd_time": cd_time, "last_id": last_id, "updated_at": utcnow()}
    )
    session.execute(stmt)


def _taken(session: Session, sender: str, guids: Sequence[str]) -> set[str]:
    """Which of these 前置库 rows (message id = row_guid) the inbox already holds from ``sender``."""
    held: set[str] = set()
    for start in range(0, len(guids), 500):
        held.update(
            session.scalars(
                select(ExchangeInbox.message_id).where(
                    ExchangeInbox.sender == sender, ExchangeInbox.message_id.in_(guids[start : start + 500])
                )
            )
        )
    return held


def ingest_frontdb(
    runtime: ExchangeRuntime,
    frontdb: FrontDb,
    *,
    sender: str,
    tables: Iterable[str] | None = None,
    limit: int = 5_000,
) -> PollStats:
    """Upper node: apply new ``up_*`` rows of a lower node's 前置库; refused rows go back as ``dn_*``.

    Two cursors per table: the first takes rows once their ``cd_time`` is ``frontdb_settle_seconds``
    old; the second trails by ``frontdb_late_seconds`` and takes the rows the first passed over because
    their writer committed after the first had moved on (a row's ``cd_time`` is set before its commit)."""
    stats = PollStats()
    exchange = runtime.settings.exchange
    for name in tables if tables is not None else national.UP_TABLES:
        spec = national.table(name)
        if spec is None:
            continue
        _read_table(runtime, frontdb, spec, sender, f"up:{sender}:{name}", exchange.frontdb_settle_seconds,
                    limit, stats, late=False)  # fmt: skip
        _read_table(runtime, frontdb, spec, sender, f"late:up:{sender}:{name}", exchange.frontdb_late_seconds,
                    limit, stats, late=True)  # fmt: skip
    if tables is None and sender != applying.UPSTREAM:
        _read_refusals(runtime, frontdb, sender, limit, stats)
    return stats


def _read_refusals(
    runtime: ExchangeRuntime, frontdb: FrontDb, sender: str, limit: int, stats: PollStats
) -> None:
    """Upper node: the lower node's refusals of downward rows, taken like its ``exchange.apply_feedback``
    rows over HTTP (the inbox takes each once; ``applying.feedback_recorder`` logs it and sends it on up
    when the row came from further up). Late writers: a refusal is written after its pull's commit, by
    the relay, so the settle delay covers it as it does the ``up_*`` rows."""
    mark = f"fb:{sender}"
    settle = runtime.settings.exchange.frontdb_settle_seconds
    while True:
        with unit_of_work(runtime.session_factory) as session:
            exlog.lock_head(session)
            rows = frontdb.read_since(APPLY_FEEDBACK_TABLE, _watermark(session, mark), settle_seconds=settle,
                                      limit=limit)  # fmt: skip
            if not rows:
                return
            records = []
            for values in rows:
                content = loads(values["content"])
                if isinstance(content, dict):
                    records.append(IncomingRecord(str(values["row_guid"]), int(values["id"]), None, content))
            division = session.scalar(
                select(ExchangeNode.division_code).where(ExchangeNode.node_id == sender).limit(1)
            )
            result = ingest(session, runtime.registry, sender=sender, division_code=division,
                            batch_id=f"frontdb:fb:{rows[0]['id']}", topic_name=applying.FEEDBACK_TOPIC,
                            table_name=applying.FEEDBACK_TABLE, records=records)  # fmt: skip
            stats.rows += len(records)
            stats.feedback += result.accepted
            last = rows[-1]
            _advance(session, mark, compact(last["cd_time"]), int(last["id"]))
            exlog.append(session, direction="in", kind="frontdb.apply_feedback", peer=sender,
                         ref=f"{APPLY_FEEDBACK_TABLE}:{rows[0]['id']}", detail={"rows": len(records)})  # fmt: skip
        if len(rows) < limit:
            return


def _read_table(
    runtime: ExchangeRuntime,
    frontdb: FrontDb,
    spec: national.NationalTable,
    sender: str,
    mark: str,
    settle: float,
    limit: int,
    stats: PollStats,
    *,
    late: bool,
) -> None:
    name = spec.name
    while True:
        with unit_of_work(runtime.session_factory) as session:
            exlog.lock_head(session)
            rows = frontdb.read_since(name, _watermark(session, mark), settle_seconds=settle, limit=limit)
            if not rows:
                return
            page = len(rows)
            last = rows[-1]
            if late:  # only what the first cursor missed
                held = _taken(session, sender, [str(v.get("row_guid") or "") for v in rows])
                rows = [v for v in rows if str(v.get("row_guid") or "") not in held]
            if rows:
                result = _take(session, runtime, frontdb, spec, sender, rows)
                stats.rows += len(rows)
                stats.applied += result.accepted
                stats.rejected += result.rejected
                stats.late += len(rows) if late else 0
            _advance(session, mark, compact(last["cd_time"]), int(last["id"]))
        if page < limit:
            return


def _take(
    session: Session,
    runtime: ExchangeRuntime,
    frontdb: FrontDb,
    spec: national.NationalTable,
    sender: str,
    rows: Sequence[dict[str, Any]],
) -> IngestResult:
    """Ingest one page of 前置库 rows (with the origins a middle tier kept for them) and answer the refused
    ones with ``dn_*`` abnormal rows."""
    name = spec.name
    table = frontdb.table(name)
    found = [frontdb.from_db(table, values) for values in rows]
    upstream = sender == applying.UPSTREAM
    origins = {} if upstream else frontdb.origins(name, [str(r.get("row_guid") or "") for r in found])
    records = [
        IncomingRecord(
            str(row.get("row_guid")), int(values["id"]), None, row, origins.get(str(row.get("row_guid")))
        )
        for row, values in zip(found, rows, strict=True)
    ]
    division = session.scalar(
        select(ExchangeNode.division_code).where(ExchangeNode.node_id == sender).limit(1)
    )
    tier = session.scalar(select(ExchangeNode.tier).where(ExchangeNode.node_id == sender).limit(1))
    result = ingest(
        session,
        runtime.registry,
        sender=sender,
        division_code=division,
        batch_id=f"frontdb:{rows[0]['id']}",
        topic_name="",
        table_name=name,
        records=records,
        sender_tier=tier,
        relay=not upstream and tiers.relays(runtime),
    )
    if upstream:  # dn_* rows the upper node published: log, pass on, feed refusals back (zw_apply_feedback)
        applying.after_pull(session, runtime, topic_name="", table_name=name, records=records, result=result)
    refused = [
        (record.row, RowError(v.code or "rejected", v.reason or "", v.column))
        for record, v in zip(records, result.verdicts, strict=True)
        if not v.applied and not v.duplicate
    ]
    if refused:
        # Written before the inbox commits: a crash in between re-reads the rows, which
        # produce the same refusals, which the 前置库 de-duplicates.
        target, feedback = abnormal_rows(spec, refused, ingested_at=beijing_now_naive())
        unique = ("certificate_source_id", "cd_batch") if target == LIC_ERROR else ("row_guid",)
        frontdb.append(target, feedback, unique=unique)
    exlog.append(
        session,
        direction="in",
        kind="frontdb.ingested",
        peer=sender,
        ref=f"{name}:{rows[0]['id']}",
        detail={"table": name, "rows": len(rows), "applied": result.accepted, "rejected": result.rejected},
    )
    return result


def poll_feedback(runtime: ExchangeRuntime, frontdb: FrontDb, *, limit: int = 5_000) -> PollStats:
    """Lower node: turn new ``dn_*`` abnormal rows into feedback and mark their outbox rows refused."""
    stats = PollStats()
    settle = runtime.settings.exchange.frontdb_settle_seconds
    for name in (AUDIT_ABNORMAL, UC_ABNORMAL, LIC_ERROR):
        table = frontdb.table(name)
        while True:
            with unit_of_work(runtime.session_factory) as session:
                exlog.lock_head(session)
                mark = f"dn:{name}"
                rows = frontdb.read_since(name, _watermark(session, mark), settle_seconds=settle, limit=limit)
                if not rows:
                    break
                for values in rows:
                    row = frontdb.from_db(table, values)
                    stats.feedback += _one_feedback(session, runtime, name, row, int(values["id"]))
                last = rows[-1]
                _advance(session, mark, compact(last["cd_time"]), int(last["id"]))
                exlog.append(
                    session, direction="in", kind="frontdb.feedback", peer="frontdb",
                    ref=f"{name}:{rows[0]['id']}", detail={"table": name, "rows": len(rows)},
                )  # fmt: skip
            stats.rows += len(rows)
            if len(rows) < limit:
                break
    return stats


_OUTBOX_ROW: Final = select(
    OutboxRecord.seq, OutboxRecord.message_id, OutboxRecord.topic, OutboxRecord.key, OutboxRecord.payload
)


def _one_feedback(
    session: Session, runtime: ExchangeRuntime, name: str, row: dict[str, Any], row_id: int
) -> int:
    now = utcnow()
    if name == LIC_ERROR:
        source_id = str(row.get("certificate_source_id") or "")
        outbox = session.execute(
            _OUTBOX_ROW.where(OutboxRecord.topic.like("%.up_lic_data"), OutboxRecord.key == source_id)
            .order_by(OutboxRecord.seq.desc())
            .limit(1)
        ).first()
        row_guid = outbox.message_id if outbox else source_id[:50]
        code, reason = "lic_data_error", str(row.get("error_remark") or "")
        table_name, feedback_guid = "up_lic_data", f"{row_id}"
    else:
        row_guid = str(row.get("table_row_guid") or "")
        outbox = session.execute(_OUTBOX_ROW.where(OutboxRecord.message_id == row_guid)).first()
        code, reason = (
            str(row.get("err_type") or "abnormal"),
            str(row.get("remark") or row.get("err_type") or ""),
        )
        table_name, feedback_guid = str(row.get("table_sql_name") or ""), str(row.get("row_guid") or row_id)
    stmt = dialect_insert(session, ExchangeFeedback).values(
        id=new_id(),
        source="frontdb",
        feedback_guid=feedback_guid[:64],
        topic=outbox.topic if outbox else None,
        table_name=table_name[:64],
        row_guid=row_guid[:50],
        message_id=outbox.message_id if outbox else None,
        outbox_seq=outbox.seq if outbox else None,
        business_key=outbox.key if outbox else None,
        cd_batch=str(row.get("table_cd_batch") or row.get("cd_batch") or "")[:32] or None,
        error_code=code[:100],
        reason=reason or code,
        status="open",
        received_at=now,
    )
    inserted = len(session.execute(stmt.on_conflict_do_nothing().returning(ExchangeFeedback.id)).all())
    payload = outbox.payload if outbox is not None else None
    if isinstance(payload, str):
        payload = loads(payload)
    lower = tiers.sender_of(payload.get(tiers.RELAY_KEY)) if isinstance(payload, dict) else None
    if inserted and outbox is not None and lower is not None:
        # A lower node's row we only passed on: the refusal goes down to it, as a receipt's would.
        guid = str(payload.get("row_guid") or row_guid) if isinstance(payload, dict) else row_guid
        refusal = tiers.Refusal(lower, guid[:50], outbox.topic, table_name, outbox.key, code, reason or code)
        tiers.pass_down(session, [refusal], feedback_guid=f"frontdb:{feedback_guid}", refused_by="frontdb")
    if inserted and lower is None:
        # The owner of the table queues the refusal too (e.g. licenses' abnormal data), once: only when
        # this feedback row is new. Without its outbox row, the 前置库 row's id names the refusal.
        refused = RefusedRow(
            "frontdb",
            outbox.message_id if outbox else f"{name}:{row_id}",
            outbox.key if outbox else (str(row.get("certificate_source_id") or "") or None),
            row,
            RowError(code, reason or code),
        )
        runtime.registry.refused(session, table_name, [refused])
    if outbox is not None:
        session.execute(
            update(OutboxRecord)
            .where(OutboxRecord.seq == outbox.seq)
            .values(status=OutboxStatus.REJECTED, last_error=f"{code}: {reason}"[:2000], updated_at=now)
        )
    return inserted
