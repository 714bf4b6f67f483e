"""The citizen's case pages: apply from the guide, 我的办件 (list, detail with its timeline, supplement,
withdraw, result, 好差评) and the lookup by case number and query password without login.

Thin handlers over the cases capability's public service functions; every form is a plain POST with
identity's CSRF token, and a form with mistakes comes back with every mistake listed and what was typed.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from zhengwu.cases import machine, uploads
from zhengwu.cases import service as cases
from zhengwu.cases.errors import CaseError, CaseNotFound, LookupRefused
from zhengwu.cases.fields import ItemFields
from zhengwu.catalog import service as catalog
from zhengwu.catalog.errors import ItemNotFound
from zhengwu.catalog.service import access_demand
from zhengwu.identity.deps import Authenticated, current_session, require_level
from zhengwu.identity.errors import CsrfFailed, InsufficientLevel, StepUpRequired
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.codes.task_code import validate_task_code
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.idempotency import IdempotencyRecord
from zhengwu.kernel.limits import KiB, body_limit
from zhengwu.kernel.node import node_of
from zhengwu.kernel.ratelimit import RateLimited, per_address
from zhengwu.kernel.session import DbSession
from zhengwu.portal import keptform
from zhengwu.portal.pages import beijing, form_post, render

router = APIRouter(include_in_schema=False)
# Checked in the handler, so that too many tries get a page rather than the API's problem envelope.
_LOOKUP_LIMIT = per_address("portal.case_lookup", lambda s: s.security.public_rate_per_minute)
#: A whole application form: a few materials of up to the cases' per-file limit each.
MAX_FORM_BYTES = 3 * uploads.MAX_MATERIAL_BYTES + 64 * KiB
_MB = uploads.MAX_MATERIAL_BYTES // (1024 * 1024)
MAX_COMMENT = 1000  # the cases service's limit of an evaluation's comment
_ACCEPT = ".pdf,.ofd,.jpg,.jpeg,.png," + ",".join(uploads.SIGNATURES)
#: The form fields of every application (the guide defines materials, not fields).
FIELDS = (("phone", "联系电话"), ("note", "补充说明"))
_ACTIONS = {
    "submit": "提交申请",
    "accept": "部门受理",
    "reject": "不予受理",
    "request_supplement": "部门要求补正",
    "supplement": "您已补正",
    "accept_step": "部门接收办理环节",
    "complete_step": "完成办理环节",
    "add_step": "增加办理环节",
    "request_opinions": "征求其他部门意见",
    "give_opinion": "部门提出意见",
    "start_special": "进入特别程序（暂停计时）",
    "end_special": "特别程序结束",
    "conclude": "办结",
    "deliver": "送达",
    "withdraw": "您撤回了申请",
}
_OUTCOMES = {"approved": "准予许可（办理通过）", "refused": "不予许可", "withdrawn": "申请已撤回"}
_SCORES = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class _FormProblem(Exception):
    """The posted form could not be read (too big, not multipart, incomplete)."""


def _login(request: Request) -> RedirectResponse:
    return RedirectResponse("/identity/login?next=" + quote(request.url.path, safe=""), status_code=303)


def _message(request: Request, db: Session, title: str, text: str, status: int) -> HTMLResponse:
    return render(request, db, "portal/message.html", {"title": title, "message": text}, status_code=status)


def _demand_refusal(request: Request, db: Session, auth: Authenticated, task_code: str) -> Response | None:
    """The item's login demands (real-name level, fresh login) as a page, or None when they are met."""
    demand = access_demand(db, task_code)
    if demand is None or not demand.requirement.level:
        return None
    try:
        require_level(demand.requirement.level, demand.requirement.max_age)(request, db, auth)
    except InsufficientLevel:
        return _message(
            request, db, "实名认证等级不足",
            "办理这个事项需要更高等级的实名认证。请在“我的账号”中完成实名核验后再办理。", 403,
        )  # fmt: skip
    except StepUpRequired:
        target = f"/items/{task_code}/apply"
        return RedirectResponse("/identity/step-up?next=" + quote(target, safe=""), status_code=303)
    return None


