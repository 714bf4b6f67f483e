"""Domain events of the licenses' data side: historical imports and the abnormal data queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from zhengwu.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class LicensesImported(DomainEvent):
    """A chunk of historical licenses was imported (one event per chunk, not per license)."""

    topic: ClassVar[str] = "licenses.LicensesImported"

    batch_id: str
    type_code: str
    department_id: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AbnormalHandled(DomainEvent):
    """Staff resubmitted or dismissed an abnormal data entry."""

    topic: ClassVar[str] = "licenses.AbnormalHandled"

    entry_id: str
    status: str
    license_id: str | None
    actor: str
