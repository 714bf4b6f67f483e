"""Shaping a case for the API and the CLI (one place, so both show the same)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from zhengwu.cases import machine, service
from zhengwu.cases.models import Case
from zhengwu.cases.schemas import CaseRead, HistoryRead


def _clock(case: Case) -> str:
    if case.status in machine.FINAL:
        return "stopped"
    if case.clock_start is None:
        return "not_started"
    return "paused" if case.status in machine.CLOCK_STOPPED else "running"


def case_read(session: Session, case: Case, *, with_history: bool = True, narrowed: bool = False) -> CaseRead:
    """The view of a case; ``narrowed`` for a department asked for a 联办 opinion, which sees what its
    opinion needs (the item, the materials, the question) and not the form, history or result."""
    if narrowed:
        return CaseRead(
            id=case.id, case_no=case.case_no, status=case.status, status_label=machine.LABELS[case.status],
            task_code=case.task_code, task_name=case.task_name, department_id=case.department_id,
            applicant_name=case.applicant_name, form={}, materials=list(case.materials),
            step=service.current_step_name(case), steps=service.step_view(session, case),
            deadline=case.deadline, due=None,
            clock=_clock(case), submitted_at=case.submitted_at, accepted_at=case.accepted_at,
            concluded_at=None, supplement=None, special=None, joint=case.joint, result=None,
            allowed_actions=["give_opinion"] if case.status == machine.JOINT
            else [a for a in machine.allowed(case.status) if a in service.STEP_ACTIONS],
        )  # fmt: skip
    return CaseRead(
        id=case.id,
        case_no=case.case_no,
        status=case.status,
        status_label=machine.LABELS[case.status],
        task_code=case.task_code,
        task_name=case.task_name,
        department_id=case.department_id,
        applicant_name=case.applicant_name,
        applicant_kind="enterprise" if case.applicant_kind == "enterprise" else "person",
        agent_name=case.agent_name,
        form=dict(case.form),
        form_fields=list((case.form_fields or {}).get("fields") or []),
        materials=list(case.materials),
        step=service.current_step_name(case),
        steps=service.step_view(session, case),
        deadline=case.deadline,
        due=service.due_state(session, case),
        clock=_clock(case),
        submitted_at=case.submitted_at,
        accepted_at=case.accepted_at,
        concluded_at=case.concluded_at,
        supplement=case.supplement,
        special=case.special,
        joint=case.joint,
        result=case.result,
        allowed_actions=list(machine.allowed(case.status)),
        history=[HistoryRead.model_validate(h, from_attributes=True) for h in service.history(session, case)]
        if with_history
        else [],
        evaluated=service.evaluation_of(session, case) is not None,
    )
