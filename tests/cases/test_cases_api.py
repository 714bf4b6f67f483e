"""The cases API on a real database: apply with a held license → accept → supplement → resubmit →
special procedure → conclude with a license issued → deliver → evaluation, and the refusals on the way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cases_kit import WORKER_FACE, WORKER_TYPE, Casework, login
from seals_kit import assert_envelope
from zhengwu.seed.synthetic import nth_citizen_id

API = "/api/v1/cases"


def _outbox(session: Any, topic: str) -> list[Any]:
    from zhengwu.kernel.events import OutboxRecord

    return list(
        session.scalars(select(OutboxRecord).where(OutboxRecord.topic == topic).order_by(OutboxRecord.seq))
    )


def bus_node(client: Any) -> Any:
    from zhengwu.kernel.node import node_of

    return node_of(client.app)


def _changes(session: Any, entity_id: str) -> list[str]:
    from zhengwu.audit.models import AuditChange as ChangeRecord

    return [
        r.action for r in session.scalars(select(ChangeRecord).where(ChangeRecord.entity_id == entity_id))
    ]


def test_the_whole_case(client: Any, casework: Casework) -> None:
    from zhengwu.cases.events import CaseSubmitted, CaseTransitioned
    from zhengwu.kernel.node import node_of

    heard: list[Any] = []
    bus = node_of(client.app).bus
    bus.subscribe(CaseSubmitted, lambda _s, e: heard.append(e))
    bus.subscribe(CaseTransitioned, lambda _s, e: heard.append(e))
    work, session = casework, casework.session
    body = work.body()
    assert_envelope(client.post(API, json=body), 401)
    login(client, work.citizen_token)
    made = client.post(API, json=body, headers={"Idempotency-Key": "apply-1"})
    assert made.status_code == 201, made.text
    created = made.json()
    case_no, password = created["case_no"], created["password"]
    assert created["status"] == "submitted" and case_no.startswith("130000") and len(case_no) == 20
    assert created["deadline"] is not None and len(password) == 6
    again = client.post(API, json=body, headers={"Idempotency-Key": "apply-1"})
    assert again.status_code == 201 and again.json()["case_no"] == case_no
    assert again.headers["idempotent-replayed"] == "true"
    mine = client.get(API, params={"mine": 1})
    assert [c["case_no"] for c in mine.json()] == [case_no] and mine.headers["x-total-count"] == "1"
    detail = client.get(f"{API}/{case_no}").json()
    assert detail["applicant_name"] == "演示用户" and detail["clock"] == "not_started"
    assert {m["kind"] for m in detail["materials"]} == {"license", "upload"}
    assert nth_citizen_id(4242) not in client.get(f"{API}/{case_no}").text

    # Staff: the queue, then a refused action and the actions in order.
    login(client, work.handler_token)
    queue = client.get(API, params={"department": work.env.department.credit_code, "status": "submitted"})
    assert queue.status_code == 200 and [c["case_no"] for c in queue.json()] == [case_no]
    refused = assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "conclude", "outcome": "approved"}), 409, "cases.action_not_allowed")  # fmt: skip
    assert refused["allowed"] == ["accept", "reject", "request_supplement"]
    accepted = client.post(
        f"{API}/{case_no}/actions", json={"action": "accept", "opinion": "材料齐全，予以受理"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["clock"] == "running"
    deadline = accepted.json()["deadline"]
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "request_supplement", "opinion": "请补正"}), 422)  # fmt: skip
    asked = client.post(
        f"{API}/{case_no}/actions",
        json={"action": "request_supplement", "opinion": "申请表签名不清晰", "materials": [work.upload_material],
              "fields": ["phone_note"]},
    )  # fmt: skip
    assert asked.status_code == 200 and asked.json()["status"] == "supplement_requested"
    assert asked.json()["clock"] == "paused" and asked.json()["supplement"]["materials"] == [
        work.upload_material
    ]

    # The applicant resubmits only what was asked.
    login(client, work.citizen_token)
    new_file = work.upload(b"%PDF-1.7 signed again")
    too_much = {"form": {"phone_note": "x", "other": "y"}, "materials": [{"material_id": work.upload_material, "file_sm3": new_file}]}  # fmt: skip
    problem = assert_envelope(
        client.post(f"{API}/{case_no}/supplement", json=too_much), 422, "cases.form_invalid"
    )
    assert problem["fields"] == ["other"]
    fixed = client.post(
        f"{API}/{case_no}/supplement",
        json={"form": {"phone_note": "周末也可联系"}, "materials": [{"material_id": work.upload_material, "file_sm3": new_file}]},
    )  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["status"] == "accepted" and fixed.json()["form"]["phone_note"] == "周末也可联系"
    assert (
        next(m for m in fixed.json()["materials"] if m["material_id"] == work.upload_material)["file_sm3"]
        == new_file
    )
    assert fixed.json()["deadline"] >= deadline
    assert_envelope(client.post(f"{API}/{case_no}/evaluation", json={"channel": "1", "satisfaction": 5}), 409, "cases.evaluation_refused")  # fmt: skip

    # Special procedure, then the conclusion with a license.
    login(client, work.handler_token)
    special = client.post(f"{API}/{case_no}/actions", json={"action": "start_special", "special_kind": "expert_review", "opinion": "组织专家评审"})  # fmt: skip
    assert special.status_code == 200 and special.json()["status"] == "special_procedure"
    assert client.post(f"{API}/{case_no}/actions", json={"action": "end_special", "opinion": "评审通过"}).json()["status"] == "in_process"  # fmt: skip
    concluded = client.post(
        f"{API}/{case_no}/actions",
        json={"action": "conclude", "outcome": "approved", "result_kind": "license", "opinion": "准予许可",
              "license_type_code": work.env.type_code(WORKER_TYPE), "license_face": WORKER_FACE},
    )  # fmt: skip
    assert concluded.status_code == 200, concluded.text
    result = concluded.json()["result"]
    assert (
        concluded.json()["status"] == "concluded"
        and result["license_number"] == WORKER_FACE["certificate_no"]
    )
    assert client.post(f"{API}/{case_no}/actions", json={"action": "deliver"}).json()["status"] == "delivered"

    # The citizen sees the license, evaluates once, and anyone with the password sees the status.
    login(client, work.citizen_token)
    held = client.get("/api/v1/licenses/mine")
    assert result["license_id"] in {lic["id"] for lic in held.json()}
    rated = client.post(f"{API}/{case_no}/evaluation", json={"channel": "2", "satisfaction": 5, "detail_codes": ["101"], "text": "很快"})  # fmt: skip
    assert rated.status_code == 201
    assert_envelope(client.post(f"{API}/{case_no}/evaluation", json={"channel": "2", "satisfaction": 1}), 409)
    login(client, None)
    assert_envelope(client.post(f"{API}/lookup", json={"case_no": case_no, "password": f"{(int(password) + 1) % 10**6:06d}"}), 404, "cases.lookup_refused")  # fmt: skip
    looked = client.post(f"{API}/lookup", json={"case_no": case_no, "password": password})
    assert looked.status_code == 200 and looked.json()["status"] == "delivered"

    # History, audit, national rows and events.
    login(client, work.handler_token)
    history = client.get(f"{API}/{case_no}").json()["history"]
    assert [h["action"] for h in history] == [
        "submit", "accept", "request_supplement", "supplement", "start_special", "end_special", "conclude", "deliver"
    ]  # fmt: skip
    assert history[2]["opinion"] == "申请表签名不清晰" and history[1]["actor"].startswith("account:")
    assert _changes(session, case_no).count("case.accept") == 1
    accept_rows = _outbox(session, "cases.up_pro_accept")
    assert len(accept_rows) == 1 and accept_rows[0].payload["applyer_page_code"] == nth_citizen_id(4242)
    assert accept_rows[0].payload["org_code"] == work.env.department.credit_code
    assert len(_outbox(session, "cases.up_pro_material")) == 2
    process = _outbox(session, "cases.up_pro_process")
    assert [p.payload["event_name"] for p in process] == ["4", "5", "5", "6", "6", "1", "1"]
    results = _outbox(session, "cases.up_pro_result")
    assert [r.operation for r in results] == ["I", "U", "U"]
    assert results[0].payload["result_cetr_no"] == WORKER_FACE["certificate_no"]
    assert results[-1].payload["satisfaction"] == "5" and results[-1].payload["is_delivery_results"] == "1"
    special = _outbox(session, "cases.up_pro_special_procedure")
    assert [s.payload["special_type"] for s in special] == ["8"]
    assert (
        special[0].payload["special_reason"] == "组织专家评审" and special[0].payload["result"] == "评审通过"
    )
    assert [type(e).__name__ for e in heard][:2] == ["CaseSubmitted", "CaseTransitioned"]
    assert len(heard) == 8
    # The applicant heard of the submission, acceptance, the supplement and the conclusion.
    # The requests sent nothing: the notices waited for the worker, which sends them after the commit.
    from zhengwu.cases.notify import deliver_notices
    from zhengwu.identity.servicekeys import NOTIFIER

    notifier = bus_node(client).services.provide(NOTIFIER)
    assert not [m for m in notifier.messages() if case_no in m["body"]]  # type: ignore[attr-defined]
    session.commit()
    assert deliver_notices(bus_node(client).session_factory).sent == 4
    notices = [m for m in notifier.messages() if case_no in m["body"]]  # type: ignore[attr-defined]
    assert [m["subject"] for m in notices] == ["办件进度"] * 4
    assert "需要补正材料" in notices[2]["body"] and "已办结" in notices[3]["body"]


def test_required_materials_drafts_and_references(client: Any, casework: Casework) -> None:
    work = casework
    login(client, work.citizen_token)
    only_upload = work.body(materials=[work.body()["materials"][1]])
    problem = assert_envelope(client.post(API, json=only_upload), 422, "cases.form_invalid")
    assert problem["materials"] == [work.license_material]
    draft = client.post(API, json={**only_upload, "draft": True})
    assert draft.status_code == 201 and draft.json()["status"] == "draft" and draft.json()["case_no"] is None
    assert client.get(f"{API}/{draft.json()['id']}").json()["status"] == "draft"
    login(client, work.handler_token)
    assert_envelope(client.get(f"{API}/{draft.json()['id']}"), 404)  # not even its department's staff
    login(client, work.citizen_token)
    resumed = client.post(API, json={**work.body(), "draft_id": draft.json()["id"]})
    assert resumed.status_code == 201 and resumed.json()["id"] == draft.json()["id"]
    assert resumed.json()["status"] == "submitted" and resumed.json()["case_no"]
    # Somebody else's license, an unknown file, a material not in the guide.
    _other, other_token = work.person(nth_citizen_id(5151))
    login(client, other_token)
    assert_envelope(client.post(API, json=work.body()), 404, "licenses.not_found")
    bad_file = work.body(materials=[{"material_id": work.upload_material, "file_sm3": "0" * 64}])
    assert_envelope(client.post(API, json=bad_file), 422, "cases.form_invalid")
    stranger = work.body(materials=[{"material_id": "nope", "file_sm3": "0" * 64}])
    assert assert_envelope(client.post(API, json=stranger), 422)["materials"] == ["nope"]
    # Nobody else sees the case; a staff member of another department neither.
    assert_envelope(client.get(f"{API}/{resumed.json()['case_no']}"), 404)


def test_staff_rights_are_department_scoped(client: Any, casework: Casework) -> None:
    from catalog_kit import make_department

    work = casework
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    other = make_department(work.session, "130100", "石家庄市行政审批局", 91)
    login(client, work.staff(["case_handler"], other.id))
    assert_envelope(
        client.post(f"{API}/{case_no}/actions", json={"action": "accept"}), 403, "cases.forbidden"
    )
    assert_envelope(client.get(f"{API}/{case_no}"), 403)
    assert client.get(API).json() == []
    login(client, work.staff(["seal_user"]))
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "accept"}), 403)
    # A handler without license_issuer cannot conclude with a license.
    login(client, work.staff(["case_handler"]))
    assert client.post(f"{API}/{case_no}/actions", json={"action": "accept"}).status_code == 200
    body = {"action": "conclude", "outcome": "approved", "result_kind": "license",
            "license_type_code": work.env.type_code(WORKER_TYPE), "license_face": WORKER_FACE}  # fmt: skip
    assert_envelope(client.post(f"{API}/{case_no}/actions", json=body), 403, "licenses.forbidden")
    refused = client.post(f"{API}/{case_no}/actions", json={"action": "conclude", "outcome": "refused", "opinion": "不符合条件"})  # fmt: skip
    assert refused.status_code == 200 and refused.json()["result"]["outcome"] == "refused"


def test_withdraw_and_reject(client: Any, casework: Casework) -> None:
    work = casework
    login(client, work.citizen_token)
    first = client.post(API, json=work.body()).json()["case_no"]
    second = client.post(API, json=work.body()).json()["case_no"]
    assert int(second[-6:]) == int(first[-6:]) + 1
    gone = client.post(f"{API}/{first}/withdraw", json={"reason": "不再需要"})
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    assert_envelope(client.post(f"{API}/{first}/withdraw", json={}), 409, "cases.action_not_allowed")
    login(client, work.handler_token)
    assert_envelope(client.post(f"{API}/{second}/actions", json={"action": "reject"}), 422)
    rejected = client.post(
        f"{API}/{second}/actions", json={"action": "reject", "opinion": "不属于本部门职权"}
    )
    assert rejected.json()["status"] == "not_accepted" and rejected.json()["allowed_actions"] == []
    assert_envelope(client.post(f"{API}/{second}/actions", json={"action": "accept"}), 409)


def test_the_items_login_demands_apply(client: Any, casework: Casework) -> None:
    from zhengwu.catalog import service as catalog

    work = casework
    catalog.update_task(work.session, work.task_code, {"auth_level": 4}, actor="test")
    catalog.publish_task(work.session, work.task_code, actor="test")
    work.session.flush()
    login(client, work.citizen_token)
    assert work.citizen.real_name_level < 4
    problem = assert_envelope(client.post(API, json=work.body()), 403, "identity.insufficient_level")
    assert problem["required_level"] == 4
    assert client.get(API, params={"mine": 1}).json() == []


def test_the_application_form_comes_from_the_guide(client: Any, casework: Casework) -> None:
    work = casework
    login(client, work.citizen_token)
    form = client.get(f"{API}/form/{work.task_code}")
    assert form.status_code == 200, form.text
    body = form.json()
    assert body["applicant"]["name"] == "演示用户"
    assert (
        body["applicant"]["id_number_masked"] != nth_citizen_id(4242)
        and nth_citizen_id(4242) not in form.text
    )
    by_id = {m["material_id"]: m for m in body["materials"]}
    assert by_id[work.license_material]["required"] is True
    assert [lic["id"] for lic in by_id[work.license_material]["held_licenses"]] == [work.held_license_id]
    assert (
        by_id[work.optional_material]["required"] is False
        and by_id[work.upload_material]["held_licenses"] == []
    )
    assert body["promise_days"] == 5 and body["deadline_if_accepted_today"]
    assert_envelope(client.get(f"{API}/form/130000000000000000000000000000000"), 404)
    login(client, None)
    assert_envelope(client.get(f"{API}/form/{work.task_code}"), 401)


def test_joint_opinions(client: Any, casework: Casework) -> None:
    """联办: two other departments are asked; each sees only what its opinion needs; one refusing ends
    the round at once."""
    from catalog_kit import make_department

    work = casework
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    fire = make_department(work.session, "130000", "河北省消防救援总队", 61)
    plan = make_department(work.session, "130000", "河北省自然资源厅", 62)
    other = make_department(work.session, "130000", "河北省交通运输厅", 63)
    login(client, work.handler_token)
    act = f"{API}/{case_no}/actions"
    assert client.post(act, json={"action": "accept"}).status_code == 200
    assert_envelope(client.post(act, json={"action": "request_opinions", "opinion": "请出具意见",
                                           "departments": [work.env.department.credit_code]}), 422)  # fmt: skip
    asked = client.post(act, json={"action": "request_opinions", "opinion": "请出具消防和用地意见",
                                   "departments": [fire.credit_code, plan.credit_code]})  # fmt: skip
    assert asked.status_code == 200 and asked.json()["status"] == "joint_review"
    assert_envelope(client.post(act, json={"action": "conclude", "outcome": "approved"}), 409)

    fire_staff, plan_staff = work.staff(["case_handler"], fire.id), work.staff(["case_handler"], plan.id)
    login(client, fire_staff)
    queue = client.get(API, params={"department": fire.credit_code, "awaiting_opinion": 1})
    assert [c["case_no"] for c in queue.json()] == [case_no] and queue.json()[0]["form"] == {}
    assert client.get(API, params={"department": fire.credit_code}).json() == []  # not its own case
    seen = client.get(f"{API}/{case_no}").json()
    assert seen["form"] == {} and seen["history"] == [] and seen["allowed_actions"] == ["give_opinion"]
    assert seen["joint"]["asked"] == "请出具消防和用地意见"
    # Acting for another department, or for a department that was not asked, is refused.
    assert_envelope(client.post(act, json={"action": "give_opinion", "verdict": "agree",
                                           "department": plan.credit_code}), 403)  # fmt: skip
    agreed = client.post(act, json={"action": "give_opinion", "verdict": "agree", "opinion": "符合消防要求",
                                    "department": fire.credit_code})  # fmt: skip
    assert agreed.status_code == 200 and agreed.json()["status"] == "joint_review"
    assert_envelope(client.post(act, json={"action": "give_opinion", "verdict": "agree",
                                           "department": fire.credit_code}), 409)  # fmt: skip
    assert client.get(API, params={"department": fire.credit_code, "awaiting_opinion": 1}).json() == []
    login(client, work.staff(["case_handler"], other.id))
    assert_envelope(client.get(f"{API}/{case_no}"), 403)
    login(client, plan_staff)
    refused = client.post(act, json={"action": "give_opinion", "verdict": "refuse", "opinion": "用地不符合规划",
                                     "department": plan.credit_code})  # fmt: skip
    assert refused.status_code == 200 and refused.json()["status"] == "in_process"
    assert client.get(API, params={"department": plan.credit_code, "awaiting_opinion": 1}).json() == []
    joint = refused.json()["joint"]
    assert joint["outcome"] == "refused"
    assert {d["status"] for d in joint["departments"].values()} == {"agree", "refuse"}
    login(client, work.handler_token)
    full = client.get(f"{API}/{case_no}").json()
    assert [h["action"] for h in full["history"]][-3:] == ["request_opinions", "give_opinion", "give_opinion"]
    process = _outbox(work.session, "cases.up_pro_process")
    assert [p.payload["event_name"] for p in process][-2:] == ["1", "0"]


def test_uploads_are_checked_then_named_by_the_application(client: Any, casework: Casework) -> None:
    from zhengwu.cases.servicekeys import SCANNER

    work = casework
    upload = f"{API}/uploads"
    pdf = b"%PDF-1.7\n% the signed application form\n"
    assert_envelope(client.post(upload, content=pdf, headers={"Content-Type": "application/pdf"}), 401)
    login(client, work.citizen_token)
    stored = client.post(upload, content=pdf, headers={"Content-Type": "application/pdf"})
    assert stored.status_code == 201, stored.text
    assert stored.json()["size"] == len(pdf) and len(stored.json()["file_sm3"]) == 64
    assert_envelope(client.post(upload, content=pdf, headers={"Content-Type": "text/html"}), 415, "cases.material_type")  # fmt: skip
    assert_envelope(client.post(upload, content=b"<html>", headers={"Content-Type": "application/pdf"}), 422, "cases.material_mismatch")  # fmt: skip
    assert_envelope(client.post(upload, content=b"", headers={"Content-Type": "image/png"}), 422)

    class Refusing:
        def scan(self, data: bytes) -> str | None:
            return "发现病毒 EICAR" if b"EICAR" in data else None

    bus_node(client).services.put(SCANNER, Refusing())
    try:
        bad = client.post(upload, content=b"%PDF-1.7 EICAR", headers={"Content-Type": "application/pdf"})
        assert assert_envelope(bad, 422, "cases.material_infected")["detail"].endswith("发现病毒 EICAR")
        assert (
            client.post(upload, content=pdf, headers={"Content-Type": "application/pdf"}).status_code == 201
        )
    finally:
        bus_node(client).services.remove(SCANNER)
    body = work.body()
    body["materials"][1] = {"material_id": work.upload_material, "file_sm3": stored.json()["file_sm3"]}
    made = client.post(API, json=body)
    assert made.status_code == 201, made.text
