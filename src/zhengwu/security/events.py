"""Domain events of the security capability (published by ``security.service``).

A subscriber (the upward report to the national security centre, an alerting hook) hears of each stored
security event inside the transaction that stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from zhengwu.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityEventRecorded(DomainEvent):
    """A security event (or the summary of a flood of alike events) was stored."""

    topic: ClassVar[str] = "security.SecurityEventRecorded"

    event_id: str
    event_type: str
    severity: str
    source: str
    count: int
