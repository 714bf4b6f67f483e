"""A kernel clock the test moves (``kernel.clock.set_clock``); the ``clock`` fixture of conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """A controllable kernel clock (whole seconds, like time-stamps and CRL dates)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward."""
        self.now += timedelta(**delta)
        return self.now
