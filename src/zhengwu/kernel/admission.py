"""Admission: at most N requests at a time enter the thread-and-database part of the node.

Sync endpoints and the sync ``yield`` dependency that owns the request's session (kernel.session) run on
AnyIO's bounded thread pool. Without a bound on requests, a burst fills every thread with endpoints that
wait for a pooled connection while the connections sit with finished requests whose clean-up (commit,
close) waits for a thread — the node freezes until the pool timeout fails everything (FastAPI issue 3205).

Here the rest of a burst waits in the event loop, where waiting costs a future and no thread or
connection. The numbers agree with each other (ADR 0009)::

    connections C = pool_size + max_overflow          (kernel.db: PostgreSQL 10 + 20, SQLite 8 + 8)
    admitted    N = C - RESERVE                      (each admitted request holds ≤ 1 thread, ≤ 1 connection)
    threads     T = N + RESERVE = C                  (AnyIO's limiter; RESERVE threads stay for the lane)

so an admitted request's clean-up always finds a thread, and the status lane (``/_status``, ``/metrics``),
which bypasses the queue, always finds a thread and a connection. A request that waited longer than
``ZHENGWU_ADMISSION__MAX_WAIT_SECONDS`` is answered 503 with ``Retry-After`` and never runs.

The middleware also tells kernel.db whether the request's SQLite transactions may write: GET, HEAD and
OPTIONS begin deferred, every other method takes the write lock when its transaction begins.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhengwu.kernel.config import AdmissionSettings
from zhengwu.kernel.db import begins_immediate, is_database_busy, pool_capacity, read_only_transactions
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.admission")

# Connections (and threads) kept out of reach of ordinary requests: the status lane and the node's own
# background work (signing-key load, import jobs, the exchange relay) use them.
RESERVE = 4
STATUS_LANE = frozenset({"/_status", "/metrics"})
_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Marks a busy answer to a request whose transactions began deferred: the middleware may run it again.
_RETRY_HEADER = b"x-zhengwu-busy-deferred"


def _without_retry_header(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != _RETRY_HEADER]
            message = {**message, "headers": headers}
        await send(message)

    return sending


class NodeBusy(DomainError):
    """The request waited for admission longer than the node allows (answered with ``Retry-After``)."""

    status_code = 503
    code = "node_busy"
    default_detail = "当前访问人数较多，请稍后再试"

    def __init__(self, retry_after: int) -> None:
        super().__init__(detail_en="The node is busy; try again later.", extra={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


class DatabaseBusy(DomainError):
    """The database stayed busy past its timeout (SQLite's write lock, the connection pool)."""

    status_code = 503
    code = "database_busy"
    default_detail = "系统繁忙，请稍后再试"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            detail_en="The database is busy; try again later.", extra={"retry_after": retry_after}
        )
        self.headers = {"Retry-After": str(retry_after)}


class Gate:
    """``slots`` requests inside at a time; the others wait first come, first served, each for at most
    its own time limit. Runs in one event loop (no locks needed)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def inside(self) -> int:
        """Requests admitted and not yet done."""
        return self.slots - self._free

    @property
    def waiting(self) -> int:
        """Requests queued for admission."""
        return sum(1 for f in self._waiters if not f.done())

    async def enter(self, max_wait: float) -> bool:
        """Take a slot (``True``), or ``False`` when none came free within ``max_wait`` seconds."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        ticket: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(ticket)
        timer = loop.call_later(max_wait, self._expire, ticket)
        try:
            return await ticket
        except asyncio.CancelledError:
            # The client went away while queued; a slot handed over in the meantime goes on.
            if ticket.done() and not ticket.cancelled() and ticket.result():
                self.leave()
            raise
        finally:
            timer.cancel()
            if ticket in self._waiters:
                self._waiters.remove(ticket)

    def leave(self) -> None:
        """Give the slot back: straight to the longest waiter, if any."""
        while self._waiters:
            ticket = self._waiters.popleft()
            if not ticket.done():
                ticket.set_result(True)
                return
        self._free += 1

    def _expire(self, ticket: asyncio.Future[bool]) -> None:
        if not ticket.done():
            ticket.set_result(False)


