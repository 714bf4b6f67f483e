"""The dispatcher: relay outbox rows upward in batches, oldest first, exactly once at the receiver.

Claiming. A worker relays a *scope* only while it holds that scope's lease (``exchange_lease``): one
scope ``*`` on SQLite (a single claimer; SQLite serialises writers anyway) and one scope per topic on
PostgreSQL, where several workers share the topics and select rows ``FOR UPDATE SKIP LOCKED`` and mark
them ``sent``; whoever takes a lease over (the holder died or let it expire) puts the scope's ``sent``
rows back to ``pending``. The single SQLite claimer instead keeps in-flight rows ``pending`` and remembers
in memory how far it claimed during a pass (one UPDATE per row saved). Either way a crash leaves rows
to be sent again, and the receiver's inbox is idempotent, so a batch sent twice is applied once.

Back-pressure and retries. A failed batch holds back its whole topic (``exchange_topic_backoff``) so
that rows never overtake each other; the delay grows exponentially with equal jitter up to a cap.
Transient failures (network, 5xx, 429) are retried for ever — store and forward; permanent refusals
(4xx) count attempts and end in ``dead`` after ``max_attempts``. Topics are served round-robin, up to
``STREAK`` batches each per round, so a busy topic cannot starve the others.

Schedules (``exchange.schedule``). Only topics whose table's schedule is open take part in a pass, in
priority order; a higher-priority topic whose rows appear during another topic's streak ends that streak
after the batch in flight and goes next, and the round then carries on where it was.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, bindparam, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog, schedule, tiers
from zhengwu.exchange.canonical import loads
from zhengwu.exchange.downward import is_downward
from zhengwu.exchange.models import ExchangeFeedback, ExchangeLease, ExchangeTopicBackoff
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.transports import Delivery, OutboundBatch, OutboundRecord, Transport, TransportError
from zhengwu.kernel.clock import to_beijing_compact, utcnow
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import RefusedRow

log = get_logger("zhengwu.exchange.relay")

ALL: Final = "*"
STREAK: Final = 16  # batches of one topic in a row before the next topic gets its turn
_OUTBOX = cast(Table, OutboxRecord.__table__)


def _compact_beijing(value: Any) -> str:
    """cd_time from a stored UTC timestamp (a datetime, or SQLite's naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return to_beijing_compact(value)


class LeaseLost(Exception):
    """Another worker took the lease over; stop touching the scope's rows."""


@dataclass
class RelayStats:
    """What one pass did."""

    batches: int = 0
    rows: int = 0
    acknowledged: int = 0
    rejected: int = 0
    failed_batches: int = 0
    dead: int = 0
    skipped_topics: list[str] = field(default_factory=list)

    def merge(self, other: RelayStats) -> None:
        """Add another pass's counts."""
        self.batches += other.batches
        self.rows += other.rows
        self.acknowledged += other.acknowledged
        self.rejected += other.rejected
        self.failed_batches += other.failed_batches
        self.dead += other.dead


def default_holder() -> str:
    """``host:pid:random`` — lets a restarted worker on the same host see that the holder died."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str | None) -> bool:
    """True when ``holder`` names a process on this host that no longer exists."""
    if not holder:
        return True
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname()[:60]:
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Relay:
    """Moves outbox rows through a transport; ``run_once`` drains what is due now."""

    def __init__(
        self,
        runtime: ExchangeRuntime,
        transport: Transport,
        *,
        holder: str | None = None,
        rng: random.Random | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.runtime = runtime
        self.transport = transport
        self.conf = runtime.settings.exchange
        self.holder = holder or default_holder()
        self.rng = rng or random.Random()
        self.should_stop = should_stop
        bind = runtime.session_factory.kw.get("bind")
        dialect = getattr(getattr(bind, "dialect", None), "name", "sqlite")
        self.per_topic = dialect == "postgresql"
        self._fences: dict[str, int] = {}
        # SQLite: the last sequence claimed per topic during the current pass (in-flight rows stay pending).
        self._cursor: dict[str, int] = {}
        # The schedules of the current pass; the topics it knows, those backing off and those another
        # worker holds (PostgreSQL): only the others may cut a lower topic's streak.
        self._plan: schedule.Plan | None = None
        self._known: set[str] = set()
        self._waiting: set[str] = set()
        self._elsewhere: set[str] = set()
        self._preempted = False
        # One sending thread: the HTTP round trip (or 前置库 write) overlaps the next claim. Sessions
        # bound to one Connection rather than an Engine (in-process test nodes, embedded callers) must
        # not be used from two threads at once — the transport's CRL and credential lookups open units
        # too — so such a relay sends inline, without the overlap.
        self._pool = (
            None
            if isinstance(bind, Connection)
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="exchange-send")
        )

    # --- leases ------------------------------------------------------------------------------------

    def _acquire(self, scope: str) -> bool:
        with unit_of_work(self.runtime.session_factory) as session:
            now = utcnow()
            # First statement writes: SQLite takes its write lock before reading (no stale snapshot).
            session.execute(
                update(ExchangeLease).where(ExchangeLease.scope == scope).values(fence=ExchangeLease.fence)
            )
            row = session.get(ExchangeLease, scope, populate_existing=True)
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(
                            ExchangeLease(
                                scope=scope, holder=self.holder, fence=1, expires_at=now + self._ttl()
                            )
                        )
                except IntegrityError:
                    return False
                self._fences[scope] = 1
                self._reset_sent(session, scope)
                return True
            fence = row.fence  # read before the UPDATE, which refreshes the loaded object
            mine = row.holder == self.holder and self._fences.get(scope) == fence
            free = row.holder is None or row.expires_at < now or holder_is_dead(row.holder)
            if not mine and not free:
                return False
            result = session.execute(
                update(ExchangeLease)
                .where(ExchangeLease.scope == scope, ExchangeLease.fence == fence)
                .values(holder=self.holder, fence=fence + 1, expires_at=now + self._ttl())
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
            self._fences[scope] = fence + 1
            if not mine:
                self._reset_sent(session, scope)
            return True

    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.conf.lease_seconds)

    def _renew(self, session: Session, scope: str) -> None:
        result = session.execute(
            update(ExchangeLease)
            .where(
                ExchangeLease.scope == scope,
                ExchangeLease.holder == self.holder,
                ExchangeLease.fence == self._fences.get(scope, -1),
            )
            .values(expires_at=utcnow() + self._ttl())
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            self._fences.pop(scope, None)
            self._cursor.clear()
            raise LeaseLost(scope)

    def _reset_sent(self, session: Session, scope: str) -> None:
        stmt = update(OutboxRecord).where(OutboxRecord.status == OutboxStatus.SENT)
        if scope != ALL:
            stmt = stmt.where(OutboxRecord.topic == scope)
        count = session.execute(stmt.values(status=OutboxStatus.PENDING)).rowcount  # type: ignore[attr-defined]
        if count:
            log.info("exchange_relay_reclaimed", scope=scope, rows=count)

    def release(self) -> None:
        """Give up every lease this worker holds (clean shutdown: a successor starts at once)."""
        with unit_of_work(self.runtime.session_factory) as session:
            session.execute(
                update(ExchangeLease)
                .where(ExchangeLease.holder == self.holder)
                .values(holder=None, expires_at=utcnow() - timedelta(seconds=1))
            )
        self._fences.clear()

    # --- one pass ----------------------------------------------------------------------------------

    def due_topics(self) -> list[str]:
        """Topics with rows to relay (pending, or "sent" by a worker that may have died) not backing off
        and whose schedule is open now, higher priority first."""
        now = utcnow()
        with unit_of_work(self.runtime.session_factory) as session:
            # A loose index scan over (topic, status, seq): one probe per topic, not one per outbox row
            # (the outbox keeps delivered rows, so it only grows).
            every = (
                session.execute(
                    text(
                        "WITH RECURSIVE t(topic) AS (SELECT MIN(topic) FROM kernel_outbox UNION ALL "
                        "SELECT (SELECT MIN(topic) FROM kernel_outbox WHERE topic > t.topic) FROM t "
                        "WHERE t.topic IS NOT NULL) SELECT topic FROM t WHERE topic IS NOT NULL"
                    )
                )
                .scalars()
                .all()
            )
            upward = [t for t in every if not is_downward(self.runtime, t)]  # downward: for lower nodes
            topics = {
                topic
                for topic in upward
                if session.scalar(
                    select(OutboxRecord.seq)
                    .where(
                        OutboxRecord.topic == topic,
                        OutboxRecord.status.in_((OutboxStatus.PENDING, OutboxStatus.SENT)),
                    )
                    .limit(1)
                )
                is not None
            }
            waiting = set(
                session.scalars(select(ExchangeTopicBackoff.topic).where(ExchangeTopicBackoff.until > now))
            )
            self._plan = schedule.load(session, self.runtime.registry)
            self._known = set(upward) | set(self.runtime.registry.names())
            self._waiting = waiting
            return schedule.open_now(session, self._plan, topics - waiting, now)

    def run_once(self, *, max_batches: int | None = None) -> RelayStats:
        """Relay batches round-robin over the due topics until nothing more is due now."""
        stats = RelayStats()
        self._cursor.clear()  # nothing is in flight between passes; rows requeued meanwhile are seen again
        self._preempted = False
        self._elsewhere.clear()
        topics = self.due_topics()
        if not topics:
            return stats
        if not self.per_topic and not self._acquire(ALL):  # taking the lease over resets orphaned rows
            stats.skipped_topics = topics
            return stats
        active = list(topics)
        while active and not self.should_stop():
            still: list[str] = []
            for index, topic in enumerate(active):
                scope = topic if self.per_topic else ALL
                if self.per_topic and not self._acquire(scope):
                    stats.skipped_topics.append(topic)
                    self._elsewhere.add(topic)
                    continue
                budget = STREAK if max_batches is None else max(0, min(STREAK, max_batches - stats.batches))
                try:
                    more = self._streak(topic, scope, stats, budget)
                except LeaseLost:
                    log.warning("exchange_relay_lease_lost", scope=scope)
                    if not self.per_topic:
                        return stats
                    continue
                if more:
                    still.append(topic)
                if max_batches is not None and stats.batches >= max_batches:
                    return stats
                if self.should_stop():
                    break
                if self._preempted and self._plan is not None:
                    # Topics above this one first, then the rest of this round in its order: a steady
                    # flood of a higher topic slows the lower ones to a batch per streak, never to none.
                    floor = self._plan.priority(topic)
                    ahead = [t for t in self.due_topics() if self._plan.priority(t) > floor]
                    still = ahead + [t for t in (*active[index + 1 :], *still) if t not in ahead]
                    self._preempted = False
                    break
            active = still
        return stats

    def _streak(self, topic: str, scope: str, stats: RelayStats, budget: int) -> bool:
        """Send up to ``budget`` batches of one topic, oldest first. The next batch is claimed and
        prepared (signed) while the current one is in flight, but sent only after the current receipt
        was recorded, so batches never overtake each other. True when the topic may have more."""
        current = self._prepare(topic, scope, stats) if budget > 0 else None
        sent = 0
        while current is not None:
            batch, rows, prepared = current
            stats.batches += 1
            stats.rows += len(rows)
            sent += 1
            future = self._send(prepared)
            upcoming = None
            try:
                if sent < budget and not self.should_stop() and not self._yield_to_higher(topic):
                    upcoming = self._prepare(topic, scope, stats)
                delivery = future.result()
            except TransportError as exc:
                stats.failed_batches += 1
                self._failed(batch, rows, scope, exc, stats)
                if upcoming is not None:
                    self._unclaim(topic, upcoming[1], scope)
                return False
            except BaseException as exc:  # a bug or an interrupt must not wedge the rows in "sent"
                if not future.done():
                    future.cancel()
                error = TransportError(f"{type(exc).__name__}: {exc}", transient=True, code="error")
                if not isinstance(exc, LeaseLost):
                    stats.failed_batches += 1
                    self._failed(batch, rows, scope, error, stats)
                    if upcoming is not None:
                        self._unclaim(topic, upcoming[1], scope)
                raise
            self._delivered(batch, rows, scope, delivery, stats)
            current = upcoming
        return sent >= budget > 0 or self._preempted

    def _yield_to_higher(self, topic: str) -> bool:
        """True (and the streak ends) when a topic of higher priority has rows due."""
        if self._plan is None:
            return False
        candidates = self._known - self._waiting - self._elsewhere
        if not candidates:
            return False
        with unit_of_work(self.runtime.session_factory) as session:
            found = schedule.first_waiting_above(session, self._plan, topic, candidates, utcnow())
        self._preempted = found is not None
        return self._preempted

    def _prepare(
        self, topic: str, scope: str, stats: RelayStats
    ) -> tuple[OutboundBatch, Sequence[Any], Any] | None:
        claimed = self._claim(topic, scope, stats)
        if claimed is None:
            return None
        batch, rows = claimed
        try:
            return batch, rows, self.transport.prepare(batch)
        except Exception:
            self._unclaim(topic, rows, scope)
            raise

    def _unclaim(self, topic: str, rows: Sequence[Any], scope: str) -> None:
        """Put claimed rows back (not sent, no attempt counted)."""
        if not self.per_topic:
            self._cursor.pop(topic, None)  # they never left "pending"; claim from the oldest again
            return
        with unit_of_work(self.runtime.session_factory) as session:
            self._renew(session, scope)
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.seq.in_([r.seq for r in rows]), OutboxRecord.status == OutboxStatus.SENT)
                .values(status=OutboxStatus.PENDING)
            )

    def _send(self, prepared: Any) -> Future[Delivery]:
        if self._pool is not None:
            return self._pool.submit(self.transport.deliver, prepared)
        done: Future[Delivery] = Future()
        try:
            done.set_result(self.transport.deliver(prepared))
        except BaseException as exc:  # handed to the caller through the future, as the pool would
            done.set_exception(exc)
        return done

    def close(self) -> None:
        """Stop the sending thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _claim(self, topic: str, scope: str, stats: RelayStats) -> tuple[OutboundBatch, Sequence[Any]] | None:
        now = utcnow()
        with unit_of_work(self.runtime.session_factory) as session:
            self._renew(session, scope)
            until = session.scalar(
                select(ExchangeTopicBackoff.until).where(ExchangeTopicBackoff.topic == topic)
            )
            if until is not None and until > now:
                return None
            rows = self._select_pending(session, topic)
            if not rows:
                return None
            seqs = [r.seq for r in rows]
            spec = self.runtime.registry.get(topic)
            if spec is None:
                session.execute(
                    update(OutboxRecord)
                    .where(OutboxRecord.seq.in_(seqs))
                    .values(
                        status=OutboxStatus.DEAD,
                        last_error="未登记的交换主题 / topic not registered",
                        updated_at=now,
                    )
                )
                stats.dead += len(seqs)
                log.error("exchange_topic_unknown", topic=topic, rows=len(seqs))
                return None
            if self.per_topic:
                session.execute(
                    update(OutboxRecord)
                    .where(OutboxRecord.seq.in_(seqs))
                    .values(status=OutboxStatus.SENT, updated_at=now)
                )
            else:
                self._cursor[topic] = seqs[-1]
        batch_id = new_id()
        data_source = self.runtime.settings.exchange.data_source
        times: dict[Any, str] = {}
        records = []
        for r in rows:
            cd_time = times.get(r.created_at)
            if cd_time is None:
                cd_time = times[r.created_at] = _compact_beijing(r.created_at)
            payload = loads(r.payload) if isinstance(r.payload, (str, bytes)) else (r.payload or {})
            passed = payload.pop(tiers.RELAY_KEY, None)
            origin = None
            if passed is None:
                payload.update(
                    row_guid=r.message_id, cd_batch=batch_id, cd_operation=r.operation, cd_time=cd_time,
                    data_source=data_source,
                )  # fmt: skip
            else:
                # A lower node's row passed on: its row_guid, data_source and cd_time stay the origin's.
                payload.update(cd_batch=batch_id, cd_operation=r.operation)
                payload.setdefault("row_guid", r.message_id)
                payload.setdefault("cd_time", cd_time)
                payload.setdefault("data_source", data_source)
                origin = tiers.Origin(
                    tuple(passed.get("path") or ()), passed.get("division"), passed.get("tier")
                ).onward(self.runtime.node_id)
            records.append(OutboundRecord(r.seq, r.message_id, r.trace_id, r.key, payload, origin))
        trace = next((r.trace_id for r in rows if r.trace_id), None)
        return OutboundBatch(batch_id, topic, spec.table, tuple(records), trace), rows

    def _select_pending(self, session: Session, topic: str) -> Sequence[Any]:
        """The oldest pending rows of a topic, read at driver level (payload parsed by the fast decoder)."""
        pg = self.per_topic
        mark = "%s" if pg else "?"
        sql = (
            "SELECT seq, message_id, key, operation, payload, trace_id, created_at, attempts FROM kernel_outbox "  # noqa: S608 - fixed text
            f"WHERE topic = {mark} AND status = {mark} AND seq > {mark} ORDER BY seq LIMIT {int(self.conf.batch_size)}"
        )
        if pg:
            sql += " FOR UPDATE SKIP LOCKED"
        after = 0 if pg else self._cursor.get(topic, 0)
        return session.connection().exec_driver_sql(sql, (topic, OutboxStatus.PENDING, after)).all()

    def _delivered(
        self, batch: OutboundBatch, rows: Sequence[Any], scope: str, delivery: Delivery, stats: RelayStats
    ) -> None:
        now = utcnow()
        by_guid = {r.row_guid: r for r in batch.records}
        accepted = [by_guid[g].seq for g in delivery.accepted if g in by_guid]
        rejected = {g: e for g, e in delivery.rejected.items() if g in by_guid and g not in delivery.accepted}
        answered = set(accepted) | {by_guid[g].seq for g in rejected}
        unanswered = [r.seq for r in batch.records if r.seq not in answered]
        with unit_of_work(self.runtime.session_factory) as session:
            self._renew(session, scope)
            if accepted:
                done = update(OutboxRecord)
                if len(accepted) == len(batch.records) and not self.per_topic:
                    # SQLite, everything accepted: the batch is exactly the topic's "sent" rows in its range
                    # (a single claimer; the next prepared batch lies above it).
                    done = done.where(
                        OutboxRecord.topic == batch.topic,
                        OutboxRecord.status == OutboxStatus.PENDING,
                        OutboxRecord.seq.between(batch.records[0].seq, batch.records[-1].seq),
                    )
                else:
                    done = done.where(OutboxRecord.seq.in_(accepted))
                session.execute(
                    done.values(
                        status=OutboxStatus.ACKNOWLEDGED,
                        attempts=OutboxRecord.attempts + 1,
                        last_error=None,
                        next_attempt_at=None,
                        updated_at=now,
                    )
                )
            if rejected:
                session.execute(
                    _OUTBOX.update()
                    .where(_OUTBOX.c.seq == bindparam("b_seq"))
                    .values(
                        status=OutboxStatus.REJECTED,
                        attempts=_OUTBOX.c.attempts + 1,
                        last_error=bindparam("b_error"),
                        updated_at=now,
                    ),
                    [
                        {"b_seq": by_guid[g].seq, "b_error": f"{e.code}: {e.reason}"[:2000]}
                        for g, e in rejected.items()
                    ],
                )
                session.execute(
                    dialect_insert(session, ExchangeFeedback).on_conflict_do_nothing(),
                    [
                        {
                            "id": new_id(),
                            "source": "receipt",
                            "feedback_guid": batch.batch_id,
                            "topic": batch.topic,
                            "table_name": batch.table,
                            "row_guid": g,
                            "message_id": by_guid[g].message_id,
                            "outbox_seq": by_guid[g].seq,
                            "business_key": by_guid[g].key,
                            "cd_batch": batch.batch_id,
                            "error_code": e.code[:100],
                            "reason": e.reason,
                            "status": "open",
                            "received_at": now,
                        }
                        for g, e in rejected.items()
                    ],
                )
                # Our own rows: their owners queue them too (e.g. licenses' abnormal data), in this
                # transaction, so that a refusal is recorded in both places or in neither.
                self.runtime.registry.refused(
                    session,
                    batch.table,
                    [
                        RefusedRow("receipt", g, by_guid[g].key, by_guid[g].row, e)
                        for g, e in rejected.items()
                        if tiers.lower_sender(by_guid[g].origin) is None
                    ],
                )
                # Rows we only passed on: the refusal goes down to the node that sent them to us.
                tiers.pass_down(
                    session,
                    [
                        tiers.Refusal(lower, g, batch.topic, batch.table, by_guid[g].key, e.code, e.reason)
                        for g, e in rejected.items()
                        if (lower := tiers.lower_sender(by_guid[g].origin)) is not None
                    ],
                    feedback_guid=batch.batch_id,
                    refused_by=delivery.peer or "upstream",
                )  # fmt: skip
            if unanswered:
                self._cursor.pop(batch.topic, None)
                session.execute(
                    update(OutboxRecord)
                    .where(OutboxRecord.seq.in_(unanswered))
                    .values(status=OutboxStatus.PENDING, updated_at=now)
                )
            session.execute(delete(ExchangeTopicBackoff).where(ExchangeTopicBackoff.topic == batch.topic))
            counts = {"rows": len(batch.records), "accepted": len(accepted), "rejected": len(rejected)}
            exlog.append(
                session,
                direction="out",
                kind="batch.sent",
                peer=delivery.peer,
                ref=batch.batch_id,
                digest=delivery.batch_digest,
                detail={
                    "topic": batch.topic,
                    "table": batch.table,
                    "transport": self.transport.name,
                    **counts,
                },
            )
            if delivery.receipt_digest:
                exlog.append(
                    session,
                    direction="in",
                    kind="receipt.received",
                    peer=delivery.peer,
                    ref=batch.batch_id,
                    digest=delivery.receipt_digest,
                    detail={**counts, "duplicate": delivery.duplicate},
                )
        stats.acknowledged += len(accepted)
        stats.rejected += len(rejected)
        log.info("exchange_batch_delivered", topic=batch.topic, batch_id=batch.batch_id, **counts)

    def backoff_seconds(self, attempts: int) -> float:
        """Exponential backoff with equal jitter: uniform(d/2, d), d = base·2^(attempts−1) capped."""
        delay = min(self.conf.retry_max_seconds, self.conf.retry_base_seconds * (2 ** max(0, attempts - 1)))
        return self.rng.uniform(delay / 2, delay)

    def _failed(
        self, batch: OutboundBatch, rows: Sequence[Any], scope: str, exc: TransportError, stats: RelayStats
    ) -> None:
        now = utcnow()
        attempts = max(r.attempts for r in rows) + 1
        delay = self.backoff_seconds(attempts)
        if exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self.conf.retry_max_seconds))
        until = now + timedelta(seconds=delay)
        dead = not exc.transient and attempts >= self.conf.max_attempts
        seqs = [r.seq for r in rows]
        self._cursor.pop(batch.topic, None)
        with unit_of_work(self.runtime.session_factory) as session:
            self._renew(session, scope)
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.seq.in_(seqs))
                .values(
                    status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
                    attempts=OutboxRecord.attempts + 1,
                    next_attempt_at=None if dead else until,
                    last_error=f"{exc.code}: {exc.message}"[:2000],
                    updated_at=now,
                )
            )
            if not dead:
                self._hold_topic(session, batch.topic, until, f"{exc.code}: {exc.message}"[:500])
            exlog.append(
                session,
                direction="out",
                kind="batch.failed",
                peer=None,
                ref=batch.batch_id,
                detail={
                    "topic": batch.topic,
                    "rows": len(rows),
                    "code": exc.code,
                    "transient": exc.transient,
                    "attempt": attempts,
                    "dead": dead,
                },
            )
        if dead:
            stats.dead += len(seqs)
        log.warning(
            "exchange_batch_failed",
            topic=batch.topic,
            code=exc.code,
            transient=exc.transient,
            attempt=attempts,
            retry_in=round(delay, 2),
            dead=dead,
        )

    @staticmethod
    def _hold_topic(session: Session, topic: str, until: datetime, reason: str) -> None:
        stmt = dialect_insert(session, ExchangeTopicBackoff).values(topic=topic, until=until, reason=reason)
        stmt = stmt.on_conflict_do_update(index_elements=["topic"], set_={"until": until, "reason": reason})
        session.execute(stmt)
