"""Domain events of cases (published by ``cases.service``; subscribers are wired in main.py). A
department-system webhook sender or a notifier subscribes to them; the service never knows who listens.
They carry no personal data: the case number, item, department and statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from zhengwu.kernel.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvent(DomainEvent):
    """What every case event carries."""

    topic: ClassVar[str] = "cases.CaseEvent"

    case_id: str
    case_no: str
    task_code: str
    department_id: str
    status: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseSubmitted(CaseEvent):
    """An applicant submitted a case (status ``submitted``)."""

    topic: ClassVar[str] = "cases.CaseSubmitted"


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseTransitioned(CaseEvent):
    """A case changed status by an action (staff's or the applicant's)."""

    topic: ClassVar[str] = "cases.CaseTransitioned"

    action: str
    from_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseEvaluated(CaseEvent):
    """The applicant evaluated the concluded case (好差评)."""

    topic: ClassVar[str] = "cases.CaseEvaluated"

    satisfaction: int
