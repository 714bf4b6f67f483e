"""Per-capability metrics operators watch, in three kinds (none writes to the database):

* counters of domain events (cases submitted and transitioned, licenses issued and changed), counted when
  the publishing transaction commits (``kernel.metrics``); identity counts its authentication events and
  licenses its uses (verifications) the same way, from their own services;
* gauges read from the database when Prometheus scrapes (cases by status and overdue, worker heartbeats,
  inbound exchange lag per lower node and table) — a scrape is one request every 15 s, not a hot path;
* the connection pool of this process, read from the engine (no query).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from zhengwu.cases import service as cases
from zhengwu.cases.events import CaseSubmitted, CaseTransitioned
from zhengwu.exchange import service as exchange
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.metrics import CounterSpec, count, register
from zhengwu.kernel.node import Node, ServiceKey
from zhengwu.licenses.events import LicenseIssued, LicenseStatusChanged
from zhengwu.ops import liveness, probe

CASES_SUBMITTED: Final = CounterSpec("zhengwu_cases_submitted", "Cases submitted by applicants")
CASE_TRANSITIONS: Final = CounterSpec(
    "zhengwu_case_transitions", "Case status changes by action and new status", ("action", "status")
)
LICENSES_ISSUED: Final = CounterSpec("zhengwu_licenses_issued", "License versions issued")
LICENSE_CHANGES: Final = CounterSpec(
    "zhengwu_license_status_changes", "Licenses suspended, resumed, revoked or superseded", ("status",)
)


@dataclass(frozen=True)
class CapabilityGauges:
    """Gauges refreshed from the database on every scrape."""

    cases: Gauge
    overdue: Gauge
    workers_alive: Gauge
    worker_age: Gauge
    received_lag: Gauge
    received_idle: Gauge
    probe_ok: Gauge
    probe_seconds: Gauge
    probe_age: Gauge


GAUGES: ServiceKey[CapabilityGauges] = ServiceKey("ops.capability_gauges")


class PoolCollector(Collector):
    """The database connection pool of this process, read from the engine at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        pool: Any = self.engine.pool
        for name, doc, method in (
            ("zhengwu_db_pool_size", "Connections the pool keeps (pool_size)", "size"),
            ("zhengwu_db_pool_checked_out", "Connections lent to requests or jobs now", "checkedout"),
            ("zhengwu_db_pool_overflow", "Connections opened beyond pool_size now", "overflow"),
        ):
            value = getattr(pool, method, None)
            if callable(value):
                # QueuePool counts overflow from -pool_size upward; below zero means none opened.
                yield GaugeMetricFamily(name, doc, value=max(0.0, float(value())))


def install(node: Node) -> None:
    """Register the counters, the scrape-time gauges and the pool collector on the node."""
    register(node, CASES_SUBMITTED, CASE_TRANSITIONS, LICENSES_ISSUED, LICENSE_CHANGES)
    node.services.put(GAUGES, _gauges(node.metrics))
    node.metrics.register(PoolCollector(node.engine))


def _gauges(registry: CollectorRegistry) -> CapabilityGauges:
    return CapabilityGauges(
        cases=Gauge("zhengwu_cases", "Cases by status", ["status"], registry=registry),
        overdue=Gauge(
            "zhengwu_cases_overdue",
            "Running cases past their promised deadline (clock not stopped)",
            registry=registry,
        ),
        workers_alive=Gauge(
            "zhengwu_workers_alive", "Workers whose heartbeat is at most 3 minutes old", registry=registry
        ),
        worker_age=Gauge(
            "zhengwu_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat",
            ["worker"],
            registry=registry,
        ),
        received_lag=Gauge(
            "zhengwu_exchange_received_lag_seconds",
            "Lag of the last batch received from a lower node, per national table (inbound exchange lag)",
            ["sender", "table"],
            registry=registry,
        ),
        received_idle=Gauge(
            "zhengwu_exchange_received_idle_seconds",
            "Seconds since a lower node last sent rows of a national table",
            ["sender", "table"],
            registry=registry,
        ),
        probe_ok=Gauge(
            "zhengwu_probe_ok",
            "Whether the last synthetic journey passed (1), failed (0), or none ran yet (-1)",
            registry=registry,
        ),
        probe_seconds=Gauge(
            "zhengwu_probe_step_seconds",
            "Time of each step of the last synthetic journey",
            ["step"],
            registry=registry,
        ),
        probe_age=Gauge(
            "zhengwu_probe_age_seconds",
            "Seconds since the last synthetic journey (-1: none yet)",
            registry=registry,
        ),
    )


def refresh(session: Session, node: Node) -> None:
    """Read the gauges' values from the database (the scrape's own read-only session)."""
    gauges = node.services.provide(GAUGES)
    by_status, overdue = cases.counts(session)
    gauges.cases.clear()
    for status, n in by_status.items():
        gauges.cases.labels(status).set(n)
    gauges.overdue.set(overdue)
    beats = liveness.beats(session)
    gauges.worker_age.clear()
    for worker, age, _alive in beats:
        gauges.worker_age.labels(worker).set(age)
    gauges.workers_alive.set(sum(1 for *_, alive in beats if alive))
    last = probe.latest(session)
    gauges.probe_seconds.clear()
    if last is None:
        gauges.probe_ok.set(-1)
        gauges.probe_age.set(-1)
    else:
        gauges.probe_ok.set(1 if last.ok else 0)
        gauges.probe_age.set(round((utcnow() - last.started_at).total_seconds(), 1))
        for step in last.steps:
            gauges.probe_seconds.labels(str(step.get("name", ""))).set(float(step.get("seconds") or 0.0))
    gauges.received_lag.clear()
    gauges.received_idle.clear()
    for sender, table, lag, idle in exchange.received_lag(session):
        if lag is not None:
            gauges.received_lag.labels(sender, table).set(lag)
        if idle is not None:
            gauges.received_idle.labels(sender, table).set(idle)


def subscribe(node: Node) -> None:
    """Count cases and licenses from their domain events (main.subscribe)."""

    def submitted(session: Session, event: CaseSubmitted) -> None:
        del event
        count(session, CASES_SUBMITTED)

    def transitioned(session: Session, event: CaseTransitioned) -> None:
        count(session, CASE_TRANSITIONS, action=event.action, status=event.status)

    def issued(session: Session, event: LicenseIssued) -> None:
        del event
        count(session, LICENSES_ISSUED)

    def changed(session: Session, event: LicenseStatusChanged) -> None:
        count(session, LICENSE_CHANGES, status=event.status)

    node.bus.subscribe(CaseSubmitted, submitted)
    node.bus.subscribe(CaseTransitioned, transitioned)
    node.bus.subscribe(LicenseIssued, issued)
    node.bus.subscribe(LicenseStatusChanged, changed)
