"""Token buckets per client address, and the 429 envelope with Retry-After on public endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from zhengwu.kernel.node import node_of
from zhengwu.kernel.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bursts_then_the_rate_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(60, burst=3, clock=clock)  # one a second
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # every key has its own bucket
    assert limiter.retry_after("a") == 1
    clock.now += 1.0
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now += 10.0
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_memory_is_bounded_and_bad_rates_are_refused() -> None:
    clock = Clock()
    limiter = RateLimiter(60, burst=2, max_keys=100, clock=clock)
    for i in range(1000):
        assert limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) <= 100
    with pytest.raises(ValueError):
        RateLimiter(0)


def _limited(app: Any, rate: int) -> None:
    node_of(app).settings.security.public_rate_per_minute = rate


def test_public_ofd_verification_is_limited_per_address(app: Any, client: Any) -> None:
    _limited(app, 6)  # burst of one
    first = client.post(
        "/api/v1/seals/verify", content=b"not an ofd", headers={"Content-Type": "application/ofd"}
    )
    assert first.status_code != 429
    second = client.post(
        "/api/v1/seals/verify", content=b"not an ofd", headers={"Content-Type": "application/ofd"}
    )
    assert second.status_code == 429 and second.json()["code"] == "rate_limited"
    assert second.json()["detail"] == "请求过于频繁，请稍后再试" and int(second.headers["retry-after"]) >= 1


def test_certificate_challenges_are_limited_per_address(app: Any, client: Any) -> None:
    _limited(app, 6)
    assert client.post("/api/v1/identity/certificate/challenge", json={}).status_code == 200
    limited = client.post("/api/v1/identity/certificate/challenge", json={})
    assert limited.status_code == 429 and "retry-after" in limited.headers


class _Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_shared_bucket_bursts_refills_and_is_one_for_every_process(session: Any) -> None:
    from zhengwu.kernel.ratelimit import SharedRateLimiter

    clock = _Clock()
    # Two limiters with the same name stand for two server processes of one node.
    one = SharedRateLimiter("test.shared", 60, burst=2, clock=clock)
    other = SharedRateLimiter("test.shared", 60, burst=2, clock=clock)
    assert one.take(session, "10.0.0.1") == (True, 0)
    assert other.take(session, "10.0.0.1") == (True, 0)
    assert one.take(session, "10.0.0.1") == (False, 1)
    assert other.take(session, "10.0.0.2") == (True, 0)  # another address has its own bucket
    assert SharedRateLimiter("test.other", 60, burst=2, clock=clock).take(session, "10.0.0.1")[0]
    clock.now += 1.0  # one token back at one per second
    assert other.take(session, "10.0.0.1") == (True, 0)
    assert one.take(session, "10.0.0.1")[0] is False
    clock.now += 3600  # a full bucket, never more than the burst
    assert [one.take(session, "10.0.0.1")[0] for _ in range(3)] == [True, True, False]


def test_idle_buckets_are_forgotten(session: Any) -> None:
    from sqlalchemy import func, select

    from zhengwu.kernel.ratelimit import RateBucket, SharedRateLimiter, forget_full_buckets

    clock = _Clock()
    clock.now = 1_000.0  # long ago
    SharedRateLimiter("test.idle", 60, clock=clock).take(session, "10.0.0.9")
    SharedRateLimiter("test.idle", 60).take(session, "10.0.0.10")  # now
    assert forget_full_buckets(session) == 1
    assert session.scalar(select(func.count()).where(RateBucket.name == "test.idle")) == 1


def test_the_memory_store_stays_per_process(app: Any, client: Any) -> None:
    node_of(app).settings.security.rate_limit_store = "memory"
    _limited(app, 6)
    assert client.post("/api/v1/identity/certificate/challenge", json={}).status_code == 200
    assert client.post("/api/v1/identity/certificate/challenge", json={}).status_code == 429
    from zhengwu.kernel.ratelimit import RATE_LIMITERS

    assert "identity.certificate_challenge" in node_of(app).services.provide(RATE_LIMITERS)