async def _read_form(request: Request, *, max_files: int) -> FormData:
    """The posted form, bounded in size before it is parsed (uploads included)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _FormProblem(f"上传的文件太大：每份材料不能超过 {_MB} MB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _FormProblem(f"上传的文件太大：每份材料不能超过 {_MB} MB")

    async def replay() -> AsyncGenerator[bytes, None]:
        yield bytes(body)

    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            return await MultiPartParser(
                request.headers, replay(), max_files=max_files, max_fields=200
            ).parse()
        if kind == "application/x-www-form-urlencoded":
            from starlette.formparsers import FormParser

            return await FormParser(request.headers, replay()).parse()
    except MultiPartException as exc:
        raise _FormProblem("提交的表单不完整，请重新填写") from exc
    raise _FormProblem("请通过页面上的表单提交")


def _text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


# --- apply -----------------------------------------------------------------------------------------------


@dataclass
class _Choice:
    """What the page knows of one material: the kept upload, the chosen license, the error."""

    choice: str = ""
    file_sm3: str = ""
    file_name: str = ""
    error: str = ""


@dataclass
class _Application:
    values: dict[str, str] = field(default_factory=dict)
    choices: dict[str, _Choice] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _from_case(case: Any) -> _Application:
    """A draft's values and materials, for resuming it."""
    app = _Application(values={k: str(v) for k, v in (case.form or {}).items()})
    for m in case.materials or []:
        if m.get("kind") == "license":
            app.choices[m["material_id"]] = _Choice(choice=str(m["license_id"]))
        else:
            app.choices[m["material_id"]] = _Choice(
                choice="kept",
                file_sm3=str(m["file_sm3"]),
                file_name=str(m.get("file_name") or "已上传的文件"),
            )
    return app


def _apply_page(
    request: Request, db: Session, form: Mapping[str, Any], app: _Application, draft_id: str | None, *,
    status_code: int = 200, restored: bool = False,
) -> HTMLResponse:  # fmt: skip
    return render(
        request,
        db,
        "portal/apply.html",
        {
            "form": form,
            "app": app,
            "draft_id": draft_id or "",
            "fields": FIELDS,
            "submit_key": secrets.token_hex(16),  # hex: base64url trips the WAF's SQL rules at random
            "restored": restored,
            "max_mb": _MB,
            "accept": _ACCEPT,
            "deadline": beijing(form.get("deadline_if_accepted_today"), with_time=False)
            if form.get("deadline_if_accepted_today")
            else None,
        },
        status_code=status_code,
    )


def _applicant_choice(request: Request, auth: Authenticated) -> str | None:
    """The applicant chosen on the page (``?applicant=self`` or an enterprise's id), else the enterprise
    the session acts for (切换办事身份)."""
    chosen = request.query_params.get("applicant", "")[:32]
    if chosen == "self":
        return None
    return chosen or auth.session.acting_for


def _load_form(
    request: Request, db: Session, auth: Authenticated, task_code: str, *, draft: Any | None = None
) -> dict[str, Any] | Response:
    refused = _demand_refusal(request, db, auth, task_code[:40])
    if refused is not None:
        return refused
    # A resumed draft keeps the applicant it was saved for.
    entity = draft.applicant_entity_id if draft is not None else _applicant_choice(request, auth)
    try:
        return cases.application_form(db, auth.account, task_code[:40], on_behalf_of=entity)
    except CaseError as exc:
        return _message(request, db, "暂时不能在线办理", exc.detail, exc.status_code)


def _own_draft(db: Session, auth: Authenticated, draft_id: str, task_code: str) -> Any | None:
    if not draft_id:
        return None
    try:
        case = cases.get_case(db, draft_id[:64])
    except CaseNotFound:
        return None
    if (
        case.applicant_account_id != auth.account.id
        or case.status != machine.DRAFT
        or case.task_code[:40] != task_code[:40]
    ):
        return None
    return case


