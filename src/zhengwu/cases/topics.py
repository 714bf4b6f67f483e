"""The cases' exchange topics: the national case records (standards §2.1), queued in the transaction of
the transition that makes them.

* ``up_pro_accept`` — at the decision on acceptance (受理 or 不予受理);
* ``up_pro_material`` — the materials received, at that decision;
* ``up_pro_process`` — one row per handling action (key ``<case_no>:<seq>``);
* ``up_pro_special_procedure`` — when a special procedure ends (its end time is a required column);
* ``up_pro_result`` — at the conclusion (and 不予受理, withdrawal after acceptance); sent again (``U``)
  when the result is delivered and when the applicant evaluates (the ``satisfaction`` column).

Code values come from ``cases.codes`` (configurable: the national lists are UNCERTAIN). Free text
(names, summaries, opinions) is cut to the national send length (docs/national-tables.md); codes and
numbers are never cut.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.cases import codes
from zhengwu.cases.models import Case, CaseHistory
from zhengwu.cases.repository import CaseRepository
from zhengwu.identity.context import of
from zhengwu.identity.protection import decrypt_field
from zhengwu.kernel.clock import to_beijing_compact
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit
from zhengwu.kernel.node import node_in
from zhengwu.kernel.topics import Census, Declaration, TopicDeclaration
from zhengwu.orgs.models import Department

ACCEPT: Final = "cases.up_pro_accept"
PROCESS: Final = "cases.up_pro_process"
RESULT: Final = "cases.up_pro_result"
MATERIAL: Final = "cases.up_pro_material"
SPECIAL: Final = "cases.up_pro_special_procedure"
APPLICANT_PURPOSE: Final = "cases_case.applicant_code"
AGENT_PURPOSE: Final = "cases_case.agent_code"


def declarations(settings: Settings) -> list[Declaration]:
    """The four case topics (national tables by naming convention), rebuilt from the case on resend."""
    return [
        TopicDeclaration(ACCEPT, key_column="project_no", refresh=_refresh_accept, label="办件受理信息"),
        TopicDeclaration(PROCESS, refresh=_refresh_process, label="办件过程信息"),
        TopicDeclaration(RESULT, key_column="project_no", refresh=_refresh_result, label="办件结果信息"),
        TopicDeclaration(MATERIAL, refresh=_refresh_material, label="办件材料目录"),
        TopicDeclaration(SPECIAL, refresh=_refresh_special, label="办件特别程序信息"),
        Census("cases", decided_cases),
    ]


def decided_cases(session: Session) -> dict[str, int]:
    """Cases with an acceptance decision (those that have an ``up_pro_accept`` row) per department
    credit code (the row's ``org_code``)."""
    from sqlalchemy import func, or_, select

    from zhengwu.cases.machine import NOT_ACCEPTED

    rows = session.execute(
        select(Department.credit_code, func.count())
        .join(Case, Case.department_id == Department.id)
        .where(or_(Case.accepted_at.is_not(None), Case.status == NOT_ACCEPTED))
        .group_by(Department.credit_code)
    )
    return {str(code or ""): int(n) for code, n in rows}


def _settings(session: Session) -> Settings:
    settings: Settings = node_in(session).settings
    return settings


def _when(at: datetime | str | None) -> str | None:
    """A moment as the national tables send it: Beijing ``yyyyMMddHHmmss`` (stored naive values are UTC)."""
    if at is None:
        return None
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return to_beijing_compact(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def _agent_columns(session: Session, case: Case, settings: Settings) -> dict[str, Any]:
    """法定代表人 and 联系人/代理人 of an enterprise applicant: the agent who filed the case (and the
    contact phone typed in the form when it is a mobile number); nothing for a person."""
    if case.applicant_kind != "enterprise":
        return {}
    code = (
        decrypt_field(of(session).keys, case.agent_code_enc, purpose=AGENT_PURPOSE)
        if case.agent_code_enc is not None
        else None
    )
    phone = str((case.form or {}).get("phone") or "").strip()
    return {
        "legal": (case.applicant_legal_rep or "")[:100] or None,
        "contact_name": (case.agent_name or "")[:100] or None,
        "contact_type": codes.code(settings, "applyer_page_type", "citizen_id") if code else None,
        "contact_code": code,
        "contact_mobile": phone if len(phone) == 11 and phone.isdigit() else None,
    }


def accept_row(session: Session, case: Case) -> dict[str, Any]:
    """The ``up_pro_accept`` columns of a case (at its acceptance decision)."""
    settings = _settings(session)
    department = session.get(Department, case.department_id)
    code = (
        decrypt_field(of(session).keys, case.applicant_code_enc, purpose=APPLICANT_PURPOSE)
        if case.applicant_code_enc is not None
        else ""
    )
    accept = next(
        (h for h in CaseRepository(session).history(case.id) if h.action in ("accept", "reject")), None
    )
    return {
        "project_no": case.case_no,
        "project_name": f"{case.applicant_name}申请{case.task_name}"[:1000],
        "task_code": case.task_code,
        "task_name": case.task_name[:1000],
        "task_version": case.task_version,
        "catalog_code": case.catalog_code,
        "apply_type": codes.code(settings, "apply_type", "online"),
        "project_type": case.project_type
        or codes.code(settings, "project_type", "promised" if case.promise_days else "immediate"),
        "applyer_type": codes.code(settings, "applyer_type", case.applicant_kind),
        "applyer_name": case.applicant_name[:100],
        "applyer_page_type": codes.code(settings, "applyer_page_type", case.applicant_code_type),
        "applyer_page_code": code,
        **_agent_columns(session, case, settings),
        "org_name": department.name[:100] if department else "",
        "org_code": department.credit_code if department else "",
        "handle_user_name": accept.actor if accept else None,
        "apply_date": _when(case.submitted_at),
        "accept_date": _when(accept.at if accept else case.accepted_at),
        "promise_date": case.deadline.strftime("%Y%m%d000000") if case.deadline else None,
    }


def process_row(session: Session, case: Case, entry: CaseHistory) -> dict[str, Any]:
    """The ``up_pro_process`` columns of one handling action."""
    action = entry.action
    if action == "give_opinion":  # a department's 联办 opinion: agree or refuse
        action = "opinion_refuse" if (entry.detail or {}).get("verdict") == "refuse" else "opinion_agree"
    return {
        "project_no": case.case_no,
        "process_name": (entry.step or entry.action)[:1000],
        "event_name": codes.code(_settings(session), "event_name", action),
        "event_start_time": _when(entry.at),
        "event_end_time": _when(entry.at),
        "handle_user_name": entry.actor[:100],
        "handle_explain": (entry.opinion or "同意")[:2000],
    }


def result_row(session: Session, case: Case) -> dict[str, Any]:
    """The ``up_pro_result`` columns of a concluded (or not accepted, or withdrawn) case."""
    settings = _settings(session)
    result = case.result or {}
    evaluation = CaseRepository(session).evaluation(case.id)
    return {
        "project_no": case.case_no,
        "result_type": codes.code(settings, "result_type", result.get("outcome", "approved")),
        "result_date": _when(case.concluded_at),
        "result_explain": (result.get("explain") or "")[:2000] or None,
        "result_cetr_name": (result.get("license_type_name") or "")[:256] or None,
        "result_cetr_no": result.get("license_number"),
        "is_delivery_results": codes.code(
            settings, "is_delivery_results", "yes" if result.get("delivered") else "no"
        ),
        "satisfaction": codes.code(settings, "satisfaction", str(evaluation.satisfaction))
        if evaluation
        else None,
        "handle_user_name": (result.get("actor") or "")[:100] or None,
    }


def special_row(session: Session, case: Case, entry: CaseHistory) -> dict[str, Any]:
    """The ``up_pro_special_procedure`` columns of a special procedure that ended (``entry`` is its end,
    whose detail keeps the kind, the reason and the start)."""
    detail = entry.detail or {}
    kind = str(detail.get("kind") or "other")
    return {
        "project_no": case.case_no,
        "special_type": codes.code(_settings(session), "special_type", kind),
        "special_name": codes.SPECIAL_NAMES.get(kind, kind),
        "special_reason": (detail.get("reason") or "")[:2000] or "（未填写）",
        "special_time": _when(detail.get("started")),
        "end_time": _when(entry.at),
        "special_explain": (entry.opinion or "")[:2000] or None,
        "result": (entry.opinion or "")[:2000] or None,
        "applyer_user_name": case.applicant_name[:100],
        "handle_user": entry.actor[:100],
    }


def material_rows(session: Session, case: Case) -> list[dict[str, Any]]:
    """The ``up_pro_material`` rows: one per material received."""
    settings = _settings(session)
    return [
        {
            "project_no": case.case_no,
            "material_name": m["name"][:200],
            "material_attach_name": (m.get("license_identifier") or m.get("file_name") or "")[:200] or None,
            "get_type": codes.code(settings, "get_type", m["kind"]),
            "get_num": "1",
        }
        for m in case.materials
    ]


def emit_accept(session: Session, case: Case) -> None:
    """Queue the acceptance record and the materials."""
    emit(session, ACCEPT, accept_row(session, case), key=case.case_no)
    for n, row in enumerate(material_rows(session, case), start=1):
        emit(session, MATERIAL, row, key=f"{case.case_no}:{n}")


def emit_process(session: Session, case: Case, entry: CaseHistory) -> None:
    """Queue one process record."""
    emit(session, PROCESS, process_row(session, case, entry), key=f"{case.case_no}:{entry.seq}")


def emit_special(session: Session, case: Case, entry: CaseHistory) -> None:
    """Queue the record of a special procedure that ended."""
    emit(session, SPECIAL, special_row(session, case, entry), key=f"{case.case_no}:{entry.seq}")


def emit_result(session: Session, case: Case, *, update: bool = False) -> None:
    """Queue the result record (``U`` when delivery or the evaluation changes it)."""
    emit(session, RESULT, result_row(session, case), key=case.case_no, operation="U" if update else "I")


def _case(session: Session, case_no: str) -> Case | None:
    return CaseRepository(session).by_number(case_no)


def _refresh_accept(session: Session, key: str) -> dict[str, Any] | None:
    case = _case(session, key)
    return accept_row(session, case) if case is not None and case.accepted_at is not None else None


def _refresh_result(session: Session, key: str) -> dict[str, Any] | None:
    case = _case(session, key)
    return result_row(session, case) if case is not None and case.concluded_at is not None else None


def _refresh_process(session: Session, key: str) -> dict[str, Any] | None:
    number, _, seq = key.rpartition(":")
    case = _case(session, number)
    if case is None or not seq.isdigit():
        return None
    entry = next((h for h in CaseRepository(session).history(case.id) if h.seq == int(seq)), None)
    return process_row(session, case, entry) if entry is not None else None


def _refresh_special(session: Session, key: str) -> dict[str, Any] | None:
    number, _, seq = key.rpartition(":")
    case = _case(session, number)
    if case is None or not seq.isdigit():
        return None
    entry = next((h for h in CaseRepository(session).history(case.id) if h.seq == int(seq)), None)
    return special_row(session, case, entry) if entry is not None and entry.action == "end_special" else None


def _refresh_material(session: Session, key: str) -> dict[str, Any] | None:
    number, _, n = key.rpartition(":")
    case = _case(session, number)
    if case is None or not n.isdigit():
        return None
    rows = material_rows(session, case)
    return rows[int(n) - 1] if 1 <= int(n) <= len(rows) else None
