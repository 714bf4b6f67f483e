"""HTTP API of cases: applying (the applicant's session), handling (the item's department, through the
rights policy with the second factor), lookup by number and query password (public, rate-limited) and
the evaluation.

Handling a case touches the item's department, so every action ensures ``cases.handle`` there; a
conclusion with a license result also needs ``licenses.issue`` — the right in that department for staff,
the scope of its token for a department system — since the license is sealed with the department's seal.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from zhengwu.cases import machine, rights, service, uploads
from zhengwu.cases.errors import CaseInvalid, CaseNotFound
from zhengwu.cases.schemas import (
    CaseAction,
    CaseApply,
    CaseCreated,
    CaseEvaluationIn,
    CaseLookup,
    CaseRead,
    CaseStatusRead,
    CaseSupplement,
    CaseWithdraw,
    MaterialRef,
)
from zhengwu.cases.views import case_read
from zhengwu.cases.webhooks.guard import (
    HANDLE_SCOPE,
    CaseClientGuard,
    StaffOrCaseClient,
    ensure_department,
    ensure_may_issue,
)
from zhengwu.catalog.service import access_demand
from zhengwu.identity.deps import Authenticated, RequiredSession, require_level
from zhengwu.identity.machine import MachineClient
from zhengwu.identity.models import Account
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.limits import body_limit
from zhengwu.kernel.node import CurrentNode, Node
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.ratelimit import per_address
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import rights as license_rights
from zhengwu.orgs import service as orgs

router = APIRouter(prefix="/api/v1/cases", tags=["cases 办件"])

Handler = Annotated[StaffPrincipal, Depends(guard(rights.HANDLE))]
HandlerOrSystem = Annotated[
    StaffPrincipal | MachineClient,
    Depends(StaffOrCaseClient(CaseClientGuard(HANDLE_SCOPE), guard(rights.HANDLE))),
]
_LOOKUP_LIMIT = Depends(per_address("cases.lookup", lambda s: s.security.public_rate_per_minute))


def material_inputs(refs: list[MaterialRef]) -> list[service.MaterialInput]:
    """The materials an application or supplement names, as the service takes them."""
    return [service.MaterialInput(r.material_id, r.file_sm3, r.file_name, r.license_id) for r in refs]


def _on_behalf_of(data: CaseApply, auth: Authenticated) -> str | None:
    """The enterprise applied for: the body's ``on_behalf_of`` when given (null: oneself), else the
    enterprise the session acts for (``POST /identity/acting-for``)."""
    if "on_behalf_of" in data.model_fields_set:
        return data.on_behalf_of
    return auth.session.acting_for


def demand_login(request: Request, db: Session, auth: Authenticated, task_code: str) -> None:
    """The item's login demands (real-name level, authentication age) apply to applying for it (by session:
    this API, the pages' and the mobile API's)."""
    demand = access_demand(db, task_code)
    if demand is not None and demand.requirement.level:
        require_level(demand.requirement.level, demand.requirement.max_age)(request, db, auth)


@router.post(
    "",
    response_model=CaseCreated,
    status_code=201,
    summary="申办事项（保存草稿或提交）",
    responses=errors(403, 404, 409, 422),
)
def apply(
    data: CaseApply,
    request: Request,
    response: Response,
    db: DbSession,
    node: CurrentNode,
    auth: RequiredSession,
) -> CaseCreated | Response:
    """Save a draft or submit an application; submission honours ``Idempotency-Key``."""
    demand_login(request, db, auth, data.task_code)
    return apply_for(
        data, request, response, db, node, auth.account, _on_behalf_of(data, auth), location="/api/v1/cases"
    )


def apply_for(
    data: CaseApply,
    request: Request,
    response: Response,
    db: Session,
    node: Node,
    account: Account,
    on_behalf_of: str | None,
    *,
    location: str,
) -> CaseCreated | Response:
    """Save or submit for ``account`` once its login demands are met (this API and the mobile one): a
    repeated ``Idempotency-Key`` replays the first answer; the query password is in the answer this once."""
    idem = Idempotency(db, request, scope=f"cases.apply:{account.id}", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    done = service.save(
        db,
        account,
        task_code=data.task_code,
        form=data.form,
        materials=material_inputs(data.materials),
        submit=not data.draft,
        draft_id=data.draft_id,
        on_behalf_of=on_behalf_of,
        bus=node.bus,
    )
    case = done.case
    result = CaseCreated(
        id=case.id, case_no=case.case_no, status=case.status, deadline=case.deadline, password=done.password
    )
    idem.remember(201, result.model_dump(mode="json"))
    response.headers["Location"] = f"{location}/{case.case_no or case.id}"
    return result


#: The upload route's declaration, shared with the mobile API's.
UPLOAD_ROUTE: Final[dict[str, Any]] = {
    "status_code": 201,
    "summary": "上传申请材料（PDF、OFD、JPEG、PNG）",
    "openapi_extra": body_limit(
        uploads.MAX_MATERIAL_BYTES,
        requestBody={
            "required": True,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in uploads.SIGNATURES},
        },
    ),
    "responses": errors(413, 415, 422),
}


async def store_material(request: Request, node: Node) -> dict[str, Any]:
    """Store the request's body as one material (type checked against the file's bytes, size-limited, the
    scan hook); answers its SM3, which the application then names."""
    data = await request.body()
    media_type = request.headers.get("content-type", "")
    digest = await run_in_threadpool(uploads.store, node, media_type, data)
    return {"file_sm3": digest, "size": len(data), "media_type": media_type.split(";", 1)[0].strip().lower()}


@router.post("/uploads", **UPLOAD_ROUTE)
async def upload_material(request: Request, node: CurrentNode, auth: RequiredSession) -> dict[str, Any]:
    """Store one material; its SM3 names it in the application."""
    return await store_material(request, node)


@router.get("", response_model=list[CaseRead], summary="我的办件，或部门办件队列", responses=errors(403, 404))
def list_cases(
    request: Request,
    response: Response,
    db: DbSession,
    auth: RequiredSession,
    page: Annotated[PageParams, Depends(page_params)],
    mine: Annotated[bool, Query()] = False,
    department: Annotated[str | None, Query(max_length=18)] = None,
    status: Annotated[list[str] | None, Query(max_length=10)] = None,
    due: Annotated[str | None, Query(pattern="^(overdue|soon)$")] = None,
    awaiting_opinion: Annotated[bool, Query()] = False,
    joint_steps: Annotated[bool, Query()] = False,
    joint_steps_done: Annotated[bool, Query()] = False,
) -> list[CaseRead]:
    """``mine=1``: the applicant's own cases and drafts; otherwise a department's queue (staff, cases.view);
    ``awaiting_opinion=1``: the cases other departments asked this department's opinion on (联办);
    ``joint_steps=1``: the open cases of other departments' items at a step of this department;
    ``joint_steps_done=1``: those whose steps of this department are finished while the case goes on."""
    if mine:
        rows, total = service.mine(db, auth.account, offset=page.offset, limit=page.limit)
    else:
        staff = guard(rights.VIEW).decide(request, db, auth)
        scope: list[str] | None
        if department is not None:
            dept = orgs.get_by_credit_code(db, department)
            staff.ensure(rights.VIEW, dept.id)
            scope = [dept.id]
        else:
            reach = staff.departments(rights.VIEW)
            scope = None if reach is None else sorted(reach)
        if awaiting_opinion or joint_steps or joint_steps_done:
            if awaiting_opinion:
                rows, total = service.awaiting_opinion(db, scope, offset=page.offset, limit=page.limit)
            else:
                rows, total = service.in_joint_steps(
                    db, scope, done=joint_steps_done and not joint_steps, offset=page.offset, limit=page.limit
                )
            set_page_headers(request, response, total=total, page=page)
            return [case_read(db, c, narrowed=True) for c in rows]
        known = [s for s in (status or []) if s in machine.LABELS]
        rows, total = service.queue(
            db, department_ids=scope, statuses=known or None, due=due, offset=page.offset, limit=page.limit
        )
    set_page_headers(request, response, total=total, page=page)
    return [case_read(db, c, with_history=False) for c in rows]


@router.post(
    "/lookup",
    response_model=CaseStatusRead,
    summary="凭办件编号和查询密码查询办件（免登录）",
    responses=errors(404),
    dependencies=[_LOOKUP_LIMIT],
)
def lookup(data: CaseLookup, db: DbSession) -> CaseStatusRead:
    """The status of a case for whoever holds its number and query password."""
    case = service.lookup(db, data.case_no, data.password)
    return CaseStatusRead(
        case_no=case.case_no or "",
        status=case.status,
        status_label=machine.LABELS[case.status],
        task_name=case.task_name,
        deadline=case.deadline,
        submitted_at=case.submitted_at,
        concluded_at=case.concluded_at,
    )


@router.get(
    "/form/{task_code}", summary="申请表单（由办事指南生成，预填申请人信息）", responses=errors(403, 404, 409)
)
def application_form(
    task_code: str,
    request: Request,
    db: DbSession,
    auth: RequiredSession,
    on_behalf_of: Annotated[
        str | None, Query(max_length=32, description="代为申请的企业（法人）编号")
    ] = None,
) -> dict[str, Any]:
    """The item's application form: materials (required or not), fitting held licenses, prefill
    (for an enterprise the person acts for with ``on_behalf_of``, else the session's acting-for)."""
    demand_login(request, db, auth, task_code)
    entity = on_behalf_of if on_behalf_of is not None else auth.session.acting_for
    return service.application_form(db, auth.account, task_code, on_behalf_of=entity)


@router.get("/{case_no}", response_model=CaseRead, summary="办件详情", responses=errors(403, 404))
def get_case(case_no: str, request: Request, db: DbSession, auth: RequiredSession) -> CaseRead:
    """The applicant's own case (or draft by id), or, for staff of its department, any case of it."""
    case = service.get_case(db, case_no)
    if not service.may_see(db, auth.account, case):
        if auth.account.kind != "staff" or case.status == machine.DRAFT:  # a draft is the applicant's alone
            raise CaseNotFound()
        staff = guard(rights.VIEW).decide(request, db, auth)
        if not staff.reaches(rights.VIEW, case.department_id):
            # A department asked for a 联办 opinion sees what its opinion needs, nothing more.
            if any(staff.reaches(rights.VIEW, d) for d in service.involved_departments(case)):
                return case_read(db, case, narrowed=True)
            staff.ensure(rights.VIEW, case.department_id)
    return case_read(db, case)


@router.post(
    "/{case_no}/actions",
    response_model=CaseRead,
    summary="办理办件（受理、补正、特别程序、办结、送达）",
    responses=errors(404, 409, 422),
)
def act(
    case_no: str,
    data: CaseAction,
    request: Request,
    db: DbSession,
    node: CurrentNode,
    caller: HandlerOrSystem,
) -> CaseRead | Response:
    """A staff action or a department system's; 409 with ``allowed`` when the case's status does not allow
    it. ``Idempotency-Key``: a replay answers the first result and never transitions twice."""
    if isinstance(caller, MachineClient):
        return _act_as_system(case_no, data, request, db, node, caller)
    staff = caller
    idem = Idempotency(
        db, request, scope=f"cases.act:account:{staff.account_id}:{case_no}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    case = service.get_case(db, case_no)
    acting: str | None = None
    if data.action == "give_opinion":
        # The opinion is the asked department's: its staff act, not the case's department.
        if data.department is None:
            raise CaseInvalid("请指明提出意见的部门", code="cases.opinion_department")
        acting = orgs.get_by_credit_code(db, data.department).id
        staff.ensure(rights.HANDLE, acting)
    else:
        # A 联办 step's department accepts, completes or concludes at its own step (in a parallel
        # group: the one named in ``department``, else the first the clerk handles for).
        named = orgs.get_by_credit_code(db, data.department).id if data.department else None
        reached = [d for d in service.step_actors(db, case) if staff.reaches(rights.HANDLE, d)]
        acting = service.acting_department(db, case, data.action, prefer=named or next(iter(reached), None))
        staff.ensure(rights.HANDLE, acting)
    if data.action == "conclude" and data.result_kind == "license" and data.outcome == "approved":
        # The license is the concluding department's, sealed with its seal.
        staff.ensure(license_rights.ISSUE, acting)
    changed = service.act(
        db,
        case_no,
        _action_input(data, db, acting),
        actor=f"account:{staff.account_id}",
        bus=node.bus,
    )
    result = case_read(db, changed)
    idem.remember(200, result.model_dump(mode="json"))
    return result


def _action_input(data: CaseAction, db: DbSession, acting: str | None) -> service.ActionInput:
    return service.ActionInput(
        action=data.action,
        opinion=data.opinion,
        materials=tuple(data.materials),
        fields=tuple(data.fields),
        special_kind=data.special_kind,
        outcome=data.outcome,
        result_kind=data.result_kind,
        license_type_code=data.license_type_code,
        license_face=data.license_face,
        is_express=data.is_express,
        step=data.step,
        steps_seen=data.steps_seen,
        departments=tuple(orgs.get_by_credit_code(db, code).id for code in data.departments),
        verdict=data.verdict,
        acting_department=acting,
    )


def _act_as_system(
    case_no: str, data: CaseAction, request: Request, db: DbSession, node: CurrentNode, client: MachineClient
) -> CaseRead | Response:
    """A department system acts for its own department only (another department's case is 404), recorded
    with the client as actor."""
    idem = Idempotency(
        db, request, scope=f"cases.act:{client.actor}:{case_no}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    case = service.get_case(db, case_no)
    acting: str | None = None
    if data.action == "give_opinion":
        if data.department is None:
            raise CaseInvalid("请指明提出意见的部门", code="cases.opinion_department")
        acting = orgs.get_by_credit_code(db, data.department).id
        ensure_department(client, acting)
    else:
        acting = service.acting_department(db, case, data.action, prefer=client.department_id)
        ensure_department(client, acting)
    if data.action == "conclude" and data.result_kind == "license" and data.outcome == "approved":
        ensure_may_issue(client)
    changed = service.act(db, case_no, _action_input(data, db, acting), actor=client.actor, bus=node.bus)
    result = case_read(db, changed)
    idem.remember(200, result.model_dump(mode="json"))
    return result


def answer_supplement(db: Session, node: Node, account: Account, case_no: str, data: CaseSupplement) -> Any:
    """The applicant resubmits only what was sent back (this API and the mobile one, by session or token)."""
    return service.supplement(
        db, account, case_no, form=data.form, materials=material_inputs(data.materials), bus=node.bus
    )


def withdraw_case(db: Session, node: Node, account: Account, case_no: str, data: CaseWithdraw) -> Any:
    """The applicant withdraws before the conclusion (this API and the mobile one)."""
    return service.withdraw(db, account, case_no, reason=data.reason, bus=node.bus)


def evaluate_case(
    db: Session, node: Node, account: Account, case_no: str, data: CaseEvaluationIn
) -> dict[str, object]:
    """The applicant's one evaluation after the conclusion, reported upward with the result record (this
    API and the mobile one)."""
    evaluation = service.evaluate(
        db, account, case_no, channel=data.channel, satisfaction=data.satisfaction,
        detail_codes=data.detail_codes, text=data.text, bus=node.bus,
    )  # fmt: skip
    return {"case_no": case_no, "satisfaction": evaluation.satisfaction, "at": evaluation.at.isoformat()}


@router.post(
    "/{case_no}/supplement", response_model=CaseRead, summary="补正材料", responses=errors(404, 409, 422)
)
def resubmit(
    case_no: str, data: CaseSupplement, db: DbSession, node: CurrentNode, auth: RequiredSession
) -> CaseRead:
    """The applicant resubmits only the fields and materials that were sent back."""
    return case_read(db, answer_supplement(db, node, auth.account, case_no, data))


@router.post("/{case_no}/withdraw", response_model=CaseRead, summary="撤回申请", responses=errors(404, 409))
def withdraw(
    case_no: str, data: CaseWithdraw, db: DbSession, node: CurrentNode, auth: RequiredSession
) -> CaseRead:
    """The applicant withdraws the case before its conclusion."""
    return case_read(db, withdraw_case(db, node, auth.account, case_no, data))


@router.post(
    "/{case_no}/evaluation",
    status_code=201,
    summary="评价办件（好差评）",
    responses=errors(404, 409, 422),
)
def evaluate(
    case_no: str, data: CaseEvaluationIn, db: DbSession, node: CurrentNode, auth: RequiredSession
) -> dict[str, object]:
    """The applicant's one evaluation after the conclusion, reported upward with the result record."""
    return evaluate_case(db, node, auth.account, case_no, data)