@router.get("/items/{task_code}/apply", response_class=HTMLResponse)
def apply_page(task_code: str, request: Request, db: DbSession, draft: str = "") -> Response:
    """The application form of an item (a new one, or a draft resumed from 我的办件)."""
    auth = current_session(request, db)
    if auth is None:
        return _login(request)
    case = _own_draft(db, auth, draft, task_code)
    form = _load_form(request, db, auth, task_code, draft=case)
    if isinstance(form, Response):
        return form
    app = _from_case(case) if case is not None else _Application()
    kept = keptform.take(request, db, account_id=auth.account.id, key=form["task_code"])
    if kept is not None:
        names = {name for name, _ in FIELDS}
        app.values.update({k: str(v)[:500] for k, v in kept["v"].items() if k in names})
        for m in form["materials"]:
            chosen = kept["c"].get(m["material_id"])
            if chosen in {h["id"] for h in m["held_licenses"]}:
                app.choices[m["material_id"]] = _Choice(choice=chosen)
    response = _apply_page(
        request, db, form, app, case.id if case is not None else None, restored=kept is not None
    )
    if keptform.COOKIE in request.cookies:
        keptform.forget(response, f"/items/{form['task_code']}/apply")
    return response


def _gather(
    node: Any, form: Mapping[str, Any], posted: FormData, *, submit: bool
) -> tuple[_Application, list[cases.MaterialInput]]:
    """Read the posted application: fields, and per material a held license, a new upload (stored
    through the cases' upload checks) or the upload kept from before; every mistake is collected."""
    app = _Application(values={name: _text(posted, name) for name, _ in FIELDS})
    if submit and not app.values["phone"]:
        app.errors["phone"] = "请填写联系电话，以便部门联系您"
    elif app.values["phone"] and not app.values["phone"].replace("-", "").replace(" ", "").isdigit():
        app.errors["phone"] = "联系电话只能包含数字和连字符，例如 0311-12345678 或 13812345678"
    _gather_item_fields(form, posted, app, submit=submit)
    inputs: list[cases.MaterialInput] = []
    for m in form["materials"]:
        mid = m["material_id"]
        held = {str(lic["id"]) for lic in m["held_licenses"]}
        got = _Choice(
            choice=_text(posted, f"choice_{mid}", 80),
            file_sm3=_text(posted, f"kept_{mid}", 64),
            file_name=_text(posted, f"kept_name_{mid}", 200),
        )
        upload = posted.get(f"file_{mid}")
        if isinstance(upload, UploadFile) and upload.filename:
            data = upload.file.read()
            try:
                got.file_sm3 = uploads.store(node, upload.content_type or "", data)
                got.file_name = upload.filename[:200]
                # A chosen license stays chosen; otherwise the file just sent is the material.
                if got.choice not in held:
                    got.choice = "kept"
            except DomainError as exc:
                got.error = f"“{m['name']}”：{exc.detail}（可上传 PDF、OFD、JPG、PNG，不超过 {_MB} MB）"
        if got.choice in held:
            inputs.append(cases.MaterialInput(mid, license_id=got.choice))
        elif got.choice == "kept" and len(got.file_sm3) == 64:
            inputs.append(cases.MaterialInput(mid, file_sm3=got.file_sm3, file_name=got.file_name or None))
        elif not got.error and got.choice not in ("", "upload", "kept"):
            got.error = f"“{m['name']}”：所选证照不可用，请重新选择"
        elif not got.error and submit and m["required"]:
            got.error = f"“{m['name']}”是必要材料：请选择您持有的电子证照或上传文件"
        if got.error:
            app.errors[f"material_{mid}"] = got.error
        app.choices[mid] = got
    return app, inputs


def _gather_item_fields(
    form: Mapping[str, Any], posted: FormData, app: _Application, *, submit: bool
) -> None:
    """The item's own fields (``item_<code>`` on the page): kept as typed, checked with the item's rules
    (the service checks them again)."""
    own = ItemFields.from_json({"fields": form.get("fields") or []})
    typed = {f.code: _text(posted, f"item_{f.code}", 2000) for f in own.fields}
    app.values.update(typed)
    _, errors = own.check(typed, complete=submit)
    app.errors.update({f"item_{code}": message for code, message in errors.items()})


