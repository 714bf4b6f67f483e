"""Severity of a security event: five levels, ordered (the upward report maps them to its own scale)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """How urgent an event is."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (info) to 4 (critical)."""
        return _ORDER.index(self)

    @property
    def label(self) -> str:
        """The Chinese name people read."""
        return _LABELS[self]


_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
_LABELS = {
    Severity.INFO: "提示",
    Severity.LOW: "低",
    Severity.MEDIUM: "中",
    Severity.HIGH: "高",
    Severity.CRITICAL: "严重",
}
