"""经办人管理 (``/me/enterprises``): the enterprise's own account and its administrators see its agents
in force, authorise a new one (经办人授权, a page of its own: name, identity number, role, term), and
withdraw an agent's authorisation, asked first on a page of its own (no pop-up). The rules are
identity's (``identity.agents``); a grant and a withdrawal take effect at once."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhengwu.identity import agents, deps
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.codes.citizen_id import validate_citizen_id
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.session import DbSession
from zhengwu.portal.pages import _holder, render

router = APIRouter(include_in_schema=False)
HOME = "/me/enterprises"


def _enterprises(db: Session, auth: deps.Authenticated) -> list[dict[str, Any]]:
    out = []
    for entity in agents.managed_entities(db, auth.account):
        _, rows = agents.agents_of(db, auth.account, entity.id)
        out.append({"id": entity.id, "name": entity.name, "agents": rows})
    return out


@router.get(HOME, response_class=HTMLResponse)
def my_enterprises(request: Request, db: DbSession) -> Response:
    """经办人管理: the enterprises whose agents this person manages, and those agents."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    done = request.query_params.get("done") == "1"
    granted = request.query_params.get("granted") == "1"
    return render(request, db, "portal/agents.html",
                  {"enterprises": _enterprises(db, auth), "done": done, "granted": granted})  # fmt: skip


def _managed(db: Session, auth: deps.Authenticated, entity_id: str) -> dict[str, Any] | None:
    return next((e for e in _enterprises(db, auth) if e["id"] == entity_id[:32]), None)


def _manager_of(
    request: Request, db: Session, entity_id: str
) -> tuple[deps.Authenticated, dict[str, Any]] | Response:
    """The session and the enterprise it manages, or the page that says why not (login, refusal)."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return RedirectResponse("/identity/login?next=%2Fme%2Fenterprises", status_code=303)
    enterprise = _managed(db, auth, entity_id)
    if enterprise is None:
        return render(request, db, "portal/message.html",
                      {"title": "不能管理该企业的经办人", "message": "只有企业法人账号或该企业的管理员才能授权经办人。"},
                      status_code=403)  # fmt: skip
    return auth, enterprise


@router.get(HOME + "/{entity_id}/agents/new", response_class=HTMLResponse)
def grant_form(entity_id: str, request: Request, db: DbSession) -> Response:
    """经办人授权: the form for one enterprise."""
    found = _manager_of(request, db, entity_id)
    if isinstance(found, Response):
        return found
    _, enterprise = found
    values = {"name": "", "id_number": "", "role": "agent", "valid_until": ""}
    return render(
        request, db, "portal/grant_agent.html", {"enterprise": enterprise, "values": values, "errors": {}}
    )


def _grant_errors(
    name: str, id_number: str, role: str, valid_until: str
) -> tuple[dict[str, str], date | None]:
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "请填写经办人的姓名"
    if not validate_citizen_id(id_number).ok:
        errors["id_number"] = "请填写正确的18位居民身份证号码"
    if role not in agents.GRANTABLE_ROLES:
        errors["role-agent"] = "请选择授权角色"
    until = None
    if valid_until:
        try:
            until = date.fromisoformat(valid_until)
        except ValueError:
            errors["valid_until"] = "截止日期的格式应为“年-月-日”，例如 2027-12-31"
    return errors, until


@router.post(HOME + "/{entity_id}/agents", response_class=HTMLResponse)
def grant_submit(
    entity_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=60)] = "",
    id_number: Annotated[str, Form(max_length=40)] = "",
    role: Annotated[str, Form(max_length=16)] = "agent",
    valid_until: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Grant the authorisation; mistakes come back on the form with what was typed."""
    found = _manager_of(request, db, entity_id)
    if isinstance(found, Response):
        return found
    auth, enterprise = found
    values = {"name": name.strip(), "id_number": id_number.strip().upper(), "role": role,
              "valid_until": valid_until.strip()}  # fmt: skip
    page = {"enterprise": enterprise, "values": values}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return render(request, db, "portal/grant_agent.html", {**page, "errors": {"form": exc.detail}},
                      status_code=403)  # fmt: skip
    errors, until = _grant_errors(values["name"], values["id_number"], role, values["valid_until"])
    if not errors:
        try:
            agents.grant_agent_for(db, by=auth.account, entity_id=enterprise["id"], name=values["name"],
                                   id_number=values["id_number"], role=role, valid_until=until,
                                   meta=deps.request_meta(request))  # fmt: skip
        except DomainError as exc:
            db.rollback()
            errors = {"form": exc.detail}
    if errors:
        return render(request, db, "portal/grant_agent.html", {**page, "errors": errors}, status_code=422)
    return RedirectResponse(HOME + "?granted=1", status_code=303)


@router.post(HOME + "/{entity_id}/agents/{authorization_id}/withdraw", response_class=HTMLResponse)
def withdraw_submit(
    entity_id: str,
    authorization_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    confirmed: Annotated[str, Form(max_length=4)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Withdraw an agent's authorisation in two steps on the page (ask, then confirm)."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return RedirectResponse("/identity/login?next=%2Fme%2Fenterprises", status_code=303)
    found = next(
        (
            (e, a)
            for e in _enterprises(db, auth)
            if e["id"] == entity_id[:32]
            for a in e["agents"]
            if a.authorization_id == authorization_id[:32]
        ),
        None,
    )
    if found is None:
        return render(request, db, "portal/message.html",
                      {"title": "没有找到这项经办授权", "message": "经办授权不存在、已经撤销，或您不能管理该企业的经办人。"},
                      status_code=404)  # fmt: skip
    enterprise, agent = found
    page = {"enterprise": enterprise, "agent": agent, "reason": reason.strip()}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return render(request, db, "portal/withdraw_agent.html", {**page, "errors": {"form": exc.detail}},
                      status_code=403)  # fmt: skip
    if confirmed != "yes":
        return render(request, db, "portal/withdraw_agent.html", {**page, "errors": {}})
    try:
        agents.withdraw_agent(db, by=auth.account, entity_id=enterprise["id"],
                              authorization_id=agent.authorization_id, reason=reason.strip() or "企业在经办人管理中撤销",
                              meta=deps.request_meta(request))  # fmt: skip
    except DomainError as exc:
        db.rollback()
        return render(request, db, "portal/withdraw_agent.html", {**page, "errors": {"form": exc.detail}},
                      status_code=exc.status_code)  # fmt: skip
    return RedirectResponse(HOME + "?done=1", status_code=303)
