"""Sending due deliveries: signed POSTs with bounded timeouts, exponential back-off, a dead letter.

The worker calls ``deliver_due`` each round. Due rows are claimed with a lease (another worker skips
them), then sent in parallel by a small pool, so a receiver that hangs holds one thread for at most the
timeout and never the others; each outcome is written to the row and to the attempt log.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, cast

import httpx
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.cases.retry import Retry
from zhengwu.cases.webhooks import signing
from zhengwu.cases.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from zhengwu.cases.webhooks.service import secret_of
from zhengwu.cases.webhooks.transport import HttpxTransport, KeepAlive, Transport, TransportFailed
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import RetrySettings
from zhengwu.kernel.db import new_id
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.cases.webhooks")

#: The default policy (``ZHENGWU_CASES__WEBHOOKS__*`` sets the worker's): dead after 8 failed attempts
#: (kept, replayable with ``zhengwu webhooks replay``), back-off 5 s, 10 s, 20 s … at most 1 h, and a
#: receiver gets 5 s to answer.
DEFAULT_RETRY: Final = Retry.of(RetrySettings())
MAX_ATTEMPTS: Final = DEFAULT_RETRY.max_attempts
LEASE: Final = timedelta(seconds=60)
PARALLEL: Final = 8
USER_AGENT: Final = "zhengwu-webhooks/1"


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure under the default policy."""
    return DEFAULT_RETRY.backoff(attempts)


def _timeout(retry: Retry) -> httpx.Timeout:
    """A receiver gets the policy's time to answer, and at most 2 s of it to accept the connection."""
    return httpx.Timeout(retry.timeout, connect=min(2.0, retry.timeout))


TIMEOUT: Final = _timeout(DEFAULT_RETRY)


