"""The node's own security signals: log lines marked ``security_event=True`` become security events.

Capabilities already log their security-relevant moments (conventions §16: the rate limiter's
``rate_limited``, the exchange's ``exchange_document_refused``, identity's ``identity_account_locked``,
the audit's ``audit_chain_broken``), all at WARNING, so they pass any configured level. A logging handler on the ``zhengwu`` logger collects those lines
in a bounded buffer, without blocking the request that logged; a flush stores them in one unit of
work, alike lines of one window summarised into one event with a count. When the buffer is full the
oldest line is counted, not kept, and the count becomes an event of its own: nothing disappears without
a trace.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.node import ServiceKey
from zhengwu.security.service import NewEvent, record
from zhengwu.security.severity import Severity

#: Log event name → (security event type, severity, source).
SIGNALS: Final[dict[str, tuple[str, Severity, str]]] = {
    "rate_limited": ("node.rate_limited", Severity.LOW, "node.ratelimit"),
    "identity_account_locked": ("identity.locked", Severity.MEDIUM, "identity"),
    "exchange_document_refused": ("exchange.document_refused", Severity.HIGH, "exchange"),
    "audit_chain_broken": ("audit.chain_broken", Severity.CRITICAL, "audit"),
    "asset_refused": ("integrity.asset_refused", Severity.HIGH, "integrity"),
}

#: Fields of a log line that may go into an event's detail (never addresses, names or numbers).
_DETAIL_FIELDS: Final = ("limiter", "code", "sender", "chain", "reason", "kind", "file")


@dataclass(frozen=True, slots=True)
class Signal:
    """One marked log line, reduced to what may be stored."""

    name: str
    at: datetime
    detail: tuple[tuple[str, str], ...]


class SignalBuffer(logging.Handler):
    """Collects marked log lines; thread-safe; bounded."""

    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(level=logging.INFO)
        self.capacity = capacity
        self._lines: deque[Signal] = deque()
        self._overflowed = 0
        self._lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the line when it is a security signal this capability knows."""
        event = record.msg
        if not isinstance(event, Mapping) or event.get("security_event") is not True:
            return
        name = str(event.get("event", ""))
        if name not in SIGNALS:
            return
        detail = tuple((k, str(event[k])[:100]) for k in _DETAIL_FIELDS if event.get(k) is not None)
        with self._lock_:
            if len(self._lines) >= self.capacity:
                self._lines.popleft()
                self._overflowed += 1
            self._lines.append(Signal(name, utcnow(), detail))

    def take(self) -> tuple[list[Signal], int]:
        """Everything collected so far and how many lines overflowed; the buffer starts empty again."""
        with self._lock_:
            lines, overflowed = list(self._lines), self._overflowed
            self._lines.clear()
            self._overflowed = 0
        return lines, overflowed

    def give_back(self, lines: list[Signal], overflowed: int) -> None:
        """Return lines a failed flush could not store (they are tried again next time)."""
        with self._lock_:
            self._lines.extendleft(reversed(lines))
            self._overflowed += overflowed


SIGNAL_BUFFER: ServiceKey[SignalBuffer] = ServiceKey("security.signals")


def store(session: Session, lines: list[Signal], overflowed: int, *, bus: EventBus | None) -> int:
    """Store collected signals: one event per signal name and detail, with its count; returns rows written."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[Signal]] = {}
    for line in lines:
        groups.setdefault((line.name, line.detail), []).append(line)
    written = 0
    for (name, detail), members in groups.items():
        event_type, severity, source = SIGNALS[name]
        count = len(members)
        suffix = f"（{count} 次）" if count > 1 else ""
        record(
            session,
            NewEvent(
                event_type=event_type,
                severity=severity,
                source=source,
                occurred_at=members[0].at,
                last_at=members[-1].at,
                count=count,
                summary=f"{_label(event_type)}{suffix}",
                detail={"signal": name, **dict(detail)},
            ),
            bus=bus,
        )
        written += 1
    if overflowed:
        record(
            session,
            NewEvent(
                event_type="security.signals_overflowed",
                severity=Severity.MEDIUM,
                source="security",
                count=overflowed,
                summary=f"安全信号过多，{overflowed} 条只计数未逐条记录",
                detail={"by_signal": dict(Counter(line.name for line in lines))},
            ),
            bus=bus,
        )
        written += 1
    return written


def _label(event_type: str) -> str:
    from zhengwu.security.service import EVENT_TYPES

    return EVENT_TYPES[event_type]


def attach(buffer: SignalBuffer) -> None:
    """Listen on the ``zhengwu`` logger (once per buffer)."""
    logger = logging.getLogger("zhengwu")
    if buffer not in logger.handlers:
        logger.addHandler(buffer)


def detach(buffer: SignalBuffer) -> None:
    """Stop listening."""
    logging.getLogger("zhengwu").removeHandler(buffer)


def describe(signal: Signal) -> dict[str, Any]:
    """A signal for tests and logs."""
    return {"name": signal.name, "at": signal.at.isoformat(), **dict(signal.detail)}
