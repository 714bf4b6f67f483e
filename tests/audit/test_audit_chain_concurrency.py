"""Appenders in parallel transactions queue on the chain's head: no fork, no gap, no lost record (SQLite's
write lock; PostgreSQL's row lock, where the claim returns the head its predecessor committed). They
queue only at commit: a change recorded in an open transaction does not hold the head (ADR 0016)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dbkit import scratch_database
from zhengwu.audit import chain, changes
from zhengwu.audit.models import AuditChange
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work

THREADS = 6
EACH = 15


@pytest.fixture
def scratch(database_url: str, tmp_path: Path) -> Iterator[str]:
    yield from scratch_database(database_url, tmp_path)


def test_parallel_appenders_keep_one_unbroken_chain(scratch: str) -> None:
    upgrade(scratch)
    engine = make_engine(scratch)
    factory = make_session_factory(engine)
    start = threading.Barrier(THREADS)

    def appender(k: int) -> None:
        start.wait()
        for i in range(EACH):
            with unit_of_work(factory) as session:
                changes.record_change(
                    session, actor="cli", action="test.race", entity="test", entity_id=f"{k}-{i}"
                )
                # A rolled-back append must leave no trace (its head update is undone with it).
                if i % 5 == 4:
                    session.rollback()

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for done in [pool.submit(appender, k) for k in range(THREADS)]:
                done.result()  # re-raises an appender's error here
        kept = THREADS * (EACH - EACH // 5)
        with unit_of_work(factory) as session:
            verdict = chain.verify(session, changes.CHAIN)
            ids = set(session.scalars(select(AuditChange.entity_id).where(AuditChange.action == "test.race")))
            raced = session.scalar(
                select(func.count()).select_from(AuditChange).where(AuditChange.action == "test.race")
            )
        assert verdict.ok, verdict.broken
        assert raced == kept and len(ids) == kept
        assert ids == {f"{k}-{i}" for k in range(THREADS) for i in range(EACH) if i % 5 != 4}
        assert verdict.head.seq == verdict.checked >= kept
    finally:
        engine.dispose()


def test_a_second_transaction_appends_while_the_first_is_still_open(scratch: str) -> None:
    upgrade(scratch)
    engine = make_engine(scratch)
    factory = make_session_factory(engine)
    first = factory()
    try:
        changes.record_change(first, actor="cli", action="test.late", entity="test", entity_id="first")
        first.flush()
        recorded = threading.Event()

        def second() -> None:
            with unit_of_work(factory) as session:
                changes.record_change(
                    session, actor="cli", action="test.late", entity="test", entity_id="second"
                )
            recorded.set()

        with ThreadPoolExecutor(1) as pool:
            done = pool.submit(second)
            # Before, the first transaction held the head from its append: this waited until it ended.
            finished = recorded.wait(10)
            if not finished:
                first.rollback()  # let the blocked appender go, then fail
            done.result()
            assert finished, "the second appender waited for the first transaction"
        first.commit()
        with unit_of_work(factory) as check:
            query = select(AuditChange.entity_id).where(AuditChange.action == "test.late")
            assert list(check.scalars(query.order_by(AuditChange.seq))) == ["second", "first"]
            assert chain.verify(check, changes.CHAIN).ok
    finally:
        first.close()
        engine.dispose()
