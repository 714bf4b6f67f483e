"""The clock: UTC-aware now, Beijing time only for the national exchange mapping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731 - swapped by tests


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests and replays); ``None`` restores the real one."""
    global _now
    _now = fn if fn is not None else (lambda: datetime.now(UTC))


def to_beijing_compact(value: datetime) -> str:
    """``yyyyMMddHHmmss`` in Beijing time — the national 前置库 format (standards §3)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def from_beijing_compact(text: str) -> datetime:
    """Parse ``yyyyMMddHHmmss`` Beijing time into UTC."""
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).astimezone(UTC)
