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
