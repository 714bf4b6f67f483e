"""Cases: applying for a published item (drafts, materials by upload or by held license, submission with
a case number and query password), handling by the item's department through the state machine, the
working-day clock, the result (a license issued through the license port) and the evaluation.

Every transition is one unit: the status, a history entry with actor and opinion, the audit change
record, the national ``up_pro_*`` rows and the typed event commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.cases import codes, machine, numbering, topics, workdays
from zhengwu.cases.errors import (
    ActionNotAllowed,
    ApplicantKindRefused,
    CaseError,
    CaseInvalid,
    CaseNotFound,
    EvaluationRefused,
    FormInvalid,
    ItemNotOpen,
    LookupRefused,
    NotAuthorizedAgent,
    StepsChanged,
)
from zhengwu.cases.events import CaseEvaluated, CaseSubmitted, CaseTransitioned
from zhengwu.cases.fields import FieldsInvalid, ItemFields
from zhengwu.cases.models import (
    Case,
    CaseEvaluation,
    CaseHistory,
    CaseItemFields,
    CaseOpinion,
    CasePause,
    CaseProcess,
)
from zhengwu.cases.process import DEFAULT, Process, ProcessInvalid, check_against
from zhengwu.cases.repository import STEP_DONE, STEP_REACHED, CaseRepository
from zhengwu.cases.servicekeys import LICENSES
from zhengwu.catalog import codetables as catalog_codes
from zhengwu.catalog import service as catalog
from zhengwu.catalog.models import Status as ItemStatus
from zhengwu.identity import service as identity
from zhengwu.identity.context import of
from zhengwu.identity.models import Account, AccountKind, LegalEntity
from zhengwu.identity.protection import decrypt_field, encrypt_field, mask_id
from zhengwu.identity.service import PURPOSE_CITIZEN_ID
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.db import new_id
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.kernel.node import node_in
from zhengwu.orgs import service as orgs

MAX_FORM_FIELDS: Final = 50
MAX_FIELD_CHARS: Final = 2000
MAX_MATERIALS: Final = 50
EVALUATION_CHANNELS: Final = ("1", "2", "3", "4", "5", "6", "7")
OUTCOMES: Final = ("approved", "refused")
RESULT_KINDS: Final = ("license", "approval", "certificate", "none")


def _now(at: datetime | None) -> datetime:
    return (at or utcnow()).replace(microsecond=0)


def beijing_day(at: datetime) -> date:
    """The calendar day in Beijing (deadlines are Beijing days)."""
    return at.astimezone(BEIJING).date()


def calendar(session: Session) -> workdays.Calendar:
    """The working-day calendar with the operators' overrides."""
    return workdays.Calendar(CaseRepository(session).overrides())


def import_calendar(session: Session, text: str, *, actor: str) -> int:
    """Store the overrides of an operator's file (``YYYY-MM-DD,workday|holiday`` lines); how many."""
    try:
        found = workdays.parse_overrides(text)
    except ValueError as exc:
        raise CaseError(str(exc), code="cases.calendar_invalid") from exc
    repo = CaseRepository(session)
    for day, workday in sorted(found.items()):
        repo.put_override(day, workday)
    record_change(session, actor=actor, action="calendar.import", entity="cases.calendar", entity_id="overrides",
                  after={"days": len(found)})  # fmt: skip
    return len(found)


# --- processes -----------------------------------------------------------------------------------------


def process_for(session: Session, task_code: str) -> Process:
    """The item's process, or the default one."""
    definition = CaseRepository(session).process_definition(task_code)
    return Process.from_json(definition) if definition is not None else DEFAULT


def set_process(session: Session, task_code: str, definition: Any, *, actor: str) -> Process:
    """Validate and store an item's process (its steps must fit the item's promised time limit)."""
    item = catalog.get_task(session, task_code)
    try:
        process = Process.from_json(definition)
        check_against(process, item.promise_day)
    except ProcessInvalid as exc:
        raise CaseInvalid(str(exc), code="cases.process_invalid") from exc
    _check_step_departments(session, process, item.department_id)
    repo = CaseRepository(session)
    row = repo.process_of(task_code)
    if row is None:
        repo.add(CaseProcess(task_code=task_code, definition=process.as_json(), updated_by=actor[:100]))
    else:
        row.definition, row.updated_by, row.updated_at = process.as_json(), actor[:100], utcnow()
    record_change(session, actor=actor, action="case_process.set", entity="cases.process", entity_id=task_code,
                  department_id=item.department_id, after={"steps": len(process.steps)})  # fmt: skip
    return process


def _check_step_departments(session: Session, process: Process, own_department_id: str) -> None:
    """A 联办 step names a department registered on this node, other than the item's own."""
    for n, step in enumerate(process.steps, start=1):
        if step.department is None:
            continue
        try:
            department = orgs.get_by_credit_code(session, step.department)
        except DomainError as exc:
            raise CaseInvalid(f"第{n}个环节的办理部门未在本平台登记", code="cases.process_invalid") from exc
        if department.id == own_department_id:
            raise CaseInvalid(f"第{n}个环节的办理部门是事项所属部门，无需指明", code="cases.process_invalid")


# --- the item's own form fields -------------------------------------------------------------------------


def item_fields(session: Session, task_code: str) -> ItemFields:
    """The item's own form fields (none when it has no list)."""
    row = CaseRepository(session).item_fields_of(task_code)
    return ItemFields.from_json(row.definition) if row is not None else ItemFields()


def set_item_fields(session: Session, task_code: str, definition: Any, *, actor: str) -> ItemFields:
    """Validate and store an item's own form fields (applications submitted later are checked against
    them; a case keeps the list it was submitted with)."""
    item = catalog.get_task(session, task_code)
    try:
        fields = ItemFields.from_json(definition)
    except FieldsInvalid as exc:
        raise CaseInvalid(str(exc), code="cases.fields_invalid") from exc
    repo = CaseRepository(session)
    row = repo.item_fields_of(task_code)
    if row is None:
        repo.add(CaseItemFields(task_code=task_code, definition=fields.as_json(), updated_by=actor[:100]))
    else:
        row.definition, row.updated_by, row.updated_at = fields.as_json(), actor[:100], utcnow()
    record_change(session, actor=actor, action="case_fields.set", entity="cases.item_fields", entity_id=task_code,
                  department_id=item.department_id, after={"fields": [f.code for f in fields.fields]})  # fmt: skip
    return fields


def _checked_fields(fields: ItemFields, form: dict[str, str], *, complete: bool) -> dict[str, str]:
    """The form with the item's fields normalised; FormInvalid naming each wrong field otherwise."""
    clean, errors = fields.check(form, complete=complete)
    if errors:
        raise FormInvalid("；".join(errors.values()), extra={"fields": list(errors), "field_errors": errors})
    return clean


def form_labels(case: Case) -> dict[str, str]:
    """The labels of the case's own form fields, as the applicant saw them."""
    return ItemFields.from_json(case.form_fields).labels() if case.form_fields else {}


