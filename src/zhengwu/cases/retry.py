"""The retry policy of the cases' queued deliveries (webhooks to department systems, notices to
applicants), taken from ``ZHENGWU_CASES__WEBHOOKS__*`` and ``ZHENGWU_CASES__NOTICES__*``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from zhengwu.kernel.config import RetrySettings


@dataclass(frozen=True, slots=True)
class Retry:
    """After ``max_attempts`` failures a delivery is dead; before that, the n-th failure waits
    ``base``·2^(n−1), at most ``cap``."""

    max_attempts: int
    base: timedelta
    cap: timedelta
    timeout: float

    @classmethod
    def of(cls, settings: RetrySettings) -> Retry:
        """The policy a settings group describes."""
        return cls(
            max_attempts=settings.max_attempts,
            base=timedelta(seconds=settings.backoff_seconds),
            cap=timedelta(seconds=settings.backoff_cap_seconds),
            timeout=settings.timeout_seconds,
        )

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure."""
        wait: timedelta = self.base * (2 ** min(30, max(0, attempts - 1)))
        return min(self.cap, wait)

    def gives_up(self, attempts: int) -> bool:
        """Whether ``attempts`` failures make the delivery dead."""
        return attempts >= self.max_attempts
