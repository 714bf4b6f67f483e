"""联办 as process steps: an item's process names another department for a step; the case passes through
the steps in order, that department accepts its step and handles it (the item's department cannot), an
approving conclusion waits for the last step, and each step's state shows in the API and on the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from cases_kit import WORKER_FACE, WORKER_TYPE, Casework, login
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


def _department(db: Any, n: int, name: str) -> Any:
    return orgs.add_department(db, DepartmentCreate(credit_code=government_credit_code("130000", n), name=name, division_code="130000"))  # fmt: skip


def _act(client: Any, case_no: str, action: str, **body: Any) -> Any:
    return client.post(f"{API}/{case_no}/actions", json={"action": action, **body})


def _accepted_parallel_case(
    client: Any, work: Casework, serial: int, *, own_step: bool
) -> tuple[str, str, str]:
    """A case of an item whose process has a parallel group of the water and land departments' steps
    (and the item's own 住建审查 and a 决定 after it with ``own_step``), submitted and accepted; answers
    the case number and the two departments' clerks' tokens."""
    db = work.session
    water, land = _department(db, serial, "河北省水利厅"), _department(db, serial + 1, "河北省自然资源厅")
    steps = [
        {"code": "accept", "name": "受理", "role": "case_handler", "days": 1},
        {"code": "review", "name": "住建审查", "role": "case_handler", "days": 1, "parallel": "joint"},
        {"code": "water", "name": "水利审查", "role": "case_handler", "days": 2, "department": water.credit_code, "parallel": "joint"},
        {"code": "land", "name": "用地审查", "role": "case_handler", "days": 2, "department": land.credit_code, "parallel": "joint"},
        {"code": "decide", "name": "决定", "role": "case_handler", "days": 1},
    ]  # fmt: skip
    service.set_process(
        db, work.task_code, {"steps": steps if own_step else [steps[0], steps[2], steps[3]]}, actor="test"
    )
    water_token = work.staff(["case_handler"], department_id=water.id)
    land_token = work.staff(["case_handler"], department_id=land.id)
    db.flush()
    login(client, work.citizen_token)
    case_no = str(client.post(API, json=work.body()).json()["case_no"])
    login(client, work.handler_token)
    assert _act(client, case_no, "accept").status_code == 200
    return case_no, water_token, land_token


def test_parallel_steps_run_at_once_and_the_case_goes_on_when_all_are_done(
    client: Any, casework: Casework
) -> None:
    work = casework
    case_no, water_token, land_token = _accepted_parallel_case(client, work, 791, own_step=True)
    seen = client.get(f"{API}/{case_no}").json()
    assert [(s["code"], s["state"], s.get("parallel")) for s in seen["steps"]] == [
        ("accept", "done", None), ("review", "current", "joint"), ("water", "waiting", "joint"),
        ("land", "waiting", "joint"), ("decide", "pending", None),
    ]  # fmt: skip
    assert seen["step"] == "住建审查、水利审查、用地审查（并行）"
    # Both other departments have the case in their 联办 queue at once.
    for token, step in ((water_token, "水利审查"), (land_token, "用地审查")):
        login(client, token)
        assert [c["case_no"] for c in client.get(API, params={"joint_steps": 1}).json()] == [case_no]
        # … and on the 工作台: the queue links to 联办环节, which lists it with this department's step.
        assert "联办环节：1 件其他部门的办件已到达本部门的办理环节" in client.get("/staff/cases").text
        listed = re.sub(r"<[^>]+>", " ", client.get("/staff/joint-steps").text)
        assert case_no in listed and f"{step}〔并行办理〕：待" in listed
        assert ("水利审查" in listed) == (step == "水利审查"), "only its own department's step"
    login(client, work.citizen_token)
    assert client.get("/staff/joint-steps").status_code == 403

    # The item's department finishes its own parallel step; the case waits for the other two.
    login(client, work.handler_token)
    assert _act(client, case_no, "complete_step", opinion="住建审查通过").status_code == 200
    approve = {"outcome": "approved", "result_kind": "none", "opinion": "同意"}
    assert_envelope(_act(client, case_no, "conclude", **approve), 403)  # not its step any more
    login(client, water_token)
    assert_envelope(_act(client, case_no, "complete_step"), 409)  # accepted first
    assert _act(client, case_no, "accept_step").status_code == 200
    assert _act(client, case_no, "complete_step", opinion="水利同意").status_code == 200
    assert _states(client, case_no) == [
        ("accept", "done"), ("review", "done"), ("water", "done"), ("land", "waiting"), ("decide", "pending"),
    ]  # fmt: skip
    assert_envelope(_act(client, case_no, "complete_step"), 403)  # its step is done
    login(client, land_token)
    assert _act(client, case_no, "accept_step").status_code == 200
    assert _act(client, case_no, "complete_step", opinion="用地同意").status_code == 200
    # All three done: the case goes on to 决定, the item's department's.
    login(client, work.handler_token)
    after = client.get(f"{API}/{case_no}").json()
    assert [s["state"] for s in after["steps"]] == ["done", "done", "done", "done", "current"]
    assert after["step"] == "决定"
    history = [(h["action"], h["step"]) for h in after["history"]]
    assert ("complete_step", "水利审查（河北省水利厅）") in history
    assert ("accept_step", "用地审查（河北省自然资源厅）") in history and (
        "complete_step",
        "住建审查",
    ) in history
    page = re.sub(r"<[^>]+>", " ", client.get(f"/staff/cases/{case_no}").text)
    assert "水利审查" in page and "并行办理" in page
    assert _act(client, case_no, "conclude", **approve).json()["status"] == "concluded"
    login(client, work.citizen_token)
    mine = re.sub(r"<[^>]+>", " ", client.get(f"/me/cases/{case_no}").text)
    assert "用地审查" in mine and "并行办理" in mine


def test_one_parallel_department_refusing_ends_the_case(client: Any, casework: Casework) -> None:
    case_no, water_token, land_token = _accepted_parallel_case(client, casework, 793, own_step=False)
    login(client, land_token)
    assert _act(client, case_no, "accept_step").status_code == 200
    # The last group: the other department's step is open, so this one completes, it does not approve.
    refused = assert_envelope(
        _act(client, case_no, "conclude", outcome="approved", result_kind="none"),
        409,
        "cases.action_not_allowed",
    )
    assert refused["allowed"] == ["complete_step"] and "并行" in refused["detail"]
    login(client, water_token)
    assert _act(client, case_no, "accept_step").status_code == 200
    done = _act(client, case_no, "conclude", outcome="refused", result_kind="none", opinion="不符合防洪要求")
    assert done.status_code == 200 and done.json()["status"] == "concluded"
    assert done.json()["result"]["outcome"] == "refused"
    # The other parallel department has nothing left to do on it.
    login(client, land_token)
    assert_envelope(_act(client, case_no, "complete_step"), 403)


def test_a_step_department_concluding_with_a_license_issues_it_under_its_own_right_and_seal(
    client: Any, casework: Casework
) -> None:
    """The department concluding at its step decides, so the license is its own: ``licenses.issue`` is
    asked in that department (not the item's), and the license is issued by it, under its seal."""
    from zhengwu.licenses.models import License
    from zhengwu.seals import service as seals

    work, db = casework, casework.session
    water = _department(db, 795, "河北省水利厅")
    seals.create_seal(db, work.env.settings, department_credit_code=water.credit_code,
                      name="河北省水利厅行政审批专用章", actor="test")  # fmt: skip
    service.set_process(db, work.task_code, _steps(water.credit_code), actor="test")
    clerk = work.staff(["case_handler"], department_id=water.id)
    issuer = work.staff(["case_handler", "license_issuer"], department_id=water.id)
    db.flush()
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    login(client, work.handler_token)
    assert _act(client, case_no, "accept").status_code == 200
    assert _act(client, case_no, "complete_step").status_code == 200
    login(client, clerk)
    assert _act(client, case_no, "accept_step").status_code == 200
    body = {"outcome": "approved", "result_kind": "license", "opinion": "准予",
            "license_type_code": work.env.type_code(WORKER_TYPE), "license_face": WORKER_FACE}  # fmt: skip
    refused = assert_envelope(_act(client, case_no, "conclude", **body), 403)
    assert "licenses.issue" in refused.get("detail_en", "")
    login(client, issuer)
    done = _act(client, case_no, "conclude", **body)
    assert done.status_code == 200, done.text
    issued = db.get(License, done.json()["result"]["license_id"])
    assert issued is not None and issued.department_id == water.id


def test_a_step_department_s_finished_cases_are_listed_apart_until_it_is_reached_again(
    client: Any, casework: Casework
) -> None:
    work, db = casework, casework.session
    water = orgs.add_department(db, DepartmentCreate(credit_code=government_credit_code("130000", 781), name="河北省水利厅", division_code="130000"))  # fmt: skip
    steps = [
        {"code": "accept", "name": "受理", "role": "case_handler", "days": 1},
        {
            "code": "water",
            "name": "水利初审",
            "role": "case_handler",
            "days": 1,
            "department": water.credit_code,
        },
        {"code": "review", "name": "住建审查", "role": "case_handler", "days": 1},
        {
            "code": "water2",
            "name": "水利复核",
            "role": "case_handler",
            "days": 1,
            "department": water.credit_code,
        },
        {"code": "decide", "name": "决定", "role": "case_handler", "days": 1},
    ]
    service.set_process(db, work.task_code, {"steps": steps}, actor="test")
    water_token = work.staff(["case_handler"], department_id=water.id)
    db.flush()
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]

    def act(token: str, action: str) -> None:
        login(client, token)
        answer = client.post(f"{API}/{case_no}/actions", json={"action": action, "opinion": "同意"})
        assert answer.status_code == 200, answer.text

    def listed() -> tuple[list[str], list[str], str, str]:
        login(client, water_token)
        open_ = [c["case_no"] for c in client.get(API, params={"joint_steps": 1}).json()]
        done = [c["case_no"] for c in client.get(API, params={"joint_steps_done": 1}).json()]
        page = re.sub(r"<[^>]+>", " ", client.get("/staff/joint-steps").text)
        done_page = re.sub(r"<[^>]+>", " ", client.get("/staff/joint-steps", params={"state": "done"}).text)
        return open_, done, page, done_page

    act(work.handler_token, "accept")
    open_, done, page, done_page = listed()
    assert (open_, done) == ([case_no], []) and case_no in page and case_no not in done_page
    act(water_token, "accept_step")
    act(water_token, "complete_step")
    # Its step is finished and the case goes on at the item's department: listed apart.
    open_, done, page, done_page = listed()
    assert (open_, done) == ([], [case_no]) and case_no not in page and case_no in done_page
    assert "目前没有到达本部门联办环节的办件" in page and "本部门已完成、尚未办结" in done_page
    act(work.handler_token, "complete_step")
    # Its second step is reached: back among the cases it must handle.
    assert listed()[:2] == ([case_no], [])
    act(water_token, "accept_step")
    act(water_token, "complete_step")
    assert listed()[:2] == ([], [case_no])
    login(client, work.handler_token)
    concluded = client.post(f"{API}/{case_no}/actions", json={"action": "conclude", "outcome": "approved",
                                                              "result_kind": "none", "opinion": "准予"})  # fmt: skip
    assert concluded.status_code == 200, concluded.text
    assert listed()[:2] == ([], []), "a concluded case is in neither list"
