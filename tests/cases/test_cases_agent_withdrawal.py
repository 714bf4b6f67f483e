"""Withdrawing an agent's authorisation (撤销经办授权): the enterprise's legal-person account or its
administrator lists the agents and withdraws one (API and page, audited, sent upward as revoked); from
then on the agent cannot apply or act for the enterprise, nor see its cases; a plain agent manages none."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from cases_kit import Enterprise, legal_token, login
from seals_kit import assert_envelope
from zhengwu.identity import service as identity
from zhengwu.identity.models import AgentAuthorization, AuthEvent, LegalEntity, UserSession
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db

API = "/api/v1/cases"
AGENTS = "/api/v1/identity/enterprises"


def _grant(enterprise: Enterprise, n: int, name: str) -> tuple[Any, str, str]:
    work, session = enterprise.work, enterprise.work.session
    person, token = work.person(nth_citizen_id(n), name)
    grant = identity.grant_agent(session, entity=session.get(LegalEntity, enterprise.entity_id), agent=person)
    session.flush()
    return person, token, grant.id


def test_the_enterprise_withdraws_an_agent_who_then_cannot_act_for_it(
    client: Any, enterprise: Enterprise
) -> None:
    work, session = enterprise.work, enterprise.work.session
    colleague, colleague_token, grant_id = _grant(enterprise, 714, "同事")
    legal = legal_token(enterprise)

    # The colleague acts for the enterprise and applies; a plain agent manages no agents.
    login(client, colleague_token)
    assert (
        client.post("/api/v1/identity/acting-for", json={"legal_entity_id": enterprise.entity_id}).status_code
        == 200
    )
    made = client.post(API, json=enterprise.body())
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    assert client.get(AGENTS).json() == []
    assert_envelope(client.get(f"{AGENTS}/{enterprise.entity_id}/agents"), 403, "identity.agents_not_managed")
    assert_envelope(
        client.post(f"{AGENTS}/{enterprise.entity_id}/agents/{grant_id}/withdraw", json={}), 403,
        "identity.agents_not_managed",
    )  # fmt: skip

    # The enterprise's own account sees its agents and withdraws the colleague.
    login(client, legal)
    listed = client.get(AGENTS).json()
    assert [e["legal_entity_id"] for e in listed] == [enterprise.entity_id]
    assert {(a["name"], a["role_label"]) for a in listed[0]["agents"]} == {
        ("演示用户", "管理员"),
        ("同事", "经办人"),
    }
    done = client.post(
        f"{AGENTS}/{enterprise.entity_id}/agents/{grant_id}/withdraw", json={"reason": "已离职"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["account_id"] == colleague.id and done.json()["revoked_at"]
    assert_envelope(
        client.post(f"{AGENTS}/{enterprise.entity_id}/agents/{grant_id}/withdraw", json={}), 404,
        "identity.agent_authorization_not_found",
    )  # fmt: skip
    assert [a["name"] for a in client.get(f"{AGENTS}/{enterprise.entity_id}/agents").json()["agents"]] == [
        "演示用户"
    ]
    # Audited, and the national 法人账号信息 row goes up again as revoked.
    event = session.scalars(select(AuthEvent).where(AuthEvent.event_type == "agent_withdrawn")).one()
    assert (
        event.account_id == colleague.id and event.detail is not None and event.detail["reason"] == "已离职"
    )
    from zhengwu.kernel.events import OutboxRecord

    rows = session.scalars(
        select(OutboxRecord).where(OutboxRecord.topic.like("%corporator_account")).order_by(OutboxRecord.seq)
    ).all()
    assert rows[-1].operation == "U" and rows[-1].payload["revoked"] is True
    assert rows[-1].payload["acct_id"] == grant_id

    # The colleague: no longer acting for it, cannot apply for it, act on or see its case.
    session.expire_all()
    assert all(
        s.acting_for is None
        for s in session.scalars(select(UserSession).where(UserSession.account_id == colleague.id))
    )
    login(client, colleague_token)
    assert_envelope(client.post(API, json=enterprise.body()), 403, "cases.not_authorized_agent")
    assert_envelope(
        client.get(f"{API}/form/{enterprise.task_code}", params={"on_behalf_of": enterprise.entity_id}), 403
    )
    assert client.get(f"{API}/{case_no}").status_code == 404
    assert client.post(f"{API}/{case_no}/withdraw", json={"reason": "不办了"}).status_code == 404
    assert_envelope(
        client.post("/api/v1/identity/acting-for", json={"legal_entity_id": enterprise.entity_id}), 403
    )
    # The administrator still acts for it and sees the case.
    login(client, work.citizen_token)
    assert client.get(f"{API}/{case_no}").status_code == 200


def test_the_administrator_withdraws_an_agent_on_the_page(client: Any, enterprise: Enterprise) -> None:
    session = enterprise.work.session
    helper, helper_token, grant_id = _grant(enterprise, 733, "临时经办人")
    login(client, helper_token)
    none = client.get("/me/enterprises")
    assert none.status_code == 200 and "没有可以管理的经办人" in none.text
    login(client, enterprise.work.citizen_token)
    page = client.get("/me/enterprises")
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", " ", page.text)
    assert "石家庄演示科技有限公司" in text and "临时经办人" in text and "（经办人）" in text
    url = f"/me/enterprises/{enterprise.entity_id}/agents/{grant_id}/withdraw"
    assert f'action="{url}"' in page.text
    assert page.text.count("撤销授权<span") == 1, "no button to withdraw oneself"
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    token = match.group(1)
    forged = client.post(url, data={"confirmed": "yes"})
    assert forged.status_code == 403
    ask = client.post(url, data={"csrf_token": token})
    assert ask.status_code == 200 and "确定撤销“临时经办人”的经办授权吗" in ask.text
    grant = session.get(AgentAuthorization, grant_id)
    assert grant is not None and grant.revoked_at is None, "asking changes nothing"
    done = client.post(url, data={"csrf_token": token, "confirmed": "yes", "reason": "项目结束"},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/me/enterprises?done=1"
    after = client.get("/me/enterprises?done=1")
    assert "经办授权已撤销" in after.text and "临时经办人" not in after.text
    session.refresh(grant)
    assert grant.revoked_at is not None
    again = client.post(url, data={"csrf_token": token, "confirmed": "yes"})
    assert again.status_code == 404 and "没有找到这项经办授权" in again.text
    assert helper.id != enterprise.work.citizen.id
