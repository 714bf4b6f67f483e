"""The supplement, share and evaluation forms after an expired session: what was typed goes along to the
login page (encrypted, the page's path only) and comes back once on the page after the same person logs
in; another account and a forged form get nothing. And every mistake of the evaluation form at once."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from test_portal_mycases import WORKER_FACE, WORKER_TYPE, _staff, _submitted, _token

from cases_kit import Casework, login
from zhengwu.identity import service as identity

pytestmark = pytest.mark.db


def _expire(work: Casework) -> None:
    """The person's session ends (as the idle timeout ends it); the browser keeps its cookie."""
    ended = identity.session_by_token(work.session, work.citizen_token)
    assert ended is not None
    identity.end_session(work.session, ended.id, "idle_timeout")
    work.session.flush()


def _log_in_again(client: Any, work: Casework) -> None:
    again = str(identity.start_session(work.session, work.citizen, amr=["pwd"]).token)
    work.session.flush()
    client.cookies.set("zw_session", again)


def _kept_after_login(client: Any, work: Casework, posted: Any, page: str, secret_words: list[str]) -> Any:
    """The POST went to the login page with ``next`` = ``page`` and the encrypted cookie on ``page``'s path;
    another account sees nothing; the person, logged in again, gets the page with the values (once)."""
    assert posted.status_code == 303, posted.text[:300]
    assert posted.headers["location"] == "/identity/login?next=" + quote(page, safe="")
    kept = client.cookies.get("zw_kept_form")
    assert kept and not any(w in kept for w in secret_words), "kept encrypted, never in the clear"
    assert f"Path={page}" in posted.headers["set-cookie"] and "HttpOnly" in posted.headers["set-cookie"]
    _, other = work.person("130102199001011237", "另一位")
    client.cookies.set("zw_session", other)
    stranger = client.get(page)
    assert not any(w in stranger.text for w in secret_words)
    client.cookies.set("zw_kept_form", kept, path=page)
    _log_in_again(client, work)
    back = client.get(page)
    assert back.status_code == 200 and "刚才填写的" in back.text
    assert "zw_kept_form=" in back.headers["set-cookie"] and "Max-Age=0" in back.headers["set-cookie"]
    client.cookies.delete("zw_kept_form", path=page)
    assert "刚才填写的" not in client.get(page).text, "put back once"
    return back


def test_supplement_answer_kept_across_an_expired_session(client: Any, casework: Casework) -> None:
    work = casework
    case_no, _ = _submitted(client, work)
    _staff(client, work, case_no, {"action": "accept", "opinion": "材料齐全"})
    _staff(client, work, case_no, {"action": "request_supplement", "opinion": "请补充联系电话",
                                   "materials": [work.upload_material], "fields": ["phone"]})  # fmt: skip
    page = f"/me/cases/{case_no}"
    token = _token(client.get(page))
    _expire(work)
    posted = client.post(
        f"{page}/supplement",
        data={"csrf_token": token, "field_phone": "0311-66668888"},
        files={f"file_{work.upload_material}": ("表.pdf", b"%PDF-1.7 x", "application/pdf")},
        follow_redirects=False,
    )
    back = _kept_after_login(client, work, posted, page, ["0311-66668888"])
    assert 'value="0311-66668888"' in back.text and "上传的文件需要重新选择" in back.text


def test_evaluation_kept_and_every_mistake_at_once(client: Any, casework: Casework) -> None:
    work = casework
    case_no, _ = _submitted(client, work)
    _staff(client, work, case_no, {"action": "accept", "opinion": "材料齐全"})
    _staff(client, work, case_no, {"action": "conclude", "outcome": "approved", "result_kind": "license",
                                   "opinion": "准予许可", "license_type_code": work.env.type_code(WORKER_TYPE),
                                   "license_face": WORKER_FACE})  # fmt: skip
    page = f"/me/cases/{case_no}"
    done = client.get(page)
    both = client.post(f"{page}/evaluation", data={"csrf_token": _token(done), "text": "慢" * 1001})
    assert both.status_code == 422
    assert "请选择满意程度" in both.text and "评价内容不能超过1000个字" in both.text, "both mistakes at once"
    assert "慢" * 1001 in both.text, "what was typed stays"
    _expire(work)
    posted = client.post(f"{page}/evaluation", data={"csrf_token": _token(done), "satisfaction": "4",
                                                     "text": "窗口指引清楚"}, follow_redirects=False)  # fmt: skip
    back = _kept_after_login(client, work, posted, page, ["窗口指引清楚"])
    assert "窗口指引清楚</textarea>" in back.text
    chosen = re.search(r'id="score_4"[^>]*>', back.text)
    assert chosen is not None and "checked" in chosen.group(0)


def test_share_form_kept_and_a_forged_one_not(client: Any, casework: Casework) -> None:
    work = casework
    page = f"/me/licenses/{work.held_license_id}"
    login(client, work.citizen_token)
    token = _token(client.get(page))
    _expire(work)
    typed = {
        "csrf_token": token,
        "audience_kind": "anyone",
        "purpose": "租房合同备案",
        "grants": "face",
        "days": "30",
    }
    forged = client.post(f"{page}/shares", data={**typed, "csrf_token": "0" * 32}, follow_redirects=False)
    assert forged.status_code == 303 and "zw_kept_form" not in forged.headers.get("set-cookie", "")
    posted = client.post(f"{page}/shares", data=typed, follow_redirects=False)
    back = _kept_after_login(client, work, posted, page, ["租房合同备案"])
    assert 'value="租房合同备案"' in back.text
    thirty = re.search(r'name="days" value="30"[^>]*>', back.text)
    assert thirty is not None and "checked" in thirty.group(0)
