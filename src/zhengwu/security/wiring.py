"""Security on the node: the signal buffer and its flusher live with the server; the events API in the app."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import Lifespan

from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import Node
from zhengwu.security import signals

log = get_logger("zhengwu.security.wiring")

#: How often the server stores the signals it collected.
FLUSH_SECONDS: Final = 5.0


def install(node: Node) -> None:
    """The signal buffer is a node service (tests and the flusher reach it there); it listens only while
    a server runs (``mount``), so CLI commands and tests building many nodes attach no handlers."""
    node.services.put(signals.SIGNAL_BUFFER, signals.SignalBuffer())


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


def _flusher(node: Node, stop: threading.Event) -> None:
    while not stop.wait(FLUSH_SECONDS):
        try:
            flush(node)
        except Exception as exc:  # a busy or unreachable database: keep the lines, try again later
            log.warning("security_signals_flush_failed", error=type(exc).__name__)


def lifespan_hook(inner: Lifespan[Any], node: Node) -> Lifespan[Any]:
    """Listen for signals while the app runs; store them every few seconds and once more at shutdown."""

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        buffer = node.services.provide(signals.SIGNAL_BUFFER)
        signals.attach(buffer)
        stop = threading.Event()
        thread = threading.Thread(target=_flusher, args=(node, stop), name="security-signals", daemon=True)
        thread.start()
        try:
            async with inner(application) as inner_state:
                yield inner_state
        finally:
            stop.set()
            await run_in_threadpool(thread.join, 10)
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
