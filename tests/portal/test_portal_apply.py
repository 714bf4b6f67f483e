"""The apply page: a form derived from the guide, held licenses by reference, uploads through the cases'
checks, every mistake listed at once with what was typed kept, drafts resumed, one case per double click."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cases_kit import Casework, login
from zhengwu.cases import service as cases

pytestmark = pytest.mark.db

PDF = b"%PDF-1.7 application form"


def _token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def _key(page: Any) -> str:
    match = re.search(r'name="submit_key" value="([^"]+)"', page.text)
    assert match is not None
    return match.group(1)


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_apply_needs_a_login_and_shows_the_guides_form(client: Any, casework: Casework) -> None:
    work = casework
    url = f"/items/{work.task_code}/apply"
    login(client, None)
    guide = client.get(f"/items/{work.task_code}")
    assert guide.status_code == 200 and f'href="{url}"' in guide.text and "在线办理" in guide.text
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/identity/login?next=" + url.replace("/", "%2F")
    login(client, work.citizen_token)
    page = client.get(url)
    assert page.status_code == 200
    text = _visible(page.text)
    assert "演示用户" in text and "必要材料" in text and "选交材料" in text
    assert "社会保险参保证明" in text and "使用我的电子证照" in text and "10 MB" in text
    assert f'value="{work.held_license_id}"' in page.text, "the held license offered by reference"
    # Upload progress is an addition: the form posts by itself, the script only takes over when it runs.
    assert 'src="/portal/static/upload.js"' in page.text and "data-upload-progress" in page.text
    assert 'class="upload-progress" role="status" aria-live="polite" hidden' in page.text
    script = client.get("/portal/static/upload.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    number = cases.application_form(work.session, work.citizen, work.task_code)["applicant"]
    assert number["id_number_masked"] in text and "*" in number["id_number_masked"]


def test_every_mistake_at_once_and_what_was_typed_stays(client: Any, casework: Casework) -> None:
    work = casework
    url = f"/items/{work.task_code}/apply"
    login(client, work.citizen_token)
    page = client.get(url)
    token = _token(page)
    empty = client.post(url, data={"csrf_token": token, "action": "submit", "note": "工作日上午可联系"})
    assert empty.status_code == 422
    summary = empty.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert "请填写联系电话" in summary and summary.count("是必要材料") == 2, (
        "phone and both required materials"
    )
    assert 'value="工作日上午可联系"' in empty.text
    wrong = client.post(
        url,
        data={
            "csrf_token": token,
            "action": "submit",
            "phone": "abc",
            f"choice_{work.license_material}": "nope",
        },
        files={f"file_{work.upload_material}": ("申请表.pdf", b"<html>not a pdf", "application/pdf")},
    )
    assert wrong.status_code == 422
    text = _visible(wrong.text)
    assert "联系电话只能包含数字" in text and "所选证照不可用" in text and "文件内容与声明的类型不符" in text
    assert 'value="abc"' in wrong.text
    forged = client.post(url, data={"csrf_token": "0" * 32, "action": "submit", "phone": "0311-1234567"})
    assert forged.status_code == 403 and 'value="0311-1234567"' in forged.text, "refused, input kept"
    assert cases.mine(work.session, work.citizen)[1] == 0, "nothing was saved"


def test_draft_then_one_case_for_a_double_click(client: Any, casework: Casework) -> None:
    work = casework
    url = f"/items/{work.task_code}/apply"
    login(client, work.citizen_token)
    page = client.get(url)
    token = _token(page)
    saved = client.post(
        url,
        data={"csrf_token": token, "action": "draft", "phone": "0311-12345678",
              f"choice_{work.license_material}": work.held_license_id},
        files={f"file_{work.upload_material}": ("申请表.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303 and "draft=" in saved.headers["location"]
    listed = client.get("/me/cases")
    assert "草稿" in _visible(listed.text) and "继续填写" in listed.text
    resumed = client.get(saved.headers["location"])
    assert "草稿已保存" in resumed.text and 'value="0311-12345678"' in resumed.text
    assert "使用已上传的文件：申请表.pdf" in _visible(resumed.text)
    assert re.search(rf'value="{work.held_license_id}" checked', resumed.text)
    draft_id = re.search(r'name="draft_id" value="([^"]+)"', resumed.text).group(1)  # type: ignore[union-attr]
    kept = re.search(rf'name="kept_{work.upload_material}" value="([0-9a-f]+)"', resumed.text).group(1)  # type: ignore[union-attr]
    body = {
        "csrf_token": _token(resumed), "submit_key": _key(resumed), "draft_id": draft_id, "action": "submit",
        "phone": "0311-12345678", f"choice_{work.license_material}": work.held_license_id,
        f"choice_{work.upload_material}": "kept", f"kept_{work.upload_material}": kept,
        f"kept_name_{work.upload_material}": "申请表.pdf",
    }  # fmt: skip
    done = client.post(url, data=body)
    assert done.status_code == 201, _visible(done.text)[:800]
    text = _visible(done.text)
    case_no = re.search(r'class="case-no">([0-9A-Z]+)<', done.text).group(1)  # type: ignore[union-attr]
    password = re.search(r'class="password">([0-9]{6})<', done.text).group(1)  # type: ignore[union-attr]
    assert "北京时间" in text and "只在这里显示一次" in text and "年" in text
    again = client.post(url, data=body, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/me/cases/{case_no}?again=1"
    assert password not in client.get(again.headers["location"]).text
    rows, total = cases.mine(work.session, work.citizen)
    assert total == 1 and rows[0].case_no == case_no and rows[0].id == draft_id, "the draft became the case"
    assert {m["kind"] for m in rows[0].materials} == {"license", "upload"}
    assert cases.lookup(work.session, case_no, password).id == draft_id


def test_the_items_login_demands_apply_to_the_page(client: Any, casework: Casework) -> None:
    from zhengwu.catalog import service as catalog

    work = casework
    catalog.update_task(work.session, work.task_code, {"auth_level": 4}, actor="test")
    catalog.publish_task(work.session, work.task_code, actor="test")
    work.session.flush()
    login(client, work.citizen_token)
    url = f"/items/{work.task_code}/apply"
    refused = client.get(url)
    assert refused.status_code == 403 and "实名认证等级不足" in refused.text
    token = _token(client.get("/me/cases"))
    posted = client.post(url, data={"csrf_token": token, "action": "submit", "phone": "13812345678"})
    assert posted.status_code == 403 and cases.mine(work.session, work.citizen)[1] == 0


def test_what_was_typed_survives_an_expired_session(client: Any, casework: Casework) -> None:
    from zhengwu.identity import service as identity

    work = casework
    url = f"/items/{work.task_code}/apply"
    login(client, work.citizen_token)
    token = _token(client.get(url))
    # The session times out while the person types (ended as the idle timeout ends it).
    ended = identity.session_by_token(work.session, work.citizen_token)
    assert ended is not None
    identity.end_session(work.session, ended.id, "idle_timeout")
    work.session.flush()
    typed = {"csrf_token": token, "action": "submit", "phone": "0311-87654321", "note": "周末可联系",
             f"choice_{work.license_material}": work.held_license_id}  # fmt: skip
    posted = client.post(url, data=typed, files={f"file_{work.upload_material}": ("表.pdf", PDF, "application/pdf")},
                         follow_redirects=False)  # fmt: skip
    assert posted.status_code == 303
    assert posted.headers["location"] == "/identity/login?next=" + url.replace("/", "%2F")
    kept = client.cookies.get("zw_kept_form")
    assert kept and "0311" not in kept and "周末" not in kept, "kept encrypted, never in the clear"
    assert "HttpOnly" in posted.headers["set-cookie"] and f"Path={url}" in posted.headers["set-cookie"]

    # Someone else logs in on this browser: nothing of it is shown to them.
    _, other = work.person("130102199001011237", "另一位")
    client.cookies.set("zw_session", other)
    assert "0311-87654321" not in client.get(url).text
    # The person logs in again (the cookie was deleted above, so keep it again) and gets it back, once.
    client.cookies.set("zw_kept_form", kept, path=url)
    again = str(identity.start_session(work.session, work.citizen, amr=["pwd"]).token)
    work.session.flush()
    client.cookies.set("zw_session", again)
    back = client.get(url)
    assert back.status_code == 200
    assert 'value="0311-87654321"' in back.text and 'value="周末可联系"' in back.text
    assert "刚才填写的内容已为您保留" in back.text and "上传的文件需要重新选择" in back.text
    chosen = re.search(rf'value="{work.held_license_id}"[^>]*>', back.text)
    assert chosen is not None and "checked" in chosen.group(0)
    assert "zw_kept_form=" in back.headers["set-cookie"] and "Max-Age=0" in back.headers["set-cookie"]
    client.cookies.delete("zw_kept_form", path=url)
    assert "刚才填写的内容" not in client.get(url).text

    # A browser without a real session keeps nothing (an anonymous post is not stored anywhere).
    login(client, None)
    anonymous = client.post(url, data=typed, follow_redirects=False)
    assert anonymous.status_code == 303 and "zw_kept_form" not in anonymous.headers.get("set-cookie", "")
