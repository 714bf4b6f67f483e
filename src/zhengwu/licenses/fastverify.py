"""Public verification by identifier answered before the route table, its writes committed in the event
loop (ADR 17; issue 11: >= 2,000 verifications a second with p99 <= 20 ms on SQLite).

The route ``POST /api/v1/licenses/verify`` cost about 2 ms of CPU per request over HTTP: half of it the
framework before and after the endpoint (``kernel.fastpath``), the rest two thread hand-offs competing
with the event loop for the GIL, and a Session with a savepoint per request in the group commit's
transaction. Here a clean request — a small JSON body with an identifier and a holder code, on a node
whose sessions are its own SQLite file — is read and validated as the route would, then queued; the
requests of one turn of the event loop are answered from one transaction on a connection kept for the
purpose: the address's rate-limit token, the license's row, and the usage records (one INSERT for the
batch), committed (WAL, ``synchronous=NORMAL``: no fsync at commit) before any of them is answered.

Everything else goes the ordinary way, which answers exactly as before: a refused token (the route
takes it again and sends its 429), another body or content type, the QR form, a validation error, a
database busy for longer than ``max_busy_wait`` (``busy_timeout`` is 0 in the loop: while another
connection holds the write lock the batch is tried again a few milliseconds later, the loop free
meanwhile), a failed batch (rolled back; nothing of it was recorded), PostgreSQL, memory-kept rate limits, and sessions not bound to the node's own engine (the
tests' per-test transactions).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy.pool import StaticPool
from starlette.types import ASGIApp, Receive, Scope, Send

from zhengwu.identity import context as identity_context
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import KeptSqliteConnection
from zhengwu.kernel.db import RawStatement as Raw
from zhengwu.kernel.fastpath import (
    MAX_FAST_BODY,
    declared_length,
    has_json_body,
    read_small_body,
    replay,
    send_json,
)
from zhengwu.kernel.logging import current_trace_id, error_origin, get_logger
from zhengwu.kernel.metrics import CounterSpec, counter
from zhengwu.kernel.node import Node
from zhengwu.kernel.ratelimit import SharedRateLimiter, take_statement
from zhengwu.licenses import service
from zhengwu.licenses.schemas import VerifyAnswer, VerifyRequest

log = get_logger("zhengwu.licenses.fastverify")

PATH: Final = "/api/v1/licenses/verify"
#: At most this many requests in one transaction: the loop is not held longer than a few milliseconds.
MAX_BATCH: Final = 64
#: While another connection holds the write lock, the batch is tried again after 1, 2, 3 … ms (at most
#: 10 ms apart), for at most ``LoopVerifier.max_busy_wait`` seconds; then the route answers it.
BUSY_STEP: Final = 0.001
BUSY_STEP_MAX: Final = 0.010
_BUSY: Final[list[service.Answer | None]] = []

#: How the fast path's requests went: answered, declined to the route, and batches that found the write
#: lock taken (each retry counted) — for operators, and for the benchmarks' reading of a tail.
FAST_VERIFY: Final = CounterSpec(
    "zhengwu_license_verify_fast",
    "Public verifications by identifier on the fast path, by outcome (answered, declined, busy_retry)",
    ("outcome",),
)


@dataclass(slots=True)
class _Job:
    identifier: str
    holder_code: str
    address: str
    caller: service.Caller
    trace_id: str | None
    future: asyncio.Future[service.Answer | None]


class LoopVerifier:
    """The verifications of one event-loop turn in one transaction on a SQLite connection of its own.

    ``verify`` gives the answer once its usage record is committed, or None: answer through the route."""

    def __init__(self, node: Node, rate_per_minute: Callable[[], float]) -> None:
        self.node = node
        self._rate = rate_per_minute
        self._jobs: list[_Job] = []
        self._scheduled = False
        # Never waits in the loop for another connection's write lock (the route waits instead).
        self._kept = KeptSqliteConnection(node.engine, name="licenses.fastverify")
        self._statements: tuple[Raw, Raw, Raw] | None = None
        self._busy_since = 0.0  # loop time of the first busy attempt of the waiting batch
        self._busy_tries = 0
        self.max_busy_wait = 2.0
        self._outcomes = counter(node, FAST_VERIFY)
        self.batches = 0  # for tests and benchmarks
        self.answered = 0
        self.declined = 0

    def engaged(self) -> bool:
        """Whether this node's requests can take the fast path (else every request goes the route's way)."""
        node = self.node
        engine = node.engine
        return (
            engine.dialect.name == "sqlite"
            and not isinstance(engine.pool, StaticPool)  # an in-memory database: one shared connection
            and node.session_factory.kw.get("bind") is engine  # the node's own sessions, not a test's
            and node.settings.security.rate_limit_store == "database"
        )

    async def verify(
        self, identifier: str, holder_code: str, caller: service.Caller, trace_id: str | None
    ) -> service.Answer | None:
        loop = asyncio.get_running_loop()
        address = caller.client_ip or "unknown"  # as the route's limiter names an unknown peer
        job = _Job(identifier, holder_code, address, caller, trace_id, loop.create_future())
        self._jobs.append(job)
        if not self._scheduled:
            # After the callbacks already ready: the requests read in this turn join the batch.
            self._scheduled = True
            loop.call_soon(self._flush)
        return await job.future

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._scheduled = False
        batch, self._jobs = self._jobs[:MAX_BATCH], self._jobs[MAX_BATCH:]
        try:
            answers = self._commit(batch)
        except Exception as exc:  # rolled back: none of the batch is recorded, the route answers each
            log.warning("fast_verify_batch_failed", error_type=type(exc).__name__, origin=error_origin(exc))
            self._reset(broken=True)
            answers = [None] * len(batch)
        if answers is _BUSY:
            # Another connection holds the write lock. Waiting here, not in SQLite's busy handler, keeps
            # the loop free; handing the batch to the route instead made the route's own transactions hold
            # the lock more often, and so more batches busy — under 256 connections the p99 went to seconds.
            now = loop.time()
            self._busy_since = self._busy_since or now
            if now - self._busy_since < self.max_busy_wait:
                self._jobs[:0] = batch  # first in line again, with whatever came meanwhile
                self._busy_tries += 1
                self._outcomes.labels(outcome="busy_retry").inc()
                self._scheduled = True
                loop.call_later(min(BUSY_STEP * self._busy_tries, BUSY_STEP_MAX), self._flush)
                return
            answers = [None] * len(batch)  # still busy: the route's transaction waits in its thread
        self._busy_since = 0.0
        self._busy_tries = 0
        if self._jobs and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        self.batches += 1
        declined = 0
        for job, answer in zip(batch, answers, strict=True):
            declined += answer is None
            if not job.future.done():  # a caller that went away cancelled its future
                job.future.set_result(answer)
        self.declined += declined
        self.answered += len(batch) - declined
        if declined:
            self._outcomes.labels(outcome="declined").inc(declined)
        if len(batch) > declined:
            self._outcomes.labels(outcome="answered").inc(len(batch) - declined)

    def _commit(self, batch: list[_Job]) -> list[service.Answer | None]:
        db, statements = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return _BUSY  # another connection writes: try again shortly
        take, read, record = statements
        limiter = SharedRateLimiter("licenses.verify", self._rate())
        keys = identity_context.for_node(self.node).keys
        today = utcnow().date()
        answers: list[service.Answer | None] = []
        records: list[tuple[Any, ...]] = []
        results: list[str] = []
        try:
            for job in batch:
                allowed, _ = db.execute(take.sql, take.bind(limiter.take_values(job.address))).fetchone()
                if not allowed:
                    answers.append(None)  # the route takes again and refuses with its 429
                    continue
                found = db.execute(read.sql, (job.identifier.strip(),)).fetchone()
                row = read.row(found) if found is not None else None
                answer, result, ref = service.answer_row(row, keys, job.holder_code, today)
                records.append(
                    record.bind(service.usage_values(job.caller, "verify_id", result, ref, job.trace_id))
                )
                results.append(result)
                answers.append(answer)
            if records:
                db.executemany(record.sql, records)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        uses = counter(self.node, service.LICENSE_USES)
        for result in results:
            uses.labels(operation="verify_id", result=result).inc()
        return answers

    def _connect(self) -> tuple[sqlite3.Connection, tuple[Raw, Raw, Raw]]:
        if self._statements is None:
            dialect = self.node.engine.dialect
            self._statements = (
                Raw(dialect, take_statement(dialect.name)),
                Raw(dialect, service.VERIFY_SELECT),
                Raw(dialect, service.USAGE_INSERT, columns=True),
            )
        return self._kept.get(), self._statements

    def _reset(self, *, broken: bool = False) -> None:
        self._kept.reset(broken=broken)

    def close(self) -> None:
        """At shutdown: return the connection to the pool."""
        self._reset()


class VerifyHandler:
    """The ``kernel.fastpath`` handler of ``POST /api/v1/licenses/verify``."""

    def __init__(self, verifier: LoopVerifier) -> None:
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send, route: ASGIApp) -> None:
        length = declared_length(scope)
        if (
            length is None
            or length > MAX_FAST_BODY
            or not has_json_body(scope)
            or not self.verifier.engaged()
        ):
            await route(scope, receive, send)
            return
        body, messages = await read_small_body(receive, length)
        again = replay(messages, receive)
        request = _clean_request(body) if body is not None else None
        if request is None:
            await route(scope, again, send)
            return
        identifier, holder_code, purpose = request
        client = scope.get("client")
        caller = service.Caller("public", purpose, client[0] if client else None)
        answer = await self.verifier.verify(identifier, holder_code, caller, current_trace_id())
        if answer is None:
            await route(scope, again, send)
            return
        await send_json(send, 200, VerifyAnswer.model_validate(answer.as_json()).model_dump_json().encode())


def _clean_request(body: bytes) -> tuple[str, str, str | None] | None:
    """(identifier, holder code, purpose) as the route validates them, or None for any other body."""
    try:
        # The route's own parsing: the standard library's JSON, then the model from the Python value.
        data = VerifyRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if data.identifier is None or data.holder_code is None or data.qr is not None:
        return None
    return data.identifier, data.holder_code, data.purpose