@dataclass
class DispatchStats:
    """What one round did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        """Attempts made."""
        return self.delivered + self.failed + self.dead


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: str
    url: str
    secret: str
    msg_id: str
    body: bytes


# The delivery loop's statements, built once on the tables (Core: a round touches hundreds of rows, and
# ORM objects for them cost more than the POSTs; bench/webhooks.py).
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_EVENTS = cast(Table, WebhookEvent.__table__)
_ATTEMPTS = cast(Table, WebhookAttempt.__table__)
_DUE = (
    select(_DELIVERIES.c.id)
    .where(_DELIVERIES.c.status == "pending", _DELIVERIES.c.next_attempt_at <= bindparam("now"))
    .order_by(_DELIVERIES.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DELIVERED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery"))
    .values(
        status="delivered",
        attempts=_DELIVERIES.c.attempts + 1,
        last_status_code=bindparam("code"),
        last_error=None,
        last_attempt_at=bindparam("at"),
        delivered_at=bindparam("at"),
    )
)
_FAILED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery"))
    .values(
        status=bindparam("outcome"),
        attempts=bindparam("count"),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        last_attempt_at=bindparam("at"),
        next_attempt_at=bindparam("retry_at"),
    )
)


def _claim(factory: sessionmaker[Session], now: datetime, limit: int) -> list[_Job]:
    """Lease up to ``limit`` due deliveries in one statement; the lease's end marks the rows this round
    took (another worker's round leases with another instant, or finds them not due).

    On PostgreSQL the due rows are locked with SKIP LOCKED: a second worker takes the next due rows
    instead of queueing behind the first one's lease and then finding the same rows no longer due
    (SQLite has one writer and no row locks; the clause is left out there)."""
    lease_end = now + LEASE
    with factory() as db:
        due = list(db.scalars(_DUE, {"now": now, "limit": limit}))
        if not due:
            return []
        db.execute(
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.id.in_(due),
                _DELIVERIES.c.status == "pending",
                _DELIVERIES.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease_end)
        )
        rows = db.execute(
            select(_DELIVERIES.c.id, _DELIVERIES.c.client_id, _EVENTS.c.msg_id, _EVENTS.c.body)
            .join(_EVENTS, _EVENTS.c.seq == _DELIVERIES.c.event_seq)
            .where(_DELIVERIES.c.id.in_(due), _DELIVERIES.c.next_attempt_at == lease_end)
        ).all()
        clients = {row.client_id for row in rows}
        endpoints = db.scalars(select(WebhookEndpoint).where(WebhookEndpoint.client_id.in_(clients)))
        # One decryption per endpoint and round, not per delivery.
        targets = {e.client_id: (e.url, secret_of(db, e)) for e in endpoints}
        jobs = [
            _Job(row.id, *targets[row.client_id], row.msg_id, row.body.encode())
            for row in rows
            if row.client_id in targets
        ]
        db.commit()
    return jobs


def _send(transport: Transport, job: _Job) -> tuple[int | None, str | None, int]:
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": job.msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signing.sign(job.secret, job.msg_id, stamp, job.body),
    }
    started = time.monotonic()
    try:
        code = transport.post(job.url, job.body, headers)
    except TransportFailed as exc:
        return None, str(exc), int((time.monotonic() - started) * 1000)
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= code < 300:
        return code, None, elapsed
    return code, f"HTTP {code}", elapsed


def _record(
    factory: sessionmaker[Session],
    outcomes: list[tuple[_Job, tuple[int | None, str | None, int]]],
    retry: Retry = DEFAULT_RETRY,
) -> DispatchStats:
    """Write the round's outcomes and their attempt rows in one transaction, a statement per kind of
    outcome (executemany)."""
    stats = DispatchStats()
    now = utcnow()
    delivered = [
        {"delivery": job.delivery_id, "code": code, "at": now}
        for job, (code, error, _) in outcomes
        if error is None
    ]
    failed = [(job, code, error) for job, (code, error, _) in outcomes if error is not None]
    with factory() as db:
        if delivered:
            db.execute(_DELIVERED, delivered)
            stats.delivered = len(delivered)
        if failed:
            done = db.execute(
                select(_DELIVERIES.c.id, _DELIVERIES.c.attempts, _DELIVERIES.c.client_id).where(
                    _DELIVERIES.c.id.in_([job.delivery_id for job, _, _ in failed])
                )
            ).all()
            known = {row.id: row for row in done}
            changes = []
            for job, code, error in failed:
                row = known[job.delivery_id]
                count = row.attempts + 1
                dead = retry.gives_up(count)
                if dead:
                    stats.dead += 1
                    log.warning(
                        "case_webhook_dead", delivery_id=row.id, client_id=row.client_id, attempts=count
                    )
                else:
                    stats.failed += 1
                changes.append(
                    {
                        "delivery": row.id,
                        "outcome": "dead" if dead else "pending",
                        "count": count,
                        "code": code,
                        "error": error,
                        "at": now,
                        # A dead delivery keeps no schedule: ``zhengwu webhooks replay`` sets one.
                        "retry_at": now if dead else now + retry.backoff(count),
                    }
                )
            db.execute(_FAILED, changes)
        db.execute(
            insert(_ATTEMPTS),
            [
                {
                    "id": new_id(),
                    "delivery_id": job.delivery_id,
                    "at": now,
                    "status_code": code,
                    "error": error,
                    "duration_ms": elapsed,
                }
                for job, (code, error, elapsed) in outcomes
            ],
        )
        db.commit()
    return stats


def deliver_due(
    factory: sessionmaker[Session],
    *,
    client: httpx.Client | None = None,
    transport: Transport | None = None,
    limit: int = 200,
    retry: Retry = DEFAULT_RETRY,
) -> DispatchStats:
    """One round: claim up to ``limit`` due deliveries, send them, record the outcomes under ``retry``. The
    worker hands in its ``KeepAlive`` transport (connections kept between rounds); ``client``: through
    that ``httpx.Client`` instead; neither: a transport for this round only, with the policy's timeout."""
    jobs = _claim(factory, utcnow(), limit)
    if not jobs:
        return DispatchStats()
    own = client is None and transport is None
    sender: Transport = (
        HttpxTransport(client)
        if client is not None
        else transport or KeepAlive(connect_seconds=min(2.0, retry.timeout), read_seconds=retry.timeout)
    )
    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(jobs))) as pool:
            outcomes = list(pool.map(lambda job: (job, _send(sender, job)), jobs))
    finally:
        if own:
            sender.close()
    return _record(factory, outcomes, retry)
