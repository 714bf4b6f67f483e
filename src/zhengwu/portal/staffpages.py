"""工作台: the case pages of a department's clerk — the queue, a case with its materials, timeline and
the actions as plain forms — for departments without a business system of their own.

Every page asks identity's one staff-rights policy (``guard(...).decide``, ADR 0010) with the rights of the
cases API: ``cases.view`` to see, ``cases.handle`` in the case's department (or, for a 联办 opinion, in
the asked department) to act, and ``licenses.issue`` there to conclude with a license. A session without a
fresh second factor is sent to identity's step-up page; one that cannot pass it, or holds no right, gets
a page saying so. The actions are the cases service's own (``cases.service.act``), so a page and the API
move a case the same way; personal data is masked until revealed through ``cases.personal`` (audited).
Forms are plain POSTs with identity's CSRF token; a form with mistakes comes back with what was typed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from zhengwu.cases import machine, personal, rights
from zhengwu.cases import service as cases
from zhengwu.cases.errors import CaseNotFound
from zhengwu.cases.models import Case
from zhengwu.catalog import service as catalog
from zhengwu.identity import service as identity
from zhengwu.identity.deps import current_session, request_meta
from zhengwu.identity.errors import CsrfFailed, PasswordChangeRequired, StepUpRequired
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import rights as license_rights
from zhengwu.licenses import service as licenses
from zhengwu.licenses.errors import LicenseError
from zhengwu.orgs import service as orgs
from zhengwu.orgs.errors import DepartmentNotFound
from zhengwu.portal.casepages import FIELDS
from zhengwu.portal.pages import beijing, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 20
HOME: Final = "/staff/cases"

#: The queue's state tabs: open work first, then each status, then everything.
OPEN_TAB: Final = "open"
ALL_TAB: Final = "all"
_STATE_ORDER: Final = (
    machine.SUBMITTED,
    machine.ACCEPTED,
    machine.IN_PROCESS,
    machine.SUPPLEMENT,
    machine.SPECIAL,
    machine.JOINT,
    machine.CONCLUDED,
    machine.DELIVERED,
    machine.NOT_ACCEPTED,
    machine.WITHDRAWN,
)
_DUE: Final = {"overdue": "已逾期", "soon": "即将到期"}
#: The actions the pages offer, with the words on their buttons and in the timeline.
ACTIONS: Final = {
    "accept": "受理",
    "reject": "不予受理",
    "request_supplement": "要求补正",
    "accept_step": "接收本环节",
    "complete_step": "完成本环节",
    "start_special": "进入特别程序",
    "end_special": "结束特别程序",
    "request_opinions": "征求联办意见",
    "give_opinion": "提出联办意见",
    "add_step": "增加办理环节",
    "conclude": "办结",
    "deliver": "送达",
}
_HISTORY: Final = {
    "submit": "申请人提交申请",
    "supplement": "申请人已补正",
    "withdraw": "申请人撤回申请",
    "add_step": "增加办理环节",
    "request_opinions": "征求其他部门意见（联办）",
    "request_supplement": "要求补正",
}
_OUTCOMES: Final = {"approved": "准予许可（办理通过）", "refused": "不予许可"}
_RESULT_KINDS: Final = {
    "license": "电子证照",
    "approval": "批文",
    "certificate": "证明",
    "none": "无需出具结果文书",
}
_SPECIAL: Final = {
    "hearing": "听证",
    "tender": "招标",
    "auction": "拍卖",
    "inspection": "检验",
    "testing": "检测",
    "quarantine": "检疫",
    "appraisal": "鉴定",
    "expert_review": "专家评审",
    "other": "其他",
}
_VERDICTS: Final = {"agree": "同意", "refuse": "不同意"}
_OPINION_STATES: Final = {
    "pending": "待提出意见",
    "agree": "同意",
    "refuse": "不同意",
    "not_needed": "无需再提出",
}
_CLOCK: Final = {
    "not_started": "受理后开始计时",
    "running": "计时中",
    "paused": "已暂停计时（补正或特别程序期间不计入）",
    "stopped": "计时已结束",
}
_MEDIA: Final = {
    b"%PDF-": ("application/pdf", ".pdf"),
    b"PK\x03\x04": ("application/ofd", ".ofd"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _message(request: Request, db: Session, title: str, text: str, status: int,
             link: tuple[str, str] | None = None) -> HTMLResponse:  # fmt: skip
    return render(
        request, db, "staff/message.html", {"title": title, "message": text, "link": link}, status_code=status
    )


def _principal(request: Request, db: Session, *wanted: Any) -> StaffPrincipal | Response:
    """The staff member the policy lets through, or the page that says why not (login, step-up, refusal)."""
    auth = current_session(request, db)
    if auth is None:
        return RedirectResponse("/identity/login?next=" + quote(_here(request), safe=""), status_code=303)
    try:
        return guard(*wanted).decide(request, db, auth)
    except StepUpRequired:
        db.rollback()
        if auth.account.totp_enabled:
            return RedirectResponse(
                "/identity/step-up?next=" + quote(_here(request), safe=""), status_code=303
            )
        return _message(
            request, db, "需要动态验证码",
            "工作台须以密码加动态验证码（或数字证书）登录。您的账号尚未开启动态验证码，请先开启后再进入工作台。",
            403, ("/identity/mfa/setup", "开启动态验证码"),
        )  # fmt: skip
    except PasswordChangeRequired:
        db.rollback()
        return _message(request, db, "请先修改密码", "管理员为您设置的初始密码须先修改，才能进入工作台。", 403,
                        ("/identity/account", "前往“我的账号”"))  # fmt: skip
    except DomainError as exc:
        db.rollback()
        return _message(request, db, "没有权限", exc.detail, exc.status_code)


def _refused(request: Request, db: Session, exc: DomainError) -> HTMLResponse:
    db.rollback()
    return _message(request, db, "没有权限", exc.detail, exc.status_code, (HOME, "返回办件队列"))


def _department_names(db: Session, ids: list[str]) -> dict[str, str]:
    names = {}
    for department_id in ids:
        try:
            names[department_id] = orgs.get_department(db, department_id).name
        except DepartmentNotFound:
            names[department_id] = "（已撤销的部门）"
    return names


# --- the queue -------------------------------------------------------------------------------------------


def _scope_of(staff: StaffPrincipal, right: Any) -> list[str] | None:
    reach = staff.departments(right)
    return None if reach is None else sorted(reach)


def _scope(staff: StaffPrincipal) -> list[str] | None:
    return _scope_of(staff, rights.VIEW)


def _items(db: Session, scope: list[str] | None) -> list[tuple[str, str]]:
    """The item filter's choices: the catalog's items of these departments (every state), by name."""
    codes = None if scope is None else sorted(orgs.credit_codes(db, scope).values())
    if codes == []:
        return []
    rows, _ = catalog.list_tasks(db, dept_codes=codes, limit=500)
    return sorted(((t.task_code, t.task_name) for t in rows), key=lambda r: (r[1], r[0]))


def _queue_link(**params: str) -> str:
    kept = {k: v for k, v in params.items() if v}
    return HOME + (f"?{urlencode(kept)}" if kept else "")


@router.get("/staff/cases", response_class=HTMLResponse)
def queue_page(
    request: Request, db: DbSession, state: str = OPEN_TAB, item: str = "", due: str = "", page: str = "1"
) -> Response:
    """The department's cases by state, soonest deadline first, with the overdue and soon-due marks."""
    staff = _principal(request, db, rights.VIEW)
    if isinstance(staff, Response):
        return staff
    scope = _scope(staff)
    counts = cases.queue_counts(db, scope)
    items = _items(db, scope)
    state = state if state in (OPEN_TAB, ALL_TAB, *_STATE_ORDER) else OPEN_TAB
    item = item if item in {code for code, _ in items} else ""
    due = due if due in _DUE else ""
    page_no = int(page) if page.isdigit() and 1 <= int(page) <= 10_000 else 1
    statuses: list[str] | None
    if state == OPEN_TAB:
        statuses = sorted(machine.OPEN)
    elif state == ALL_TAB:
        statuses = list(_STATE_ORDER)
    else:
        statuses = [state]
    rows, total = cases.queue(db, department_ids=scope, statuses=statuses, due=due or None,
                              offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE, task_code=item or None)  # fmt: skip
    # 联办: the cases other departments asked this clerk's departments about (first page, oldest ask first).
    asked, asked_total = cases.awaiting_opinion(db, _scope_of(staff, rights.HANDLE), limit=PAGE_SIZE)
    # 联办环节: how many cases reached a step of these departments (the list is a page of its own).
    _, joint_total = cases.in_joint_steps(db, _scope_of(staff, rights.HANDLE), offset=0, limit=1)
    names = _department_names(db, sorted({c.department_id for c in (*rows, *asked)}))
    pages = max(1, -(-total // PAGE_SIZE))
    # Open work is counted; the finished cases (the bulk of a department's years) are not.
    tabs: list[tuple[str, str, int | None]] = [(OPEN_TAB, "待办", sum(counts.values()))]
    tabs += [(s, machine.LABELS[s], counts.get(s, 0) if s in machine.OPEN else None) for s in _STATE_ORDER]
    tabs.append((ALL_TAB, "全部", None))
    return render(
        request,
        db,
        "staff/queue.html",
        {
            "rows": [
                {
                    "case_no": c.case_no,
                    "task_name": c.task_name,
                    "applicant": c.applicant_name,
                    "status": machine.LABELS.get(c.status, "办理中"),
                    "department": names.get(c.department_id, ""),
                    "deadline": beijing(c.deadline, with_time=False) if c.deadline else None,
                    "due": due,
                    "submitted_at": beijing(c.submitted_at),
                }
                for c, due in zip(rows, cases.due_states(db, rows), strict=True)
            ],
            "asked": [
                {
                    "case_no": c.case_no,
                    "task_name": c.task_name,
                    "department": names.get(c.department_id, ""),
                    "question": (c.joint or {}).get("asked") or "",
                }
                for c in asked
            ],
            "asked_total": asked_total,
            "joint_total": joint_total,
            "many_departments": scope is None or len(scope) > 1,
            "tabs": [
                {"key": k, "label": label, "count": n, "url": _queue_link(state=k, item=item, due=due)}
                for k, label, n in tabs
            ],
            "state": state,
            "item": item,
            "due": due,
            "items": items,
            "due_choices": _DUE,
            "total": total,
            "page": page_no,
            "pages": pages,
            "prev_url": _queue_link(state=state, item=item, due=due, page=str(page_no - 1)),
            "next_url": _queue_link(state=state, item=item, due=due, page=str(page_no + 1)),
        },
    )


JOINT_STEPS: Final = "/staff/joint-steps"


@router.get(JOINT_STEPS, response_class=HTMLResponse)
def joint_steps_page(request: Request, db: DbSession, page: str = "1", state: str = "") -> Response:
    """联办环节: the open cases of other departments' items at a step of this clerk's departments, the case
    reaching it first first, each with that step's state for the department; ``state=done``: the open
    cases whose steps of the department are finished (the case goes on at other departments)."""
    staff = _principal(request, db, rights.HANDLE)
    if isinstance(staff, Response):
        return staff
    scope = _scope_of(staff, rights.HANDLE)
    done = state == "done"
    page_no = int(page) if page.isdigit() and 1 <= int(page) <= 10_000 else 1
    rows, total = cases.in_joint_steps(
        db, scope, done=done, offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    names = _department_names(db, sorted({c.department_id for c in rows}))
    pages = max(1, -(-total // PAGE_SIZE))
    shown = []
    for c in rows:
        mine = [
            s
            for s in cases.step_view(db, c)
            if s.get("department_name") and (scope is None or s["department_id"] in scope)
        ]
        shown.append(
            {
                "case_no": c.case_no,
                "task_name": c.task_name,
                "department": names.get(c.department_id, ""),
                "steps": [
                    {
                        "name": s["name"],
                        "state": s["state"],
                        "label": s["state_label"],
                        "parallel": bool(s.get("parallel")),
                    }
                    for s in mine
                ],
                "deadline": beijing(c.deadline, with_time=False) if c.deadline else None,
                "submitted_at": beijing(c.submitted_at),
            }
        )
    return render(
        request,
        db,
        "staff/joint_steps.html",
        {"rows": shown, "total": total, "page": page_no, "pages": pages, "done": done,
         "tabs": [("待本部门办理", JOINT_STEPS, not done), ("本部门已完成、尚未办结", f"{JOINT_STEPS}?state=done", done)],
         "prev_url": f"{JOINT_STEPS}?{_joint_query(done, page_no - 1)}",
         "next_url": f"{JOINT_STEPS}?{_joint_query(done, page_no + 1)}"},
    )  # fmt: skip


def _joint_query(done: bool, page: int) -> str:
    return urlencode({"state": "done", "page": page} if done else {"page": page})


# --- one case --------------------------------------------------------------------------------------------


def _actor(db: Session, actor: str) -> str:
    kind, _, ref = actor.partition(":")
    if kind == "account":
        account = identity.get_account(db, ref)
        if account is None:
            return "工作人员"
        if account.kind == "staff":
            return f"{account.display_name}（工作人员）"
        return "申请人"
    if kind == "client":
        return "部门业务系统"
    return "系统"


def _timeline(db: Session, case: Case) -> list[dict[str, str]]:
    return [
        {
            "at": beijing(h.at),
            "what": _HISTORY.get(h.action) or ACTIONS.get(h.action, "办件状态更新"),
            "status": machine.LABELS.get(h.to_status, ""),
            "step": h.step or "",
            "who": _actor(db, h.actor),
            "opinion": h.opinion or "",
        }
        for h in cases.history(db, case)
    ]


def _guide_materials(db: Session, case: Case) -> list[tuple[str, str]]:
    try:
        version = catalog.get_version(db, "task", case.task_code, case.task_version)
    except DomainError:
        return [(m["material_id"], m.get("name", "材料")) for m in case.materials or []]
    return [(str(m["row_guid"]), str(m["material_name"])) for m in version.snapshot.get("materials") or []]


def _materials(db: Session, case: Case) -> list[dict[str, Any]]:
    out = []
    for m in case.materials or []:
        entry: dict[str, Any] = {"id": m["material_id"], "name": m.get("name", "材料")}
        if m.get("kind") == "license":
            entry["license"] = True
            try:
                lic = licenses.get_license(db, str(m["license_id"]))
                state = "有效" if lic.status == "valid" else "当前无效"
                entry["license_text"] = f"{lic.type_name}（证照编号 {lic.number}，{state}）"
                entry["identifier"] = lic.identifier
            except LicenseError:
                entry["license_text"] = f"电子证照（标识 {m.get('license_identifier', '—')}）"
        else:
            entry["file"] = m.get("file_name") or "已上传的文件"
        out.append(entry)
    return out


def _license_types(db: Session) -> list[Any]:
    return [t for t in licenses.list_types(db) if t.status == "active" and t.result_kind == "license"]


def _result_type(db: Session, case: Case, types: list[Any]) -> str:
    """The license type the item's guide names as its result (审批结果名称), if one is defined."""
    try:
        named = (catalog.get_task(db, case.task_code).result_name or "").strip()
    except DomainError:
        return ""
    return next((t.code for t in types if named and t.name == named), "")


def _joint(db: Session, case: Case, staff: StaffPrincipal) -> dict[str, Any] | None:
    joint = case.joint or {}
    asked = joint.get("departments") or {}
    if not asked:
        return None
    names = _department_names(db, list(asked))
    mine = [
        (orgs.get_department(db, d).credit_code, names[d])
        for d, v in asked.items()
        if v.get("status") == "pending" and staff.reaches(rights.HANDLE, d)
    ]
    return {
        "question": joint.get("asked") or "",
        "outcome": {"agreed": "各部门均同意", "refused": "有部门不同意"}.get(str(joint.get("outcome")), ""),
        "rows": [
            {
                "name": names[d],
                "state": _OPINION_STATES.get(str(v.get("status")), ""),
                "opinion": v.get("opinion") or "",
                "at": beijing(_parse(v.get("at"))) if v.get("at") else "",
            }
            for d, v in asked.items()
        ],
        "mine": mine if case.status == machine.JOINT else [],
    }


def _parse(value: Any) -> Any:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _case_page(
    request: Request,
    db: Session,
    staff: StaffPrincipal,
    case: Case,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    revealed: dict[str, str | None] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    narrowed = not staff.reaches(rights.VIEW, case.department_id)
    handles = not narrowed and staff.reaches(rights.HANDLE, case.department_id)
    values = values or {}
    chosen_type = str(values.get("license_type") or request.query_params.get("license_type") or "")[:21]
    allowed = _allowed(db, staff, case, handles)
    types = _license_types(db) if "conclude" in allowed else []
    if types and not chosen_type:
        chosen_type = _result_type(db, case, types)
    face_fields = next((t.fields for t in types if t.code == chosen_type), None)
    labels = {**dict(FIELDS), **cases.form_labels(case)}
    result = case.result or {}
    asked = case.supplement or {}
    guide = _guide_materials(db, case)
    guide_names = dict(guide)
    joint = _joint(db, case, staff)
    due = cases.due_state(db, case)
    peers: list[tuple[str, str]] = []
    if "request_opinions" in allowed or "add_step" in allowed:
        found, _ = orgs.list_departments(db, division_prefix=case.division_code, limit=100)
        peers = [(d.credit_code, d.name) for d in found if d.id != case.department_id]
    return render(
        request,
        db,
        "staff/case.html",
        {
            "c": case,
            "narrowed": narrowed,
            "can_reveal": handles,
            "status": machine.LABELS.get(case.status, "办理中"),
            "step": _step(case),
            # An opinion-asked department sees no process; a 联办 step's department sees where its step is.
            "steps": cases.step_view(db, case) if not narrowed or cases.is_joint(case) else [],
            "department": _department_names(db, [case.department_id])[case.department_id],
            "deadline": beijing(case.deadline, with_time=False) if case.deadline else None,
            "due": _DUE.get(due or "", ""),
            "due_key": due or "",
            "clock": _CLOCK[_clock(case)],
            "submitted_at": beijing(case.submitted_at),
            "accepted_at": beijing(case.accepted_at) if case.accepted_at else None,
            "masked": personal.masked(db, case),
            "revealed": revealed,
            "form_values": []
            if narrowed
            else [
                (labels.get(k, k), v) for k, v in (case.form or {}).items() if v and k != personal.PHONE_FIELD
            ],
            "materials": _materials(db, case),
            "timeline": [] if narrowed else _timeline(db, case),
            "supplement": {
                "opinion": asked.get("reason") or "",
                "materials": [guide_names.get(m, "材料") for m in asked.get("materials", [])],
                "fields": [labels.get(f, f) for f in asked.get("fields", [])],
            }
            if case.status == machine.SUPPLEMENT
            else None,
            "special": {
                "kind": _SPECIAL.get(str((case.special or {}).get("kind")), "特别程序"),
                "reason": (case.special or {}).get("reason") or "",
            }
            if case.special
            else None,
            "joint": joint,
            "result": {
                "outcome": _OUTCOMES.get(str(result.get("outcome")))
                or {"not_accepted": "不予受理", "withdrawn": "申请人已撤回"}.get(
                    str(result.get("outcome")), "已办结"
                ),
                "kind": _RESULT_KINDS.get(str(result.get("kind")), ""),
                "explain": result.get("explain") or "",
                "license": result.get("license_type_name"),
                "license_number": result.get("license_number"),
                "license_identifier": result.get("license_identifier"),
                "delivered": bool(result.get("delivered")),
                "concluded_at": beijing(case.concluded_at),
            }
            if case.concluded_at and not narrowed
            else None,
            "allowed": allowed,
            "actions": ACTIONS,
            "guide_materials": guide,
            "supplement_fields": list(FIELDS) + list(cases.form_labels(case).items()),
            "outcomes": _OUTCOMES,
            "result_kinds": _RESULT_KINDS,
            "specials": _SPECIAL,
            "peers": peers,
            "steps_total": len((case.process or {}).get("steps") or []),
            "verdicts": _VERDICTS,
            "license_types": [(t.code, t.name) for t in types],
            "chosen_type": chosen_type if face_fields is not None else "",
            "face_fields": face_fields or [],
            "applicant_name": case.applicant_name,
            "errors": errors or {},
            "values": values,
            "done": ACTIONS.get(request.query_params.get("done", ""), ""),
        },
        status_code=status_code,
    )


def _step(case: Case) -> str:
    return cases.current_step_name(case)


def _clock(case: Case) -> str:
    if case.status in machine.FINAL:
        return "stopped"
    if case.clock_start is None:
        return "not_started"
    return "paused" if case.status in machine.CLOCK_STOPPED else "running"


def _visible_case(
    request: Request, db: Session, case_no: str, *wanted: Any
) -> tuple[StaffPrincipal, Case] | Response:
    """The case if the policy lets this staff member see it: its department's, or a 联办 department's."""
    staff = _principal(request, db, *wanted)
    if isinstance(staff, Response):
        return staff
    try:
        case = cases.get_case(db, case_no[:64])
    except CaseNotFound:
        case = None
    if case is None or case.status == machine.DRAFT:  # a draft is the applicant's alone
        return _message(
            request, db, "没有找到这个办件", "办件不存在，请核对办件编号。", 404, (HOME, "返回办件队列")
        )
    if not staff.reaches(rights.VIEW, case.department_id) and not any(
        staff.reaches(rights.VIEW, d) for d in cases.involved_departments(case)
    ):
        try:
            staff.ensure(rights.VIEW, case.department_id)
        except DomainError as exc:
            return _refused(request, db, exc)
    return staff, case


@router.get("/staff/cases/{case_no}", response_class=HTMLResponse)
def case_page(case_no: str, request: Request, db: DbSession) -> Response:
    """One case: the applicant (masked), materials, timeline and the actions its status allows."""
    found = _visible_case(request, db, case_no, rights.VIEW)
    if isinstance(found, Response):
        return found
    staff, case = found
    return _case_page(request, db, staff, case)


@router.get("/staff/cases/{case_no}/materials/{material_id}")
def material_file(case_no: str, material_id: str, request: Request, db: DbSession) -> Response:
    """An uploaded material of the case, for the staff who may see the case."""
    found = _visible_case(request, db, case_no, rights.VIEW)
    if isinstance(found, Response):
        return found
    _, case = found
    entry = next((m for m in case.materials or [] if m["material_id"] == material_id), None)
    if entry is None or entry.get("kind") != "upload":
        return _message(
            request,
            db,
            "没有找到这份材料",
            "这份材料不是上传的文件。",
            404,
            (f"{HOME}/{case.case_no}", "返回办件"),
        )
    data = node_of(request).files.get(str(entry["file_sm3"]))
    media, suffix = next(((t, s) for magic, (t, s) in _MEDIA.items() if data.startswith(magic)),
                         ("application/octet-stream", ""))  # fmt: skip
    name = str(entry.get("file_name") or f"{entry.get('name', '材料')}{suffix}")
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/staff/cases/{case_no}/reveal", response_class=HTMLResponse)
async def reveal_submit(case_no: str, request: Request, db: DbSession) -> Response:
    """Show the applicant's ID number and phone in clear, once, with the read recorded (who, why)."""
    posted = await request.form(max_files=0, max_fields=20)

    def work() -> Response:
        found = _visible_case(request, db, case_no, rights.HANDLE)
        if isinstance(found, Response):
            return found
        staff, case = found
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _case_page(request, db, staff, case, errors={"form": exc.detail}, status_code=403)
        try:
            staff.ensure(rights.HANDLE, case.department_id)
        except DomainError as exc:
            return _refused(request, db, exc)
        purpose = _text(posted, "purpose", 200)
        if not purpose:
            return _case_page(request, db, staff, case, errors={"purpose": "请填写查看完整信息的原因"},
                              values={"purpose": purpose}, status_code=422)  # fmt: skip
        shown = personal.reveal(db, case, reader=f"account:{staff.account_id}", purpose=f"办件{case.case_no}：{purpose}",
                                meta=request_meta(request))  # fmt: skip
        return _case_page(request, db, staff, case, revealed=shown)

    return await run_in_threadpool(work)


def _text(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _many(form: FormData, name: str) -> list[str]:
    return [v[:64] for v in form.getlist(name) if isinstance(v, str) and v][:50]


def _read_action(form: FormData, case: Case, face_fields: list[dict[str, Any]] | None) -> tuple[
    dict[str, Any], dict[str, str]
]:  # fmt: skip
    """The typed values of one action's form and the mistakes a page can name before the service is asked."""
    action = _text(form, "action", 40)
    values: dict[str, Any] = {
        "action": action,
        "opinion": _text(form, "opinion"),
        "materials": _many(form, "materials"),
        "fields": _many(form, "fields"),
        "departments": _many(form, "departments"),
        "outcome": _text(form, "outcome", 20),
        "result_kind": _text(form, "result_kind", 20),
        "license_type": _text(form, "license_type", 21),
        "special_kind": _text(form, "special_kind", 20),
        "verdict": _text(form, "verdict", 10),
        "department": _text(form, "department", 18),
        "is_express": _text(form, "is_express", 4) == "1",
        "step_name": _text(form, "step_name", 100),
        "step_days": _text(form, "step_days", 8),
        "step_department": _text(form, "step_department", 18),
        "face": {f["name"]: _text(form, f"face_{f['name']}", 2000) for f in face_fields or []},
    }
    errors: dict[str, str] = {}
    if action in ("reject", "request_supplement", "start_special") and not values["opinion"]:
        errors[f"{action}-opinion"] = {
            "reject": "请填写不予受理的理由",
            "request_supplement": "请说明需要补正什么、为什么",
            "start_special": "请填写进入特别程序的原因",
        }[action]
    if action == "request_supplement" and not values["materials"] and not values["fields"]:
        errors["request_supplement-what"] = "请至少选择一项需要补正的材料或填写项"
    if action == "conclude":
        if values["outcome"] not in _OUTCOMES:
            errors["conclude-outcome"] = "请选择办理结果"
        if values["result_kind"] not in _RESULT_KINDS:
            errors["conclude-kind"] = "请选择结果类型"
        elif values["outcome"] == "approved" and values["result_kind"] == "license":
            if face_fields is None:
                errors["conclude-type"] = "请先选择要签发的证照类型，再填写照面信息"
            else:
                for f in face_fields:
                    if f.get("required", True) and not values["face"][f["name"]]:
                        errors[f"face_{f['name']}"] = f"请填写照面信息“{f['label']}”"
    if action == "start_special" and values["special_kind"] not in _SPECIAL:
        errors["start_special-kind"] = "请选择特别程序的种类"
    if action == "request_opinions":
        if not values["departments"]:
            errors["request_opinions-departments"] = "请至少选择一个征求意见的部门"
        if not values["opinion"]:
            errors["request_opinions-opinion"] = "请写明征求意见的事项"
    if action == "add_step":
        if not values["step_name"]:
            errors["add_step-name"] = "请填写新环节的名称"
        days = values["step_days"] or "0"
        if not days.isdigit() or int(days) > MAX_STEP_DAYS:
            errors["add_step-days"] = f"时限应为0至{MAX_STEP_DAYS}之间的整数（工作日）"
    if action == "give_opinion":
        if values["verdict"] not in _VERDICTS:
            errors["give_opinion-verdict"] = "请选择同意或不同意"
        if not values["opinion"]:
            errors["give_opinion-opinion"] = "请填写联办意见"
    return values, errors


def _action_input(values: dict[str, Any], acting: str | None, asked: tuple[str, ...]) -> cases.ActionInput:
    approved_license = (
        values["action"] == "conclude"
        and values["outcome"] == "approved"
        and values["result_kind"] == "license"
    )
    return cases.ActionInput(
        action=values["action"],
        opinion=values["opinion"] or None,
        materials=tuple(values["materials"]),
        fields=tuple(values["fields"]),
        special_kind=values["special_kind"] or None,
        outcome=values["outcome"] or None,
        result_kind=values["result_kind"] or None,
        license_type_code=values["license_type"] if approved_license else None,
        license_face={k: v for k, v in values["face"].items() if v} if approved_license else {},
        is_express=values["is_express"],
        verdict=values["verdict"] or None,
        departments=asked,
        acting_department=acting,
        step=values.get("step"),
        steps_seen=values.get("steps_seen"),
    )


#: A step's time limit, as the process rules allow (``cases.process``).
MAX_STEP_DAYS: Final = 365


def _added_step(case: Case, values: dict[str, Any]) -> dict[str, Any]:
    """The step a clerk adds from the page: a code of its own in the case's process, the case handlers'
    role (who may act is the policy's to say), the department only for another department's 联办 step."""
    taken = {str(s.get("code")) for s in (case.process or {}).get("steps") or []}
    code = next(f"added_{n}" for n in range(1, len(taken) + 2) if f"added_{n}" not in taken)
    step: dict[str, Any] = {
        "code": code, "name": values["step_name"], "role": "case_handler", "days": int(values["step_days"] or 0),
    }  # fmt: skip
    if values["step_department"]:
        step["department"] = values["step_department"]
    return step


def _face_errors(exc: DomainError) -> dict[str, str]:
    problems = exc.extra.get("fields")
    if not isinstance(problems, list):
        return {}
    return {f"face_{p['field']}": f"“{p['label']}”{p['reason']}" for p in problems if isinstance(p, dict)}


def _allowed(db: Session, staff: StaffPrincipal, case: Case, handles: bool) -> list[str]:
    """The action forms this clerk gets: the item's department handles the case, except a 联办 step's
    acceptance, completion and conclusion, which belong to the department the current step names."""
    out = []
    actors = [d for d in cases.step_actors(db, case) if staff.reaches(rights.HANDLE, d)]
    for action in machine.allowed(case.status):
        if action not in ACTIONS or action == "give_opinion":
            continue
        if action in cases.STEP_ACTIONS:
            if actors:
                out.append(action)
        elif handles:
            out.append(action)
    # The clerk's own step among the current ones (a parallel group has several).
    step = next(
        (
            s
            for s in cases.step_view(db, case)
            if s["state"] in ("waiting", "current") and (s["department_id"] in actors or not actors)
        ),
        None,
    )
    if step is not None and step.get("department_name"):
        # Another department's step: it is accepted before it is done.
        drop = "accept_step" if step["state"] == "current" else "complete_step"
        out = [a for a in out if a not in (drop, "conclude" if step["state"] == "waiting" else "")]
    else:
        out = [a for a in out if a != "accept_step"]
    return out


@router.post("/staff/cases/{case_no}/actions", response_class=HTMLResponse)
async def action_submit(case_no: str, request: Request, db: DbSession) -> Response:
    """One action from the case page, decided by the policy in the department it touches and taken by the
    cases service; mistakes come back on the page with what was typed."""
    posted = await request.form(max_files=0, max_fields=200)
    node = node_of(request)

    def work() -> Response:
        found = _visible_case(request, db, case_no, rights.HANDLE)
        if isinstance(found, Response):
            return found
        staff, case = found
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _case_page(request, db, staff, case, errors={"form": exc.detail}, status_code=403)
        seen = _text(posted, "seen", 40)
        if seen and seen != case.status:
            # A second click, or another clerk was quicker: nothing is done twice.
            now = machine.LABELS.get(case.status, "办理中")
            notice = f"这个办件刚刚已被办理，当前状态为“{now}”。请查看最新情况后再操作。"
            return _case_page(request, db, staff, case, errors={"form": notice}, status_code=409)
        chosen = _text(posted, "license_type", 21)
        face_fields = next((t.fields for t in _license_types(db) if t.code == chosen), None)
        values, errors = _read_action(posted, case, face_fields)
        if values["action"] not in ACTIONS:
            errors["form"] = "请通过办件页面上的按钮办理"
        acting: str | None = None
        try:
            if values["action"] == "give_opinion":
                try:
                    department = (
                        orgs.get_by_credit_code(db, values["department"]) if values["department"] else None
                    )
                except DomainError:
                    department = None
                if department is None:
                    errors.setdefault("give_opinion-verdict", "请选择代表哪个部门提出意见")
                else:
                    acting = department.id
                    staff.ensure(rights.HANDLE, acting)
            else:
                # A 联办 step's department accepts, completes or concludes at its own step (in a
                # parallel group: the first open one this clerk handles for).
                reached = [d for d in cases.step_actors(db, case) if staff.reaches(rights.HANDLE, d)]
                acting = cases.acting_department(db, case, values["action"], next(iter(reached), None))
                staff.ensure(rights.HANDLE, acting)
            asked: list[str] = []
            for code in values["departments"] if values["action"] == "request_opinions" else []:
                try:
                    asked.append(orgs.get_by_credit_code(db, code).id)
                except DepartmentNotFound:
                    errors["request_opinions-departments"] = "所选的部门不存在，请重新选择"
            if (
                values["action"] == "conclude"
                and values["outcome"] == "approved"
                and values["result_kind"] == "license"
            ):
                # The license is the concluding department's, sealed with its seal.
                staff.ensure(license_rights.ISSUE, acting or case.department_id)
        except DomainError as exc:
            return _refused(request, db, exc)
        if errors:
            return _case_page(request, db, staff, case, errors=errors, values=values, status_code=422)
        if values["action"] == "add_step":
            values["step"] = _added_step(case, values)
            shown = _text(posted, "steps_seen", 4)
            values["steps_seen"] = (
                int(shown) if shown.isdigit() else -1
            )  # the service compares, under its lock
        try:
            cases.act(db, case.case_no or case_no, _action_input(values, acting, tuple(asked)),
                      actor=f"account:{staff.account_id}", bus=node.bus)  # fmt: skip
        except DomainError as exc:
            db.rollback()
            db.expire_all()
            fresh = cases.get_case(db, case.case_no or case_no)
            problem = _face_errors(exc) or {"form": exc.detail}
            return _case_page(
                request, db, staff, fresh, errors=problem, values=values, status_code=exc.status_code
            )
        anchor = "#result" if values["action"] == "conclude" else ""
        return RedirectResponse(f"{HOME}/{case.case_no}?done={values['action']}{anchor}", status_code=303)

    return await run_in_threadpool(work)
