"""Domain events of the seal registry (published by ``seals.service``; subscribers are wired in main.py).

For example, the licence capability can stop issuing with a suspended or revoked seal. The CLI and the
API call the same service functions with the node's bus, so both publish the same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from zhengwu.kernel.events import DomainEvent
from zhengwu.seals.models import Seal


@dataclass(frozen=True, slots=True, kw_only=True)
class SealEvent(DomainEvent):
    """What every seal event carries."""

    topic: ClassVar[str] = "seals.SealEvent"

    es_id: str
    department_id: str
    status: str
    reason: str | None
    actor: str

    @classmethod
    def of(cls, seal: Seal, *, actor: str) -> Self:
        """The event for ``seal`` as it is now."""
        return cls(
            es_id=seal.es_id,
            department_id=seal.department_id,
            status=seal.status,
            reason=seal.status_reason,
            actor=actor,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SealCreated(SealEvent):
    """A seal was made for a department (status ``active``)."""

    topic: ClassVar[str] = "seals.SealCreated"


@dataclass(frozen=True, slots=True, kw_only=True)
class SealStatusChanged(SealEvent):
    """A seal was suspended, resumed or revoked (``status`` is the new one)."""

    topic: ClassVar[str] = "seals.SealStatusChanged"
