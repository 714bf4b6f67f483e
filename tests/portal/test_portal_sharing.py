"""我的证照, one license: share by link and QR code (shown once), revoke after an on-page confirmation,
annotated copies made and downloaded, and the license's usage log in plain Chinese."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

import pytest

from license_shares_kit import API, insurance, login, machine, other_person, person
from licenses_kit import Issuing
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.licenses import service as licenses
from zhengwu.licenses import shares
from zhengwu.licenses.sharing_repository import SharingRepository

pytestmark = pytest.mark.db


def _csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return match.group(1)


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_share_by_link_shown_once_then_revoked_on_the_page(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    page_url = f"/me/licenses/{lic.id}"
    token = _csrf(client, page_url)
    page = client.get(page_url)
    assert "亮证和共享" in page.text and "加注件" in page.text and "用证记录" in page.text
    refused = client.post(
        f"{page_url}/shares", data={"purpose": "租房", "audience_kind": "anyone", "days": "7"}
    )
    assert refused.status_code == 403 and 'value="租房"' in refused.text, "CSRF refused, typed value kept"
    assert 'href="#share"' in refused.text and 'id="share"' in refused.text, "the summary links to the form"
    wrong = client.post(
        f"{page_url}/shares",
        data={"csrf_token": token, "audience_kind": "department", "purpose": "", "days": "999"},
    )
    assert wrong.status_code == 422
    for problem in ("请选择要给哪个部门看", "请填写共享事由", "请选择共享多长时间"):
        assert problem in wrong.text, problem
    assert 'value="department" checked' in wrong.text, "the choice is kept"
    made = client.post(
        f"{page_url}/shares",
        data={
            "csrf_token": token,
            "audience_kind": "anyone",
            "purpose": "租房",
            "grants": "face",
            "days": "7",
        },
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    url = re.search(r'id="share_url" value="([^"]+)"', made.text)
    assert url is not None and "/licenses/share#zls_" in url.group(1)
    secret = url.group(1).split("#", 1)[1]
    assert 'src="data:image/png;base64,' in made.text and "只显示这一次" in made.text
    assert "核验结果和照面信息" in made.text and "年" in made.text, "the end in 北京时间 words"
    row = shares.holder_shares(issuing.session, holder, lic.id)[0]
    assert row.grants == ["face"] and row.purpose == "租房"
    again = client.get(page_url)
    assert secret not in again.text, "the token is never shown again"
    assert "任何持有共享链接的人" in again.text and "✔ 有效" in again.text
    assert "granted" not in _text(again.text) and "anyone" not in _text(again.text)
    # Revoking asks first, on a page (no pop-up), then takes effect at once.
    ask = client.post(f"{page_url}/shares/{row.id}/revoke", data={"csrf_token": token})
    assert (
        ask.status_code == 200
        and "确定撤销这项共享吗" in ask.text
        and 'name="confirmed" value="yes"' in ask.text
    )
    assert shares.status_of(row) == shares.GRANTED
    done = client.post(
        f"{page_url}/shares/{row.id}/revoke", data={"csrf_token": token, "confirmed": "yes"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith("?done=revoked#shares")
    issuing.session.refresh(row)
    assert row.status == shares.REVOKED
    twice = client.post(
        f"{page_url}/shares/{row.id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert twice.status_code == 303, "nothing left to revoke: no second confirmation"
    after = client.get(done.headers["location"])
    assert "共享已撤销" in after.text and "✘ 已撤销" in after.text
    # Somebody else can neither see nor revoke it.
    login(client, issuing.session, other_person(issuing.session))
    other_token = _csrf(client, "/me/licenses")
    assert client.get(page_url).status_code == 404
    assert client.post(f"{page_url}/shares/{row.id}/revoke",
                       data={"csrf_token": other_token, "confirmed": "yes"}).status_code == 404  # fmt: skip
    login(client, issuing.session, None)
    anonymous = client.post(f"{page_url}/shares", data={}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].endswith(
        "next=%2Fme%2Flicenses%2F" + lic.id
    ), "back to the license page after login, not to the form's address"


def test_a_share_with_a_department(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    page_url = f"/me/licenses/{lic.id}"
    token = _csrf(client, page_url)
    assert issuing.department.name in client.get(page_url).text, "the departments to choose from"
    made = client.post(f"{page_url}/shares", data={
        "csrf_token": token, "audience_kind": "department", "department": issuing.department.credit_code,
        "purpose": "核对参保", "days": "1"})  # fmt: skip
    assert made.status_code == 201 and issuing.department.name in made.text
    assert "只有核验结果" in made.text


def test_annotated_copy_made_downloaded_and_logged(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    page_url = f"/me/licenses/{lic.id}"
    token = _csrf(client, page_url)
    missing = client.post(
        f"{page_url}/copies", data={"csrf_token": token, "copy_purpose": " ", "copy_days": "5"}
    )
    assert missing.status_code == 422
    assert "请填写加注件的用途" in missing.text and "请选择加注件的有效期" in missing.text
    made = client.post(
        f"{page_url}/copies", data={"csrf_token": token, "copy_purpose": "入学报名", "copy_days": "30"},
        follow_redirects=False,
    )  # fmt: skip
    assert made.status_code == 303 and "done=copied" in made.headers["location"]
    page = client.get(made.headers["location"])
    assert "加注件已制作" in page.text and "入学报名" in page.text
    link = re.search(rf'href="({page_url}/copies/\w+/file)"', page.text)
    assert link is not None
    got = client.get(link.group(1))
    assert got.status_code == 200 and got.content[:2] == b"PK"
    assert got.headers["content-type"].startswith("application/ofd")
    log = _text(client.get(page_url).text).split("用证记录")[-1]
    for words in ("制作加注件", "下载加注件", "您本人", "查看"):
        assert words in log, words
    assert "holder_" not in log and "made" not in log
    usage, _ = licenses.holder_license_usage(issuing.session, holder, lic.id)
    assert {"holder_copy", "download_copy"} <= {u.operation for u in usage}
    login(client, issuing.session, other_person(issuing.session))
    assert client.get(link.group(1)).status_code == 404


def test_the_usage_log_names_verifiers_and_pages(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    for _ in range(12):
        licenses.record_usage(
            issuing.session, licenses.Caller("public", "门户公开核验", None), "verify_id", "valid", lic
        )
    login(client, issuing.session, holder)
    first = client.get(f"/me/licenses/{lic.id}")
    text = _text(first.text).split("用证记录")[-1]
    assert "公众核验" in text and "核验（标识+持证主体）" in text and "门户公开核验" in text
    assert "证照有效" in text and "verify_id" not in text
    assert "第 1 页，共 2 页" in text and f"/me/licenses/{lic.id}?uses=2#uses" in first.text
    second = client.get(f"/me/licenses/{lic.id}?uses=2")
    assert "第 2 页，共 2 页" in _text(second.text)


def test_a_share_with_a_named_verifier_until_an_exact_time(client: Any, issuing: Issuing) -> None:
    """The holder names one registered department system (listed by its Chinese name, never its id) and
    an exact end (date and time, 北京时间); bad input — an end past or beyond the service's limit, a
    malformed one, a system not (or no longer) registered — is refused in Chinese with what was typed kept.
    The share is the licenses service's own: only that system redeems it, until that minute."""
    holder = person(issuing.session)
    lic = insurance(issuing)
    bank, bank_token = machine(client, issuing.session, department_id=None, scope="licenses.use",
                               name="某银行开户核验系统")  # fmt: skip
    gone, _ = machine(
        client, issuing.session, department_id=None, scope="licenses.use", name="已停用核验系统"
    )
    _, other_token = machine(client, issuing.session, department_id=None, scope="licenses.use")
    stopped = SharingRepository(issuing.session).client(gone)
    assert stopped is not None
    stopped.status = "suspended"
    issuing.session.flush()
    login(client, issuing.session, holder)
    page_url = f"/me/licenses/{lic.id}"
    token = _csrf(client, page_url)
    page = client.get(page_url)
    assert "某银行开户核验系统" in page.text and "已停用核验系统" not in page.text
    assert bank not in _text(page.text), "the system is chosen by its name; its id is on no screen"
    assert 'type="date" id="share_until"' in page.text and 'type="time" id="share_until_time"' in page.text

    now = utcnow().astimezone(BEIJING)
    end = (now + timedelta(days=10)).replace(hour=18, minute=30, second=0, microsecond=0)
    form = {"csrf_token": token, "audience_kind": "client", "client": bank, "purpose": "开户",
            "days": "until", "until_date": f"{end:%Y-%m-%d}", "until_time": "18:30"}  # fmt: skip
    past = now - timedelta(days=1)
    far = now + timedelta(days=shares.MAX_DAYS + 2)
    for changed, problem in (
        ({"until_date": f"{past:%Y-%m-%d}"}, "已经过去，请选一个以后的时间"),
        ({"until_date": f"{far:%Y-%m-%d}"}, f"共享最长{shares.MAX_DAYS}天：截止时间不能晚于"),
        ({"until_date": "2027/1/5", "until_time": "下午六点"}, "截止时间的写法不对"),
        ({"until_date": f"{end:%Y-%m-%d}", "until_time": "25:00"}, "截止时间的写法不对"),
        ({"until_time": ""}, "请填写共享截止的日期和时间（北京时间）"),
        ({"client": gone}, "没有找到这个核验方系统"),
        ({"client": "zwnobody"}, "没有找到这个核验方系统"),
        ({"client": ""}, "请选择要给哪个核验方系统看"),
    ):
        refused = client.post(f"{page_url}/shares", data={**form, **changed})
        assert refused.status_code == 422, (changed, refused.text[:300])
        assert problem in refused.text, changed
        assert 'value="开户"' in refused.text and 'value="until" checked' in refused.text, "typed values kept"
        assert 'value="client" checked' in refused.text
        typed_date = changed.get("until_date", form["until_date"])
        assert f'name="until_date" value="{typed_date}"' in refused.text, changed
        if changed.get("client", bank) == bank:
            assert f'value="{bank}" selected' in refused.text
        assert "Traceback" not in refused.text and "client_id" not in refused.text
    assert shares.holder_shares(issuing.session, holder, lic.id) == []

    made = client.post(f"{page_url}/shares", data=form)
    assert made.status_code == 201, made.text
    assert f"{end.year}年{end.month}月{end.day}日 18:30" in _text(made.text), "the exact end, 北京时间"
    assert "某银行开户核验系统" in _text(made.text)
    row = shares.holder_shares(issuing.session, holder, lic.id)[0]
    assert (row.audience_kind, row.audience, row.audience_name) == ("client", bank, "某银行开户核验系统")
    assert row.expires_at == end.astimezone(UTC)
    secret = re.search(r'id="share_url" value="[^"#]+#([^"]+)"', made.text)
    assert secret is not None
    login(client, issuing.session, None)
    redeem = f"{API}/shares/redeem"
    assert client.post(redeem, json={"token": secret.group(1)}).status_code in (401, 403)
    assert client.post(redeem, json={"token": secret.group(1)},
                       headers={"Authorization": f"Bearer {other_token}"}).status_code == 403  # fmt: skip
    seen = client.post(
        redeem, json={"token": secret.group(1)}, headers={"Authorization": f"Bearer {bank_token}"}
    )
    assert seen.status_code == 200, seen.text
