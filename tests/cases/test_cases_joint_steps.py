"""联办 as process steps: an item's process names another department for a step; the case passes through
the steps in order, that department accepts its step and handles it (the item's department cannot), an
approving conclusion waits for the last step, and each step's state shows in the API and on the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from cases_kit import Casework, login
from seals_kit import assert_envelope
from zhengwu.cases import service
from zhengwu.cases.errors import CaseInvalid
from zhengwu.cases.models import Case
from zhengwu.cases.webhooks.models import WebhookAudience, WebhookEvent
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code

pytestmark = pytest.mark.db

API = "/api/v1/cases"


def _steps(water: str) -> dict[str, Any]:
    return {
        "steps": [
            {"code": "accept", "name": "受理", "role": "case_handler", "days": 1},
            {"code": "review", "name": "住建审查", "role": "case_handler", "days": 1},
            {"code": "water", "name": "水利审查", "role": "case_handler", "days": 2, "department": water},
        ]
    }


def _states(client: Any, case_no: str) -> list[tuple[str, str]]:
    return [(s["code"], s["state"]) for s in client.get(f"{API}/{case_no}").json()["steps"]]


def test_a_joint_case_passes_through_its_departments_steps_in_order(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    other = orgs.add_department(db, DepartmentCreate(credit_code=government_credit_code("130000", 779), name="河北省水利厅", division_code="130000"))  # fmt: skip
    for bad, words in ((government_credit_code("130000", 780), "未在本平台登记"),
                       (work.env.department.credit_code, "事项所属部门"), ("12345", "统一社会信用代码")):  # fmt: skip
        with pytest.raises(CaseInvalid, match=words):
            service.set_process(db, work.task_code, _steps(bad), actor="test")
    service.set_process(db, work.task_code, _steps(other.credit_code), actor="test")
    water_token = work.staff(["case_handler"], department_id=other.id)
    db.flush()

    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    login(client, work.handler_token)
    assert client.post(f"{API}/{case_no}/actions", json={"action": "accept"}).status_code == 200
    assert _states(client, case_no) == [("accept", "done"), ("review", "current"), ("water", "pending")]
    login(client, water_token)
    assert client.get(f"{API}/{case_no}").status_code in (403, 404), "not its business before its step"
    assert client.get(API, params={"joint_steps": 1}).json() == []

    login(client, work.handler_token)
    early = {"action": "conclude", "outcome": "approved", "result_kind": "none", "opinion": "同意"}
    refused = assert_envelope(
        client.post(f"{API}/{case_no}/actions", json=early), 409, "cases.action_not_allowed"
    )
    assert "最后一个环节" in refused["detail"] and refused["allowed"] == ["complete_step"]
    assert (
        client.post(
            f"{API}/{case_no}/actions", json={"action": "complete_step", "opinion": "审查通过"}
        ).status_code
        == 200
    )
    seen = client.get(f"{API}/{case_no}").json()
    assert [(s["code"], s["state"]) for s in seen["steps"]][-1] == ("water", "waiting")
    assert (
        seen["steps"][-1]["state_label"] == "待河北省水利厅接收"
        and seen["steps"][-1]["department_name"] == "河北省水利厅"
    )
    # The item's department cannot do the water department's step for it.
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "accept_step"}), 403)
    assert_envelope(client.post(f"{API}/{case_no}/actions", json=early), 403)

    # The water department sees the case from its step on, accepts it, then concludes at the last step.
    login(client, water_token)
    queued = client.get(API, params={"joint_steps": 1}).json()
    assert [c["case_no"] for c in queued] == [case_no] and queued[0]["steps"][-1]["state"] == "waiting"
    narrowed = client.get(f"{API}/{case_no}")
    assert narrowed.status_code == 200 and narrowed.json()["form"] == {}
    assert "accept_step" in narrowed.json()["allowed_actions"]
    before = assert_envelope(
        client.post(f"{API}/{case_no}/actions", json=early), 409, "cases.action_not_allowed"
    )
    assert before["allowed"] == ["accept_step"] and "请先由该部门接收" in before["detail"]
    page = client.get(f"/staff/cases/{case_no}")
    assert page.status_code == 200 and "接收本环节" in page.text and "水利审查" in page.text
    assert (
        client.post(f"{API}/{case_no}/actions", json={"action": "accept_step", "opinion": "接收"}).status_code
        == 200
    )
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "accept_step"}), 409)
    assert _states(client, case_no)[-1] == ("water", "current")
    done = client.post(f"{API}/{case_no}/actions", json={**early, "opinion": "水利审查同意"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "concluded"
    assert [s["state"] for s in done.json()["steps"]] == ["done", "done", "done"]

    # The timeline names the step and its department; its webhooks reached the water department.
    login(client, work.handler_token)
    history = client.get(f"{API}/{case_no}").json()["history"]
    assert [h["action"] for h in history][-3:] == ["complete_step", "accept_step", "conclude"]
    assert history[-2]["step"] == "水利审查（河北省水利厅）"
    case = db.scalars(select(Case).where(Case.case_no == case_no)).one()
    db.refresh(case)
    assert (case.step_states or {})["water"]["state"] == "done" and case.step_states["water"]["accepted_by"]
    heard = db.scalars(
        select(WebhookEvent.type).join(WebhookAudience, WebhookAudience.event_seq == WebhookEvent.seq)
        .where(WebhookEvent.case_no == case_no, WebhookAudience.department_id == other.id)
    ).all()  # fmt: skip
    assert {"case.step_completed", "case.step_accepted", "case.concluded"} <= set(heard)
    login(client, work.citizen_token)
    mine = re.sub(r"<[^>]+>", " ", client.get(f"/me/cases/{case_no}").text)
    assert "各部门办理环节（联办）" in mine and "水利审查" in mine and "河北省水利厅" in mine
    assert "部门接收办理环节" in mine


def test_a_step_department_can_refuse_at_its_step(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    other = orgs.add_department(db, DepartmentCreate(credit_code=government_credit_code("130000", 781), name="河北省水利厅", division_code="130000"))  # fmt: skip
    steps = _steps(other.credit_code)
    steps["steps"].append({"code": "decide", "name": "决定", "role": "case_handler", "days": 1})
    service.set_process(db, work.task_code, steps, actor="test")
    water_token = work.staff(["case_handler"], department_id=other.id)
    db.flush()
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    login(client, work.handler_token)
    for action in ("accept", "complete_step"):
        assert client.post(f"{API}/{case_no}/actions", json={"action": action}).status_code == 200
    login(client, water_token)
    assert client.post(f"{API}/{case_no}/actions", json={"action": "accept_step"}).status_code == 200
    assert client.post(f"{API}/{case_no}/actions", json={"action": "complete_step"}).status_code == 200
    # Past its step, the water department acts no more; the item's department decides.
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "complete_step"}), 403)
    login(client, work.handler_token)
    assert _states(client, case_no) == [
        ("accept", "done"),
        ("review", "done"),
        ("water", "done"),
        ("decide", "current"),
    ]
    refusal = {"action": "conclude", "outcome": "refused", "result_kind": "none", "opinion": "不符合条件"}
    assert client.post(f"{API}/{case_no}/actions", json=refusal).json()["status"] == "concluded"
