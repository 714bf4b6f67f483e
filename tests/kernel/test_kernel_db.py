from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.kernel.clock import from_beijing_compact, to_beijing_compact
from zhengwu.kernel.events import OutboxRecord, emit, emit_now
from zhengwu.kernel.logging import reset_trace_id, set_trace_id


def test_utc_datetimes_round_trip_aware(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    record = emit(session, "test.topic", {"名称": "测试"}, key="k1")
    record.next_attempt_at = datetime(2026, 1, 1, 8, 0, tzinfo=shanghai)
    session.flush()
    session.expire_all()
    loaded = session.scalar(select(OutboxRecord).where(OutboxRecord.key == "k1"))
    assert loaded is not None
    assert loaded.next_attempt_at == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert loaded.next_attempt_at.tzinfo is not None
    assert loaded.payload == {"名称": "测试"}


def test_naive_datetime_is_refused(session: Session) -> None:
    record = emit(session, "test.topic", {})
    record.next_attempt_at = datetime(2026, 1, 1)
    with pytest.raises(Exception, match="naive"):
        session.flush()


def test_outbox_carries_trace_id_and_orders_by_sequence(session: Session) -> None:
    token = set_trace_id("trace-abc-123")
    try:
        first = emit(session, "t", {"n": 1})
        second = emit(session, "t", {"n": 2}, operation="U")
        session.flush()
    finally:
        reset_trace_id(token)
    assert first.trace_id == "trace-abc-123"
    assert first.seq < second.seq
    assert first.status == "pending"
    with pytest.raises(ValueError):
        emit(session, "t", {}, operation="X")


def test_outbox_row_written_at_once_keeps_the_order_of_the_calls(session: Session) -> None:
    token = set_trace_id("trace-now-1")
    try:
        emit(session, "t.now", {"n": 1})  # left pending by the unit of work
        emit_now(session, "t.now", {"n": 2, "名称": "测试"}, key="k2", operation="U")
        emit_now(session, "t.now", {"n": 3}, operation="D")
    finally:
        reset_trace_id(token)
    rows = list(
        session.scalars(select(OutboxRecord).where(OutboxRecord.topic == "t.now").order_by(OutboxRecord.seq))
    )
    assert [(r.payload["n"], r.operation) for r in rows] == [(1, "I"), (2, "U"), (3, "D")]
    second = rows[1]
    assert (second.key, second.trace_id, second.status, second.attempts) == (
        "k2",
        "trace-now-1",
        "pending",
        0,
    )
    assert second.payload["名称"] == "测试" and len(second.message_id) == 32
    assert second.created_at.tzinfo is not None and second.next_attempt_at is None
    with pytest.raises(ValueError):
        emit_now(session, "t.now", {}, operation="X")


def test_outbox_rows_written_either_way_fill_the_same_columns(session: Session) -> None:
    # emit goes through the unit of work, emit_now through a Core INSERT: both take the columns they are
    # not given from the model's defaults, so a column added there reaches both rows alike.
    token = set_trace_id("trace-same-1")
    try:
        emit(session, "t.same", {"n": 1}, key="k")
        emit_now(session, "t.same", {"n": 1}, key="k")
    finally:
        reset_trace_id(token)
    rows = list(
        session.scalars(select(OutboxRecord).where(OutboxRecord.topic == "t.same").order_by(OutboxRecord.seq))
    )
    varying = {"seq", "message_id", "created_at", "updated_at"}
    columns = [c.key for c in OutboxRecord.__table__.columns if c.key not in varying]
    assert [getattr(rows[0], c) for c in columns] == [getattr(rows[1], c) for c in columns]
    assert rows[0].message_id != rows[1].message_id and all(len(r.message_id) == 32 for r in rows)
    assert all(r.created_at is not None and r.updated_at is not None for r in rows)


def test_beijing_compact_format() -> None:
    moment = datetime(2026, 11, 26, 16, 30, 5, tzinfo=UTC)
    assert to_beijing_compact(moment) == "20261127003005"
    assert from_beijing_compact("20261127003005") == moment
