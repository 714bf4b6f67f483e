"""Counters a capability increments from its services, counted when the transaction commits.

A capability declares a :class:`CounterSpec` beside the service that counts and registers it on the node
in its wiring (so ``/metrics`` shows the family from the start); the service calls :func:`count` with the
session of its unit of work. The increment waits for the commit: a login refused and rolled back, or a
case transition that lost a race, is not counted as done. Nothing is written to the database.

Counters live in the process (each server or worker process exports its own); Prometheus sums them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.orm import Session

from zhengwu.kernel.node import NODE_INFO, Node, ServiceKey

_PENDING: Final = "zhengwu.metrics.pending"
_COUNTERS: ServiceKey[dict[str, Counter]] = ServiceKey("kernel.counters")
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A counter family: its name (without ``_total``), help text and label names."""

    name: str
    documentation: str
    labels: tuple[str, ...] = ()


def counter(node: Node, spec: CounterSpec) -> Counter:
    """The node's counter of ``spec`` (registered on the node's registry on first use)."""
    with _lock:
        counters = node.services.get(_COUNTERS)
        if counters is None:
            counters = node.services.put(_COUNTERS, {})
        found = counters.get(spec.name)
        if found is None:
            found = Counter(spec.name, spec.documentation, list(spec.labels), registry=node.metrics)
            counters[spec.name] = found
        return found


def register(node: Node, *specs: CounterSpec) -> None:
    """Export the families of ``specs`` from the start (before the first increment)."""
    for spec in specs:
        counter(node, spec)


def count(session: Session, spec: CounterSpec, amount: float = 1.0, **labels: str) -> None:
    """Add ``amount`` to ``spec`` with ``labels`` once ``session`` commits (dropped on rollback).

    A session not opened by a node (a script, a unit test of a bare service) counts nothing."""
    node = session.info.get(NODE_INFO)
    if not isinstance(node, Node):
        return
    pending: list[tuple[Counter, tuple[str, ...], float]] = session.info.setdefault(_PENDING, [])
    values = tuple(str(labels[name]) for name in spec.labels)
    pending.append((counter(node, spec), values, amount))


@event.listens_for(Session, "after_commit")
def _flush(session: Session) -> None:
    for found, values, amount in session.info.pop(_PENDING, ()):
        (found.labels(*values) if values else found).inc(amount)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    del previous_transaction
    session.info.pop(_PENDING, None)
