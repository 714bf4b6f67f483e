"""Domain events and the transactional outbox.

A capability records an outbound message with :func:`emit` in the same session (hence the same
transaction) as the business change; the exchange worker later relays pending rows. In-process
subscribers registered by the composition root receive typed :class:`DomainEvent` objects (frozen
dataclasses declared by the publishing capability) synchronously, inside the publishing transaction.
Services publish, not routes, so the CLI and the worker — which build the same node and bus — emit
the same events as the HTTP API (ADR 0012).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, TypeVar, cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, PortableJSON, UTCDateTime, new_id
from zhengwu.kernel.logging import current_trace_id


class OutboxStatus:
    """Delivery states of an outbox row."""

    PENDING = "pending"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    DEAD = "dead"


class OutboxRecord(Base):
    """出站消息 — one message waiting to be relayed upward, written with the business change."""

    __tablename__ = "kernel_outbox"
    __table_args__ = (Index("ix_kernel_outbox_topic_status_seq", "topic", "status", "seq"),)

    # A monotonically increasing sequence keeps delivery oldest-first on every database.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(128))
    operation: Mapped[str] = mapped_column(String(1), default="I")
    payload: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def _outbox_values(topic: str, payload: dict[str, Any], key: str | None, operation: str) -> dict[str, Any]:
    """The columns a caller gives an outbox row; the rest (message id, status, attempts, times) come
    from the model's column defaults, which the ORM and a Core INSERT both apply — one source for both
    ways of writing the row."""
    if operation not in ("I", "U", "D"):
        raise ValueError("operation must be I, U or D (national cd_operation)")
    return {
        "topic": topic,
        "key": key,
        "operation": operation,
        "payload": payload,
        "trace_id": current_trace_id(),
    }


def emit(
    session: Session, topic: str, payload: dict[str, Any], *, key: str | None = None, operation: str = "I"
) -> OutboxRecord:
    """Queue an outbound record in the caller's transaction (never commits)."""
    record = OutboxRecord(**_outbox_values(topic, payload, key, operation))
    session.add(record)
    return record


def emit_now(
    session: Session, topic: str, payload: dict[str, Any], *, key: str | None = None, operation: str = "I"
) -> None:
    """``emit``, written at once with a Core INSERT (for a hot path that does not need the record back:
    the unit of work's flush of one new row cost about twice the statement). Rows ``emit`` left
    pending in this session are flushed first, so the outbox keeps the order of the calls."""
    values = _outbox_values(topic, payload, key, operation)
    if any(isinstance(pending, OutboxRecord) for pending in session.new):
        session.flush()
    session.execute(_INSERT_OUTBOX, values)


_INSERT_OUTBOX: Final = insert(cast(Table, OutboxRecord.__table__))


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened, named in the past tense; subclasses are frozen dataclasses declared in
    the capability where it happens (``seals.events.SealStatusChanged``) with a ``topic`` naming them."""

    #: ``<capability>.<EventName>`` — stable text for logs and for subscribers in other processes.
    topic: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Explicit super(): dataclass(slots=True) re-creates the class, which breaks the implicit form.
        super(DomainEvent, cls).__init_subclass__(**kwargs)
        # Each event class names itself: an inherited topic would mix two kinds of event in logs.
        if "." not in cls.__dict__.get("topic", ""):
            raise TypeError(f"{cls.__name__} declares no topic '<capability>.<EventName>'")


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Session, E], None]


class EventBus:
    """In-process publish/subscribe by event type; subscriptions are wired only in the composition root.

    Handlers run synchronously inside the publisher's transaction: what they write commits or rolls
    back with the change that caused the event.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Callable[[Session, Any], None]]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> None:
        """Call ``handler`` for every published event of ``event_type`` (exactly that class)."""
        self._handlers[event_type].append(handler)

    def publish(self, session: Session, event: DomainEvent) -> None:
        """Deliver ``event`` to its subscribers inside the caller's transaction."""
        for handler in self._handlers.get(type(event), ()):
            handler(session, event)

    def subscribers(self, event_type: type[DomainEvent]) -> int:
        """How many handlers ``event_type`` has (start-up checks and tests)."""
        return len(self._handlers.get(event_type, ()))


def publish_on(bus: EventBus | None, session: Session, event: DomainEvent) -> None:
    """Publish ``event`` on a service's bus; ``None`` only where no node exists (seed data, unit tests of
    a service) — every node, be it the server's, a CLI command's or the worker's, passes its bus."""
    if bus is not None:
        bus.publish(session, event)
