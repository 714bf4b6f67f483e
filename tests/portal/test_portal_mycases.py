"""我的办件: the list, the detail with its timeline in 北京时间, answering exactly the asked supplement,
withdrawing with a confirmation on the page, the result with the new license, 好差评, and the lookup
without login."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cases_kit import WORKER_FACE, WORKER_TYPE, Casework, login
from zhengwu.cases import service as cases
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db
API = "/api/v1/cases"
RAW_CODES = ("supplement_requested", "request_supplement", "submitted", "concluded", "approved", "account:")


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def _token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return match.group(1)


def _submitted(client: Any, work: Casework) -> tuple[str, str]:
    login(client, work.citizen_token)
    made = client.post(API, json=work.body())
    assert made.status_code == 201, made.text
    return made.json()["case_no"], made.json()["password"]


def _staff(client: Any, work: Casework, case_no: str, body: dict[str, Any]) -> None:
    login(client, work.handler_token)
    done = client.post(f"{API}/{case_no}/actions", json=body)
    assert done.status_code == 200, done.text
    login(client, work.citizen_token)


def test_list_detail_supplement_result_and_evaluation(client: Any, casework: Casework) -> None:
    work = casework
    case_no, _ = _submitted(client, work)
    listed = client.get("/me/cases")
    assert listed.status_code == 200 and case_no in listed.text and "已申报，待受理" in listed.text
    assert "建筑施工特种作业人员操作资格认定" in listed.text and "办结期限" in listed.text
    _staff(client, work, case_no, {"action": "accept", "opinion": "材料齐全"})
    _staff(client, work, case_no, {"action": "request_supplement", "opinion": "申请表签名不清晰",
                                   "materials": [work.upload_material], "fields": ["phone"]})  # fmt: skip
    page = client.get(f"/me/cases/{case_no}")
    text = _visible(page.text)
    assert page.status_code == 200 and "需要您补正" in text and "申请表签名不清晰" in text
    assert "材料：申请表" in text and "填写项：联系电话" in text
    assert "社会保险参保证明" not in text.split("需要您补正", 1)[1].split("提交补正", 1)[0], (
        "only what was asked"
    )
    assert "部门要求补正" in text and "北京时间" in text and "年" in text
    assert not any(code in text for code in RAW_CODES), "no internal codes on the page"
    url = f"/me/cases/{case_no}/supplement"
    incomplete = client.post(url, data={"csrf_token": _token(page), "field_phone": ""})
    assert incomplete.status_code == 422
    assert "请填写“联系电话”" in incomplete.text and "请上传补正的材料“申请表”" in incomplete.text
    answered = client.post(
        url,
        data={"csrf_token": _token(page), "field_phone": "13812345678"},
        files={f"file_{work.upload_material}": ("申请表（签名）.pdf", b"%PDF-1.7 signed", "application/pdf")},
        follow_redirects=False,
    )
    assert answered.status_code == 303, _visible(answered.text)[:600]
    case = cases.get_case(work.session, case_no)
    assert case.status == "accepted" and case.form["phone"] == "13812345678"
    assert "您已补正" in client.get(f"/me/cases/{case_no}").text
    _staff(client, work, case_no, {"action": "conclude", "outcome": "approved", "result_kind": "license",
                                   "opinion": "准予许可", "license_type_code": work.env.type_code(WORKER_TYPE),
                                   "license_face": WORKER_FACE})  # fmt: skip
    done = client.get(f"/me/cases/{case_no}")
    work.session.expire_all()
    lic = cases.get_case(work.session, case_no).result["license_id"]  # type: ignore[index]
    assert f'href="/me/licenses/{lic}"' in done.text and WORKER_FACE["certificate_no"] in done.text
    assert "准予许可" in done.text and "撤回申请" not in done.text
    assert "5 分：非常满意" in done.text and "1 分：非常不满意" in done.text, "scores in words"
    assert client.get(f"/me/licenses/{lic}").status_code == 200, "the new license in 我的证照"
    unchosen = client.post(
        f"/me/cases/{case_no}/evaluation", data={"csrf_token": _token(done), "text": "很快"}
    )
    assert unchosen.status_code == 422 and "请选择满意程度" in unchosen.text and "很快" in unchosen.text
    rated = client.post(
        f"/me/cases/{case_no}/evaluation",
        data={"csrf_token": _token(done), "satisfaction": "5", "text": "很快"},
    )
    assert rated.status_code == 200 and "5 分：非常满意。很快" in _visible(rated.text)
    work.session.expire_all()
    assert cases.evaluation_of(work.session, cases.get_case(work.session, case_no)).satisfaction == 5  # type: ignore[union-attr]


def test_withdraw_asks_first_and_strangers_see_nothing(client: Any, casework: Casework) -> None:
    work = casework
    case_no, _ = _submitted(client, work)
    page = client.get(f"/me/cases/{case_no}")
    url = f"/me/cases/{case_no}/withdraw"
    asked = client.post(url, data={"csrf_token": _token(page)})
    assert asked.status_code == 200 and "确定要撤回吗" in asked.text
    assert cases.get_case(work.session, case_no).status == "submitted", "nothing withdrawn yet"
    assert client.post(url, data={"csrf_token": "0" * 32, "confirmed": "yes"}).status_code == 403
    gone = client.post(url, data={"csrf_token": _token(page), "confirmed": "yes", "reason": "不办了"})
    assert gone.status_code == 200 and "已撤回" in gone.text and "您撤回了申请" in gone.text
    work.session.expire_all()
    assert cases.get_case(work.session, case_no).status == "withdrawn"
    _, other = work.person(nth_citizen_id(77))
    login(client, other)
    assert client.get(f"/me/cases/{case_no}").status_code == 404
    assert (
        client.post(url, data={"csrf_token": _token(client.get("/me/cases")), "confirmed": "yes"}).status_code
        == 404
    )
    login(client, None)
    assert client.get(f"/me/cases/{case_no}", follow_redirects=False).status_code == 303


def test_lookup_without_login(client: Any, casework: Casework) -> None:
    work = casework
    case_no, password = _submitted(client, work)
    login(client, None)
    page = client.get("/cases/lookup")
    assert page.status_code == 200
    wrong = client.post(
        "/cases/lookup", data={"csrf_token": _token(page), "case_no": case_no, "password": "12"}
    )
    assert wrong.status_code == 422 and "6位数字" in wrong.text and f'value="{case_no}"' in wrong.text
    other = "000000" if password != "000000" else "111111"
    refused = client.post(
        "/cases/lookup", data={"csrf_token": _token(page), "case_no": case_no, "password": other}
    )
    assert refused.status_code == 422 and "办件编号或查询密码不对" in refused.text
    found = client.post(
        "/cases/lookup", data={"csrf_token": _token(page), "case_no": case_no, "password": password}
    )
    assert (
        found.status_code == 200
        and "已申报，待受理" in found.text
        and "建筑施工特种作业人员操作资格认定" in found.text
    )
    answers = [
        client.post(
            "/cases/lookup", data={"csrf_token": _token(page), "case_no": case_no, "password": password}
        )
        for _ in range(80)
    ]
    limited = [a for a in answers if a.status_code == 429]
    assert (
        limited
        and "查询太频繁" in limited[0].text
        and limited[0].headers["content-type"].startswith("text/html")
    )
