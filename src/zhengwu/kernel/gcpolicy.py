"""The serving process's garbage collector: what start-up built is frozen out of the collector's walks.

A node's process holds some 300,000 container objects once it has started (modules, the routes, SQLAlchemy's
mappers and compiled statements, the code tables, Jinja's compiled templates). Python's cyclic collector
walks all of them on every full (generation 2) collection, which under load came every few seconds and
took 150–170 ms of CPU (340 ms of wall time on the shared machine) — with every request in flight
waiting, since the collector runs on the event loop's thread. That was the static route's p99 of ~200 ms
at a p50 of 3–7 ms (docs/benchmarks.md). :func:`gc.freeze` moves everything alive after start-up into a
permanent generation that collections skip: a full collection then walks what requests left behind
(~55,000 objects, 15–20 ms of CPU).

The price: an object built before the freeze and dropped later is never reclaimed by the cyclic
collector if it sits in a reference cycle (reference counting still frees the rest). Start-up state lives
as long as the process, so this is what CPython's documentation recommends for servers.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.types import Lifespan

_settled = False
_lock = threading.Lock()


def settle() -> bool:
    """Collect once, then freeze what is left; once per process (a test process builds many apps and
    must not keep each one forever). True when this call froze."""
    global _settled
    with _lock:
        if _settled:
            return False
        gc.collect()
        gc.freeze()
        _settled = True
        return True


def lifespan(inner: Lifespan[Any]) -> Lifespan[Any]:
    """Freeze when every capability's start-up has run (signing keys loaded, orphaned jobs marked)."""

    @asynccontextmanager
    async def wrapped(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            settle()
            yield state

    return wrapped
