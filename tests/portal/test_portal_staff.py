"""工作台: the clerk's queue and case pages — masked personal data revealed with a recorded reason, the
actions as forms (mistakes listed with what was typed kept), the conclusion with a license issued, a 联办
opinion from an asked department — and the policy's refusals rendered as pages: no session, a citizen,
no second factor, another department, a forged form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cases_kit import WORKER_FACE, WORKER_TYPE, Casework, login
from licenses_kit import PERSON
from zhengwu.audit.models import AuditChange
from zhengwu.cases import service as cases
from zhengwu.identity import service as identity
from zhengwu.identity.context import of
from zhengwu.identity.protection import encrypt_field, mask_id
from zhengwu.kernel.clock import BEIJING, utcnow

pytestmark = pytest.mark.db
API = "/api/v1/cases"
PHONE = "13812345678"
# What a page must never show: status and action codes, actor references, the raw result words.
RAW_CODES = (
    "submitted",
    "accepted",
    "request_supplement",
    "concluded",
    "approved",
    "account:",
    "joint_review",
)


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def _token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def _submitted(client: Any, work: Casework) -> str:
    login(client, work.citizen_token)
    made = client.post(API, json=work.body(form={"phone": PHONE, "note": "工作日可联系"}))
    assert made.status_code == 201, made.text
    return str(made.json()["case_no"])


def _status(work: Casework, case_no: str) -> str:
    work.session.expire_all()
    return cases.get_case(work.session, case_no).status


def _act(client: Any, case_no: str, page: Any, **form: Any) -> Any:
    return client.post(
        f"/staff/cases/{case_no}/actions", data={"csrf_token": _token(page), **form}, follow_redirects=False
    )


def test_queue_case_page_accept_and_conclude_with_a_license(client: Any, casework: Casework) -> None:
    work = casework
    case_no = _submitted(client, work)
    assert 'href="/staff/cases"' not in client.get("/").text, "no 工作台 link for a citizen"
    login(client, work.handler_token)
    assert 'href="/staff/cases">工作台</a>' in client.get("/").text
    queue = client.get("/staff/cases")
    text = _visible(queue.text)
    assert queue.status_code == 200 and case_no in text and "已申报，待受理" in text
    assert "待办（1）" in text and "建筑施工特种作业人员操作资格认定" in text
    assert case_no not in client.get("/staff/cases?state=concluded").text
    assert case_no in client.get(f"/staff/cases?item={work.task_code}").text
    assert case_no not in client.get("/staff/cases?due=overdue").text, "accepted today: not overdue"

    page = client.get(f"/staff/cases/{case_no}")
    text = _visible(page.text)
    assert page.status_code == 200 and "演示用户" in text
    assert PERSON not in page.text and mask_id(PERSON) in text, "the ID number masked"
    assert PHONE not in page.text and "138****5678" in text, "the phone masked"
    assert "社会保险参保证明" in text and "下载：申请表.pdf" in text and "北京时间" in text
    assert not any(code in text for code in RAW_CODES), [c for c in RAW_CODES if c in text]
    material = re.search(rf'href="(/staff/cases/{case_no}/materials/[^"]+)"', page.text)
    assert material is not None
    download = client.get(material.group(1))
    assert download.status_code == 200 and download.content.startswith(b"%PDF")

    reveal = f"/staff/cases/{case_no}/reveal"
    no_reason = client.post(reveal, data={"csrf_token": _token(page), "purpose": ""})
    assert no_reason.status_code == 422 and "请填写查看完整信息的原因" in no_reason.text
    shown = client.post(reveal, data={"csrf_token": _token(page), "purpose": "核对身份"})
    assert shown.status_code == 200 and PERSON in shown.text and PHONE in shown.text
    work.session.expire_all()
    trail = work.session.scalars(select(AuditChange).where(AuditChange.action == "case.reveal")).all()
    assert [t.entity_id for t in trail] == [case_no] and "核对身份" in str(trail[0].after)
    assert PERSON not in client.get(f"/staff/cases/{case_no}").text, "shown once, masked again"

    refused = _act(client, case_no, page, action="reject", opinion="")
    assert refused.status_code == 422 and "请填写不予受理的理由" in refused.text
    assert _status(work, case_no) == "submitted"
    accepted = _act(client, case_no, page, action="accept", opinion="材料齐全")
    assert accepted.status_code == 303 and accepted.headers["location"].endswith("?done=accept")
    assert _status(work, case_no) == "accepted"
    again = _act(client, case_no, page, action="accept", opinion="材料齐全", seen="submitted")
    assert again.status_code == 409 and "刚刚已被办理，当前状态为“已受理”" in again.text, "a second click"
    stale = _act(client, case_no, page, action="reject", opinion="重复")
    assert stale.status_code == 409 and "不能进行该操作" in stale.text, (
        "the service refuses what the status does not allow"
    )
    assert _status(work, case_no) == "accepted"

    page = client.get(f"/staff/cases/{case_no}?done=accept")
    assert "已受理。" in _visible(page.text) and "办件人员（工作人员）" in page.text
    unchosen = _act(client, case_no, page, action="request_supplement", opinion="申请表签名不清晰<b>")
    assert unchosen.status_code == 422 and "请至少选择一项" in unchosen.text
    assert "申请表签名不清晰&lt;b&gt;</textarea>" in unchosen.text, "what was typed is kept, escaped"

    assert 'id="face_category"' not in page.text, "the item names no result: the clerk chooses the type"
    from zhengwu.catalog import service as catalog

    catalog.get_task(work.session, work.task_code).result_name = WORKER_TYPE
    work.session.commit()
    named = client.get(f"/staff/cases/{case_no}")
    assert 'id="face_category"' in named.text, "the guide's 审批结果名称 chooses the license type"
    no_type = _act(client, case_no, page, action="conclude", outcome="approved", result_kind="license")
    assert no_type.status_code == 422 and "请先选择要签发的证照类型" in no_type.text
    type_code = work.env.type_code(WORKER_TYPE)
    chosen = client.get(f"/staff/cases/{case_no}?license_type={type_code}")
    assert 'id="face_category"' in chosen.text and "建筑电工" in chosen.text
    face = {f"face_{k}": v for k, v in WORKER_FACE.items()}
    missing = _act(client, case_no, chosen, action="conclude", outcome="approved", result_kind="license",
                   license_type=type_code, opinion="准予许可", **{**face, "face_category": ""})  # fmt: skip
    assert missing.status_code == 422 and "请填写照面信息“操作类别”" in missing.text
    assert WORKER_FACE["certificate_no"] in missing.text, "the typed face kept"
    assert _status(work, case_no) == "accepted"
    bad_date = _act(client, case_no, chosen, action="conclude", outcome="approved", result_kind="license",
                    license_type=type_code, **{**face, "face_first_issued": "2026年12月5日"})  # fmt: skip
    assert bad_date.status_code == 422 and "初次领证日期" in bad_date.text
    assert _status(work, case_no) == "accepted", "a refused issuance rolls the conclusion back"
    done = _act(client, case_no, chosen, action="conclude", outcome="approved", result_kind="license",
                license_type=type_code, opinion="准予许可", **face)  # fmt: skip
    assert done.status_code == 303, _visible(done.text)[:800]
    work.session.expire_all()
    case = cases.get_case(work.session, case_no)
    assert case.status == "concluded" and case.result and case.result["license_number"]
    result = client.get(f"/staff/cases/{case_no}")
    text = _visible(result.text)
    assert "签发的证照" in text and WORKER_FACE["certificate_no"] in text and "准予许可" in text
    assert "确认已送达" in text and not any(code in text for code in RAW_CODES)


def test_the_policy_refuses_as_pages(client: Any, casework: Casework) -> None:
    from catalog_kit import make_department

    work = casework
    case_no = _submitted(client, work)
    url = f"/staff/cases/{case_no}"
    login(client, None)
    assert client.get(url, follow_redirects=False).headers["location"].startswith("/identity/login?next=")

    login(client, work.citizen_token)
    citizen = client.get(url)
    assert citizen.status_code == 403 and "仅限具有相应权限的工作人员" in citizen.text
    assert client.get("/staff/cases").status_code == 403

    # A clerk whose session has no second factor: sent to step up (TOTP enrolled) or told to enrol.
    account = identity.register_staff(work.session, name="办件人员二", login_name="case-nofactor",
                                      password="Case-Passw0rd-2026", department_id=work.env.department.id,
                                      roles=["case_handler"])  # fmt: skip
    bare = str(identity.start_session(work.session, account, amr=["pwd"]).token)
    work.session.commit()
    login(client, bare)
    told = client.get("/staff/cases")
    assert told.status_code == 403 and "开启动态验证码" in told.text
    account.totp_secret_enc = encrypt_field(
        of(work.session).keys, "JBSWY3DPEHPK3PXP", purpose=identity.PURPOSE_TOTP
    )
    account.totp_enabled_at = utcnow()
    work.session.commit()
    stepped = client.get(url, follow_redirects=False)
    assert stepped.status_code == 303 and stepped.headers["location"].startswith("/identity/step-up?next=")
    login(client, work.handler_token)
    token = _token(client.get(url))
    login(client, bare)
    blocked = client.post(
        f"{url}/actions", data={"csrf_token": token, "action": "accept"}, follow_redirects=False
    )
    assert blocked.status_code == 303 and "/identity/step-up" in blocked.headers["location"]
    assert _status(work, case_no) == "submitted"

    # A clerk of another department: not in the queue, refused on the case and its actions.
    other = make_department(work.session, "130000", "河北省交通运输厅", 71)
    stranger = work.staff(["case_handler"], other.id)
    work.session.commit()
    login(client, stranger)
    assert case_no not in client.get("/staff/cases").text
    page = client.get(url)
    assert page.status_code == 403 and "没有权限" in page.text
    forged = _act(client, case_no, client.get("/staff/cases"), action="accept")
    assert forged.status_code == 403 and _status(work, case_no) == "submitted"
    assert client.get(f"{url}/materials/{work.upload_material}").status_code == 403

    # The right department, a forged form: refused, nothing moves.
    login(client, work.handler_token)
    client.get(url)
    forged = client.post(
        f"{url}/actions", data={"csrf_token": "0" * 64, "action": "accept"}, follow_redirects=False
    )
    assert forged.status_code == 403 and _status(work, case_no) == "submitted"


def _accepted_beside_fire_brigade(client: Any, work: Casework, serial: int) -> tuple[str, Any, Any]:
    """A submitted case accepted by its department, with another department of the division to name (the
    province's fire brigade); the handler's case page. (case number, that department, the page)"""
    from catalog_kit import make_department

    case_no = _submitted(client, work)
    fire = make_department(work.session, "130000", "河北省消防救援总队", serial)
    cases.act(work.session, case_no, cases.ActionInput("accept"), actor="test")
    work.session.commit()
    login(client, work.handler_token)
    return case_no, fire, client.get(f"/staff/cases/{case_no}")


def test_a_department_asked_for_a_joint_opinion(client: Any, casework: Casework) -> None:
    work = casework
    case_no, fire, page = _accepted_beside_fire_brigade(client, work, 72)
    assert "河北省消防救援总队" in page.text, "the division's other departments to ask"
    none = _act(client, case_no, page, action="request_opinions", opinion="请出具消防意见")
    assert none.status_code == 422 and "请至少选择一个征求意见的部门" in none.text
    ask = _act(
        client,
        case_no,
        page,
        action="request_opinions",
        departments=fire.credit_code,
        opinion="请出具消防意见",
    )
    assert ask.status_code == 303 and _status(work, case_no) == "joint_review"
    clerk = work.staff(["case_handler"], fire.id)
    work.session.commit()
    login(client, clerk)
    queue = _visible(client.get("/staff/cases").text)
    assert "待本部门提出联办意见（1）" in queue and "请出具消防意见" in queue and case_no in queue
    page = client.get(f"/staff/cases/{case_no}")
    text = _visible(page.text)
    assert page.status_code == 200 and "只显示提出意见所需的内容" in text and "请出具消防意见" in text
    assert "办理过程" not in text and "138****5678" not in text and "显示完整信息" not in text
    assert "工作日可联系" not in text and mask_id(PERSON) not in text, "no form, no ID number"
    assert "受理" not in re.sub(r"已受理", "", text.split("联办意见", 1)[1]), "no handling actions offered"
    empty = _act(client, case_no, page, action="give_opinion", department=fire.credit_code, opinion="")
    assert empty.status_code == 422 and "请选择同意或不同意" in empty.text and "请填写联办意见" in empty.text
    given = _act(client, case_no, page, action="give_opinion", department=fire.credit_code, verdict="agree",
                 opinion="符合消防要求")  # fmt: skip
    assert given.status_code == 303, _visible(given.text)[:600]
    assert _status(work, case_no) == "in_process"
    # Acting for the case's own department is not this clerk's to do.
    assert _act(client, case_no, page, action="complete_step").status_code == 403


def test_a_clerk_adds_a_step_from_the_case_page(client: Any, casework: Casework) -> None:
    work = casework
    case_no, fire, page = _accepted_beside_fire_brigade(client, work, 73)
    assert page.status_code == 200 and "增加办理环节" in page.text
    before = [s["name"] for s in cases.step_view(work.session, cases.get_case(work.session, case_no))]
    # Mistakes are named on the page and what was typed is kept.
    wrong = _act(client, case_no, page, action="add_step", step_name="", step_days="400",
                 step_department=fire.credit_code, steps_seen=str(len(before)), opinion="需现场核查")  # fmt: skip
    assert wrong.status_code == 422
    assert "请填写新环节的名称" in wrong.text and "时限应为0至365之间的整数（工作日）" in wrong.text
    assert 'value="400"' in wrong.text and "需现场核查" in wrong.text
    assert f'<option value="{fire.credit_code}" selected>' in wrong.text
    added = _act(client, case_no, page, action="add_step", step_name="现场核查", step_days="5",
                 step_department=fire.credit_code, steps_seen=str(len(before)), opinion="需现场核查")  # fmt: skip
    assert added.status_code == 303 and added.headers["location"].endswith("?done=add_step")
    work.session.expire_all()
    case = cases.get_case(work.session, case_no)
    steps = cases.step_view(work.session, case)
    assert [s["name"] for s in steps] == [*before[:2], "现场核查", *before[2:]]
    assert steps[2]["department_name"] == "河北省消防救援总队" and steps[2]["days"] == 5
    # The same form sent again (a second click) adds nothing.
    again = _act(client, case_no, page, action="add_step", step_name="现场核查", step_days="5",
                 steps_seen=str(len(before)))  # fmt: skip
    assert again.status_code == 409 and "办理环节刚刚已有变化" in again.text
    work.session.expire_all()
    assert len(cases.step_view(work.session, cases.get_case(work.session, case_no))) == len(before) + 1
    shown = _visible(client.get(f"/staff/cases/{case_no}").text)
    assert "现场核查" in shown and "增加办理环节" in shown and "需现场核查" in shown
    assert not any(code in shown for code in ("added_1", "case_handler", "add_step"))


def test_marks_and_paging(client: Any, casework: Casework, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhengwu.portal import staffpages

    work = casework
    late, soon = _submitted(client, work), _submitted(client, work)
    today = utcnow().astimezone(BEIJING).date()  # deadlines and their marks are Beijing days
    for case_no, deadline in ((late, today - timedelta(days=3)), (soon, today)):
        cases.act(work.session, case_no, cases.ActionInput("accept"), actor="test")
        cases.get_case(work.session, case_no).deadline = deadline
    work.session.commit()
    login(client, work.handler_token)
    listed = client.get("/staff/cases").text.split('<ul class="results cases">', 1)[1]
    rows = [_visible(r) for r in re.findall(r"<li>.*?</li>", listed, re.S)]
    assert len(rows) == 2 and late in rows[0] and soon in rows[1], "the soonest deadline first"
    assert "已逾期" in rows[0] and "即将到期" in rows[1] and "即将到期" not in rows[0]
    overdue = _visible(client.get("/staff/cases?due=overdue").text)
    assert late in overdue and soon not in overdue
    monkeypatch.setattr(staffpages, "PAGE_SIZE", 1)
    first = client.get("/staff/cases")
    assert "第 1 / 2 页" in first.text and late in first.text and soon not in first.text
    assert 'href="/staff/cases?state=open&amp;page=2"' in first.text
    second = client.get("/staff/cases?state=open&page=2")
    assert soon in second.text and late not in second.text and "上一页" in second.text
    assert "第 1 / 2 页" in client.get("/staff/cases?page=abc").text, "an odd page number is the first"
