"""A small benchmark harness: time a callable, then print figures and ratios against a baseline
measured in the same run (never an absolute threshold — machines differ, ratios travel).

Usage in a bench script::

    from harness import Result, rate, report
    ours = rate("zhengwu validate_uscc", lambda: validate_uscc(code), seconds=2)
    base = rate("bare check arithmetic", lambda: check(code), seconds=2)
    report([ours, base], baseline=base)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Result:
    """One measured figure: operations per second plus optional latency samples (seconds)."""

    name: str
    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    unit: str = "ops"

    @property
    def per_second(self) -> float:
        """Throughput."""
        return self.ops / self.seconds if self.seconds else float("inf")

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (0 when no samples were taken)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[index] * 1000


def rate(
    name: str, fn: Callable[[], object], *, seconds: float = 2.0, batch: int = 1, unit: str = "ops"
) -> Result:
    """Call ``fn`` repeatedly for about ``seconds``; each call counts as ``batch`` operations."""
    fn()  # warm caches and lazy imports outside the measurement
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        calls += 1
        if calls % 16 == 0 and time.perf_counter() >= deadline:
            break
    return Result(name, calls * batch, time.perf_counter() - start, unit=unit)


def latency(name: str, fn: Callable[[], object], *, samples: int = 1000) -> Result:
    """Call ``fn`` ``samples`` times recording each call's latency."""
    fn()
    lat = []
    start = time.perf_counter()
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    return Result(name, samples, time.perf_counter() - start, latencies=lat)


def report(results: Sequence[Result], *, baseline: Result, title: str | None = None) -> None:
    """Print each result with its ratio to the baseline measured in the same run."""
    if title:
        print(f"== {title}")
    width = max(len(r.name) for r in results)
    for r in results:
        ratio = r.per_second / baseline.per_second if baseline.per_second else float("nan")
        line = (
            f"{r.name:<{width}}  {r.per_second:>14,.0f} {r.unit}/s  ratio {ratio:6.3f} vs {baseline.name!r}"
        )
        if r.latencies:
            p50 = statistics.median(r.latencies) * 1000
            line += f"  p50 {p50:.3f} ms  p95 {r.percentile(95):.3f} ms  p99 {r.percentile(99):.3f} ms"
        print(line)