# --- applying ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MaterialInput:
    """One material of an application: an upload already in the file store, or a held license."""

    material_id: str
    file_sm3: str | None = None
    file_name: str | None = None
    license_id: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """A submitted case and its query password (shown once)."""

    case: Case
    password: str | None


def _guide(session: Session, task_code: str) -> tuple[Any, dict[str, Any]]:
    found = catalog.published_guide(session, task_code)
    if found is None:
        raise CaseNotFound("事项不存在或尚未发布", code="cases.item_not_found")
    item, guide = found
    if item.status != ItemStatus.PUBLISHED:
        raise ItemNotOpen()
    return item, guide


def acting_entities(session: Session, account: Account) -> dict[str, LegalEntity]:
    """The enterprises a person may apply for and whose cases they see, by id: those they hold an
    authorisation in force for (identity's acting-for model), or, for an enterprise's own account, itself.
    Read at every use, so a withdrawn authorisation takes effect at once."""
    found = {entity.id: entity for _, entity in identity.agent_authorizations(session, account.id)}
    if account.kind == AccountKind.LEGAL and account.legal_entity_id and account.legal_entity_id not in found:
        own = session.get(LegalEntity, account.legal_entity_id)
        if own is not None:
            found[own.id] = own
    return found


def applicant_entity(session: Session, account: Account, on_behalf_of: str | None) -> LegalEntity | None:
    """The enterprise an application is for (None: the person themself); an enterprise's own account
    always applies as the enterprise. NotAuthorizedAgent without an authorisation in force."""
    if account.kind == AccountKind.LEGAL and on_behalf_of is None:
        on_behalf_of = account.legal_entity_id
    if on_behalf_of is None:
        return None
    entity = acting_entities(session, account).get(on_behalf_of)
    if entity is None:
        raise NotAuthorizedAgent()
    return entity


def may_see(session: Session, account: Account, case: Case) -> bool:
    """Whether a case is the person's own: one they applied for themself, or one of an enterprise they
    act for now (a draft stays its author's alone)."""
    if case.applicant_entity_id is None:
        return case.applicant_account_id == account.id
    if case.status == machine.DRAFT and case.applicant_account_id != account.id:
        return False
    return case.applicant_entity_id in acting_entities(session, account)


