"""Group commit of the writes of public verifications: the per-address token and the usage record.

A verification by identifier only reads, except for its rate-limit bucket and its usage record (用证记录).
Made in the request's own transaction, those writes gave every verification a write transaction: on
SQLite the requests queued for the one write lock, the waiting ones sleeping in the busy handler's steps
(1, 2, 5 … 100 ms) — the p99 of a burst. Here the request reads in a deferred transaction and hands its
writes to the node's ``GroupCommit``: the first request to find no batch committing commits the writes
of every request that queued meanwhile in one transaction, each in a savepoint of its own.

Nothing is acknowledged before it is durable: each request waits until the transaction holding its
record has committed, and answers only then; if that commit fails, every request of the batch fails
(an error answer, as when its own commit failed before), so no verification is answered without its
record, and none is recorded twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.db import read_only_transactions
from zhengwu.kernel.node import Node, ServiceKey
from zhengwu.kernel.session import unit_of_work

T = TypeVar("T")

#: At most this many requests' writes in one transaction (a burst beyond it forms the next batch).
MAX_BATCH = 256


class _Job(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class GroupCommit:
    """Runs ``work(session)`` callables in shared transactions; ``run`` returns once its work committed."""

    def __init__(self, factory: Callable[[], sessionmaker[Session]]) -> None:
        self._factory = factory  # read per batch: a test app swaps the node's factory after start
        self._queue: list[_Job[Any]] = []
        self._turn = threading.Condition()  # guards the queue and who leads; waiters sleep on it
        self._leading = False  # a thread is committing a batch
        self.batches = 0  # for tests and benchmarks: how many transactions carried the jobs
        self.jobs = 0

    def run(self, work: Callable[[Session], T]) -> T:
        """Queue ``work`` and return its result once the transaction that ran it has committed.

        Raises what ``work`` raised (its savepoint rolled back, the rest of the batch unaffected), or
        the commit's error when the batch's transaction failed.

        A caller whose job another thread's batch carried wakes when that batch ends, and returns: it
        does not have to win a lock first. (With a plain lock it did, and as a lock is not fair, under
        a steady stream one could lose it round after round — the tail of the latency.)"""
        job: _Job[T] = _Job(work)
        with self._turn:
            self._queue.append(job)
            while not job.done:
                if self._leading:
                    self._turn.wait()
                    continue
                # Nobody commits: lead the next batch (this job is in it unless MAX_BATCH are ahead).
                self._leading = True
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._turn.release()
                try:
                    self._commit(batch)
                finally:
                    self._turn.acquire()
                    self._leading = False
                    self._turn.notify_all()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]  # set when work returned

    def _commit(self, batch: list[_Job[Any]]) -> None:
        solo = len(batch) == 1  # no contention: no savepoint, the transaction is the job's own
        try:
            # The writer takes SQLite's write lock up front even when its caller reads (ADR 0009).
            with read_only_transactions(False), unit_of_work(self._factory()) as session:
                for job in batch:
                    try:
                        if solo:
                            job.result = job.work(session)
                        else:
                            with session.begin_nested():
                                job.result = job.work(session)
                    except Exception as exc:  # this job's own failure: only its savepoint rolled back
                        job.error = exc
                        if solo:
                            raise  # ...or, alone, its whole transaction
        except Exception as exc:  # the commit failed: none of the batch's writes is durable
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.result = None
        finally:
            self.batches += 1
            self.jobs += len(batch)
            for job in batch:
                job.done = True


GROUP_COMMIT: ServiceKey[GroupCommit] = ServiceKey("licenses.group_commit")
_install = threading.Lock()


def group_commit(node: Node) -> GroupCommit:
    """The node's group commit of verification writes (installed on first use)."""
    with _install:
        found = node.services.get(GROUP_COMMIT)
        if found is None:
            found = node.services.put(GROUP_COMMIT, GroupCommit(lambda: node.session_factory))
        return found
