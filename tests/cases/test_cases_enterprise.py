"""An agent applies for an enterprise (issues #12, #13): the enterprise is the applicant with the agent as
经办人, its licenses attach by reference, its cases are seen by every agent in force and by no one else,
and the national acceptance row names the enterprise, its legal representative and the agent."""

from __future__ import annotations

from typing import Any

import pytest

from cases_kit import Enterprise, login
from licenses_kit import COMPANY, PERSON
from seals_kit import assert_envelope
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db

API = "/api/v1/cases"


def test_an_agent_applies_for_the_enterprise_with_its_license(client: Any, enterprise: Enterprise) -> None:
    from zhengwu.cases import service, topics
    from zhengwu.identity.context import of
    from zhengwu.identity.protection import decrypt_field

    work, session = enterprise.work, enterprise.work.session
    login(client, work.citizen_token)
    form = client.get(f"{API}/form/{enterprise.task_code}", params={"on_behalf_of": enterprise.entity_id})
    assert form.status_code == 200, form.text
    shown = form.json()
    assert (
        shown["applicant"]["kind"] == "enterprise" and shown["applicant"]["name"] == "石家庄演示科技有限公司"
    )
    assert shown["applicant"]["legal_rep_name"] == "张法人" and shown["applicant"]["agent_name"] == "演示用户"
    assert COMPANY not in form.text, "the credit code is masked"
    assert shown["serves"] == {"person": False, "legal": True}
    offered = [lic["id"] for m in shown["materials"] for lic in m["held_licenses"]]
    assert offered == [enterprise.license_id], "the enterprise's license, not the agent's own"
    made = client.post(API, json=enterprise.body(), headers={"Idempotency-Key": "ent-1"})
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    read = client.get(f"{API}/{case_no}").json()
    assert read["applicant_kind"] == "enterprise" and read["applicant_name"] == "石家庄演示科技有限公司"
    assert read["agent_name"] == "演示用户"
    case = service.get_case(session, case_no)
    assert case.applicant_entity_id == enterprise.entity_id and case.applicant_account_id == work.citizen.id
    code = decrypt_field(of(session).keys, case.applicant_code_enc, purpose=topics.APPLICANT_PURPOSE)
    assert code == COMPANY and case.applicant_legal_rep == "张法人"
    row = topics.accept_row(session, case)
    assert (
        row["applyer_type"] == "2"
        and row["applyer_page_type"] == "001"
        and row["applyer_page_code"] == COMPANY
    )
    assert row["applyer_name"] == "石家庄演示科技有限公司" and row["legal"] == "张法人"
    assert (
        row["contact_name"] == "演示用户" and row["contact_code"] == PERSON and row["contact_type"] == "111"
    )
    assert row["contact_mobile"] == "13812345678"
    own = topics.accept_row(session, service.save(session, work.citizen, task_code=work.task_code, form={},
                                                  materials=[], submit=False).case)  # fmt: skip
    assert own["applyer_type"] == "1" and "contact_name" not in own, "a person's row names no agent"


def test_the_agents_own_license_is_not_the_enterprises(client: Any, enterprise: Enterprise) -> None:
    work = enterprise.work
    login(client, work.citizen_token)
    body = enterprise.body()
    body["materials"][0]["license_id"] = work.held_license_id
    refused = client.post(API, json=body)
    assert_envelope(refused, 404)
    assert "持证主体不是本次申请的申请人" in refused.json()["detail"]


def test_refusals_acting_for_others_and_the_wrong_kind_of_applicant(
    client: Any, enterprise: Enterprise
) -> None:
    work = enterprise.work
    _, stranger = work.person(nth_citizen_id(748), "陌生人")
    login(client, stranger)
    refused = client.post(API, json=enterprise.body())
    assert_envelope(refused, 403)
    assert refused.json()["code"] == "cases.not_authorized_agent" and "经办授权" in refused.json()["detail"]
    assert (
        client.get(
            f"{API}/form/{enterprise.task_code}", params={"on_behalf_of": enterprise.entity_id}
        ).status_code
        == 403
    )
    login(client, work.citizen_token)
    person_item = client.post(API, json=work.body(on_behalf_of=enterprise.entity_id))
    assert_envelope(person_item, 422)
    assert person_item.json()["code"] == "cases.applicant_kind"
    assert "仅面向个人" in person_item.json()["detail"]
    legal_item = client.post(API, json=enterprise.body(on_behalf_of=None))
    assert_envelope(legal_item, 422)
    assert "仅面向法人" in legal_item.json()["detail"]


