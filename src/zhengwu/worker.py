"""``zhengwu worker``: the background side of a node (composition-root level).

Relays the outbox upward through the configured transport (signed HTTP or the 前置库), collects
abnormal feedback from the 前置库, and — on an upper node reading a lower node's 前置库 — ingests its
``up_*`` rows. ``--until-idle`` stops as soon as nothing is due (tests, cron, benchmarks).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete

from zhengwu.cases.notify import deliver_notices
from zhengwu.cases.retry import Retry
from zhengwu.cases.webhooks.dispatch import deliver_due
from zhengwu.cases.webhooks.transport import KeepAlive
from zhengwu.commands.audit import seal_if_due
from zhengwu.exchange import downward, national, progress, tiers
from zhengwu.exchange.frontdb_sync import ingest_frontdb, poll_feedback
from zhengwu.exchange.models import ExchangeNonce, VerificationCache
from zhengwu.exchange.relay import Relay, RelayStats
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.servicekeys import RUNTIME
from zhengwu.exchange.transports import Transport
from zhengwu.exchange.transports.frontdb import FrontDb, FrontDbTransport
from zhengwu.exchange.transports.http import HttpTransport
from zhengwu.exchange.transports.local import LocalTransport
from zhengwu.identity.certlogin import forget_answered_challenges
from zhengwu.identity.service import end_expired_sessions
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.idempotency import IdempotencyRecord
from zhengwu.kernel.logging import configure_logging, get_logger
from zhengwu.kernel.ratelimit import forget_full_buckets
from zhengwu.kernel.session import unit_of_work
from zhengwu.ops import liveness, probe
from zhengwu.ops.reporting import report_if_due
from zhengwu.security import tamper
from zhengwu.security.upward import report_posture_if_due

log = get_logger("zhengwu.worker")

HOUSEKEEPING_SECONDS = 60.0
DOWNWARD_TABLES = tuple(name for name in national.DN_TABLES if name not in national.FEEDBACK_TABLES)


@dataclass
class WorkerStats:
    """Totals of a worker run."""

    relayed: RelayStats = field(default_factory=RelayStats)
    ingested: int = 0
    feedback: int = 0
    loops: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers for printing."""
        return {
            "batches": self.relayed.batches,
            "rows": self.relayed.rows,
            "acknowledged": self.relayed.acknowledged,
            "rejected": self.relayed.rejected,
            "failed_batches": self.relayed.failed_batches,
            "dead": self.relayed.dead,
            "ingested": self.ingested,
            "feedback": self.feedback,
            "loops": self.loops,
        }


@dataclass
class Roles:
    """What this node's worker does, derived from its settings."""

    transport: Transport | None
    frontdb: FrontDb | None
    ingest_from: str | None  # sender name of the lower node whose 前置库 we read
    poll_feedback: bool
    pull_feed: bool = False  # pull downward data from the upstream over signed HTTP
    client: httpx.Client | None = None


def roles(settings: Settings, runtime: ExchangeRuntime) -> Roles:
    """Choose transport and 前置库 duties from the settings."""
    conf = settings.exchange
    frontdb = FrontDb(conf.frontdb_url) if conf.frontdb_url else None
    upper_reader = frontdb is not None and (settings.tier is Tier.NATIONAL or not settings.upstream_url)
    transport: Transport | None = None
    if conf.transport == "frontdb" and frontdb is not None and not upper_reader:
        transport = FrontDbTransport(frontdb)
    elif conf.transport == "http" and settings.upstream_url:
        transport = HttpTransport(settings, runtime.credentials)
    elif settings.tier is Tier.NATIONAL and not settings.upstream_url:
        transport = LocalTransport(runtime)  # the top of the federation aggregates its own rows
    http = transport.client if isinstance(transport, HttpTransport) else None
    return Roles(
        transport=transport,
        frontdb=frontdb,
        ingest_from=(conf.frontdb_peer or "frontdb") if upper_reader else None,
        poll_feedback=isinstance(transport, FrontDbTransport),
        pull_feed=http is not None,
        client=http,
    )


IDEMPOTENCY_KEPT = timedelta(hours=24)
SESSION_BATCH = 1000
SESSION_BATCHES = 20


def housekeeping(runtime: ExchangeRuntime) -> int:
    """Forget nonces older than the freshness window, expired verification answers, answered
    certificate-login challenges, rate-limit buckets idle for an hour and idempotency keys older than a day; close login sessions whose idle or absolute timeout passed (returns
    how many were closed).

    Requests already refuse an expired session; closing its row records the logout in the audit trail
    and keeps "where am I logged in" true. No back-channel logout is sent for a timeout: the department
    systems' own sessions expire by their own rules.
    """
    now = utcnow()
    window = timedelta(seconds=2 * runtime.settings.exchange.freshness_seconds)
    with unit_of_work(runtime.session_factory) as session:
        session.execute(delete(ExchangeNonce).where(ExchangeNonce.seen_at < now - window))
        session.execute(delete(VerificationCache).where(VerificationCache.expires_at < now))
        forget_answered_challenges(session, now=now)
        forget_full_buckets(session)
        # Idempotency keys protect retries for a day (as public APIs commonly promise), not for ever.
        session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_KEPT)
        )
    # Signed audit chain heads, reported upward (ADR 0011); the node's status for the upper node's view.
    seal_if_due(runtime.session_factory, runtime.settings)
    report_if_due(runtime.session_factory, runtime.settings)
    progress.report_if_due(runtime.session_factory, runtime.registry, runtime.settings)
    report_posture_if_due(runtime.session_factory, runtime.settings)
    ran = probe.run_if_due(runtime.session_factory, runtime.settings)
    if ran is not None and not ran.ok:
        log.warning("probe_failed", steps=[s.name for s in ran.steps if not s.ok])
    closed = 0
    for _ in range(SESSION_BATCHES):  # a bounded share of each round, even after a long outage
        with unit_of_work(runtime.session_factory) as session:
            ended = end_expired_sessions(session, limit=SESSION_BATCH)
        closed += ended
        if ended < SESSION_BATCH:
            break
    if closed:
        log.info("sessions_expired", count=closed)
    return closed