class AdmissionMiddleware:
    """ASGI middleware: the status lane passes, everything else goes through the :class:`Gate`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        slots: int,
        threads: int,
        max_wait_seconds: float,
        retry_after_seconds: int,
        enabled: bool = True,
    ) -> None:
        self.app = app
        self.gate = Gate(slots)
        self.threads = threads
        self.max_wait = max_wait_seconds
        self.retry_after = retry_after_seconds
        self.enabled = enabled
        self._sized_for: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._size_thread_pool()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with read_only_transactions(scope["method"] in _READ_ONLY_METHODS):
            if not self.enabled or scope["path"] in STATUS_LANE:
                await self.app(scope, receive, send)
                return
            if not await self.gate.enter(self.max_wait):
                log.warning("admission_refused", waited_seconds=self.max_wait, waiting=self.gate.waiting)
                busy = NodeBusy(self.retry_after)
                response = JSONResponse(
                    busy.envelope(current_trace_id()), status_code=busy.status_code, headers=busy.headers
                )
                await response(scope, receive, send)
                return
            try:
                if scope["method"] in _READ_ONLY_METHODS:
                    await self._read_then_write(scope, receive, send)
                else:
                    await self.app(scope, receive, send)
            finally:
                self.gate.leave()

    async def _read_then_write(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a safe-method request; if it wrote and met a stale SQLite snapshot, run it once more as a
        write unit.

        A GET begins deferred. The few that also write (an OIDC authorize storing its request, a license
        read logging its use) fail at once with "database is locked" when another writer committed after
        their first read (SQLITE_BUSY_SNAPSHOT: no busy timeout helps). Nothing was sent yet and the
        request's session rolled back, so the second run, whose transactions take the write lock up front,
        queues behind the writer instead of failing. A GET carries no body to replay.
        """
        held: list[Message] = []

        async def holding(message: Message) -> None:
            if held or (
                message["type"] == "http.response.start"
                and any(k == _RETRY_HEADER for k, _ in message.get("headers", []))
            ):
                held.append(message)
                return
            await send(message)

        await self.app(scope, receive, holding)
        if not held:
            return
        log.info("read_request_retried_as_write", path=scope["path"])
        with read_only_transactions(False):
            await self.app(scope, receive, _without_retry_header(send))

    def _size_thread_pool(self) -> None:
        # AnyIO keeps one default limiter per event loop; size it in the loop that serves the requests.
        loop = asyncio.get_running_loop()
        if self._sized_for is not loop:
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            self._sized_for = loop


def sizing(capacity: int, settings: AdmissionSettings) -> tuple[int, int]:
    """(admitted requests, threads) for a pool of ``capacity`` connections."""
    slots = settings.slots or max(1, capacity - RESERVE)
    return slots, slots + RESERVE


def install(app: FastAPI, settings: AdmissionSettings, engine: Engine) -> None:
    """Admit requests by the engine's pool size; answer a database that stays busy with 503."""
    capacity = pool_capacity(engine)
    slots, threads = sizing(capacity, settings)
    app.add_middleware(
        AdmissionMiddleware,
        slots=slots,
        threads=threads,
        max_wait_seconds=settings.max_wait_seconds,
        retry_after_seconds=settings.retry_after_seconds,
        enabled=settings.enabled,
    )
    log.debug("admission_sized", connections=capacity, slots=slots, threads=threads)
    retry_after = settings.retry_after_seconds

    async def busy(_request: Request, exc: Exception) -> JSONResponse:
        if not is_database_busy(exc):
            raise exc  # a real fault: the generic handler answers 500 and logs it
        log.warning("database_busy", error_type=type(exc).__name__)
        error = DatabaseBusy(retry_after)
        headers = dict(error.headers)
        if not begins_immediate():
            headers[_RETRY_HEADER.decode()] = "1"
        return JSONResponse(
            error.envelope(current_trace_id()), status_code=error.status_code, headers=headers
        )

    app.add_exception_handler(OperationalError, busy)
    app.add_exception_handler(PoolTimeout, busy)


def gate_of(app: Any) -> Gate | None:
    """The admission gate of a built application (tests and the status page look at its queue)."""
    stack = getattr(app, "middleware_stack", None)
    while stack is not None:
        if isinstance(stack, AdmissionMiddleware):
            return stack.gate
        stack = getattr(stack, "app", None)
    return None
