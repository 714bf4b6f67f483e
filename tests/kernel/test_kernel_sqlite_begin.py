"""SQLite write units take the write lock when they begin (BEGIN IMMEDIATE); read-only work does not;
a unit nested in the same call stack cannot write (it would wait on its caller's lock) — ADR 0009."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from zhengwu.kernel.db import NestedWriteUnit, is_database_busy, make_engine, read_only_transactions
from zhengwu.kernel.session import make_session_factory, unit_of_work


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{(tmp_path / 'begin.db').as_posix()}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def _begins(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_write_units_begin_immediate_and_read_only_work_deferred(sqlite_engine: Engine) -> None:
    seen = _begins(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(text("SELECT n FROM counter"))
    with read_only_transactions(), sqlite_engine.begin() as conn:
        conn.execute(text("SELECT n FROM counter"))
    with read_only_transactions(), read_only_transactions(read_only=False), sqlite_engine.begin() as conn:
        conn.execute(text("SELECT n FROM counter"))
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN IMMEDIATE"]


def test_read_then_write_waits_instead_of_failing(sqlite_engine: Engine) -> None:
    # Deferred, the slow unit's write after the quick unit's commit fails at once ("database is
    # locked", stale snapshot); immediate, the quick unit waits for the slow one and both count.
    factory = make_session_factory(sqlite_engine)
    slow_has_read = threading.Event()
    errors: list[BaseException] = []

    def slow_increment() -> None:
        try:
            with unit_of_work(factory) as db:
                n = db.execute(text("SELECT n FROM counter")).scalar_one()
                slow_has_read.set()
                threading.Event().wait(0.3)  # long enough for the quick unit to try its write
                db.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as exc:
            errors.append(exc)

    def quick_increment() -> None:
        slow_has_read.wait(10)
        try:
            with unit_of_work(factory) as db:
                db.execute(text("UPDATE counter SET n = n + 1"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=slow_increment), threading.Thread(target=quick_increment)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2


def test_a_nested_unit_may_read_but_not_write(sqlite_engine: Engine) -> None:
    factory = make_session_factory(sqlite_engine)
    seen = _begins(sqlite_engine)
    with unit_of_work(factory) as outer:
        outer.execute(text("UPDATE counter SET n = 5"))
        with unit_of_work(factory) as inner:  # reads the last committed state without waiting
            assert inner.execute(text("SELECT n FROM counter")).scalar_one() == 0
        with pytest.raises(NestedWriteUnit), unit_of_work(factory) as inner:
            inner.execute(text("UPDATE counter SET n = 7"))
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN"]
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 5


def test_units_one_after_another_in_one_thread_each_take_the_lock(sqlite_engine: Engine) -> None:
    factory = make_session_factory(sqlite_engine)
    seen = _begins(sqlite_engine)
    for value in (1, 2, 3):
        with unit_of_work(factory) as db:
            db.execute(text("UPDATE counter SET n = :n"), {"n": value})
    with pytest.raises(RuntimeError), unit_of_work(factory) as db:
        db.execute(text("UPDATE counter SET n = 9"))
        raise RuntimeError("rolled back")
    with unit_of_work(factory) as db:
        db.execute(text("UPDATE counter SET n = n + 1"))
    assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"] * 5
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 4


def test_a_lock_held_past_the_busy_timeout_is_reported_as_busy(sqlite_engine: Engine) -> None:
    holder = sqlite_engine.connect()
    holder.begin()  # BEGIN IMMEDIATE: holds the write lock
    try:
        with read_only_transactions(), sqlite_engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=50")
            with pytest.raises(OperationalError) as caught:
                conn.exec_driver_sql("UPDATE counter SET n = 1")
        assert is_database_busy(caught.value)
        assert not is_database_busy(OperationalError("SELECT", {}, Exception("no such table: x")))
    finally:
        holder.rollback()
        holder.close()


def test_units_on_two_databases_in_one_call_stack_each_take_their_lock(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    other = make_engine(f"sqlite:///{(tmp_path / 'other.db').as_posix()}")
    try:
        with other.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        with unit_of_work(make_session_factory(sqlite_engine)) as db:
            db.execute(text("UPDATE counter SET n = 1"))
            with unit_of_work(make_session_factory(other)) as elsewhere:  # another file: not nested
                elsewhere.execute(text("INSERT INTO t VALUES (1)"))
        with other.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        other.dispose()