def run(
    runtime: ExchangeRuntime,
    *,
    until_idle: bool = False,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[WorkerStats], None] | None = None,
) -> WorkerStats:
    """The worker loop over an existing runtime."""
    stop = stop or threading.Event()
    settings = runtime.settings
    duties = roles(settings, runtime)
    relay = Relay(runtime, duties.transport, should_stop=stop.is_set) if duties.transport else None
    stats = WorkerStats()
    started = time.monotonic()
    last_housekeeping = 0.0
    last_integrity = 0.0
    me, started_at = liveness.worker_name(), utcnow()
    hook_retry = Retry.of(settings.cases.webhooks)
    # the department systems' connections, kept between rounds; a receiver gets the policy's time to answer
    hooks = KeepAlive(connect_seconds=min(2.0, hook_retry.timeout), read_seconds=hook_retry.timeout)
    try:
        while not stop.is_set():
            stats.loops += 1
            worked = 0
            published = downward.publish(runtime)  # dn_* topics: the feed lower nodes pull
            worked += published
            if relay is not None:
                moved = relay.run_once()
                stats.relayed.merge(moved)
                worked += moved.rows
            if duties.pull_feed:
                try:
                    pulled = downward.pull(runtime, duties.client)
                except DomainError as exc:
                    log.warning("exchange_feed_failed", code=exc.instance_code)
                else:
                    stats.ingested += pulled.rows
                    worked += pulled.rows
                try:  # refusals of rows we made or passed on, from the upper node (exchange.tiers)
                    refusals = tiers.pull_feedback(runtime, duties.client)
                except DomainError as exc:
                    log.warning("exchange_feedback_pull_failed", code=exc.instance_code)
                else:
                    stats.feedback += refusals.rows
                    worked += refusals.rows
            if duties.frontdb is not None and duties.ingest_from is not None:
                ingested = ingest_frontdb(runtime, duties.frontdb, sender=duties.ingest_from)
                stats.ingested += ingested.rows
                worked += ingested.rows
            if duties.frontdb is not None and duties.poll_feedback:
                polled = poll_feedback(runtime, duties.frontdb)
                stats.feedback += polled.feedback
                worked += polled.rows
                # Downward data (dn_task_* …) the upper node published in the 前置库.
                pushed = ingest_frontdb(runtime, duties.frontdb, sender="upstream", tables=DOWNWARD_TABLES)
                stats.ingested += pushed.rows
                worked += pushed.rows
            # Case webhooks to the department systems (bounded timeouts, in parallel: a hung receiver
            # delays this round by one timeout at most).
            try:
                worked += deliver_due(runtime.session_factory, retry=hook_retry, transport=hooks).attempted
            except Exception as exc:  # the rows stay pending; the exchange duties go on
                log.error("case_webhooks_failed", error_type=type(exc).__name__)
            # Notices to applicants, queued by the cases' transitions (sent after their commit).
            try:
                worked += deliver_notices(
                    runtime.session_factory, retry=Retry.of(settings.cases.notices)
                ).attempted
            except Exception as exc:  # the rows stay pending; the other duties go on
                log.error("case_notices_failed", error_type=type(exc).__name__)
            # The first round always: the monotonic clock counts from the machine's boot, not from 0.
            if not last_housekeeping or time.monotonic() - last_housekeeping > HOUSEKEEPING_SECONDS:
                # The heartbeat first: a housekeeping duty that fails must not hide a live worker.
                with unit_of_work(runtime.session_factory) as session:
                    liveness.beat(session, me, started_at, stats.loops)
                housekeeping(runtime)
                last_housekeeping = time.monotonic()
            integrity_every = settings.security.integrity_minutes * 60
            if integrity_every and (
                not last_integrity or time.monotonic() - last_integrity > integrity_every
            ):
                # Anti-tamper: the installed files against the signed manifest; a finding is a security event.
                try:
                    tamper.periodic_check(runtime.session_factory, settings)
                except Exception as exc:  # checked again next round; the exchange duties go on
                    log.error("integrity_check_error", error_type=type(exc).__name__)
                last_integrity = time.monotonic()
            if on_progress is not None:
                on_progress(stats)
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
            if worked == 0:
                if until_idle:
                    break
                stop.wait(settings.exchange.poll_seconds)
    finally:
        hooks.close()
        if relay is not None:
            relay.close()
            relay.release()
        if duties.transport is not None:
            duties.transport.close()
        elif duties.frontdb is not None:
            duties.frontdb.dispose()
    return stats


def run_worker(
    settings: Settings,
    *,
    until_idle: bool = False,
    max_seconds: float | None = None,
    on_progress: Callable[[WorkerStats], None] | None = None,
) -> WorkerStats:
    """Build the runtime from settings and run the loop; SIGTERM/SIGINT stop it after the current batch."""
    from zhengwu.commands.node import open_node

    configure_logging(settings.log_level, json_output=settings.log_json)
    node = open_node(settings)  # the server's node: same services, bus and subscribers
    runtime = node.services.provide(RUNTIME)
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        stats = run(
            runtime, until_idle=until_idle, max_seconds=max_seconds, stop=stop, on_progress=on_progress
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        node.close()
    log.info("worker_stopped", **stats.as_dict())
    return stats