def test_the_sessions_acting_for_is_the_default_applicant(client: Any, enterprise: Enterprise) -> None:
    work = enterprise.work
    login(client, work.citizen_token)
    switched = client.post("/api/v1/identity/acting-for", json={"legal_entity_id": enterprise.entity_id})
    assert switched.status_code == 200, switched.text
    body = enterprise.body()
    del body["on_behalf_of"]
    made = client.post(API, json=body)
    assert made.status_code == 201, made.text
    assert client.get(f"{API}/{made.json()['case_no']}").json()["applicant_kind"] == "enterprise"


def test_every_agent_in_force_sees_the_enterprises_cases(client: Any, enterprise: Enterprise) -> None:
    from sqlalchemy import select

    from zhengwu.identity import service as identity
    from zhengwu.identity.models import AgentAuthorization, LegalEntity
    from zhengwu.kernel.clock import utcnow

    work, session = enterprise.work, enterprise.work.session
    colleague, colleague_token = work.person(nth_citizen_id(714), "同事")
    identity.grant_agent(session, entity=session.get(LegalEntity, enterprise.entity_id), agent=colleague)
    _, outsider_token = work.person(nth_citizen_id(731), "外人")
    session.flush()
    login(client, work.citizen_token)
    case_no = client.post(API, json=enterprise.body()).json()["case_no"]
    draft = client.post(API, json=enterprise.body(draft=True)).json()["id"]
    own = client.post(API, json=work.body()).json()["case_no"]
    mine = {c["case_no"] or c["id"] for c in client.get(API, params={"mine": 1}).json()}
    assert {case_no, draft, own} <= mine
    login(client, colleague_token)
    theirs = {c["case_no"] or c["id"] for c in client.get(API, params={"mine": 1}).json()}
    assert case_no in theirs and draft not in theirs and own not in theirs
    assert client.get(f"{API}/{case_no}").status_code == 200
    assert client.get(f"{API}/{own}").status_code == 404
    login(client, outsider_token)
    assert client.get(API, params={"mine": 1}).json() == []
    assert client.get(f"{API}/{case_no}").status_code == 404
    # The first agent's authorisation is withdrawn: the enterprise's cases are no longer theirs.
    grant = session.scalar(select(AgentAuthorization).where(AgentAuthorization.account_id == work.citizen.id))
    assert grant is not None
    grant.revoked_at = utcnow()
    session.flush()
    login(client, work.citizen_token)
    left = {c["case_no"] or c["id"] for c in client.get(API, params={"mine": 1}).json()}
    assert left == {own}
    assert client.get(f"{API}/{case_no}").status_code == 404
    withdraw = client.post(f"{API}/{case_no}/withdraw", json={"reason": "不办了"})
    assert withdraw.status_code == 404
    assert_envelope(client.post(API, json=enterprise.body()), 403)
    login(client, colleague_token)
    assert client.get(f"{API}/{case_no}").status_code == 200


def test_the_enterprise_is_the_holder_of_the_result_and_the_staff_see_the_agent(
    client: Any, enterprise: Enterprise
) -> None:
    from sqlalchemy import select

    from licenses_kit import BUSINESS_FACE
    from zhengwu.cases import topics
    from zhengwu.identity.protection import mask_id
    from zhengwu.kernel.events import OutboxRecord

    work, session = enterprise.work, enterprise.work.session
    login(client, work.citizen_token)
    case_no = client.post(API, json=enterprise.body()).json()["case_no"]
    login(client, work.handler_token)
    page = client.get(f"/staff/cases/{case_no}")
    assert page.status_code == 200
    assert "单位名称" in page.text and "张法人" in page.text and "演示用户" in page.text
    assert COMPANY not in page.text and mask_id(COMPANY) in page.text and mask_id(PERSON) not in page.text
    accepted = client.post(f"{API}/{case_no}/actions", json={"action": "accept", "opinion": "材料齐全"})
    assert accepted.status_code == 200, accepted.text
    rows = session.scalars(select(OutboxRecord).where(OutboxRecord.topic == topics.ACCEPT)).all()
    sent = [r.payload for r in rows if (r.payload or {}).get("project_no") == case_no]
    assert sent and sent[-1]["applyer_type"] == "2" and sent[-1]["legal"] == "张法人"
    face = {**BUSINESS_FACE, "scope": "建筑工程施工"}
    concluded = client.post(
        f"{API}/{case_no}/actions",
        json={"action": "conclude", "outcome": "approved", "result_kind": "license", "opinion": "准予",
              "license_type_code": work.env.type_code("营业执照"), "license_face": face},
    )  # fmt: skip
    assert concluded.status_code == 200, concluded.text
    issued = concluded.json()["result"]["license_id"]
    login(client, work.citizen_token)
    held = {lic["id"]: lic for lic in client.get("/api/v1/licenses/mine").json()}
    assert held[issued]["holder_name"] == "石家庄演示科技有限公司"
