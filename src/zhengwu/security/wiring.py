"""Security on the node: the signal buffer listens while the server runs and is stored after requests and
at shutdown; the events API in the app."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from zhengwu.kernel.assets import ASSET_GUARD
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import Node
from zhengwu.security import signals, tamper, tlcp, upward
from zhengwu.security.events import SecurityEventRecorded

log = get_logger("zhengwu.security.wiring")

#: How often (at most) a request stores the signals collected so far.
FLUSH_SECONDS: Final = 5.0


def install(node: Node) -> None:
    """The signal buffer is a node service (tests and the flusher reach it there); it listens only while
    a server runs (``mount``), so CLI commands and tests building many nodes attach no handlers."""
    node.services.put(signals.SIGNAL_BUFFER, signals.SignalBuffer())
    # Every capability's static assets are checked against the signed release manifest (anti-tamper).
    node.services.put(ASSET_GUARD, tamper.ManifestGuard(node))
    # Severe events go upward in the transaction that stores them.
    node.bus.subscribe(SecurityEventRecorded, upward.subscriber(node.settings))
    gateway = tlcp.configured(node.settings)
    if gateway is not None:
        node.health_probes["tlcp_gateway"] = tlcp.CachedProbe(
            gateway, node.settings.security.tlcp_check_minutes
        )


def flush(node: Node) -> int:
    """Store what the buffer collected in one unit of work; on failure the lines go back to the buffer."""
    buffer = node.services.provide(signals.SIGNAL_BUFFER)
    lines, overflowed = buffer.take()
    if not lines and not overflowed:
        return 0
    try:
        with node.unit() as session:
            return signals.store(session, lines, overflowed, bus=node.bus)
    except Exception:
        buffer.give_back(lines, overflowed)
        raise


class FlushAfterRequests:
    """Stores the collected signals after a request once ``FLUSH_SECONDS`` have passed since the last time.

    After the request rather than on a timer thread: a flush is then one more unit of work of the
    request's thread, never a second user of a connection behind the request's back (tests share
    one connection between the test and the app). At most one request flushes at a time.
    """

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app, self.node = app, node
        self._lock = threading.Lock()
        self._last = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http" and time.monotonic() - self._last >= FLUSH_SECONDS:
            await run_in_threadpool(self._flush_if_free)

    def _flush_if_free(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._last = time.monotonic()
            flush(self.node)
        except Exception as exc:  # a busy database: the lines went back to the buffer, next time then
            log.warning("security_signals_flush_failed", error=type(exc).__name__)
        finally:
            self._lock.release()


def lifespan_hook(inner: Lifespan[Any], node: Node) -> Lifespan[Any]:
    """Listen for signals while the app runs; store what is left at shutdown."""

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        buffer = node.services.provide(signals.SIGNAL_BUFFER)
        signals.attach(buffer)
        try:
            async with inner(application) as inner_state:
                yield inner_state
        finally:
            signals.detach(buffer)
            try:
                await run_in_threadpool(flush, node)
            except Exception as exc:  # said, not swallowed: the lines are in the log stream already
                log.warning("security_signals_lost_at_shutdown", error=type(exc).__name__)

    return lifespan


def mount(app: FastAPI, node: Node) -> None:
    """Include the security events API; collect the node's own signals while serving."""
    from zhengwu.security import routes

    app.include_router(routes.router)
    app.router.lifespan_context = lifespan_hook(app.router.lifespan_context, node)
    app.add_middleware(FlushAfterRequests, node=node)
