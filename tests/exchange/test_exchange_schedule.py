"""Exchange schedules: a table waits for its window or interval; priority keeps a flood of case rows
from delaying catalog rows by more than one batch, and the flood still drains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_exchange_relay import FakeTransport, queue, statuses

from clockkit import FakeClock
from zhengwu.exchange import schedule
from zhengwu.exchange.errors import ScheduleInvalid
from zhengwu.exchange.models import ExchangeLease, ExchangeSchedule
from zhengwu.exchange.relay import Relay
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.exchange.transports import OutboundBatch
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit
from zhengwu.kernel.session import unit_of_work

FLOOD = "tests.a_flood"  # sorts before the catalog topic: only priority puts the catalog first
CATALOG = "tests.z_catalog"
TABLES = ("up_pro_accept", "up_task_general_basic")


@pytest.fixture
def runtime(settings: Settings, session_factory: sessionmaker[Session]) -> ExchangeRuntime:
    settings.exchange.batch_size = 3
    registry = TopicRegistry()
    registry.register(FLOOD, table="up_pro_accept", key_column="project_no")
    registry.register(CATALOG, table="up_task_general_basic", key_column="task_code")
    return ExchangeRuntime.create(settings, session_factory, registry)


def set_rule(rt: ExchangeRuntime, table: str, **rule: object) -> None:
    with unit_of_work(rt.session_factory) as session:
        schedule.set_rule(session, table, actor="test", known_tables=TABLES, **rule)  # type: ignore[arg-type]


# --- rules (no database) -----------------------------------------------------------------------------


def _beijing(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 6, hour, minute, tzinfo=schedule.BEIJING).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "end", "hour", "open_"),
    [("02:00", "04:00", 1, False), ("02:00", "04:00", 2, True), ("02:00", "04:00", 4, False),
     ("22:00", "06:00", 23, True), ("22:00", "06:00", 5, True), ("22:00", "06:00", 12, False)],
)  # fmt: skip
def test_window_in_beijing_time(start: str, end: str, hour: int, open_: bool) -> None:
    rule = schedule.Rule("up_pro_accept", schedule.WINDOW, None, start, end)
    assert rule.open_at(_beijing(hour), None) is open_


def test_interval_waits_for_the_oldest_row() -> None:
    rule = schedule.Rule("up_pro_accept", schedule.INTERVAL, 30)
    now = _beijing(12)
    assert rule.open_at(now, _beijing(11, 45)) is False
    assert rule.open_at(now, _beijing(11, 30)) is True


def test_defaults_put_catalog_above_cases() -> None:
    assert schedule.default_priority("up_task_general_basic") > schedule.default_priority("up_pro_accept")
    assert schedule.default_priority("ops_node_status") == schedule.DEFAULT_PRIORITY


@pytest.mark.parametrize(
    ("mode", "every", "window", "priority"),
    [("hourly", None, None, None), ("interval", None, None, None), ("interval", 0, None, None),
     ("window", None, "25:00-02:00", None), ("window", None, "02:00-02:00", None), ("realtime", None, None, 10)],
)  # fmt: skip
def test_invalid_rules_are_refused(
    mode: str, every: int | None, window: str | None, priority: int | None
) -> None:
    with pytest.raises(ScheduleInvalid):
        schedule.validate(mode, every, window, priority)


# --- the relay honours them --------------------------------------------------------------------------


@pytest.mark.db
def test_a_window_defers_a_table_until_it_opens(runtime: ExchangeRuntime, clock: FakeClock) -> None:
    clock.now = _beijing(1)
    set_rule(runtime, "up_pro_accept", mode="window", window="02:00-04:00")
    queue(runtime, FLOOD, ["p0", "p1"])
    queue(runtime, CATALOG, ["t0"])
    transport = FakeTransport()
    relay = Relay(runtime, transport)
    relay.run_once()
    assert statuses(runtime) == {"p0": "pending", "p1": "pending", "t0": "acknowledged"}
    clock.now = _beijing(2, 5)
    relay.run_once()
    assert set(statuses(runtime).values()) == {"acknowledged"}
    assert [r.key for r in transport.batches[-1].records] == ["p0", "p1"]


@pytest.mark.db
def test_an_interval_holds_rows_until_the_oldest_is_due(runtime: ExchangeRuntime, clock: FakeClock) -> None:
    set_rule(runtime, "up_pro_accept", mode="interval", every_minutes=10)
    queue(runtime, FLOOD, ["p0"])
    relay = Relay(runtime, FakeTransport())
    assert relay.run_once().batches == 0
    clock.advance(minutes=9)
    queue(runtime, FLOOD, ["p1"])
    assert relay.run_once().batches == 0
    clock.advance(minutes=1)
    stats = relay.run_once()
    assert stats.batches == 1 and stats.acknowledged == 2  # the whole backlog goes together


@pytest.mark.db
def test_priority_is_settable_and_orders_the_pass(runtime: ExchangeRuntime) -> None:
    queue(runtime, FLOOD, [f"p{i}" for i in range(7)])
    queue(runtime, CATALOG, ["t0"])
    set_rule(runtime, "up_task_general_basic", mode="realtime", priority=2)
    transport = FakeTransport()
    Relay(runtime, transport).run_once()
    assert transport.batches[-1].topic == CATALOG  # demoted below the case rows by the operator
    with unit_of_work(runtime.session_factory) as session:
        row = session.scalars(select(ExchangeSchedule)).one()
        assert (row.table_name, row.priority, row.updated_by) == ("up_task_general_basic", 2, "test")


class CatalogArrives(FakeTransport):
    """Emits a catalog row each time a flood batch is prepared (while the flood is being sent)."""

    def __init__(self, rt: ExchangeRuntime, arrivals: int) -> None:
        super().__init__()
        self.rt, self.arrivals = rt, arrivals

    def prepare(self, batch: OutboundBatch) -> OutboundBatch:
        if batch.topic == FLOOD and self.arrivals > 0:
            self.arrivals -= 1
            with unit_of_work(self.rt.session_factory) as session:
                emit(session, CATALOG, {"task_code": f"t{self.arrivals}"}, key=f"t{self.arrivals}")
        return batch


@pytest.mark.db
def test_a_catalog_row_pending_before_the_pass_goes_first(runtime: ExchangeRuntime) -> None:
    queue(runtime, FLOOD, [f"p{i}" for i in range(60)])
    queue(runtime, CATALOG, ["t0"])
    transport = FakeTransport()
    Relay(runtime, transport).run_once()
    assert transport.batches[0].topic == CATALOG


@pytest.mark.db
def test_a_flood_delays_a_catalog_row_by_one_batch_at_most(runtime: ExchangeRuntime) -> None:
    queue(runtime, FLOOD, [f"p{i}" for i in range(60)])  # 20 batches: more than one streak
    transport = CatalogArrives(runtime, arrivals=5)
    Relay(runtime, transport).run_once()
    topics = [b.topic for b in transport.batches]
    # Each catalog row appeared while a flood batch was prepared: it left right after that batch.
    assert topics[:10] == [FLOOD, CATALOG] * 5, topics
    assert topics.count(CATALOG) == 5
    # ...and the flood was slowed, not starved: every case row went in the same pass.
    assert set(statuses(runtime).values()) == {"acknowledged"}


@pytest.mark.db
def test_a_topic_another_worker_holds_does_not_cut_streaks(runtime: ExchangeRuntime) -> None:
    relay = Relay(runtime, FakeTransport())
    if not relay.per_topic:
        pytest.skip("leases per topic: PostgreSQL only (SQLite has one claimer)")
    queue(runtime, FLOOD, [f"p{i}" for i in range(30)])
    queue(runtime, CATALOG, ["t0"])
    with unit_of_work(runtime.session_factory) as session:
        session.add(ExchangeLease(scope=CATALOG, holder="elsewhere:1:abcd", fence=1,
                                  expires_at=utcnow() + timedelta(hours=1)))  # fmt: skip
    stats = relay.run_once()
    # The other worker sends the catalog row; this one is not interrupted for it after every batch.
    assert stats.skipped_topics == [CATALOG] and stats.batches == 10
    assert statuses(runtime)["t0"] == "pending"
