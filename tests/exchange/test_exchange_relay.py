"""The dispatcher: batching, oldest-first order, back-pressure, retries with backoff + jitter, dead
letter, store and forward, lease takeover after a crash — and exactly-once at the receiver."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.audit import changes
from zhengwu.exchange import service
from zhengwu.exchange.models import ExchangeInbox, ExchangeLease, ExchangeTopicBackoff
from zhengwu.exchange.relay import Relay, RelayStats, holder_is_dead
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.exchange.transports import Delivery, OutboundBatch, TransportError
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import RowError

pytestmark = pytest.mark.db


class FakeTransport:
    """Records batches; fails while ``down`` (transiently) or ``refuse`` (permanently)."""

    name = "fake"

    def __init__(self) -> None:
        self.batches: list[OutboundBatch] = []
        self.down = False
        self.refuse = False
        self.retry_after: float | None = None
        self.reject: set[str] = set()

    def prepare(self, batch: OutboundBatch) -> OutboundBatch:
        return batch

    def deliver(self, batch: OutboundBatch) -> Delivery:
        if self.down:
            raise TransportError("down", transient=True, code="unreachable", retry_after=self.retry_after)
        if self.refuse:
            raise TransportError("refused", transient=False, code="exchange.signature_invalid")
        self.batches.append(batch)
        keys = {r.row_guid: r.key for r in batch.records}
        rejected = {g: RowError("bad", "测试拒收", None) for g, k in keys.items() if k in self.reject}
        return Delivery(frozenset(g for g in keys if g not in rejected), rejected, peer="fake")

    def send(self, batch: OutboundBatch) -> Delivery:
        return self.deliver(self.prepare(batch))

    def close(self) -> None:
        pass


@pytest.fixture
def runtime(settings: Settings, session_factory: sessionmaker[Session]) -> ExchangeRuntime:
    settings.exchange.batch_size = 3
    settings.exchange.retry_base_seconds = 10
    settings.exchange.retry_max_seconds = 60
    settings.exchange.max_attempts = 3
    registry = TopicRegistry()
    registry.register("tests.a", table="up_pro_result", key_column="project_no")
    registry.register("tests.b", table="up_pro_result", key_column="project_no")
    return ExchangeRuntime.create(settings, session_factory, registry)


def queue(rt: ExchangeRuntime, topic: str, keys: list[str]) -> None:
    with unit_of_work(rt.session_factory) as session:
        for key in keys:
            emit(session, topic, {"project_no": key}, key=key)


def statuses(rt: ExchangeRuntime) -> dict[str, str]:
    with unit_of_work(rt.session_factory) as session:
        return dict(session.execute(select(OutboxRecord.key, OutboxRecord.status)).all())


def clear_backoff(rt: ExchangeRuntime) -> None:
    with unit_of_work(rt.session_factory) as session:
        session.execute(update(ExchangeTopicBackoff).values(until=utcnow() - timedelta(seconds=1)))


def test_batches_in_order_round_robin(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", [f"a{i}" for i in range(7)])
    queue(runtime, "tests.b", ["b0", "b1"])
    transport = FakeTransport()
    stats = Relay(runtime, transport).run_once()
    assert stats.batches == 4 and stats.acknowledged == 9
    sent = [[r.key for r in b.records] for b in transport.batches]
    a_keys = [k for batch in sent for k in batch if k and k.startswith("a")]
    assert a_keys == [f"a{i}" for i in range(7)]  # oldest first
    assert sent[0][0] == "a0" and all(len(b) <= 3 for b in sent)
    first = transport.batches[0]
    assert all(r.row["cd_batch"] == first.batch_id for r in first.records)
    assert {r.row["cd_operation"] for r in first.records} == {"I"}


def test_store_and_forward(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", ["a0", "a1", "a2", "a3"])
    transport = FakeTransport()
    transport.down = True
    relay = Relay(runtime, transport, rng=random.Random(1))
    stats = relay.run_once()
    assert stats.failed_batches == 1 and set(statuses(runtime).values()) == {"pending"}
    # The topic backs off: nothing is tried again before the delay.
    assert relay.due_topics() == []
    assert relay.run_once().batches == 0
    with unit_of_work(runtime.session_factory) as session:
        status = {t["topic"]: t for t in service.outbox_status(session)}["tests.a"]
    assert status["pending"] == 4 and status["retry_at"] and "unreachable" in status["last_error"]
    # Transient failures never dead-letter, however often they happen.
    for _ in range(5):
        clear_backoff(runtime)
        relay.run_once()
    assert set(statuses(runtime).values()) == {"pending"}
    transport.down = False
    clear_backoff(runtime)
    relay.run_once()
    assert set(statuses(runtime).values()) == {"acknowledged"}
    assert [r.key for b in transport.batches for r in b.records] == ["a0", "a1", "a2", "a3"]


def test_backoff_grows_with_jitter(runtime: ExchangeRuntime) -> None:
    relay = Relay(runtime, FakeTransport(), rng=random.Random(7))
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        delays = [relay.backoff_seconds(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 40  # jittered, not synchronised


def test_retry_after_is_respected(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", ["a0"])
    transport = FakeTransport()
    transport.down, transport.retry_after = True, 50.0
    Relay(runtime, transport, rng=random.Random(1)).run_once()
    with unit_of_work(runtime.session_factory) as session:
        until = session.scalar(select(ExchangeTopicBackoff.until))
    assert until is not None and until - utcnow() > timedelta(seconds=45)


def test_permanent_refusals_end_in_dead_letter_and_resend(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", ["a0", "a1"])
    queue(runtime, "tests.b", ["b0"])
    transport = FakeTransport()
    transport.refuse = True
    relay = Relay(runtime, transport)
    for _ in range(3):
        clear_backoff(runtime)
        relay.run_once()
    assert set(statuses(runtime).values()) == {"dead"}
    transport.refuse = False
    with unit_of_work(runtime.session_factory) as session:
        assert service.resend_dead(session, topic="tests.a", actor="account:op-1 cli:ops") == 2
    relay.run_once()
    assert statuses(runtime) == {"a0": "acknowledged", "a1": "acknowledged", "b0": "dead"}
    # The operator's act is in the change log too (who, which topic, how many rows).
    with unit_of_work(runtime.session_factory) as session:
        (logged,) = changes.list_changes(session, entity="exchange.outbox", entity_id="tests.a")
        assert (logged.action, logged.actor, logged.after) == (
            "exchange.resend_dead",
            "account:op-1 cli:ops",
            {"rows": 2},
        )


def test_rejected_rows_become_feedback_and_resend(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", ["a0", "bad"])
    transport = FakeTransport()
    transport.reject = {"bad"}
    relay = Relay(runtime, transport)
    relay.run_once()
    assert statuses(runtime) == {"a0": "acknowledged", "bad": "rejected"}
    with unit_of_work(runtime.session_factory) as session:
        items, total = service.list_feedback(session)
        assert total == 1 and items[0].business_key == "bad" and items[0].reason == "测试拒收"
    # The owner fixed the data: resend takes its current version (refresh) as a new row.
    runtime.registry.register("tests.a", refresh=lambda session, key: {"project_no": key, "fixed": True})
    transport.reject = set()
    with unit_of_work(runtime.session_factory) as session:
        assert service.resend_feedback(session, runtime.registry, actor="account:op-2")["resent"] == 1
    with unit_of_work(runtime.session_factory) as session:
        (logged,) = changes.list_changes(session, entity="exchange.feedback")
        assert (logged.action, logged.actor) == ("exchange.resend_feedback", "account:op-2")
        assert logged.after == {"resent": 1, "resolved": 0, "skipped": 0}
    relay.run_once()
    fixed = [r for b in transport.batches for r in b.records if r.row.get("fixed")]
    assert len(fixed) == 1 and fixed[0].row["row_guid"] != items[0].row_guid
    with unit_of_work(runtime.session_factory) as session:
        assert service.list_feedback(session)[1] == 0


def test_unknown_topic_is_dead_lettered(runtime: ExchangeRuntime) -> None:
    queue(runtime, "nobody.knows_this", ["x"])
    stats = Relay(runtime, FakeTransport()).run_once()
    assert stats.dead == 1 and statuses(runtime) == {"x": "dead"}


def test_lease_is_exclusive_and_taken_over_from_a_dead_holder(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", ["a0", "a1"])
    first = Relay(runtime, FakeTransport(), holder="host-x:1:aaaa")
    scope = "tests.a" if first.per_topic else "*"  # PostgreSQL: one lease per topic; SQLite: one for all
    assert first._acquire(scope)
    second_transport = FakeTransport()
    second = Relay(runtime, second_transport)
    assert second.run_once().batches == 0  # the lease is held (another host, not expired)
    # The first worker claimed rows and died before sending them.
    stats = RelayStats()
    assert first._claim("tests.a", scope, stats) is not None
    # PostgreSQL marks claimed rows "sent"; the single SQLite claimer keeps them "pending" while in flight.
    assert set(statuses(runtime).values()) == ({"sent"} if first.per_topic else {"pending"})
    with unit_of_work(runtime.session_factory) as session:
        session.execute(update(ExchangeLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert second.run_once().acknowledged == 2  # took over, reset "sent", delivered
    assert [r.key for b in second_transport.batches for r in b.records] == ["a0", "a1"]


def test_dead_holder_detection() -> None:
    import os
    import socket

    host = socket.gethostname()[:60]
    assert not holder_is_dead(f"{host}:{os.getpid()}:x")
    assert holder_is_dead(f"{host}:999999999:x")
    assert not holder_is_dead("another-host:1:x")
    assert holder_is_dead(None)


def test_crash_after_send_is_applied_once(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        for i in range(5):
            emit(session, "tests.up_pro_result", {"project_no": f"P{i}", "result_type": "0",
                 "result_date": "20241201103000", "is_delivery_results": "0"}, key=f"P{i}")  # fmt: skip
    transport = http_transport(province, national)
    crashed = Relay(province.runtime, transport, holder="gone:1:x")
    assert crashed._acquire("*")
    claimed = crashed._claim("tests.up_pro_result", "*", RelayStats())
    assert claimed is not None
    transport.send(claimed[0])  # delivered, but the worker dies before recording the receipt
    with province.uow() as session:
        session.execute(update(ExchangeLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    stats = Relay(province.runtime, http_transport(province, national)).run_once()
    assert stats.acknowledged == 5
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 5
    with province.uow() as session:
        assert {s for (s,) in session.execute(select(OutboxRecord.status))} == {"acknowledged"}


def test_many_pending_rows_drain_in_streaks(runtime: ExchangeRuntime) -> None:
    queue(runtime, "tests.a", [f"a{i:03d}" for i in range(100)])
    transport = FakeTransport()
    relay = Relay(runtime, transport)
    total = RelayStats()
    while (stats := relay.run_once()).batches:
        total.merge(stats)
    relay.close()
    assert total.acknowledged == 100
    keys = [r.key for b in transport.batches for r in b.records]
    assert keys == sorted(keys)
