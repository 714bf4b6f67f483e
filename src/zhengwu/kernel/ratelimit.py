"""Token buckets per key (a client address, a calling system), kept in this process.

For public endpoints whose work is expensive (verifying an uploaded OFD, answering a verification query)
or whose answers must not be harvested. Each worker process keeps its own buckets, so a node with N
workers lets through up to N times the rate; limits that must hold node-wide belong in the database
(as identity's login and registration limits do) or a shared store.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request

from zhengwu.kernel.errors import TooManyRequests
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import ServiceKey, node_of
from zhengwu.kernel.openapi import answers

log = get_logger("zhengwu.security")

#: The limiters of a node, by name (made on first use by :func:`per_address`).
RATE_LIMITERS: ServiceKey[dict[str, RateLimiter]] = ServiceKey("kernel.rate_limiters")
_install_lock = threading.Lock()


class RateLimiter:
    """``rate_per_minute`` per key, with bursts up to ``burst`` (default: a tenth of a minute's rate)."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: float | None = None,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        self.burst = max(1.0, burst if burst is not None else rate_per_minute / 6.0)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when none is left."""
        now = self._clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            if key not in self._buckets and len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            self._buckets[key] = (tokens - 1.0, now)
            return True

    def retry_after(self, key: str) -> int:
        """Whole seconds until ``key`` has a token again (0 when it has one now)."""
        with self._lock:
            missing = 1.0 - self._tokens(key, self._clock())
        return max(0, math.ceil(missing / self.rate))

    def _forget_full(self, now: float) -> None:
        # Keys whose bucket has refilled carry no state worth keeping; if none has, start afresh
        # rather than grow without bound (a flood of new addresses).
        full = [k for k in self._buckets if self._tokens(k, now) >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()


class RateLimited(TooManyRequests):
    """This client address is over the limit of an endpoint (answered with ``Retry-After``)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(extra={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy: from X-Forwarded-For when uvicorn trusts the proxy)."""
    return request.client.host if request.client else "unknown"


def per_address(name: str, rate_per_minute: Callable[[Any], float]) -> Callable[[Request], None]:
    """A route dependency: 429 with ``Retry-After`` when the client address is over the limit.

    One limiter per node and ``name`` (a node service), its rate read from the node's settings.
    """

    @answers(429)
    def dependency(request: Request) -> None:
        node = node_of(request)
        with _install_lock:
            limiters = node.services.get(RATE_LIMITERS)
            if limiters is None:
                limiters = node.services.put(RATE_LIMITERS, {})
        limiter = limiters.get(name)
        if limiter is None:
            limiter = limiters.setdefault(name, RateLimiter(rate_per_minute(node.settings)))
        key = client_address(request)
        if not limiter.allow(key):
            # A security event (conventions §16); the address stays out of the log line.
            log.warning("rate_limited", limiter=name, security_event=True)
            raise RateLimited(limiter.retry_after(key))

    return dependency
