"""Domain events of the seal registry (in-process bus; subscribers are wired in main.py only).

``SealCreated`` and ``SealStatusChanged`` carry ``{"es_id", "department_id", "status", "reason", "actor"}``
so that, e.g., the licence capability can stop issuing with a suspended or revoked seal.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from zhengwu.kernel.events import DomainEvent, EventBus
from zhengwu.seals.models import Seal

SEAL_CREATED: Final = "SealCreated"
SEAL_STATUS_CHANGED: Final = "SealStatusChanged"


def seal_event(name: str, seal: Seal, *, actor: str) -> DomainEvent:
    """The event for a seal that was just created or changed status."""
    return DomainEvent(
        name,
        {
            "es_id": seal.es_id,
            "department_id": seal.department_id,
            "status": seal.status,
            "reason": seal.status_reason,
            "actor": actor,
        },
    )


def publish(bus: EventBus | None, session: Session, name: str, seal: Seal, *, actor: str) -> None:
    """Publish a seal event on the bus, if there is one (the CLI has none)."""
    if bus is not None:
        bus.publish(session, seal_event(name, seal, actor=actor))
