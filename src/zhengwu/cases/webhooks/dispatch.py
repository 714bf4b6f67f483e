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
from typing import Final

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.cases.retry import Retry
from zhengwu.cases.webhooks import signing
from zhengwu.cases.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from zhengwu.cases.webhooks.service import secret_of
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import RetrySettings
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


def _claim(factory: sessionmaker[Session], now: datetime, limit: int) -> list[_Job]:
    """Lease up to ``limit`` due deliveries in one statement; the lease's end marks the rows this round
    took (another worker's round leases with another instant, or finds them not due).

    On PostgreSQL the due rows are locked with SKIP LOCKED: a second worker takes the next due rows
    instead of queueing behind the first one's lease and then finding the same rows no longer due
    (SQLite has one writer and no row locks; the clause is left out there)."""
    lease_end = now + LEASE
    with factory() as db:
        due = list(
            db.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not due:
            return []
        db.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(due),
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease_end)
            .execution_options(synchronize_session=False)
        )
        rows = db.execute(
            select(WebhookDelivery.id, WebhookEndpoint, WebhookEvent)
            .join(WebhookEndpoint, WebhookEndpoint.client_id == WebhookDelivery.client_id)
            .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
            .where(WebhookDelivery.id.in_(due), WebhookDelivery.next_attempt_at == lease_end)
        ).all()
        secrets: dict[str, str] = {}
        jobs = []
        for delivery_id, endpoint, event in rows:
            if endpoint.client_id not in secrets:
                secrets[endpoint.client_id] = secret_of(db, endpoint)
            jobs.append(
                _Job(
                    delivery_id, endpoint.url, secrets[endpoint.client_id], event.msg_id, event.body.encode()
                )
            )
        db.commit()
    return jobs


def _send(client: httpx.Client, job: _Job) -> tuple[int | None, str | None, int]:
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
        response = client.post(job.url, content=job.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300], int((time.monotonic() - started) * 1000)
    elapsed = int((time.monotonic() - started) * 1000)
    if 200 <= response.status_code < 300:
        return response.status_code, None, elapsed
    return response.status_code, f"HTTP {response.status_code}", elapsed


def _record(
    factory: sessionmaker[Session],
    outcomes: list[tuple[_Job, tuple[int | None, str | None, int]]],
    retry: Retry = DEFAULT_RETRY,
) -> DispatchStats:
    """Write the round's outcomes and their attempt rows in one transaction."""
    stats = DispatchStats()
    now = utcnow()
    with factory() as db:
        rows = {
            r.id: r
            for r in db.scalars(
                select(WebhookDelivery).where(WebhookDelivery.id.in_([j.delivery_id for j, _ in outcomes]))
            )
        }
        for job, (code, error, elapsed) in outcomes:
            row = rows.get(job.delivery_id)
            if row is None:
                continue
            row.attempts += 1
            row.last_status_code = code
            row.last_error = error
            row.last_attempt_at = now
            if error is None:
                row.status = "delivered"
                row.delivered_at = now
                stats.delivered += 1
            elif retry.gives_up(row.attempts):
                row.status = "dead"
                stats.dead += 1
                log.warning(
                    "case_webhook_dead", delivery_id=row.id, client_id=row.client_id, attempts=row.attempts
                )
            else:
                row.next_attempt_at = now + retry.backoff(row.attempts)
                stats.failed += 1
            db.add(
                WebhookAttempt(delivery_id=row.id, at=now, status_code=code, error=error, duration_ms=elapsed)
            )
        db.commit()
    return stats


def deliver_due(
    factory: sessionmaker[Session],
    *,
    client: httpx.Client | None = None,
    limit: int = 200,
    retry: Retry = DEFAULT_RETRY,
) -> DispatchStats:
    """One round: claim up to ``limit`` due deliveries, send them, record the outcomes under ``retry``."""
    jobs = _claim(factory, utcnow(), limit)
    if not jobs:
        return DispatchStats()
    own = client is None
    http = client or httpx.Client(timeout=_timeout(retry), follow_redirects=False)
    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(jobs))) as pool:
            outcomes = list(pool.map(lambda job: (job, _send(http, job)), jobs))
    finally:
        if own:
            http.close()
    return _record(factory, outcomes, retry)
