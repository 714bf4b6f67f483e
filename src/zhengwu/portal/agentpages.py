"""经办人管理 (``/me/enterprises``): the enterprise's own account and its administrators see its agents
in force and withdraw an agent's authorisation, asked first on a page of its own (no pop-up). The rules
are identity's (``identity.agents``); a withdrawal takes effect at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhengwu.identity import agents, deps
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.web import check_csrf
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
    return render(request, db, "portal/agents.html", {"enterprises": _enterprises(db, auth), "done": done})


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
