"""Sending due deliveries: signed POSTs with bounded timeouts, exponential back-off, a dead letter.

The worker calls ``deliver_due`` each round. Due rows are claimed with a lease (another worker skips
them), then sent in parallel by a small pool, so a receiver that hangs holds one thread for at most the
timeout and never the others; each outcome is written to the row and to the attempt log.

A round can outlast its lease (200 receivers that each hang for the timeout take minutes), and a row
whose lease ran out is due again for any worker. So the round renews the lease of the rows it has not
sent yet whenever a third of it has passed, before its next send; a row another worker has meanwhile
taken is dropped from the round, not sent. Every row carries the round's token (``lease``), and outcomes
are written only to rows that still carry it, so a round that was paused past its lease (a stopped
process) records nothing over the newer round's. What fencing cannot undo is a send already on the wire
when the lease was lost: delivery stays at least once, and receivers drop a ``webhook-id`` seen before.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
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
_HELD = select(_DELIVERIES.c.id).where(_DELIVERIES.c.lease == bindparam("token")).with_for_update()
_DELIVERED = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery"), _DELIVERIES.c.lease == bindparam("token"))
    .values(
        lease=None,
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
    .where(_DELIVERIES.c.id == bindparam("delivery"), _DELIVERIES.c.lease == bindparam("token"))
    .values(
        lease=None,
        status=bindparam("outcome"),
        attempts=bindparam("count"),
        last_status_code=bindparam("code"),
        last_error=bindparam("error"),
        last_attempt_at=bindparam("at"),
        next_attempt_at=bindparam("retry_at"),
    )
)


def _claim(
    factory: sessionmaker[Session], now: datetime, limit: int, token: str, lease: timedelta = LEASE
) -> list[_Job]:
    """Lease up to ``limit`` due deliveries in one statement, marking them with the round's ``token``.

    On PostgreSQL the due rows are locked with SKIP LOCKED: a second worker takes the next due rows
    instead of queueing behind the first one's lease and then finding the same rows no longer due
    (SQLite has one writer and no row locks; the clause is left out there)."""
    lease_end = now + lease
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
            .values(next_attempt_at=lease_end, lease=token)
        )
        rows = db.execute(
            select(_DELIVERIES.c.id, _DELIVERIES.c.client_id, _EVENTS.c.msg_id, _EVENTS.c.body)
            .join(_EVENTS, _EVENTS.c.seq == _DELIVERIES.c.event_seq)
            .where(_DELIVERIES.c.id.in_(due), _DELIVERIES.c.lease == token)
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


class _Lease:
    """The rows one round holds: renewed while the round runs (sent or not, until their outcome is
    written), checked before each send.

    ``clock`` is a monotonic clock (seconds); tests hand in one they move, so no test waits a minute."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        token: str,
        jobs: list[_Job],
        length: timedelta,
        clock: Callable[[], float],
    ) -> None:
        self.factory = factory
        self.token = token
        self.length = length
        self.clock = clock
        self.held = {job.delivery_id for job in jobs}
        self.renewed_at = clock()
        self._lock = threading.Lock()

    def take(self, job: _Job) -> bool:
        """Whether the round may send ``job`` now: renews the lease first when a third of it has passed,
        and says no for a row the round no longer holds."""
        with self._lock:
            if self.clock() - self.renewed_at >= self.length.total_seconds() / 3:
                self._renew()
            return job.delivery_id in self.held

    def _renew(self) -> None:
        """Move the lease's end of the rows still carrying the token; the others were taken over."""
        started = self.clock()
        if self.held:
            with self.factory() as db:
                db.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.lease == self.token)
                    .values(next_attempt_at=utcnow() + self.length)
                )
                held = set(db.scalars(_HELD, {"token": self.token})) & self.held
                db.commit()
            if len(held) < len(self.held):
                log.warning("case_webhook_lease_lost", token=self.token, deliveries=len(self.held - held))
            self.held = held
        self.renewed_at = started


def _record(
    factory: sessionmaker[Session],
    outcomes: list[tuple[_Job, tuple[int | None, str | None, int]]],
    retry: Retry = DEFAULT_RETRY,
    token: str = "",
) -> DispatchStats:
    """Write the round's outcomes and their attempt rows in one transaction, a statement per kind of
    outcome (executemany) — only for the rows that still carry the round's ``token`` (locked first, so
    no claim slips in between; on SQLite the transaction holds the one write lock from its start)."""
    stats = DispatchStats()
    now = utcnow()
    with factory() as db:
        # The token is the round's alone: its index finds the rows without a list of their ids.
        held = set(db.scalars(_HELD, {"token": token}))
        if len(held) < len(outcomes):
            log.warning("case_webhook_outcome_fenced", token=token, deliveries=len(outcomes) - len(held))
        outcomes = [(job, result) for job, result in outcomes if job.delivery_id in held]
        if not outcomes:
            db.commit()
            return stats
        delivered = [
            {"delivery": job.delivery_id, "token": token, "code": code, "at": now}
            for job, (code, error, _) in outcomes
            if error is None
        ]
        failed = [(job, code, error) for job, (code, error, _) in outcomes if error is not None]
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
                        "token": token,
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


def lease_for(retry: Retry) -> timedelta:
    """A round's lease: at least ``LEASE``, and three receiver timeouts, so one hanging send never
    outlasts the two thirds left after a renewal."""
    return max(LEASE, timedelta(seconds=3 * retry.timeout))


def deliver_due(
    factory: sessionmaker[Session],
    *,
    client: httpx.Client | None = None,
    transport: Transport | None = None,
    limit: int = 200,
    retry: Retry = DEFAULT_RETRY,
    parallel: int = PARALLEL,
    clock: Callable[[], float] = time.monotonic,
) -> DispatchStats:
    """One round: claim up to ``limit`` due deliveries, send them, record the outcomes under ``retry``. The
    worker hands in its ``KeepAlive`` transport (connections kept between rounds); ``client``: through
    that ``httpx.Client`` instead; neither: a transport for this round only, with the policy's timeout."""
    token = uuid.uuid4().hex
    length = lease_for(retry)
    jobs = _claim(factory, utcnow(), limit, token, length)
    if not jobs:
        return DispatchStats()
    lease = _Lease(factory, token, jobs, length, clock)
    own = client is None and transport is None
    sender: Transport = (
        HttpxTransport(client)
        if client is not None
        else transport or KeepAlive(connect_seconds=min(2.0, retry.timeout), read_seconds=retry.timeout)
    )

    def attempt(job: _Job) -> tuple[_Job, tuple[int | None, str | None, int]] | None:
        return (job, _send(sender, job)) if lease.take(job) else None

    try:
        with ThreadPoolExecutor(max_workers=min(parallel, len(jobs))) as pool:
            outcomes = [done for done in pool.map(attempt, jobs) if done is not None]
    finally:
        if own:
            sender.close()
    if not outcomes:
        return DispatchStats()
    return _record(factory, outcomes, retry, token)
