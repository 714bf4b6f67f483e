"""Persistence of cases: the case, its status history, clock pauses, number counters, item processes,
calendar overrides and evaluations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.cases.machine import OPEN
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class Case(IdMixin, Base):
    """办件 — one application for an item: who applied, the form and materials, status, clock and result."""

    __tablename__ = "cases_case"
    __table_args__ = (
        Index("ix_cases_case_dept_status_deadline", "department_id", "status", "deadline"),
        Index("ix_cases_case_applicant", "applicant_account_id", "created_at"),
        Index("ix_cases_case_applicant_entity", "applicant_entity_id", "created_at"),
    )

    case_no: Mapped[str | None] = mapped_column(String(50), unique=True)  # 办件编号, given at submission
    task_code: Mapped[str] = mapped_column(String(36))
    task_name: Mapped[str] = mapped_column(String(1000))
    task_version: Mapped[int] = mapped_column(Integer)
    catalog_code: Mapped[str] = mapped_column(String(12))
    project_type: Mapped[str | None] = mapped_column(String(2))
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"))
    division_code: Mapped[str] = mapped_column(String(6))
    # The account that filed the case: the applicant, or for an enterprise the agent (经办人).
    applicant_account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"))
    applicant_kind: Mapped[str] = mapped_column(String(16))  # person / enterprise
    # An enterprise applicant (identity_legal_entity.id; no foreign key, like the sessions' acting-for
    # of OIDC grants): every agent currently authorised for it sees the case.
    applicant_entity_id: Mapped[str | None] = mapped_column(String(32))
    applicant_legal_rep: Mapped[str | None] = mapped_column(String(100))  # 法定代表人
    agent_name: Mapped[str | None] = mapped_column(String(100))  # 经办人
    agent_code_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # the agent's ID number, encrypted
    applicant_name: Mapped[str] = mapped_column(String(200))
    # The applicant's ID number or credit code as it goes into up_pro_accept: encrypted at rest.
    applicant_code_type: Mapped[str] = mapped_column(String(16))
    applicant_code_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    form: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON)
    status: Mapped[str] = mapped_column(String(24))
    resume_to: Mapped[str | None] = mapped_column(String(24))  # where a supplement returns
    supplement: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)  # what was sent back
    special: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)  # the running special procedure
    joint: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)  # 联办: the opinions asked and given
    process: Mapped[dict[str, Any]] = mapped_column(PortableJSON)  # the steps at submission
    # The item's own form fields as the applicant saw them (cases.fields), so staff read the same labels.
    form_fields: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    # 联办 as steps: each other department's step by its code — {"state": accepted|done, "department_id",
    # "accepted_at", "accepted_by", "done_at", "done_by"} (cases.service.step_view reads the rest).
    step_states: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    promise_days: Mapped[int | None] = mapped_column(Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clock_start: Mapped[date | None] = mapped_column(Date())
    paused_since: Mapped[date | None] = mapped_column(Date())
    deadline: Mapped[date | None] = mapped_column(Date())
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The staff queue (工作台) at scale: a department's open cases in the page's order (soonest deadline
# first, newest, id), so that a page reads its 20 rows from the index instead of fetching and sorting
# every open case of the department; ``status`` last, so that a status tab or the overdue/soon filters
# are checked in the index. Partial: the concluded years of a department are not in it. The queue's
# status list implies the predicate; a status added to OPEN needs a migration rebuilding the index.
Index(
    "ix_cases_case_open_queue",
    Case.department_id,
    Case.deadline,
    Case.created_at.desc(),
    Case.id,
    Case.status,
    postgresql_where=Case.status.in_(sorted(OPEN)),
    sqlite_where=Case.status.in_(sorted(OPEN)),
)


class CaseHistory(IdMixin, Base):
    """办件流转记录 — every transition: action, statuses, step, actor and opinion."""

    __tablename__ = "cases_history"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases_case.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    step: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(100))
    opinion: Mapped[str | None] = mapped_column(String(1000))
    detail: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseOpinion(IdMixin, Base):
    """联办 — one department asked for its opinion on a case, or reached by the case at a step of its own
    (the departments' 联办 lists)."""

    __tablename__ = "cases_opinion"
    __table_args__ = (Index("ix_cases_opinion_dept_status", "department_id", "status"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("cases_case.id"), index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"))
    # An opinion: pending / agree / refuse / not_needed; a step: step (at one of its steps) / step_done.
    status: Mapped[str] = mapped_column(String(16))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CasePause(IdMixin, Base):
    """A stretch of days the legal clock did not run (补正 or 特别程序), both ends inclusive."""

    __tablename__ = "cases_pause"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # supplement / special
    start: Mapped[date] = mapped_column(Date())
    end: Mapped[date] = mapped_column(Date())


class CaseSerial(Base):
    """办件编号流水号 — the last serial per number prefix (``cases.serials``: taken apart from the
    submitting transaction on PostgreSQL, inside it on SQLite)."""

    __tablename__ = "cases_serial"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


class CaseProcess(IdMixin, Base):
    """An item's handling process (cases.process), validated when stored."""

    __tablename__ = "cases_process"

    task_code: Mapped[str] = mapped_column(String(36), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class CaseItemFields(IdMixin, Base):
    """An item's own form fields (cases.fields), validated when stored."""

    __tablename__ = "cases_item_fields"

    task_code: Mapped[str] = mapped_column(String(36), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(100))


class CalendarOverride(Base):
    """An operator's word on one day (working day or holiday), over the calendar library's."""

    __tablename__ = "cases_calendar_override"

    day: Mapped[date] = mapped_column(Date(), primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseEvaluation(IdMixin, Base):
    """好差评 — the applicant's one evaluation of a concluded case."""

    __tablename__ = "cases_evaluation"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases_case.id"), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"))
    channel: Mapped[str] = mapped_column(String(2))
    satisfaction: Mapped[int] = mapped_column(Integer)
    detail_codes: Mapped[list[str]] = mapped_column(PortableJSON)
    text: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseNotice(IdMixin, Base):
    """待发通知 — a notice to the applicant, queued in the transition's transaction and sent by the worker
    after the commit, so a slow or failing SMS gateway never holds or undoes the transition. The phone
    number is read from the account when sending (never copied here)."""

    __tablename__ = "cases_notice"
    __table_args__ = (Index("ix_cases_notice_due", "status", "next_attempt_at"),)

    case_id: Mapped[str] = mapped_column(ForeignKey("cases_case.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"))
    channel: Mapped[str] = mapped_column(String(8))  # sms
    subject: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending / sent / dead / dropped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
