"""The group commit of verification writes: every job committed before its caller returns, shared
transactions under concurrency, a failing job alone rolled back, a failed commit failing its batch."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.db import make_engine
from zhengwu.kernel.session import make_session_factory
from zhengwu.licenses.batch import GroupCommit

META = MetaData()
ROWS = Table("t_rows", META, Column("id", Integer, primary_key=True), Column("who", String(20)))


def _setup(tmp_path: Path) -> tuple[GroupCommit, Session]:
    engine = make_engine(f"sqlite:///{(tmp_path / 'g.db').as_posix()}")
    META.create_all(engine)
    factory = make_session_factory(engine)
    return GroupCommit(lambda: factory), factory()


def _insert(who: str) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        return len(session.execute(insert(ROWS).values(who=who).returning(ROWS.c.id)).all())

    return work


def _count(reader: Session) -> int:
    reader.rollback()  # a fresh snapshot
    return int(reader.scalar(select(func.count()).select_from(ROWS)) or 0)


def test_every_job_is_committed_when_run_returns(tmp_path: Path) -> None:
    commit, reader = _setup(tmp_path)
    seen_after: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def client(n: int) -> None:
        start.wait()
        for i in range(25):
            got = commit.run(_insert(f"{n}-{i}"))
            assert got == 1
            # Durable for any other connection as soon as run returned.
            with Session(reader.get_bind()) as other:
                present = other.scalar(select(func.count()).select_from(ROWS).where(ROWS.c.who == f"{n}-{i}"))
            with lock:
                seen_after.append(int(present or 0))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen_after == [1] * 300
    assert _count(reader) == 300 and commit.jobs == 300
    assert commit.batches <= 300  # under contention several jobs share a transaction (not asserted: timing)


def test_a_failing_job_rolls_back_alone(tmp_path: Path) -> None:
    commit, reader = _setup(tmp_path)

    def bad(session: Session) -> None:
        session.execute(insert(ROWS).values(who="bad"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        commit.run(bad)
    commit.run(lambda s: s.execute(insert(ROWS).values(who="good")))
    reader.rollback()
    assert list(reader.scalars(select(ROWS.c.who))) == ["good"]


def test_a_failed_commit_fails_the_jobs_of_its_batch(tmp_path: Path) -> None:
    commit, reader = _setup(tmp_path)

    def duplicate(session: Session) -> None:
        session.execute(insert(ROWS).values(id=1, who="a"))
        session.execute(insert(ROWS).values(id=1, who="b"))  # fails inside the job's savepoint

    with pytest.raises(Exception, match="UNIQUE"):
        commit.run(duplicate)
    assert _count(reader) == 0

    def no_database() -> sessionmaker[Session]:
        raise RuntimeError("no database")

    broken = GroupCommit(no_database)
    with pytest.raises(RuntimeError, match="no database"):
        broken.run(lambda s: 1)
    assert broken.jobs == 1


def test_in_a_batch_a_failing_job_loses_only_its_own_writes(tmp_path: Path) -> None:
    from zhengwu.licenses.batch import _Job

    commit, reader = _setup(tmp_path)

    def bad(session: Session) -> None:
        session.execute(insert(ROWS).values(who="bad"))
        raise ValueError("refused")

    jobs: list[_Job[Any]] = [_Job(_insert("first")), _Job(bad), _Job(_insert("last"))]
    commit._commit(jobs)  # what a leader does with three queued jobs
    assert [j.done for j in jobs] == [True, True, True]
    assert [j.result for j in jobs] == [1, None, 1]
    assert jobs[0].error is None and isinstance(jobs[1].error, ValueError) and jobs[2].error is None
    reader.rollback()
    assert sorted(reader.scalars(select(ROWS.c.who))) == ["first", "last"]


def test_a_job_beyond_a_full_batch_waits_for_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With more jobs queued than a batch takes, a caller whose job was left for the next batch does not
    return before that batch has committed it (each caller gets its own job's result)."""
    import zhengwu.licenses.batch as batch

    monkeypatch.setattr(batch, "MAX_BATCH", 2)
    commit, reader = _setup(tmp_path)
    results: dict[int, int] = {}
    start = threading.Barrier(10)

    def client(n: int) -> None:
        start.wait()

        def work(session: Session) -> int:
            session.execute(insert(ROWS).values(who=str(n)))
            return n

        results[n] = commit.run(work)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: n for n in range(10)}
    assert _count(reader) == 10 and commit.jobs == 10 and commit.batches >= 5
