"""Every query on the cases tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any, Final, cast

from sqlalchemy import Select, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.cases import serials
from zhengwu.cases.machine import DRAFT, OPEN
from zhengwu.cases.models import (
    CalendarOverride,
    Case,
    CaseEvaluation,
    CaseHistory,
    CaseItemFields,
    CaseOpinion,
    CasePause,
    CaseProcess,
    CaseSerial,
)

# Statements of the submission path, built once on the tables: constructing, cache-keying and
# ORM-dispatching them per call cost more than running them (bench/cases.py).
_SERIALS = cast(Table, CaseSerial.__table__)
_BUMP = (
    update(_SERIALS)
    .where(_SERIALS.c.scope == bindparam("counter"))
    .values(value=_SERIALS.c.value + 1)
    .returning(_SERIALS.c.value)
)
_PROCESSES = cast(Table, CaseProcess.__table__)
_DEFINITION = select(_PROCESSES.c.definition).where(_PROCESSES.c.task_code == bindparam("task_code"))
_OVERRIDES = cast(Table, CalendarOverride.__table__)
_ALL_OVERRIDES = select(_OVERRIDES.c.day, _OVERRIDES.c.workday)


#: A department's 联办 row (``CaseOpinion``) while the case is at one of its steps, and once it has
#: finished them (back to reached when the case comes to another step of the same department).
STEP_REACHED: Final = "step"
STEP_DONE: Final = "step_done"


class CaseRepository:
    """Queries of cases, their history, pauses, counters, processes, overrides and evaluations."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        row: Case
        | CaseHistory
        | CasePause
        | CaseProcess
        | CaseEvaluation
        | CalendarOverride
        | CaseOpinion
        | CaseItemFields,
    ) -> None:
        """Stage a row and flush it."""
        self.session.add(row)
        self.session.flush()

    def by_number(self, case_no: str, *, for_update: bool = False) -> Case | None:
        """A case by its number (row-locked for an action on PostgreSQL)."""
        query = select(Case).where(Case.case_no == case_no)
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()

    def by_id(self, case_id: str) -> Case | None:
        """A case by row id."""
        return self.session.get(Case, case_id)

    def count_by_status(self) -> dict[str, int]:
        """How many cases are in each status (the operators' gauge)."""
        rows = self.session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
        return {str(status): int(n) for status, n in rows}

    def count_due_before(self, statuses: Collection[str], day: date) -> int:
        """How many cases in ``statuses`` have a deadline before ``day``."""
        found = self.session.scalar(
            select(func.count()).where(Case.status.in_(sorted(statuses)), Case.deadline < day)
        )
        return int(found or 0)

    def history(self, case_id: str) -> Sequence[CaseHistory]:
        """A case's transitions, oldest first."""
        return self.session.scalars(
            select(CaseHistory).where(CaseHistory.case_id == case_id).order_by(CaseHistory.seq)
        ).all()

    def next_seq(self, case_id: str) -> int:
        """The sequence number of a case's next history entry."""
        top = self.session.scalar(select(func.max(CaseHistory.seq)).where(CaseHistory.case_id == case_id))
        return int(top or 0) + 1

    def pauses(self, case_id: str) -> Sequence[CasePause]:
        """The closed stretches of a case's stopped clock."""
        return self.session.scalars(select(CasePause).where(CasePause.case_id == case_id)).all()

    def next_serial(self, scope: str) -> int:
        """The next serial of ``scope``: on PostgreSQL taken and committed apart (``cases.serials``: the
        counter row is not held for the submission; a rolled-back submission leaves a gap); on SQLite
        bumped in the caller's transaction (one writer at a time anyway; a rollback burns no number)."""
        bind = self.session.get_bind()
        if bind.dialect.name == "postgresql":
            return serials.take(bind.engine, scope)
        bumped = self.session.execute(_BUMP, {"counter": scope}).scalar_one_or_none()
        if bumped is not None:
            return int(bumped)
        try:
            with self.session.begin_nested():
                self.session.add(CaseSerial(scope=scope, value=1))
            return 1
        except IntegrityError:
            return self.next_serial(scope)

    def opinions(self, case_id: str) -> Sequence[CaseOpinion]:
        """The departments asked for an opinion on a case."""
        return self.session.scalars(select(CaseOpinion).where(CaseOpinion.case_id == case_id)).all()

    def awaiting_opinion(
        self, department_ids: Collection[str] | None, *, offset: int, limit: int
    ) -> tuple[Sequence[Case], int]:
        """A page of the cases waiting for an opinion of these departments (None: any), oldest ask first."""
        return self._asked_of(
            [CaseOpinion.status == "pending", Case.status == "joint_review"], department_ids, offset, limit
        )

    def in_joint_steps(
        self, department_ids: Collection[str] | None, *, done: bool = False, offset: int, limit: int
    ) -> tuple[Sequence[Case], int]:
        """A page of the open cases that reached a 联办 step of these departments (None: any), the case
        reaching it first first; ``done``: those whose steps of the department are all finished."""
        status = STEP_DONE if done else STEP_REACHED
        return self._asked_of(
            [CaseOpinion.status == status, Case.status.in_(sorted(OPEN))], department_ids, offset, limit
        )

    def _asked_of(
        self, where: list[Any], department_ids: Collection[str] | None, offset: int, limit: int
    ) -> tuple[Sequence[Case], int]:
        """A page of the cases whose 联办 rows (opinions asked, steps) match ``where``, by the ask's time."""
        if department_ids is not None:
            where = [*where, CaseOpinion.department_id.in_(list(department_ids))]
        query = select(Case).join(CaseOpinion, CaseOpinion.case_id == Case.id).where(*where)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(CaseOpinion.asked_at, Case.id).offset(offset).limit(limit)
        ).all()
        return rows, int(total)

    def process_of(self, task_code: str) -> CaseProcess | None:
        """An item's stored process."""
        return self.session.scalars(select(CaseProcess).where(CaseProcess.task_code == task_code)).first()

    def item_fields_of(self, task_code: str) -> CaseItemFields | None:
        """An item's stored own form fields."""
        return self.session.scalars(
            select(CaseItemFields).where(CaseItemFields.task_code == task_code)
        ).first()

    def process_definition(self, task_code: str) -> Any:
        """An item's stored process definition (None: the item has none)."""
        return self.session.execute(_DEFINITION, {"task_code": task_code}).scalar_one_or_none()

    def overrides(self) -> dict[date, bool]:
        """Every calendar override."""
        return {day: bool(workday) for day, workday in self.session.execute(_ALL_OVERRIDES)}

    def put_override(self, day: date, workday: bool) -> None:
        """Set one day's override."""
        row = self.session.get(CalendarOverride, day)
        if row is None:
            self.session.add(CalendarOverride(day=day, workday=workday))
        else:
            row.workday = workday
        self.session.flush()

    def evaluation(self, case_id: str) -> CaseEvaluation | None:
        """A case's evaluation."""
        return self.session.scalars(select(CaseEvaluation).where(CaseEvaluation.case_id == case_id)).first()

    def _listed(
        self,
        *,
        department_ids: Collection[str] | None = None,
        applicant_id: str | None = None,
        statuses: Collection[str] | None = None,
        due_before: date | None = None,
        due_after: date | None = None,
        task_code: str | None = None,
    ) -> Select[Case]:
        query = select(Case)
        if task_code is not None:
            query = query.where(Case.task_code == task_code)
        if department_ids is not None:
            query = query.where(Case.department_id.in_(list(department_ids)))
        if applicant_id is not None:
            query = query.where(Case.applicant_account_id == applicant_id)
        if statuses is not None:
            query = query.where(Case.status.in_(list(statuses)))
        if due_before is not None:
            query = query.where(Case.deadline.is_not(None), Case.deadline <= due_before)
        if due_after is not None:
            query = query.where(Case.deadline >= due_after)
        return query

    def page(
        self,
        *,
        offset: int,
        limit: int,
        department_ids: Collection[str] | None = None,
        applicant_id: str | None = None,
        statuses: Collection[str] | None = None,
        due_before: date | None = None,
        due_after: date | None = None,
        task_code: str | None = None,
    ) -> tuple[Sequence[Case], int]:
        """A page of cases (soonest deadline first, then newest) and their number."""
        query = self._listed(
            department_ids=department_ids,
            applicant_id=applicant_id,
            statuses=statuses,
            due_before=due_before,
            due_after=due_after,
            task_code=task_code,
        )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Case.deadline.asc().nulls_last(), Case.created_at.desc(), Case.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return rows, int(total)

    def mine(
        self, account_id: str, entity_ids: Collection[str], *, offset: int, limit: int
    ) -> tuple[Sequence[Case], int]:
        """A page of a person's cases: those they applied for themself (drafts too), and those of the
        enterprises ``entity_ids`` (another agent's drafts excepted); newest first."""
        mine = and_(Case.applicant_entity_id.is_(None), Case.applicant_account_id == account_id)
        if entity_ids:
            theirs = and_(
                Case.applicant_entity_id.in_(list(entity_ids)),
                or_(Case.status != DRAFT, Case.applicant_account_id == account_id),
            )
            query = select(Case).where(or_(mine, theirs))
        else:
            query = select(Case).where(mine)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Case.deadline.asc().nulls_last(), Case.created_at.desc(), Case.id)
            .offset(offset)
            .limit(limit)
        ).all()
        return rows, int(total)

    def status_counts(
        self, department_ids: Collection[str] | None, statuses: Collection[str]
    ) -> dict[str, int]:
        """How many cases of these departments (None: any) are in each of ``statuses`` (index range scans
        on department and status: the open statuses are few rows, the concluded ones are not counted)."""
        query = select(Case.status, func.count()).where(Case.status.in_(list(statuses))).group_by(Case.status)
        if department_ids is not None:
            query = query.where(Case.department_id.in_(list(department_ids)))
        return {status: int(n) for status, n in self.session.execute(query)}
