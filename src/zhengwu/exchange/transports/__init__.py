"""Transports that carry a batch of national rows upward: signed HTTP or the 前置库 (front-end database)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from zhengwu.kernel.topics import RowError


@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One outbox row turned into a national row (control columns included)."""

    seq: int
    message_id: str
    trace_id: str | None
    key: str | None
    row: dict[str, Any]
    # For a lower node's row passed on: where it was made and the path it took (exchange.tiers).
    origin: dict[str, Any] | None = None

    @property
    def row_guid(self) -> str:
        """The national row id (the outbox message id)."""
        return str(self.row["row_guid"])


@dataclass(frozen=True, slots=True)
class OutboundBatch:
    """Rows of one topic leaving together; ``batch_id`` is also the rows' ``cd_batch``."""

    batch_id: str
    topic: str
    table: str
    records: tuple[OutboundRecord, ...]
    trace_id: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the other side said about a batch."""

    accepted: frozenset[str]
    rejected: Mapping[str, RowError]
    peer: str | None = None
    batch_digest: str | None = None
    receipt_digest: str | None = None
    duplicate: bool = False
    detail: dict[str, Any] = field(default_factory=dict)


class TransportError(Exception):
    """The batch did not get through. ``transient`` errors are retried for ever (store and forward);
    permanent ones count towards the dead letter."""

    def __init__(
        self, message: str, *, transient: bool, code: str = "transport", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.code = code
        self.retry_after = retry_after


class Transport(Protocol):
    """Carries batches to the upper node. ``prepare`` (sign, convert) may run while the previous batch
    is being delivered; ``deliver`` sends; ``send`` is both."""

    name: str

    def prepare(self, batch: OutboundBatch) -> Any:
        """Everything that can be done before sending (no I/O towards the upper node)."""
        ...

    def deliver(self, prepared: Any) -> Delivery:
        """Deliver one prepared batch or raise TransportError."""
        ...

    def send(self, batch: OutboundBatch) -> Delivery:
        """Prepare and deliver one batch."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
