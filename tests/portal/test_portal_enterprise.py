"""The apply page for an agent: choose “为本人申请” or an enterprise one acts for; the enterprise is the
applicant (name, masked credit code, legal representative) with the person as 经办人 and its licenses
offered; refusals keep what was typed; 我的办件 names the enterprise."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from cases_kit import Enterprise, login
from zhengwu.cases import service as cases
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db

PDF = b"%PDF-1.7 enterprise application"


def _token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def _action(page: Any) -> str:
    match = re.search(r'<form method="post" action="([^"]+)" enctype="multipart/form-data"', page.text)
    assert match is not None
    return html.unescape(match.group(1))


def _visible(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


def test_an_agent_applies_for_the_enterprise_on_the_page(client: Any, enterprise: Enterprise) -> None:
    work = enterprise.work
    url = f"/items/{enterprise.task_code}/apply"
    login(client, work.citizen_token)
    first = client.get(url)
    assert first.status_code == 200
    text = _visible(first.text)
    assert "以谁的名义申请" in text and "为本人申请（演示用户）：本事项仅面向法人和其他组织" in text
    assert "为企业申请：石家庄演示科技有限公司（本人作为经办人）" in text
    assert "本事项仅面向法人和其他组织办理" in text, "applying for oneself is refused before any typing"
    page = client.get(url, params={"applicant": enterprise.entity_id})
    text = _visible(page.text)
    assert (
        "申请单位 石家庄演示科技有限公司" in text
        and "法定代表人 张法人" in text
        and "经办人 演示用户" in text
    )
    assert "使用本企业的电子证照：营业执照" in text and f'value="{enterprise.license_id}"' in page.text
    assert work.held_license_id not in page.text, "the agent's own license is not offered for the enterprise"
    done = client.post(
        _action(page),
        data={"csrf_token": _token(page), "action": "submit", "phone": "13812345678",
              f"choice_{enterprise.license_material}": enterprise.license_id},
        files={f"file_{enterprise.upload_material}": ("申请表.pdf", PDF, "application/pdf")},
    )  # fmt: skip
    assert done.status_code == 201, _visible(done.text)[:800]
    rows, total = cases.mine(work.session, work.citizen)
    assert total == 1 and rows[0].applicant_kind == "enterprise" and rows[0].agent_name == "演示用户"
    listed = _visible(client.get("/me/cases").text)
    assert "申请单位 石家庄演示科技有限公司（经办人：演示用户）" in listed
    detail = _visible(client.get(f"/me/cases/{rows[0].case_no}").text)
    assert "申请单位 石家庄演示科技有限公司" in detail and "经办人 演示用户" in detail
    mobile = client.get("/api/v1/mobile/me/cases").json()
    assert [c["enterprise"] for c in mobile] == ["石家庄演示科技有限公司"]


def test_a_person_only_item_refuses_the_enterprise_and_keeps_the_typing(
    client: Any, enterprise: Enterprise
) -> None:
    work = enterprise.work
    url = f"/items/{work.task_code}/apply"
    login(client, work.citizen_token)
    page = client.get(url, params={"applicant": enterprise.entity_id})
    assert "本事项仅面向个人办理，不能以企业名义申请" in _visible(page.text)
    refused = client.post(
        _action(page),
        data={"csrf_token": _token(page), "action": "submit", "phone": "13812345678", "note": "下午可联系",
              f"choice_{work.upload_material}": "upload"},
        files={f"file_{work.upload_material}": ("申请表.pdf", PDF, "application/pdf"),
               f"file_{work.license_material}": ("证明.pdf", PDF, "application/pdf")},
    )  # fmt: skip
    assert refused.status_code == 422, _visible(refused.text)[:800]
    summary = _visible(refused.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0])
    assert "仅面向个人办理" in summary and "为本人申请" in summary
    assert 'value="13812345678"' in refused.text and 'value="下午可联系"' in refused.text
    assert "使用已上传的文件：申请表.pdf" in _visible(refused.text), "the upload is kept"
    assert cases.mine(work.session, work.citizen)[1] == 0


def test_an_enterprise_one_does_not_act_for_is_refused(client: Any, enterprise: Enterprise) -> None:
    work = enterprise.work
    _, stranger = work.person(nth_citizen_id(765), "陌生人")
    login(client, stranger)
    page = client.get(f"/items/{enterprise.task_code}/apply", params={"applicant": enterprise.entity_id})
    assert page.status_code == 403 and "经办授权" in _visible(page.text)
    own = client.get(f"/items/{enterprise.task_code}/apply")
    assert own.status_code == 200 and "以谁的名义申请" not in own.text, "no enterprise to choose"
    assert "本事项仅面向法人和其他组织办理" in _visible(own.text)


def test_an_enterprise_draft_resumes_for_the_enterprise(client: Any, enterprise: Enterprise) -> None:
    work = enterprise.work
    url = f"/items/{enterprise.task_code}/apply"
    login(client, work.citizen_token)
    page = client.get(url, params={"applicant": enterprise.entity_id})
    saved = client.post(
        _action(page),
        data={"csrf_token": _token(page), "action": "draft", "phone": "13812345678",
              f"choice_{enterprise.license_material}": enterprise.license_id},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303 and "draft=" in saved.headers["location"]
    resumed = client.get(saved.headers["location"])
    text = _visible(resumed.text)
    assert "申请单位 石家庄演示科技有限公司" in text and "以谁的名义申请" not in text, (
        "the draft keeps its applicant"
    )
    assert "draft=" in _action(resumed)
    assert re.search(rf'value="{enterprise.license_id}" checked', resumed.text)
    done = client.post(
        _action(resumed),
        data={"csrf_token": _token(resumed), "action": "submit", "phone": "13812345678",
              "draft_id": re.search(r'name="draft_id" value="([^"]+)"', resumed.text).group(1),  # type: ignore[union-attr]
              f"choice_{enterprise.license_material}": enterprise.license_id},
        files={f"file_{enterprise.upload_material}": ("申请表.pdf", PDF, "application/pdf")},
    )  # fmt: skip
    assert done.status_code == 201, _visible(done.text)[:800]
    rows, total = cases.mine(work.session, work.citizen)
    assert total == 1 and rows[0].applicant_entity_id == enterprise.entity_id and rows[0].case_no