def _service_field_errors(exc: CaseError) -> dict[str, str]:
    """The service's errors of the item's own fields, keyed as the page's inputs."""
    found = exc.extra.get("field_errors")
    return {f"item_{k}": str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _replayed(db: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return db.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )


@router.post(
    "/items/{task_code}/apply",
    response_class=HTMLResponse,
    openapi_extra=body_limit(MAX_FORM_BYTES),
)
async def apply_submit(task_code: str, request: Request, db: DbSession) -> Response:
    """Save a draft or submit; a double click (the same hidden key) makes one case. After a session
    timeout what was typed is kept for the next login (``keptform``)."""
    auth = await run_in_threadpool(current_session, request, db)
    if auth is None:
        return await _keep_and_login(request, db, task_code)
    # The draft (and so the applicant) is named in the query string: the form is derived before the
    # multipart body is read.
    early = await run_in_threadpool(_own_draft, db, auth, request.query_params.get("draft", ""), task_code)
    form = await run_in_threadpool(lambda: _load_form(request, db, auth, task_code, draft=early))
    if isinstance(form, Response):
        return form
    try:
        posted = await _read_form(request, max_files=len(form["materials"]) + 1)
    except _FormProblem as exc:
        problem = str(exc)
        return await run_in_threadpool(
            lambda: _apply_page(
                request, db, form, _Application(errors={"form": problem}), None, status_code=422
            )
        )
    node = node_of(request)

    def work() -> Response:
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _apply_page(
                request,
                db,
                form,
                _Application(
                    values={name: _text(posted, name) for name, _ in FIELDS}, errors={"form": exc.detail}
                ),
                None,
                status_code=403,
            )
        submit = _text(posted, "action", 10) != "draft"
        draft = _own_draft(db, auth, _text(posted, "draft_id", 64), form["task_code"])
        app, inputs = _gather(node, form, posted, submit=submit)
        draft_id = draft.id if draft is not None else None
        if app.errors:
            return _apply_page(request, db, form, app, draft_id, status_code=422)
        key = _text(posted, "submit_key", 100)
        scope = f"portal.apply:{auth.account.id}"
        record = None
        if submit and key:
            earlier = _replayed(db, scope, key)
            if earlier is not None:
                where = (earlier.response or {}).get("case_no")
                if where:
                    return RedirectResponse(f"/me/cases/{where}?again=1", status_code=303)
                return _message(request, db, "正在提交", "您的申请正在提交，请稍后在“我的办件”中查看。", 409)
            record = IdempotencyRecord(scope=scope, key=key, method="POST", path=request.url.path,
                                       fingerprint=secrets.token_hex(8))  # fmt: skip
            db.add(record)
            try:
                with db.begin_nested():
                    db.flush([record])
            except IntegrityError:
                return _message(request, db, "正在提交", "您的申请正在提交，请稍后在“我的办件”中查看。", 409)
        entity = form["applicant"].get("entity_id")
        try:
            done = cases.save(
                db, auth.account, task_code=form["task_code"], form=app.values, materials=inputs,
                submit=submit, draft_id=draft_id, on_behalf_of=entity, bus=node.bus,
            )  # fmt: skip
        except CaseError as exc:
            db.rollback()
            app.errors.update(_service_field_errors(exc) or {"form": exc.detail})
            return _apply_page(request, db, form, app, draft_id, status_code=exc.status_code)
        case = done.case
        if not submit:
            return RedirectResponse(
                f"/items/{form['task_code']}/apply?draft={case.id}&saved=1", status_code=303
            )
        if record is not None:
            record.status_code, record.response = 201, {"case_no": case.case_no}
        return render(
            request,
            db,
            "portal/applied.html",
            {
                "case_no": case.case_no,
                "password": done.password,
                "task_name": case.task_name,
                "deadline": beijing(case.deadline, with_time=False) if case.deadline else None,
                "submitted_at": beijing(case.submitted_at),
            },
            status_code=201,
        )

    try:
        return await run_in_threadpool(work)
    finally:
        await posted.close()


async def _keep_and_login(request: Request, db: Session, task_code: str) -> Response:
    """To the login page and back to this form; the typed fields and chosen licenses go along encrypted
    when the browser holds a real session of this node and the form is its own (CSRF)."""
    target = f"/items/{task_code[:40]}/apply"
    for name in ("draft", "applicant"):
        value = request.query_params.get(name, "")[:64]
        if value:
            target += f"?{name}={quote(value, safe='')}"
            break
    if not validate_task_code(task_code).ok:
        return _login(request)

    def fields(posted: FormData) -> tuple[dict[str, str], dict[str, str]]:
        choices = {
            key[len("choice_") :][:64]: value[:64]
            for key, value in posted.multi_items()
            if key.startswith("choice_") and isinstance(value, str) and value not in ("", "upload", "kept")
        }
        return {name: _text(posted, name) for name, _ in FIELDS}, choices

    return await _keep_posted(request, db, target, task_code, fields, path=f"/items/{task_code}/apply")


async def _keep_posted(
    request: Request,
    db: Session,
    target: str,
    key: str,
    fields: Callable[[FormData], tuple[dict[str, str], dict[str, str]]],
    *,
    path: str,
) -> Response:
    """A multipart form posted without a session: read it (bounded) and keep what was typed for ``key``
    (``keptform.keep_and_login``), the login page with ``next`` = ``target`` in any case."""
    try:
        posted = await _read_form(request, max_files=100)
    except _FormProblem:
        return RedirectResponse("/identity/login?next=" + quote(target, safe=""), status_code=303)
    try:
        values, choices = fields(posted)
        response = await run_in_threadpool(
            lambda: keptform.keep_and_login(
                request,
                db,
                page=path,
                key=key,
                csrf_token=_text(posted, "csrf_token", 200),
                values=values,
                choices=choices,
            )
        )
    finally:
        await posted.close()
    if target != path:  # the apply page's query (draft, applicant) rides in ``next``, the cookie on its path
        response.headers["location"] = "/identity/login?next=" + quote(target, safe="")
    return response


# --- 我的办件 ----------------------------------------------------------------------------------------------


def _case_row(case: Any) -> dict[str, Any]:
    return {
        "enterprise": case.applicant_name if case.applicant_kind == "enterprise" else None,
        "agent": case.agent_name,
        "ref": case.case_no or case.id,
        "case_no": case.case_no,
        "task_name": case.task_name,
        "task_code": case.task_code,
        "id": case.id,
        "status": machine.LABELS.get(case.status, "办理中"),
        "draft": case.status == machine.DRAFT,
        "deadline": beijing(case.deadline, with_time=False) if case.deadline else None,
        "at": beijing(case.submitted_at or case.updated_at),
    }


@router.get("/me/cases", response_class=HTMLResponse)
def my_cases(request: Request, db: DbSession, page: str = "1") -> Response:
    """我的办件: the person's cases and drafts, newest first."""
    auth = current_session(request, db)
    if auth is None:
        return _login(request)
    page_no = int(page) if page.isdigit() and 1 <= int(page) <= 1000 else 1
    rows, total = cases.mine(db, auth.account, offset=(page_no - 1) * 20, limit=20)
    return render(
        request,
        db,
        "portal/my_cases.html",
        {
            "cases": [_case_row(c) for c in rows],
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // 20)),
        },
    )


def _timeline(db: Session, case: Any) -> list[dict[str, str]]:
    rows = []
    for h in cases.history(db, case):
        rows.append(
            {
                "at": beijing(h.at),
                "what": _ACTIONS.get(h.action, "办件状态更新"),
                "step": (h.step or "") if h.action in ("accept_step", "complete_step") else "",
                "status": machine.LABELS.get(h.to_status, ""),
                "opinion": h.opinion or "",
            }
        )
    return rows


def _names(db: Session, case: Any) -> dict[str, str]:
    """Material names by id: the guide's, then those the case itself recorded."""
    try:
        guide = catalog.get_public_item(db, case.task_code).get("materials") or []
    except ItemNotFound:
        guide = []
    names = {str(m.get("row_guid")): str(m.get("material_name")) for m in guide}
    names.update({m["material_id"]: m.get("name", "") for m in case.materials or []})
    return names


def _detail(request: Request, db: Session, case: Any, *, errors: dict[str, str] | None = None,
            values: dict[str, str] | None = None, status_code: int = 200, confirm: bool = False,
            restored: bool = False) -> HTMLResponse:  # fmt: skip
    names = _names(db, case)
    asked = case.supplement or {}
    labels = {**dict(FIELDS), **cases.form_labels(case)}
    result = case.result or {}
    evaluation = cases.evaluation_of(db, case)
    return render(
        request,
        db,
        "portal/my_case.html",
        {
            "c": _case_row(case),
            "timeline": _timeline(db, case),
            "steps": cases.step_view(db, case) if cases.is_joint(case) else [],
            "materials": [
                {"name": m.get("name", ""), "license": m.get("kind") == "license", "file": m.get("file_name")}
                for m in case.materials or []
            ],
            "form_values": [(labels.get(k, k), v) for k, v in (case.form or {}).items() if v],
            "supplement": {
                "opinion": asked.get("reason") or "",  # the service keeps the department's words as reason
                "materials": [(mid, names.get(mid, "材料")) for mid in asked.get("materials", [])],
                "fields": [(f, labels.get(f, f)) for f in asked.get("fields", [])],
            }
            if case.status == machine.SUPPLEMENT
            else None,
            "can_withdraw": case.status in machine.FROM.get("withdraw", ()),
            "confirm": confirm,
            "result": {
                "outcome": _OUTCOMES.get(str(result.get("outcome")), "已办结"),
                "explain": result.get("explain") or "",
                "license_id": result.get("license_id"),
                "license_name": result.get("license_type_name"),
                "license_number": result.get("license_number"),
                "concluded_at": beijing(case.concluded_at),
            }
            if case.concluded_at
            else None,
            "can_evaluate": case.status in (machine.CONCLUDED, machine.DELIVERED) and evaluation is None,
            "evaluation": {
                "score": evaluation.satisfaction,
                "label": _SCORES[evaluation.satisfaction],
                "text": evaluation.text or "",
                "at": beijing(evaluation.at),
            }
            if evaluation
            else None,
            "scores": _SCORES,
            "errors": errors or {},
            "values": values or {},
            "again": request.query_params.get("again") == "1",
            "restored": restored,
            "max_mb": _MB,
            "accept": _ACCEPT,
        },
        status_code=status_code,
    )


def _mine(request: Request, db: Session, case_no: str) -> Any | Response:
    auth = current_session(request, db)
    if auth is None:
        return _login(request)
    try:
        case = cases.get_case(db, case_no[:64])
    except CaseNotFound:
        case = None
    if case is None or not cases.may_see(db, auth.account, case):
        return _message(
            request, db, "没有找到这个办件", "办件不存在，或不是您（或您经办的企业）申请的。", 404
        )
    return auth, case


@router.get("/me/cases/{case_no}", response_class=HTMLResponse)
def my_case(case_no: str, request: Request, db: DbSession) -> Response:
    """One case: timeline, what is asked, the result and the evaluation."""
    found = _mine(request, db, case_no)
    if isinstance(found, Response):
        return found
    auth, case = found
    if case.status == machine.DRAFT:
        return RedirectResponse(f"/items/{case.task_code}/apply?draft={case.id}", status_code=303)
    kept = keptform.kept_values(request, db, account_id=auth.account.id, key=f"case:{case.case_no}")
    values: dict[str, str] = {}
    if kept is not None and kept.get("form") == "supplement" and case.status == machine.SUPPLEMENT:
        values = {k.removeprefix("field_"): v for k, v in kept.items() if k.startswith("field_")}
    elif kept is not None and kept.get("form") == "evaluation":
        values = {k: kept.get(k, "") for k in ("satisfaction", "text")}
    response = _detail(request, db, case, values=values, restored=bool(values))
    return keptform.forget_on(request, response, f"/me/cases/{quote(case.case_no, safe='')}")


@router.post(
    "/me/cases/{case_no}/supplement", response_class=HTMLResponse, openapi_extra=body_limit(MAX_FORM_BYTES)
)
async def supplement_submit(case_no: str, request: Request, db: DbSession) -> Response:
    """Answer a supplement request with exactly the asked materials and fields."""
    if await run_in_threadpool(current_session, request, db) is None:
        page = f"/me/cases/{quote(case_no[:64], safe='')}"

        def fields(posted: FormData) -> tuple[dict[str, str], dict[str, str]]:
            typed = {k: _text(posted, k) for k in posted if k.startswith("field_")}
            return {"form": "supplement", **typed}, {}

        return await _keep_posted(request, db, page, f"case:{case_no[:64]}", fields, path=page)
    found = await run_in_threadpool(_mine, request, db, case_no)
    if isinstance(found, Response):
        return found
    auth, case = found
    try:
        posted = await _read_form(request, max_files=20)
    except _FormProblem as exc:
        problem = str(exc)
        return await run_in_threadpool(
            lambda: _detail(request, db, case, errors={"form": problem}, status_code=422)
        )
    node = node_of(request)

    def work() -> Response:
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _detail(request, db, case, errors={"form": exc.detail}, status_code=403)
        asked = case.supplement or {}
        errors: dict[str, str] = {}
        values = {f: _text(posted, f"field_{f}") for f in asked.get("fields", [])}
        for f, v in values.items():
            if not v:
                errors[f"field_{f}"] = f"请填写“{({**dict(FIELDS), **cases.form_labels(case)}).get(f, f)}”"
        names = _names(db, case)
        inputs = []
        for mid in asked.get("materials", []):
            upload = posted.get(f"file_{mid}")
            if not (isinstance(upload, UploadFile) and upload.filename):
                errors[f"file_{mid}"] = f"请上传补正的材料“{names.get(mid, '材料')}”"
                continue
            try:
                digest = uploads.store(node, upload.content_type or "", upload.file.read())
            except DomainError as exc:
                errors[f"file_{mid}"] = f"“{names.get(mid, '材料')}”：{exc.detail}"
                continue
            inputs.append(cases.MaterialInput(mid, file_sm3=digest, file_name=upload.filename[:200]))
        if errors:
            return _detail(request, db, case, errors=errors, values=values, status_code=422)
        try:
            cases.supplement(db, auth.account, case.case_no, form=values, materials=inputs, bus=node.bus)
        except CaseError as exc:
            db.rollback()
            found = {k.replace("item_", "field_", 1): v for k, v in _service_field_errors(exc).items()}
            return _detail(
                request,
                db,
                case,
                errors=found or {"form": exc.detail},
                values=values,
                status_code=exc.status_code,
            )
        return RedirectResponse(f"/me/cases/{case.case_no}", status_code=303)

    try:
        return await run_in_threadpool(work)
    finally:
        await posted.close()


def _case_post(
    request: Request, db: Session, case_no: str, csrf_token: str
) -> tuple[Authenticated, Any] | Response:
    """The preamble of a form POST on one of the person's cases (the case's page answers a refusal)."""
    return form_post(
        request, csrf_token, lambda: _mine(request, db, case_no),
        lambda _auth, case, refusal: _detail(request, db, case, errors={"form": refusal}, status_code=403),
    )  # fmt: skip


@router.post("/me/cases/{case_no}/withdraw", response_class=HTMLResponse)
def withdraw_submit(
    case_no: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    confirmed: Annotated[str, Form(max_length=4)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Withdraw in two steps on the page itself (no pop-up): ask, then confirm."""
    found = _case_post(request, db, case_no, csrf_token)
    if isinstance(found, Response):
        return found
    auth, case = found
    if confirmed != "yes":
        return _detail(request, db, case, confirm=True)
    try:
        cases.withdraw(
            db, auth.account, case.case_no, reason=reason.strip() or None, bus=node_of(request).bus
        )
    except CaseError as exc:
        db.rollback()
        return _detail(request, db, case, errors={"form": exc.detail}, status_code=exc.status_code)
    return RedirectResponse(f"/me/cases/{case.case_no}", status_code=303)


@router.post("/me/cases/{case_no}/evaluation", response_class=HTMLResponse)
def evaluation_submit(
    case_no: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    satisfaction: Annotated[str, Form(max_length=2)] = "",
    text: Annotated[str, Form(max_length=4 * MAX_COMMENT)] = "",
) -> Response:
    """好差评 after the conclusion: a score from 1 to 5, each with its words, and an optional comment."""
    values = {"satisfaction": satisfaction, "text": text}
    if current_session(request, db) is None:
        return keptform.keep_and_login(
            request, db, page=f"/me/cases/{quote(case_no[:64], safe='')}", key=f"case:{case_no[:64]}",
            csrf_token=csrf_token, values={"form": "evaluation", **values},
        )  # fmt: skip
    found = _case_post(request, db, case_no, csrf_token)
    if isinstance(found, Response):
        return found
    auth, case = found
    errors = {}
    if satisfaction not in {"1", "2", "3", "4", "5"}:
        errors["satisfaction"] = "请选择满意程度"
    if len(text.strip()) > MAX_COMMENT:
        errors["text"] = f"评价内容不能超过{MAX_COMMENT}个字（现在{len(text.strip())}个字）"
    if errors:
        return _detail(request, db, case, errors=errors, values=values, status_code=422)
    try:
        cases.evaluate(db, auth.account, case.case_no, channel="1", satisfaction=int(satisfaction),
                       detail_codes=[], text=text.strip() or None, bus=node_of(request).bus)  # fmt: skip
    except CaseError as exc:
        db.rollback()
        return _detail(
            request, db, case, errors={"form": exc.detail}, values=values, status_code=exc.status_code
        )
    return RedirectResponse(f"/me/cases/{case.case_no}#evaluation", status_code=303)


# --- lookup without login -------------------------------------------------------------------------------


@router.get("/cases/lookup", response_class=HTMLResponse)
def lookup_page(request: Request, db: DbSession) -> HTMLResponse:
    """Look a case up by its number and query password (no login)."""
    return render(request, db, "portal/lookup.html", {"values": {}, "errors": {}, "answer": None})


@router.post("/cases/lookup", response_class=HTMLResponse)
def lookup_submit(
    request: Request,
    db: DbSession,
    case_no: Annotated[str, Form(max_length=60)] = "",
    password: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """The case's status, item and deadline for whoever holds its number and query password."""
    values = {"case_no": case_no.strip()}
    errors: dict[str, str] = {}
    try:
        _LOOKUP_LIMIT(request)
    except RateLimited:
        return _message(request, db, "查询太频繁", "您在短时间内查询次数过多，请过一分钟后再试。", 429)
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        errors["form"] = exc.detail
    if not values["case_no"]:
        errors["case_no"] = "请填写办件编号"
    if not (len(password.strip()) == 6 and password.strip().isdigit()):
        errors["password"] = "查询密码是提交申请时显示的6位数字"  # noqa: S105 - a message, not a secret
    answer = None
    if not errors:
        try:
            case = cases.lookup(db, values["case_no"], password)
            answer = {
                "case_no": case.case_no,
                "task_name": case.task_name,
                "status": machine.LABELS.get(case.status, "办理中"),
                "deadline": beijing(case.deadline, with_time=False) if case.deadline else None,
                "submitted_at": beijing(case.submitted_at),
                "concluded_at": beijing(case.concluded_at) if case.concluded_at else None,
            }
        except LookupRefused:
            errors["form"] = "办件编号或查询密码不对，请核对后再试"
    return render(
        request,
        db,
        "portal/lookup.html",
        {"values": values, "errors": errors, "answer": answer},
        status_code=422 if errors else 200,
    )
