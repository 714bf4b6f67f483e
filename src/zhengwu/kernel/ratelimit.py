"""Token buckets per key (a client address, a calling system).

For public endpoints whose work is expensive (verifying an uploaded OFD, answering a verification query)
or whose answers must not be harvested. By default the buckets live in the node's database
(``kernel_rate_bucket``, :class:`SharedRateLimiter`): every server process of a node takes from the same
bucket, so N processes behind a load balancer still let the rate through once. One atomic upsert per
limited request decides (refill, take, remember the decision), in a unit of work of its own. With
``ZHENGWU_SECURITY__RATE_LIMIT_STORE=memory`` each process keeps its own (:class:`RateLimiter`).
Identity's login and registration limits and lockouts are the database's already (its audit trail).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy import Boolean, Float, String, bindparam, case, delete
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from zhengwu.kernel.db import Base, dialect_insert_for
from zhengwu.kernel.errors import TooManyRequests
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import ServiceKey, node_of
from zhengwu.kernel.openapi import answers
from zhengwu.kernel.session import unit_of_work

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


class RateBucket(Base):
    """One token bucket of a limiter (``name``) for one key (a client address, a calling system)."""

    __tablename__ = "kernel_rate_bucket"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)  # Unix seconds of the last take (wall clock: shared by hosts)
    allowed: Mapped[bool] = mapped_column(Boolean)  # the last take's decision, returned by the upsert


_TAKE: dict[str, Any] = {}


def _take_statement(session: Session) -> Any:
    return take_statement(session.get_bind().dialect.name)


def take_statement(dialect: str) -> Any:
    """The bucket's upsert for the dialect, built once: every value is a bound parameter, so a take
    neither builds nor compiles a statement (it is on every limited request's path). Its parameters:
    :meth:`SharedRateLimiter.take_values`; it returns (allowed, tokens left)."""
    found = _TAKE.get(dialect)
    if found is not None:
        return found
    table = RateBucket.__table__
    now = bindparam("now", type_=Float)
    burst = bindparam("burst", type_=Float)
    refilled = table.c.tokens + (now - table.c.at) * bindparam("rate", type_=Float)
    refilled = case((refilled > burst, burst), else_=refilled)
    insert = dialect_insert_for(dialect, RateBucket).values(
        name=bindparam("name"), key=bindparam("key"), tokens=bindparam("first", type_=Float), at=now,
        allowed=True,
    )  # fmt: skip
    statement = insert.on_conflict_do_update(
        index_elements=["name", "key"],
        set_={
            "tokens": case((refilled >= 1.0, refilled - 1.0), else_=refilled),
            "at": now,
            "allowed": refilled >= 1.0,
        },
    ).returning(table.c.allowed, table.c.tokens)
    return _TAKE.setdefault(dialect, statement)


class SharedRateLimiter:
    """The token bucket of :class:`RateLimiter`, kept in the database for every process of the node."""

    def __init__(
        self,
        name: str,
        rate_per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.name = name
        self.rate = rate_per_minute / 60.0
        self.burst = max(1.0, burst if burst is not None else rate_per_minute / 6.0)
        self._clock = clock

    def take(self, session: Session, key: str) -> tuple[bool, int]:
        """Take one token for ``key`` in the caller's transaction: (allowed, seconds until a token is back).

        One statement: the row lock of the upsert orders concurrent takes of the same key, on PostgreSQL
        and SQLite alike, so two processes never both spend the last token."""
        allowed, tokens = session.execute(_take_statement(session), self.take_values(key)).one()
        if allowed:
            return True, 0
        return False, max(1, math.ceil((1.0 - float(tokens)) / self.rate))

    def take_values(self, key: str) -> dict[str, Any]:
        """The parameters of :func:`take_statement` for one token of ``key`` now."""
        return {"name": self.name, "key": key[:128], "now": self._clock(), "rate": self.rate,
                "burst": self.burst, "first": self.burst - 1.0}  # fmt: skip

    def allow(self, factory: sessionmaker[Session], key: str) -> tuple[bool, int]:
        """:meth:`take` in a unit of work of its own (committed before the request goes on)."""
        with unit_of_work(factory) as session:
            return self.take(session, key)


def forget_full_buckets(session: Session, *, older_than_seconds: float = 3600.0) -> int:
    """Delete buckets untouched for an hour: refilled long since, they say nothing (worker housekeeping)."""
    result = session.execute(delete(RateBucket).where(RateBucket.at < time.time() - older_than_seconds))
    return int(getattr(result, "rowcount", 0) or 0)


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

    One limiter per node and ``name`` (a node service), its rate read from the node's settings; shared by
    the node's processes through the database unless the settings keep it in memory.
    """

    @answers(429)
    def dependency(request: Request) -> None:
        node = node_of(request)
        key = client_address(request)
        if node.settings.security.rate_limit_store == "database":
            shared = SharedRateLimiter(name, rate_per_minute(node.settings))
            allowed, retry_after = shared.allow(node.session_factory, key)
            if not allowed:
                log.warning("rate_limited", limiter=name, security_event=True)
                raise RateLimited(retry_after)
            return
        with _install_lock:
            limiters = node.services.get(RATE_LIMITERS)
            if limiters is None:
                limiters = node.services.put(RATE_LIMITERS, {})
        limiter = limiters.get(name)
        if limiter is None:
            limiter = limiters.setdefault(name, RateLimiter(rate_per_minute(node.settings)))
        if not limiter.allow(key):
            # A security event (conventions §16); the address stays out of the log line.
            log.warning("rate_limited", limiter=name, security_event=True)
            raise RateLimited(limiter.retry_after(key))

    return dependency
