"""The ops page's numbers: a ring of samples kept in this server process (no table, nothing written).

A background task of the server takes one sample every ``ZHENGWU_OPS__SAMPLE_SECONDS`` (its own counters
and a few reads of the database) and keeps the last ``ZHENGWU_OPS__SAMPLES`` of them; the page draws the
series. Each server process has its own ring (request rate and latency are that process's); the database
numbers are the node's. A restart starts an empty ring: history is Prometheus' job.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import Lifespan

from zhengwu.cases import machine
from zhengwu.cases import service as cases
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import Node, ServiceKey
from zhengwu.ops.models import BackupRun

log = get_logger("zhengwu.ops")


@dataclass(frozen=True, slots=True)
class Sample:
    """One point in time: cumulative counters of this process and gauges of the node."""

    at: datetime
    requests: float
    request_seconds: float
    logins_ok: float
    logins_failed: float
    outbox_pending: int
    outbox_lag: float
    dead_letters: int
    backup_age: float | None
    cases_open: int
    cases_overdue: int


class Ring:
    """The last ``size`` samples (thread-safe: the sampler appends while a page reads)."""

    def __init__(self, size: int) -> None:
        self._samples: deque[Sample] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)


RING: ServiceKey[Ring] = ServiceKey("ops.samples")


def _sum(
    registry: CollectorRegistry, name: str, match: Callable[[dict[str, str]], bool] = lambda _: True
) -> float:
    total = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and match(sample.labels):
                total += sample.value
    return total


def take(session: Session, registry: CollectorRegistry) -> Sample:
    """A sample now (read-only)."""
    now = utcnow()
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxRecord.created_at)).where(
            OutboxRecord.status == OutboxStatus.PENDING
        )
    ).one()
    if oldest is not None and oldest.tzinfo is None:  # func.min bypasses the UTC column type on SQLite
        oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=now.tzinfo)
    dead = session.scalar(select(func.count()).where(OutboxRecord.status == OutboxStatus.DEAD)) or 0
    backup_at = session.scalar(
        select(func.max(BackupRun.snapshot_at)).where(BackupRun.kind == "backup", BackupRun.status == "done")
    )
    if backup_at is not None and backup_at.tzinfo is None:
        backup_at = datetime.fromisoformat(str(backup_at)).replace(tzinfo=now.tzinfo)
    by_status, overdue = cases.counts(session)

    def login(outcome: str) -> Callable[[dict[str, str]], bool]:
        return lambda labels: labels.get("event") == "login" and labels.get("outcome") == outcome

    return Sample(
        at=now,
        requests=_sum(registry, "zhengwu_http_requests_total"),
        request_seconds=_sum(registry, "zhengwu_http_request_seconds_sum"),
        logins_ok=_sum(registry, "zhengwu_identity_auth_events_total", login("success")),
        logins_failed=_sum(registry, "zhengwu_identity_auth_events_total", login("failure")),
        outbox_pending=int(pending or 0),
        outbox_lag=round((now - oldest).total_seconds(), 1) if oldest is not None else 0.0,
        dead_letters=int(dead),
        backup_age=round((now - backup_at).total_seconds(), 1) if backup_at is not None else None,
        cases_open=sum(n for status, n in by_status.items() if status in machine.OPEN),
        cases_overdue=overdue,
    )


def sample_now(node: Node) -> None:
    """Take a sample into the node's ring (a failed read skips one point)."""
    try:
        with node.session_factory() as session:
            node.services.provide(RING).add(take(session, node.metrics))
    except SQLAlchemyError as exc:
        log.warning("ops_sample_failed", error_type=type(exc).__name__)


def lifespan(inner: Lifespan[Any], node: Node) -> Lifespan[Any]:
    """Run the sampler while the server runs."""

    async def sampler() -> None:
        while True:
            # Sleep first: the page adds the current values itself, and start-up stays free of queries.
            await asyncio.sleep(node.settings.ops.sample_seconds)
            await run_in_threadpool(sample_now, node)

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[Any]:
        task = asyncio.create_task(sampler())
        try:
            async with inner(app) as state:
                yield state
        finally:
            task.cancel()

    return wrapped


def rates(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """Per interval between consecutive samples: requests/s, mean latency (ms), logins and failures/min."""
    points: list[dict[str, Any]] = []
    previous: Sample | None = None
    for s in samples:
        if previous is not None:
            seconds = (s.at - previous.at).total_seconds()
            requests = s.requests - previous.requests
            if seconds > 0 and requests >= 0:  # a counter never falls; guard a reset anyway
                points.append(
                    {
                        "at": s.at,
                        "rps": requests / seconds,
                        "latency_ms": 1000 * (s.request_seconds - previous.request_seconds) / requests
                        if requests
                        else 0.0,
                        "logins": 60 * (s.logins_ok - previous.logins_ok) / seconds,
                        "login_failures": 60 * (s.logins_failed - previous.logins_failed) / seconds,
                    }
                )
        previous = s
    return points