def serves(item: Any, guide: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether an item serves persons and enterprises (服务对象; an item that names none serves both)."""
    value = guide.get("server_type") or getattr(item, "server_type", None)
    named = {part for part in str(value or "").split("^") if part}
    if not named:
        return True, True
    return bool(named & catalog_codes.PERSON_TYPES), bool(named & catalog_codes.LEGAL_TYPES)


def _check_serves(item: Any, guide: Mapping[str, Any], entity: LegalEntity | None) -> None:
    person, legal = serves(item, guide)
    if entity is None and not person:
        raise ApplicantKindRefused(
            "该事项仅面向法人和其他组织办理，请选择您经办的企业作为申请人", extra={"fields": ["on_behalf_of"]}
        )
    if entity is not None and not legal:
        raise ApplicantKindRefused(
            "该事项仅面向个人办理，不能以企业名义申请，请选择“为本人申请”", extra={"fields": ["on_behalf_of"]}
        )


def application_form(
    session: Session, account: Account, task_code: str, *, on_behalf_of: str | None = None
) -> dict[str, Any]:
    """The application form of an item, derived from its published guide: its materials (required or
    not, the license type a material takes), the applicant prefilled (the person's name and masked ID
    number, or the enterprise's name, masked credit code and legal representative with the person as
    经办人), the applicant's valid licenses that fit each material, the enterprises the person may apply
    for, whom the item serves, and the deadline if accepted today."""
    item, guide = _guide(session, task_code)
    entity = applicant_entity(session, account, on_behalf_of)
    held = (
        node_in(session)
        .services.provide(LICENSES)
        .holdings(session, account, entity_id=entity.id if entity is not None else None)
    )
    number = (
        decrypt_field(of(session).keys, account.citizen_id_enc, purpose=PURPOSE_CITIZEN_ID)
        if account.citizen_id_enc is not None
        else None
    )
    person, legal = serves(item, guide)
    if entity is None:
        applicant: dict[str, Any] = {
            "kind": "person",
            "name": account.display_name,
            "id_number_masked": mask_id(number) if number else None,
        }
    else:
        credit_code = identity.legal_entity_credit_code(of(session).keys, entity)
        applicant = {
            "kind": "enterprise",
            "entity_id": entity.id,
            "name": entity.name,
            "credit_code_masked": mask_id(credit_code),
            "legal_rep_name": entity.legal_rep_name,
            "agent_name": account.display_name if account.kind != AccountKind.LEGAL else None,
        }
    materials = []
    for m in guide.get("materials") or []:
        wanted = m.get("license_type_code")
        materials.append(
            {
                "material_id": str(m["row_guid"]),
                "name": m["material_name"],
                "required": (m.get("is_need") or "1") == "1",
                "license_type_code": wanted,
                "held_licenses": [
                    {"id": lic.id, "type_name": lic.type_name, "number": lic.number}
                    for lic in held
                    if wanted and lic.type_code == wanted
                ],
            }
        )
    projected: date | None = None
    if item.promise_day is not None:
        projected = calendar(session).add_workdays(beijing_day(utcnow()), item.promise_day)
    return {
        "task_code": item.task_code,
        "task_name": item.task_name,
        "promise_days": item.promise_day,
        "deadline_if_accepted_today": projected,
        "applicant": applicant,
        "serves": {"person": person, "legal": legal},
        "enterprises": [
            {"entity_id": e.id, "name": e.name}
            for e in sorted(acting_entities(session, account).values(), key=lambda e: e.name)
        ],
        "materials": materials,
        "fields": item_fields(session, item.task_code).as_json()["fields"],
    }


def _check_form(form: Mapping[str, Any]) -> dict[str, str]:
    if len(form) > MAX_FORM_FIELDS:
        raise FormInvalid(f"表单字段不能超过{MAX_FORM_FIELDS}个")
    clean: dict[str, str] = {}
    for key, value in form.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 64:
            raise FormInvalid("表单字段名应为1至64个字符")
        text = "" if value is None else str(value)
        if len(text) > MAX_FIELD_CHARS:
            raise FormInvalid(f"表单字段“{key}”过长", extra={"fields": [key]})
        clean[key] = text
    return clean


def _material(
    session: Session,
    account: Account,
    guide_material: Mapping[str, Any],
    given: MaterialInput,
    entity_id: str | None,
) -> dict[str, Any]:
    name = str(guide_material["material_name"])
    entry: dict[str, Any] = {"material_id": given.material_id, "name": name}
    if (given.file_sm3 is None) == (given.license_id is None):
        raise FormInvalid(
            f"材料“{name}”应为已上传的文件或持有的电子证照之一", extra={"materials": [given.material_id]}
        )
    if given.license_id is not None:
        lic = (
            node_in(session)
            .services.provide(LICENSES)
            .held(session, account, given.license_id, entity_id=entity_id)
        )
        wanted = guide_material.get("license_type_code")
        if wanted and wanted != lic.type_code:
            raise FormInvalid(f"材料“{name}”应为另一种电子证照", extra={"materials": [given.material_id]})
        entry |= {"kind": "license", "license_id": lic.id, "license_identifier": lic.identifier}
        return entry
    digest = str(given.file_sm3).lower()
    if len(digest) != 64 or not node_in(session).files.exists(digest):
        raise FormInvalid(f"材料“{name}”的文件不存在，请先上传", extra={"materials": [given.material_id]})
    entry |= {"kind": "upload", "file_sm3": digest, "file_name": (given.file_name or "")[:200] or None}
    return entry


def _materials(
    session: Session,
    account: Account,
    guide: Mapping[str, Any],
    given: Sequence[MaterialInput],
    *,
    complete: bool,
    entity_id: str | None = None,
) -> list[dict[str, Any]]:
    listed = {str(m["row_guid"]): m for m in guide.get("materials") or []}
    if len(given) > MAX_MATERIALS:
        raise FormInvalid(f"材料不能超过{MAX_MATERIALS}份")
    unknown = [m.material_id for m in given if m.material_id not in listed]
    if unknown:
        raise FormInvalid("材料不在事项的材料目录中", extra={"materials": unknown})
    out = [_material(session, account, listed[m.material_id], m, entity_id) for m in given]
    if complete:
        have = {m["material_id"] for m in out}
        missing = [mid for mid, m in listed.items() if (m.get("is_need") or "1") == "1" and mid not in have]
        if missing:
            raise FormInvalid("缺少必要材料", extra={"materials": missing})
    return out


def _applicant(session: Session, account: Account) -> tuple[str, bytes | None]:
    """The applicant's name and ID number from the account (prefill; re-encrypted for the case)."""
    keys = of(session).keys
    if account.citizen_id_enc is None:
        return account.display_name, None
    number = decrypt_field(keys, account.citizen_id_enc, purpose=PURPOSE_CITIZEN_ID)
    return account.display_name, encrypt_field(keys, number, purpose=topics.APPLICANT_PURPOSE)


def _applicant_fields(session: Session, account: Account, entity: LegalEntity | None) -> dict[str, Any]:
    """The applicant columns of a new case: the person, or the enterprise with the person as 经办人."""
    name, code = _applicant(session, account)
    if entity is None:
        return {"applicant_kind": "person", "applicant_name": name, "applicant_code_type": "citizen_id",
                "applicant_code_enc": code}  # fmt: skip
    keys = of(session).keys
    credit_code = identity.legal_entity_credit_code(keys, entity)
    agent_number = (
        decrypt_field(keys, account.citizen_id_enc, purpose=PURPOSE_CITIZEN_ID)
        if account.kind == AccountKind.NATURAL and account.citizen_id_enc is not None
        else None
    )
    return {
        "applicant_kind": "enterprise",
        "applicant_name": entity.name,
        "applicant_code_type": "credit_code",
        "applicant_code_enc": encrypt_field(keys, credit_code, purpose=topics.APPLICANT_PURPOSE),
        "applicant_entity_id": entity.id,
        "applicant_legal_rep": entity.legal_rep_name[:100],
        "agent_name": account.display_name[:100] if account.kind == AccountKind.NATURAL else None,
        "agent_code_enc": encrypt_field(keys, agent_number, purpose=topics.AGENT_PURPOSE)
        if agent_number
        else None,
    }


def save(
    session: Session,
    account: Account,
    *,
    task_code: str,
    form: Mapping[str, Any],
    materials: Sequence[MaterialInput],
    submit: bool,
    draft_id: str | None = None,
    on_behalf_of: str | None = None,
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> Submitted:
    """Save a draft (``submit=False``) or submit an application (a new one or a resumed draft);
    ``on_behalf_of``: the legal entity an agent applies for (a resumed draft keeps its applicant)."""
    item, guide = _guide(session, task_code)
    own_fields = item_fields(session, item.task_code)
    clean = _checked_fields(own_fields, _check_form(form), complete=submit)
    repo = CaseRepository(session)
    now = _now(at)
    draft: Case | None = None
    if draft_id is not None:
        draft = repo.by_id(draft_id)
        if draft is None or draft.applicant_account_id != account.id or draft.status != machine.DRAFT:
            raise CaseNotFound("草稿不存在")
        if draft.task_code != item.task_code:
            raise FormInvalid("草稿属于另一个事项")
        on_behalf_of = draft.applicant_entity_id
    entity = applicant_entity(session, account, on_behalf_of)
    _check_serves(item, guide, entity)
    entity_id = entity.id if entity is not None else None
    listed = _materials(session, account, guide, materials, complete=submit, entity_id=entity_id)
    if draft is not None:
        case = draft
        case.form, case.materials, case.updated_at = clean, listed, now
        case.form_fields = own_fields.as_json() if own_fields.fields else None
    else:
        case = Case(
            id=new_id(),
            task_code=item.task_code,
            task_name=item.task_name,
            task_version=item.task_version,
            catalog_code=item.catalog_code,
            project_type=item.project_type,
            department_id=item.department_id,
            division_code=item.division_code,
            applicant_account_id=account.id,
            **_applicant_fields(session, account, entity),
            form=clean,
            form_fields=own_fields.as_json() if own_fields.fields else None,
            materials=listed,
            status=machine.DRAFT,
            process=process_for(session, item.task_code).as_json(),
            promise_days=item.promise_day,
            created_at=now,
            updated_at=now,
        )
    if not submit:
        session.add(case)
        session.flush()
        return Submitted(case, None)
    settings = node_in(session).settings
    case.case_no = numbering.generator(settings)(
        numbering.NumberRequest(item.division_code, item.task_code, beijing_day(now)), repo.next_serial
    )
    password = numbering.new_password()
    case.password_hash = numbering.seal_password(of(session).keys.token_key, case.case_no, password)
    case.submitted_at = now
    case.status = machine.SUBMITTED
    case.deadline = _deadline(session, case, now)
    # A new case joins the session only now, complete: the reads above would otherwise autoflush it
    # half-filled (an INSERT, then an UPDATE per read), and the flush below writes it in one INSERT.
    session.add(case)
    # Submission is a case's first history entry (a draft has none), so its sequence number is known.
    _record(
        session, case, "submit", machine.DRAFT, actor=f"account:{account.id}", opinion=None, now=now, seq=1
    )
    session.flush()
    publish_on(bus, session, CaseSubmitted(**_event_fields(case, f"account:{account.id}")))
    return Submitted(case, password)


def _event_fields(case: Case, actor: str) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "case_no": case.case_no or "",
        "task_code": case.task_code,
        "department_id": case.department_id,
        "status": case.status,
        "actor": actor,
    }


# --- the clock -----------------------------------------------------------------------------------------


def _stopped_days(session: Session, case: Case, today: date) -> list[date]:
    if case.clock_start is None:  # the clock stops only once it runs: no pauses to read (every submission)
        return []
    days = [d for p in CaseRepository(session).pauses(case.id) for d in workdays.days_in(p.start, p.end)]
    if case.paused_since is not None:
        days += workdays.days_in(case.paused_since + timedelta(days=1), today)
    return days


def _deadline(session: Session, case: Case, now: datetime) -> date | None:
    """The legal deadline: the promised working days from acceptance (projected from today before it),
    not counting the days the clock stood still."""
    if case.promise_days is None:
        return None
    today = beijing_day(now)
    start = case.clock_start or today
    return calendar(session).add_workdays(start, case.promise_days, skip=_stopped_days(session, case, today))


def _pause(case: Case, today: date) -> None:
    if case.clock_start is not None and case.paused_since is None:
        case.paused_since = today


def _resume(session: Session, case: Case, kind: str, today: date) -> None:
    if case.paused_since is not None:
        if today > case.paused_since:
            CaseRepository(session).add(
                CasePause(case_id=case.id, kind=kind, start=case.paused_since + timedelta(days=1), end=today)
            )
        case.paused_since = None


def due_state(session: Session, case: Case, *, today: date | None = None) -> str | None:
    """``overdue``, ``soon`` or None for an open case with a deadline."""
    return due_states(session, [case], today=today)[0]


def due_states(session: Session, rows: Sequence[Case], *, today: date | None = None) -> list[str | None]:
    """``due_state`` of each case (a queue page: the calendar is read once, and only when needed)."""
    day = today or beijing_day(utcnow())
    soon: date | None = None
    states: list[str | None] = []
    for case in rows:
        if case.deadline is None or case.status not in machine.OPEN or case.status in machine.CLOCK_STOPPED:
            states.append(None)
        elif case.deadline < day:
            states.append("overdue")
        else:
            if soon is None:
                soon = calendar(session).add_workdays(day, node_in(session).settings.cases.soon_due_days)
            states.append("soon" if case.deadline <= soon else None)
    return states


# --- transitions ---------------------------------------------------------------------------------------


def _record(
    session: Session,
    case: Case,
    action: str,
    before: str,
    *,
    actor: str,
    opinion: str | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
    seq: int | None = None,
) -> CaseHistory:
    repo = CaseRepository(session)
    code = (detail or {}).get("step")
    step = (
        machine.LABELS[case.status]
        if action in machine.APPLICANT_ACTIONS
        else _step_name(case, code if isinstance(code, str) else None)
    )
    entry = CaseHistory(
        case_id=case.id,
        seq=seq or repo.next_seq(case.id),
        action=action,
        from_status=before,
        to_status=case.status,
        step=step[:100],
        actor=actor[:100],
        opinion=opinion[:1000] if opinion else None,
        detail=detail,
        at=now,
    )
    # Flushed by the caller with the case and the change record (every caller flushes right after).
    session.add(entry)
    case.updated_at = now
    record_change(session, actor=actor, action=f"case.{action}", entity="cases.case", entity_id=case.case_no or case.id,
                  department_id=case.department_id, before={"status": before},
                  after={"status": case.status, "opinion": opinion})  # fmt: skip
    return entry


def _step_name(case: Case, code: str | None = None) -> str:
    """The name of the step ``code`` (a parallel step the action touched), else of the current step."""
    process = Process.from_json(case.process)
    step = next((s for s in process.steps if s.code == code), None) or process.step(case.step_index)
    if step.department is None:
        return step.name
    try:
        return f"{step.name}（{orgs.get_by_credit_code(_session_of(case), step.department).name}）"
    except DomainError:
        return step.name


def _load(session: Session, case_no: str) -> Case:
    case = CaseRepository(session).by_number(case_no, for_update=True)
    if case is None:
        raise CaseNotFound()
    return case


def get_case(session: Session, ref: str) -> Case:
    """A case by its number, or a draft by its id."""
    repo = CaseRepository(session)
    case = repo.by_number(ref) or repo.by_id(ref)
    if case is None:
        raise CaseNotFound()
    return case


def _refuse(refused: machine.Refused) -> ActionNotAllowed:
    return ActionNotAllowed(
        f"办件当前状态为“{machine.LABELS[refused.status]}”，不能进行该操作",
        detail_en=f"action {refused.action} is not allowed in status {refused.status}",
        extra={"case_status": refused.status, "allowed": list(refused.allowed)},
    )


def _move(case: Case, action: str, *, opinions_done: bool = False) -> str:
    after = machine.transition(case.status, action, resume_to=case.resume_to, opinions_done=opinions_done)
    if isinstance(after, machine.Refused):
        raise _refuse(after)
    before = case.status
    case.status = after
    return before


@dataclass(frozen=True, slots=True)
class ActionInput:
    """The body of a staff action."""

    action: str
    opinion: str | None = None
    materials: tuple[str, ...] = ()  # request_supplement: the materials to send again
    fields: tuple[str, ...] = ()  # request_supplement: the form fields to correct
    special_kind: str | None = None
    outcome: str | None = None  # conclude: approved / refused
    result_kind: str | None = None  # conclude: license / approval / certificate / none
    license_type_code: str | None = None
    license_face: dict[str, Any] = field(default_factory=dict)
    is_express: bool = False
    step: dict[str, Any] | None = None  # add_step: the step to insert after the current one
    steps_seen: int | None = None  # add_step: the number of steps the caller saw (None: not checked)
    departments: tuple[str, ...] = ()  # request_opinions: the departments (ids) asked for an opinion
    verdict: str | None = None  # give_opinion: agree / refuse
    acting_department: str | None = None  # give_opinion: the department (id) whose opinion this is


def act(
    session: Session,
    case_no: str,
    data: ActionInput,
    *,
    actor: str,
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> Case:
    """Apply a staff action to a case (409 with the allowed actions when the status does not allow it)."""
    if data.action not in machine.STAFF_ACTIONS:
        raise CaseInvalid(
            "未知的办件操作", code="cases.unknown_action", extra={"allowed": list(machine.STAFF_ACTIONS)}
        )
    case = _load(session, case_no)
    now = _now(at)
    today = beijing_day(now)
    detail: dict[str, Any] = {}
    _precheck(case, data)
    at_step = _precheck_step(session, case, data)
    joint = _opinion(case, data, actor=actor, now=now) if data.action == "give_opinion" else None
    before = _move(case, data.action, opinions_done=bool(joint and joint["outcome"]))
    match data.action:
        case "accept":
            case.accepted_at, case.clock_start = now, today
            case.step_index = min(1, len(Process.from_json(case.process).steps) - 1)
            _reach_step(session, case, now)
        case "accept_step":
            detail = _step_state(session, case, "accepted", actor=actor, now=now, index=at_step)
        case "reject":
            case.concluded_at = now
            case.result = {"outcome": "not_accepted", "explain": data.opinion, "actor": actor}
        case "request_supplement":
            asked = _asked(case, data)
            case.supplement = asked
            case.resume_to = before
            _pause(case, today)
            detail = asked
        case "complete_step":
            detail = _step_state(session, case, "done", actor=actor, now=now, index=at_step)
            if not _open_steps(case):  # a parallel group goes on when all its steps are done
                case.step_index = Process.from_json(case.process).group_at(case.step_index).stop
                _reach_step(session, case, now)
        case "add_step":
            # Checked under the case's row lock: the status does not move when a step is added, so a
            # second click (or two clerks at once) is told by the number of steps it was shown.
            if data.steps_seen is not None and data.steps_seen != len(case.process.get("steps") or []):
                raise StepsChanged(detail_en="the case's steps changed since they were shown")
            case.process = _with_step(case, data.step)
            detail = {"step": data.step}
        case "request_opinions":
            case.joint = {
                "asked": data.opinion,
                "by": actor,
                "departments": {d: {"status": "pending"} for d in data.departments},
                "outcome": None,
            }
            detail = {"departments": list(data.departments)}
            repo = CaseRepository(session)
            for row in repo.opinions(case.id):  # an earlier round's asks are settled
                row.status = "not_needed" if row.status == "pending" else row.status
            for department_id in data.departments:
                repo.add(
                    CaseOpinion(case_id=case.id, department_id=department_id, status="pending", asked_at=now)
                )
        case "give_opinion":
            case.joint = joint
            for row in CaseRepository(session).opinions(case.id):
                if row.status == "pending":
                    row.status = str(
                        (joint or {})["departments"].get(row.department_id, {}).get("status", "pending")
                    )
            detail = {"department": data.acting_department, "verdict": data.verdict}
        case "start_special":
            case.special = {"kind": data.special_kind, "reason": data.opinion, "started": now.isoformat()}
            _pause(case, today)
            detail = {"kind": data.special_kind}
        case "end_special":
            _resume(session, case, "special", today)
            detail = dict(case.special or {})  # kind, reason, started: the national special record
            case.special = None
        case "conclude":
            _step_state(session, case, "done", actor=actor, now=now, index=at_step)
            case.concluded_at = now
            issuer = _department_of(session, case, Process.from_json(case.process).steps[at_step])
            case.result = _conclude(session, case, data, issuer=issuer, actor=actor, now=now, bus=bus)
            detail = {"outcome": case.result["outcome"], "kind": case.result["kind"]}
        case "deliver":
            case.result = {**(case.result or {}), "delivered": True, "express": data.is_express}
    case.deadline = _deadline(session, case, now) if case.clock_start is not None else case.deadline
    entry = _record(
        session, case, data.action, before, actor=actor, opinion=data.opinion, now=now, detail=detail or None
    )
    session.flush()
    _national(session, case, entry)
    publish_on(
        bus, session, CaseTransitioned(**_event_fields(case, actor), action=data.action, from_status=before)
    )
    return case


def _precheck(case: Case, data: ActionInput) -> None:
    """What an action's body must hold (checked before anything changes)."""
    needs_opinion = ("reject", "request_supplement", "start_special")
    if data.action in needs_opinion and not (data.opinion or "").strip():
        raise CaseInvalid("请填写办理意见或理由", code="cases.opinion_required")
    if data.action == "start_special" and data.special_kind not in codes.names("special_type"):
        raise CaseInvalid("特别程序种类无效", code="cases.special_kind",
                        extra={"allowed": list(codes.names("special_type"))})  # fmt: skip
    process = Process.from_json(case.process)
    if (
        data.action == "complete_step"
        and len(process.group_at(case.step_index)) == 1
        and case.step_index >= len(process.steps) - 1
    ):
        raise ActionNotAllowed(
            "已是最后一个办理环节，请办结", extra={"case_status": case.status, "allowed": ["conclude"]}
        )
    if data.action == "request_opinions":
        if not data.departments or case.department_id in data.departments:
            raise CaseInvalid("请指明征求意见的其他部门", code="cases.joint_departments")
        if not (data.opinion or "").strip():
            raise CaseInvalid("请说明征求意见的事项", code="cases.opinion_required")
    if data.action == "give_opinion" and data.verdict not in ("agree", "refuse"):
        raise CaseInvalid("意见应为 agree（同意）或 refuse（不同意）", code="cases.verdict")
    if data.action == "conclude":
        if data.outcome not in OUTCOMES:
            raise CaseInvalid("办结结果应为 approved 或 refused", code="cases.outcome")
        if (data.result_kind or "none") not in RESULT_KINDS:
            raise CaseInvalid("结果类型无效", code="cases.result_kind", extra={"allowed": list(RESULT_KINDS)})
        if data.outcome == "approved" and data.result_kind == "license" and not data.license_type_code:
            raise CaseInvalid("证照类结果须指明证照类型", code="cases.license_type")


# --- 联办 as process steps ------------------------------------------------------------------------------

#: What a step's state reads as (cases.views, the pages' step lists).
STEP_LABELS: Final = {
    "done": "已完成",
    "current": "办理中",
    "waiting": "待接收",
    "pending": "未开始",
}
#: The actions a department takes on its own step (the route asks that department's right or token).
STEP_ACTIONS: Final = ("accept_step", "complete_step", "conclude")


def is_joint(case: Case) -> bool:
    """Whether the case's process has another department's step (联办 as steps)."""
    return Process.from_json(case.process).joint()


def _current_step(case: Case) -> Any:
    return Process.from_json(case.process).step(case.step_index)


def _department_of(session: Session, case: Case, step: Any) -> str:
    """The department (id) doing ``step``: the one it names, or the item's own."""
    return orgs.get_by_credit_code(session, step.department).id if step.department else case.department_id


def _state_of(case: Case, step: Any) -> str | None:
    return cast(str | None, (case.step_states or {}).get(step.code, {}).get("state"))


def _open_steps(case: Case) -> list[int]:
    """The indexes of the current group's steps not done yet (a parallel group waits for all of them)."""
    process = Process.from_json(case.process)
    group = process.group_at(case.step_index)
    if len(group) == 1:
        return []
    return [i for i in group if _state_of(case, process.steps[i]) != "done"]


def step_actors(session: Session, case: Case) -> list[str]:
    """The departments (ids) that may accept, complete or conclude at the case's current steps: the one of
    its current step, or those of a parallel group's steps not done yet."""
    process = Process.from_json(case.process)
    group = process.group_at(case.step_index)
    if len(group) == 1:
        return [_department_of(session, case, process.steps[group.start])]
    return [_department_of(session, case, process.steps[i]) for i in _open_steps(case)]


def acting_department(session: Session, case: Case, action: str, prefer: str | None = None) -> str:
    """The department whose staff or system may take ``action`` on the case now: for accepting,
    completing or concluding a 联办 step, the department the current step names (in a parallel group,
    ``prefer`` when it has a step there, else the first with a step not done); otherwise the item's."""
    if action in STEP_ACTIONS and case.status in (machine.ACCEPTED, machine.IN_PROCESS):
        actors = step_actors(session, case)
        if prefer in actors:
            return str(prefer)
        if actors:
            return actors[0]
    return case.department_id


def _acting_index(session: Session, case: Case, data: ActionInput) -> int:
    """The step of the current group that the acting department acts on."""
    process = Process.from_json(case.process)
    group = process.group_at(case.step_index)
    if len(group) == 1:
        return case.step_index
    department = data.acting_department or acting_department(session, case, data.action)
    for i in group:
        step = process.steps[i]
        if _department_of(session, case, step) == department and _state_of(case, step) != "done":
            return i
    raise ActionNotAllowed(
        "本部门在当前并行环节中没有待办的环节",
        detail_en="the acting department has no open step in the current parallel group",
        extra={"case_status": case.status, "allowed": []},
    )


def step_departments(case: Case) -> list[str]:
    """The other departments whose steps the case has reached (ids): they see the case from then on."""
    return [str(v["department_id"]) for v in (case.step_states or {}).values() if v.get("department_id")]


def involved_departments(case: Case) -> list[str]:
    """The other departments that see the case narrowed to their part: those asked for a 联办 opinion and
    those whose 联办 step it reached."""
    return list(dict.fromkeys([*joint_departments(case), *step_departments(case)]))


def _precheck_step(session: Session, case: Case, data: ActionInput) -> int:
    """联办 steps: another department's step is accepted by it before it is completed, an approving
    conclusion waits for the last step, and a parallel group's last open step is where it concludes.
    Answers the index of the step the action touches."""
    if case.status not in (machine.ACCEPTED, machine.IN_PROCESS) or data.action not in STEP_ACTIONS:
        return case.step_index  # the state machine's refusal names what is allowed
    process = Process.from_json(case.process)
    index = _acting_index(session, case, data)
    step = process.steps[index]
    state = _state_of(case, step)
    if data.action == "accept_step" and (step.department is None or state == "accepted"):
        raise ActionNotAllowed(
            "当前环节无需接收" if step.department is None else "本环节已接收，请办理",
            detail_en="the current step is not another department's, or it was accepted already",
            extra={"case_status": case.status, "allowed": ["complete_step"]},
        )
    if data.action in ("complete_step", "conclude") and step.department and state != "accepted":
        name = orgs.get_by_credit_code(session, step.department).name
        raise ActionNotAllowed(
            f"“{step.name}”环节由{name}办理，请先由该部门接收",
            detail_en="the current step is another department's and it has not accepted it",
            extra={"case_status": case.status, "allowed": ["accept_step"]},
        )
    others = [i for i in _open_steps(case) if i != index]
    last = process.is_last_group(case.step_index)
    if data.action == "complete_step" and last and len(process.group_at(index)) > 1 and not others:
        raise ActionNotAllowed(
            "这是最后一个未办完的并行环节，请办结",
            detail_en="the last open step of the last parallel group concludes",
            extra={"case_status": case.status, "allowed": ["conclude"]},
        )
    if data.action == "conclude" and data.outcome == "approved" and others:
        raise ActionNotAllowed(
            "并行办理的环节尚未全部办完，不能以准予办结",
            detail_en="the other steps of the parallel group are not done",
            extra={"case_status": case.status, "allowed": ["complete_step"]},
        )
    if data.action == "conclude" and data.outcome == "approved" and process.joint() and not last:
        raise ActionNotAllowed(
            "联办事项须依次办完各部门的办理环节，在最后一个环节办结",
            detail_en="a joint case is approved at its last step",
            extra={"case_status": case.status, "allowed": ["complete_step"]},
        )
    return index


def _reach_step(session: Session, case: Case, now: datetime) -> None:
    """The case reached its current step (or parallel group): another department's step waits for that
    department, which from now on sees the case and hears of it (its 联办 audience row); the item's own
    step in a parallel group is in hand at once."""
    process = Process.from_json(case.process)
    group = process.group_at(case.step_index)
    states = dict(case.step_states or {})
    repo = CaseRepository(session)
    rows = {row.department_id: row for row in repo.opinions(case.id)}
    for index in group:
        step = process.steps[index]
        if step.department is None:
            if len(group) > 1:
                states[step.code] = {"state": "accepted", "reached_at": now.isoformat()}
            continue
        department = orgs.get_by_credit_code(session, step.department)
        states[step.code] = {
            "state": "waiting",
            "department_id": department.id,
            "reached_at": now.isoformat(),
        }
        row = rows.get(department.id)
        if row is None:
            rows[department.id] = row = CaseOpinion(
                case_id=case.id, department_id=department.id, status=STEP_REACHED, asked_at=now
            )
            repo.add(row)
        elif row.status == STEP_DONE:  # its earlier step was finished: the case is at one of its steps again
            row.status = STEP_REACHED
    case.step_states = states


def _step_state(
    session: Session, case: Case, state: str, *, actor: str, now: datetime, index: int
) -> dict[str, Any]:
    """Record that a department accepted or finished its step (the history's detail): another
    department's step, or any step of a parallel group."""
    process = Process.from_json(case.process)
    step = process.steps[index]
    if step.department is None and len(process.group_at(index)) == 1:
        return {}
    states = dict(case.step_states or {})
    entry = dict(states.get(step.code) or {})
    entry.update({"state": state, f"{state}_at": now.isoformat(), f"{state}_by": actor})
    states[step.code] = entry
    case.step_states = states
    if state == "done" and entry.get("department_id"):
        # The department's 联办 list keeps the case among its finished ones until it reaches another step.
        for row in CaseRepository(session).opinions(case.id):
            if row.department_id == entry["department_id"] and row.status == STEP_REACHED:
                row.status = STEP_DONE
    detail: dict[str, Any] = {"step": step.code, "department": step.department}
    if step.parallel:
        detail["parallel"] = step.parallel
    return detail


def step_view(session: Session, case: Case) -> list[dict[str, Any]]:
    """The case's steps in order, each with its state and, for a 联办 step, the department's name; the
    steps of a parallel group carry ``parallel`` and each its own state."""
    process = Process.from_json(case.process)
    finished = case.status in (machine.CONCLUDED, machine.DELIVERED)
    group = process.group_at(case.step_index)
    found: dict[str, tuple[str, str]] = {}  # credit code → (id, name)
    out = []
    for n, step in enumerate(process.steps):
        recorded = _state_of(case, step)
        if finished or n < group.start or recorded == "done":
            state = "done"
        elif n in group and case.accepted_at is not None and case.status in machine.OPEN:
            state = "waiting" if step.department and recorded != "accepted" else "current"
        else:
            state = "pending"
        row: dict[str, Any] = {**_step_dict(step), "state": state, "state_label": STEP_LABELS[state]}
        row["department_id"] = case.department_id
        if step.department:
            if step.department not in found:
                try:
                    department = orgs.get_by_credit_code(session, step.department)
                    found[step.department] = (department.id, department.name)
                except DomainError:
                    found[step.department] = ("", "其他部门")
            row["department_id"], row["department_name"] = found[step.department]
            if state == "waiting":
                row["state_label"] = f"待{row['department_name']}接收"
        out.append(row)
    return out


def current_step_name(case: Case) -> str:
    """The current step's name; a parallel group's names joined, marked 并行."""
    process = Process.from_json(case.process)
    group = process.group_at(case.step_index)
    if len(group) == 1:
        return process.steps[group.start].name
    return "、".join(process.steps[i].name for i in group) + "（并行）"


def _step_dict(step: Any) -> dict[str, Any]:
    shaped: dict[str, Any] = Process((step,)).as_json()["steps"][0]
    return shaped


def _with_step(case: Case, step: dict[str, Any] | None) -> dict[str, Any]:
    """The case's process with ``step`` inserted after the current step (validated as a whole)."""
    steps = list(case.process.get("steps") or [])
    # After the current step, or after the whole of its parallel group.
    steps.insert(Process.from_json(case.process).group_at(case.step_index).stop, dict(step or {}))
    try:
        process = Process.from_json({"steps": steps})
    except ProcessInvalid as exc:
        raise CaseInvalid(str(exc), code="cases.process_invalid") from exc
    _check_step_departments(_session_of(case), process, case.department_id)
    return process.as_json()


def _opinion(case: Case, data: ActionInput, *, actor: str, now: datetime) -> dict[str, Any]:
    """The 联办 state after one department's opinion: the round ends when all agreed or one refuses."""
    joint = dict(case.joint or {})
    asked = {k: dict(v) for k, v in (joint.get("departments") or {}).items()}
    mine = asked.get(data.acting_department or "")
    if mine is None or mine.get("status") != "pending":
        raise ActionNotAllowed(
            "该部门未被征求意见或已提出意见",
            detail_en="this department was not asked or has already given its opinion",
            extra={"case_status": case.status, "allowed": []},
        )
    mine.update(status=data.verdict, opinion=data.opinion, actor=actor, at=now.isoformat())
    if data.verdict == "refuse":
        joint["outcome"] = "refused"
        for other in asked.values():
            if other.get("status") == "pending":
                other["status"] = "not_needed"
    elif all(v.get("status") == "agree" for v in asked.values()):
        joint["outcome"] = "agreed"
    joint["departments"] = asked
    return joint


def joint_departments(case: Case) -> list[str]:
    """The departments asked for an opinion in the case's current or last 联办 round."""
    return list(((case.joint or {}).get("departments") or {}).keys())


def _asked(case: Case, data: ActionInput) -> dict[str, Any]:
    if not data.materials and not data.fields:
        raise CaseInvalid("请指明需要补正的材料或字段", code="cases.supplement_empty")
    unknown = [m for m in data.materials if not _in_guide(case, m)]
    if unknown:
        raise FormInvalid("补正材料不在事项的材料目录中", extra={"materials": unknown})
    return {"materials": list(data.materials), "fields": list(data.fields), "reason": data.opinion}


def _in_guide(case: Case, material_id: str) -> bool:
    return any(str(m.get("row_guid")) == material_id for m in _guide_materials(case))


def _guide_materials(case: Case) -> list[dict[str, Any]]:
    version = catalog.get_version(_session_of(case), "task", case.task_code, case.task_version)
    return list(version.snapshot.get("materials") or [])


def _session_of(case: Case) -> Session:
    from sqlalchemy.orm import object_session

    session = object_session(case)
    if session is None:  # pragma: no cover - a loaded case always has its session
        raise RuntimeError("detached case")
    return session


def _conclude(
    session: Session,
    case: Case,
    data: ActionInput,
    *,
    issuer: str,
    actor: str,
    now: datetime,
    bus: EventBus | None,
) -> dict[str, Any]:
    """The result; a license is issued by ``issuer``, the department concluding at its step (the item's
    own, or the 联办 department whose step it is), under its seal."""
    result: dict[str, Any] = {
        "outcome": data.outcome,
        "kind": data.result_kind or "none",
        "explain": data.opinion,
        "actor": actor,
    }
    if data.outcome == "approved" and data.result_kind == "license":
        if case.applicant_code_enc is None:
            raise CaseInvalid("申请人没有证件号码，不能签发证照", code="cases.no_holder_code")
        code = decrypt_field(of(session).keys, case.applicant_code_enc, purpose=topics.APPLICANT_PURPOSE)
        lic = (
            node_in(session)
            .services.provide(LICENSES)
            .issue(
                session,
                type_code=str(data.license_type_code),
                department_id=issuer,
                holder_name=case.applicant_name,
                holder_code=code,
                face=data.license_face,
                actor=actor,
                at=now,
                bus=bus,
            )
        )
        result |= {
            "license_id": lic.id,
            "license_identifier": lic.identifier,
            "license_number": lic.number,
            "license_type_name": lic.type_name,
        }
    return result


def _national(session: Session, case: Case, entry: CaseHistory) -> None:
    """The up_pro_* rows of a transition, in its transaction."""
    action = entry.action
    if action in ("accept", "reject"):
        topics.emit_accept(session, case)
    if case.accepted_at is not None or action == "reject":
        topics.emit_process(session, case, entry)
    if action in ("reject", "conclude") or (action == "withdraw" and case.accepted_at is not None):
        topics.emit_result(session, case)
    elif action == "deliver":
        topics.emit_result(session, case, update=True)
    elif action == "end_special":
        topics.emit_special(session, case, entry)


# --- the applicant ---------------------------------------------------------------------------------------


def _own(session: Session, account: Account, case_no: str) -> Case:
    case = _load(session, case_no)
    if not may_see(session, account, case):
        raise CaseNotFound()
    return case


def supplement(
    session: Session,
    account: Account,
    case_no: str,
    *,
    form: Mapping[str, Any],
    materials: Sequence[MaterialInput],
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> Case:
    """The applicant resubmits exactly what was sent back; the clock runs again."""
    case = _own(session, account, case_no)
    if case.status != machine.SUPPLEMENT:
        raise _refuse(
            machine.Refused(
                "supplement", case.status, machine.allowed(case.status, machine.APPLICANT_ACTIONS)
            )
        )
    asked = case.supplement or {}
    extra_fields = [k for k in form if k not in asked.get("fields", [])]
    extra_materials = [m.material_id for m in materials if m.material_id not in asked.get("materials", [])]
    if extra_fields or extra_materials:
        raise FormInvalid(
            "只能补正被要求补正的材料和字段", extra={"fields": extra_fields, "materials": extra_materials}
        )
    missing = [m for m in asked.get("materials", []) if m not in {g.material_id for g in materials}]
    missing_fields = [f for f in asked.get("fields", []) if f not in form]
    if missing or missing_fields:
        raise FormInvalid("补正内容不完整", extra={"fields": missing_fields, "materials": missing})
    guide = {"materials": _guide_materials(case)}
    given = _materials(session, account, guide, materials, complete=False, entity_id=case.applicant_entity_id)
    by_id = {m["material_id"]: m for m in case.materials}
    by_id.update({m["material_id"]: m for m in given})
    case.materials = list(by_id.values())
    asked_fields = ItemFields(tuple(f for f in ItemFields.from_json(case.form_fields or {"fields": []}).fields
                                    if f.code in form))  # fmt: skip
    case.form = {**case.form, **_checked_fields(asked_fields, _check_form(form), complete=True)}
    now = _now(at)
    before = _move(case, "supplement")
    _resume(session, case, "supplement", beijing_day(now))
    case.supplement, case.resume_to = None, None
    if case.clock_start is not None:
        case.deadline = _deadline(session, case, now)
    actor = f"account:{account.id}"
    entry = _record(session, case, "supplement", before, actor=actor, opinion="申请人已补正", now=now,
                    detail={"materials": [m.material_id for m in materials], "fields": list(form)})  # fmt: skip
    session.flush()
    _national(session, case, entry)
    publish_on(
        bus, session, CaseTransitioned(**_event_fields(case, actor), action="supplement", from_status=before)
    )
    return case


def withdraw(
    session: Session,
    account: Account,
    case_no: str,
    *,
    reason: str | None,
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> Case:
    """The applicant withdraws a case before its conclusion."""
    case = _own(session, account, case_no)
    now = _now(at)
    before = _move(case, "withdraw")
    _resume(session, case, "special" if before == machine.SPECIAL else "supplement", beijing_day(now))
    case.concluded_at = now
    case.result = {
        "outcome": "withdrawn",
        "kind": "none",
        "explain": reason,
        "actor": f"account:{account.id}",
    }
    actor = f"account:{account.id}"
    entry = _record(session, case, "withdraw", before, actor=actor, opinion=reason or "申请人撤回", now=now)
    session.flush()
    _national(session, case, entry)
    publish_on(
        bus, session, CaseTransitioned(**_event_fields(case, actor), action="withdraw", from_status=before)
    )
    return case


def evaluate(
    session: Session,
    account: Account,
    case_no: str,
    *,
    channel: str,
    satisfaction: int,
    detail_codes: Sequence[str],
    text: str | None,
    bus: EventBus | None = None,
    at: datetime | None = None,
) -> CaseEvaluation:
    """好差评: the applicant's one evaluation after the conclusion, reported upward with the result."""
    case = _own(session, account, case_no)
    if case.status not in (machine.CONCLUDED, machine.DELIVERED):
        raise EvaluationRefused("办结后才能评价", extra={"case_status": case.status})
    repo = CaseRepository(session)
    if repo.evaluation(case.id) is not None:
        raise EvaluationRefused("该办件已评价，不能重复评价")
    if channel not in EVALUATION_CHANNELS or not 1 <= satisfaction <= 5:
        raise CaseInvalid("评价渠道或满意度无效", code="cases.evaluation_invalid")
    if len(detail_codes) > 20 or any(not 1 <= len(c) <= 16 for c in detail_codes):
        raise CaseInvalid("评价细项代码无效", code="cases.evaluation_invalid")
    now = _now(at)
    evaluation = CaseEvaluation(case_id=case.id, account_id=account.id, channel=channel, satisfaction=satisfaction,
                                detail_codes=list(detail_codes), text=(text or "")[:1000] or None, at=now)  # fmt: skip
    repo.add(evaluation)
    topics.emit_result(session, case, update=True)
    publish_on(
        bus, session, CaseEvaluated(**_event_fields(case, f"account:{account.id}"), satisfaction=satisfaction)
    )
    return evaluation


def lookup(session: Session, case_no: str, password: str) -> Case:
    """A case by number and query password (no login); the same refusal for either mistake."""
    number = case_no.strip()
    case = CaseRepository(session).by_number(number)
    key = of(session).keys.token_key
    if case is None or not numbering.check_password(key, number, password.strip(), case.password_hash or ""):
        raise LookupRefused()
    return case


# --- lists -----------------------------------------------------------------------------------------------


def queue(
    session: Session,
    *,
    department_ids: Sequence[str] | None,
    statuses: Sequence[str] | None,
    due: str | None,
    offset: int = 0,
    limit: int = 50,
    task_code: str | None = None,
) -> tuple[Sequence[Case], int]:
    """A department's cases, filtered by status, item (``task_code``) and by due state: ``overdue`` (deadline passed) or
    ``soon`` (due today or within the soon-due window of working days); a stopped clock is neither."""
    today = beijing_day(utcnow())
    due_before: date | None = None
    due_after: date | None = None
    running = sorted(machine.OPEN - machine.CLOCK_STOPPED)
    if due == "overdue":
        due_before = today - timedelta(days=1)
        statuses = [s for s in (statuses or running) if s in running]
    elif due == "soon":
        due_before = calendar(session).add_workdays(today, node_in(session).settings.cases.soon_due_days)
        due_after = today
        statuses = [s for s in (statuses or running) if s in running]
    return CaseRepository(session).page(
        offset=offset,
        limit=limit,
        department_ids=department_ids,
        statuses=statuses,
        due_before=due_before,
        due_after=due_after,
        task_code=task_code,
    )


def queue_counts(session: Session, department_ids: Sequence[str] | None) -> dict[str, int]:
    """How many of these departments' open cases are in each open status (the staff queue's tabs)."""
    return CaseRepository(session).status_counts(department_ids, machine.OPEN)


def counts(session: Session) -> tuple[dict[str, int], int]:
    """Cases per status and how many running cases are overdue (deadline passed, clock not stopped) —
    the same rule as the department queue's ``overdue`` filter."""
    today = beijing_day(utcnow())
    repository = CaseRepository(session)
    return repository.count_by_status(), repository.count_due_before(
        machine.OPEN - machine.CLOCK_STOPPED, today
    )


def awaiting_opinion(
    session: Session, department_ids: Sequence[str] | None, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Case], int]:
    """The cases waiting for a 联办 opinion of these departments."""
    return CaseRepository(session).awaiting_opinion(department_ids, offset=offset, limit=limit)


def in_joint_steps(
    session: Session,
    department_ids: Sequence[str] | None,
    *,
    done: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Case], int]:
    """The open cases at a 联办 step of these departments; ``done``: the open cases whose steps of the
    department are finished (the case goes on elsewhere)."""
    return CaseRepository(session).in_joint_steps(department_ids, done=done, offset=offset, limit=limit)


def mine(
    session: Session, account: Account, *, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Case], int]:
    """The applicant's own cases and drafts, with the cases of the enterprises they act for now."""
    return CaseRepository(session).mine(
        account.id, list(acting_entities(session, account)), offset=offset, limit=limit
    )


def history(session: Session, case: Case) -> Sequence[CaseHistory]:
    """A case's transitions, oldest first."""
    return CaseRepository(session).history(case.id)


def evaluation_of(session: Session, case: Case) -> CaseEvaluation | None:
    """A case's evaluation."""
    return CaseRepository(session).evaluation(case.id)
