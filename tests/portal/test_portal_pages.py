"""The portal's pages through the app: home, grouped search, guides, 适老化, verification, 我的证照."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.orm import Session

from catalog_kit import PASSPORT, make_basic, make_department, published_task
from licenses_kit import BUSINESS_FACE, COMPANY, INSURANCE_FACE, PERSON, Issuing
from zhengwu.identity import service as identity
from zhengwu.licenses import service as licenses
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

COUNTIES = (
    ("130102", "石家庄市长安区公安局"),
    ("130104", "石家庄市桥西区公安局"),
    ("130602", "保定市竞秀区公安局"),
)


def _csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return match.group(1)


def _passport_everywhere(session: Session) -> list[str]:
    make_basic(session)
    codes = []
    for serial, (division, name) in enumerate(COUNTIES, start=1):
        dept = make_department(session, division, name, serial)
        codes.append(published_task(session, dept, PASSPORT).task_code)
    session.flush()
    return codes


def _groups(text: str) -> list[str]:
    return re.findall(r'<h3><a href="/items/\w+">([^<]+)</a></h3>', text)


def test_stylesheet_and_care_switch(client: Any) -> None:
    css = client.get("/portal/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "html.care-3" in css.text and "line-height: 1.8" in css.text and "http" not in css.text
    on = client.get("/care?mode=on&next=/search", follow_redirects=False)
    assert on.status_code == 303 and on.headers["location"] == "/search"
    assert "zw_care=1" in on.headers["set-cookie"]
    client.cookies.set("zw_care", "1")
    larger = client.get("/care?mode=larger&next=/", follow_redirects=False)
    assert "zw_care=2" in larger.headers["set-cookie"]
    client.cookies.set("zw_care", "3")
    assert "zw_care=3" in client.get("/care?mode=larger", follow_redirects=False).headers["set-cookie"]
    off = client.get("/care?mode=off&next=//evil.example/", follow_redirects=False)
    assert off.headers["location"] == "/", "an open redirect is refused"
    assert 'zw_care=""' in off.headers["set-cookie"] or "Max-Age=0" in off.headers["set-cookie"]
    assert client.get("/care?mode=loud").status_code == 422


@pytest.mark.db
def test_home_is_search_first_with_themes_and_events(client: Any, session: Session) -> None:
    _passport_everywhere(session)
    page = client.get("/")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    assert page.text.index('role="search"') < page.text.index("按人生事件办事")
    assert 'href="#main"' in page.text and "/portal/static/portal.css" in page.text
    assert "出入境" in page.text and "普通护照签发" in page.text and "3个地方可办" in page.text
    assert "生孩子" in page.text and "开饭店" in page.text  # life events of the vocabulary
    assert "/identity/login?next=%2F" in page.text
    client.cookies.set("zw_care", "2")
    assert '<html lang="zh-CN" class="care care-2">' in client.get("/").text
    assert "退出适老化模式" in client.get("/").text


@pytest.mark.db
def test_search_groups_one_item_across_counties_and_filters(client: Any, session: Session) -> None:
    codes = _passport_everywhere(session)
    page = client.get("/search", params={"q": "护照"})
    assert page.status_code == 200
    assert _groups(page.text) == ["普通护照签发"], "three counties, one entry"
    assert "3 个地方可办" in page.text and all(code in page.text for code in codes)
    narrowed = client.get("/search", params={"q": "护照", "division": "130100"})
    assert _groups(narrowed.text) == ["普通护照签发"] and "2 个地方可办" in narrowed.text
    assert codes[2] not in narrowed.text
    legal = client.get("/search", params={"q": "护照", "who": "legal"})
    assert _groups(legal.text) == [] and "没有找到" in legal.text
    # colloquial words through the vocabulary
    for words in ("办护照", "出国旅游", "护照丢了怎么办"):
        assert _groups(client.get("/search", params={"q": words}).text) == ["普通护照签发"], words
    # a place word narrows
    place = client.get("/search", params={"q": "保定 护照"})
    assert "1 个地方可办" in place.text and "已按地区“保定市”查找" in place.text
    # markup and odd bytes are shown as text, never a 500
    odd = client.get("/search", params={"q": "<script>alert(1)</script>\x00护"})
    assert odd.status_code == 200 and "<script>alert" not in odd.text
    empty = client.get("/search", params={"q": "护造"})
    assert "您是不是要找" in empty.text and "护照" in empty.text
    assert client.get("/search", params={"division": "999999"}).status_code == 200
    assert client.get("/search", params={"q": "护照", "page": "abc"}).status_code == 200
    assert client.get("/search", params={"q": "护" * 500}).status_code == 200


@pytest.mark.db
def test_guide_page_is_plain_chinese(client: Any, session: Session) -> None:
    codes = _passport_everywhere(session)
    page = client.get(f"/items/{codes[0]}")
    assert page.status_code == 200
    text = re.sub(r"<[^>]+>", " ", page.text)
    for shown in ("普通护照签发", "15个工作日", "7个工作日", "护照费", "每本120元", "居民身份证", "政务服务中心出入境窗口",
                  "《中华人民共和国护照法》第五条", "需要本人到场吗？", "首次申请", "自然人", "出入境窗口"):  # fmt: skip
        assert shown in text, shown
    for code_word in ("server_type", "anticipate_type", "None", "^"):
        assert code_word not in text, code_word
    assert client.get("/items/000000000000000000000000000000X").status_code == 404
    assert client.get("/items/nonsense").status_code == 404


def _person(session: Session, number: str) -> Any:
    account = identity.register_natural_person(
        session, name="演示用户", id_number=number, phone=nth_phone(int(number[-5:-1])), password=None,
        limit_rate=False,
    )  # fmt: skip
    session.flush()
    return account


@pytest.mark.db
def test_verification_page_answers_and_keeps_input(client: Any, issuing: Issuing) -> None:
    lic = licenses.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("社会保险参保证明"),
        department_id=issuing.department.id, holder_name="演示用户", holder_code=PERSON, face=INSURANCE_FACE, actor="t",
    )  # fmt: skip
    issuing.session.flush()
    token = _csrf(client, "/licenses/verify")
    refused = client.post("/licenses/verify", data={"identifier": lic.identifier, "holder_code": PERSON})
    assert refused.status_code == 403 and lic.identifier in refused.text, "CSRF refused, input kept"
    both = client.post("/licenses/verify", data={"identifier": "", "holder_code": "", "csrf_token": token})
    assert both.status_code == 422
    assert "请填写电子证照标识" in both.text and "请填写持证主体代码" in both.text, "every error at once"
    kept = client.post(
        "/licenses/verify", data={"identifier": "ABC-1", "holder_code": "??", "csrf_token": token}
    )
    assert kept.status_code == 422 and 'value="ABC-1"' in kept.text and "格式不对" in kept.text
    ok = client.post(
        "/licenses/verify", data={"identifier": lic.identifier, "holder_code": PERSON, "csrf_token": token}
    )
    assert (
        ok.status_code == 200
        and "核验通过" in ok.text
        and "社会保险参保证明" in ok.text
        and "有效" in ok.text
    )
    assert "演示用户" not in ok.text.split("核验通过")[1].split("</section>")[0], "never the holder"
    other = client.post(
        "/licenses/verify",
        data={"identifier": lic.identifier, "holder_code": nth_citizen_id(9), "csrf_token": token},
    )
    assert "核验未通过" in other.text and "没有与标识和持证主体相符的电子证照" in other.text
    ofd = licenses.license_file(issuing.settings, lic)
    files = {"file": ("license.ofd", ofd, "application/ofd")}
    no_token = client.post("/licenses/verify/file", files=files)
    assert no_token.status_code == 403
    uploaded = client.post("/licenses/verify/file", files=files, data={"csrf_token": token})
    assert uploaded.status_code == 200 and "核验通过" in uploaded.text and "签章有效" in uploaded.text
    tampered = client.post(
        "/licenses/verify/file", files={"file": ("x.ofd", ofd[:-10] + b"0" * 10, "application/ofd")},
        data={"csrf_token": token},
    )  # fmt: skip
    assert tampered.status_code in (200, 422) and "核验通过" not in tampered.text
    nothing = client.post("/licenses/verify/file", files={"file": ("x.ofd", b"", "application/ofd")},
                          data={"csrf_token": token})  # fmt: skip
    assert nothing.status_code == 422 and "请选择要核验的 OFD 文件" in nothing.text


@pytest.mark.db
def test_my_licenses_for_the_holder_only(client: Any, issuing: Issuing) -> None:
    person = _person(issuing.session, PERSON)
    stranger = _person(issuing.session, nth_citizen_id(77))
    identity.register_legal_person(
        issuing.session, credit_code=COMPANY, name="石家庄演示科技有限公司", legal_rep_name="演示用户", password=None,
        agent=person,
    )  # fmt: skip
    lic = licenses.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("社会保险参保证明"),
        department_id=issuing.department.id, holder_name="演示用户", holder_code=PERSON, face=INSURANCE_FACE, actor="t",
    )  # fmt: skip
    company = licenses.issue_license(
        issuing.session, issuing.settings, type_code=issuing.type_code("营业执照"),
        department_id=issuing.department.id, holder_name="石家庄演示科技有限公司", holder_code=COMPANY,
        face=BUSINESS_FACE, actor="t",
    )  # fmt: skip
    issuing.session.flush()
    anonymous = client.get("/me/licenses", follow_redirects=False)
    assert (
        anonymous.status_code == 303
        and anonymous.headers["location"] == "/identity/login?next=%2Fme%2Flicenses"
    )
    assert client.get(f"/me/licenses/{lic.id}/file", follow_redirects=False).status_code == 303
    client.cookies.set("zw_session", str(identity.start_session(issuing.session, person, amr=["pwd"]).token))
    issuing.session.flush()
    mine = client.get("/me/licenses")
    assert (
        mine.status_code == 200 and "社会保险参保证明" in mine.text and f"/me/licenses/{lic.id}" in mine.text
    )
    assert "退出" in mine.text and "我的证照" in mine.text
    assert "营业执照" in mine.text and "持证单位：石家庄演示科技有限公司" in mine.text, (
        "the agent's enterprise"
    )
    assert client.get(f"/me/licenses/{company.id}").status_code == 200
    detail = client.get(f"/me/licenses/{lic.id}")
    assert detail.status_code == 200 and lic.identifier in detail.text and "年" in detail.text
    assert "照面信息" in detail.text and "企业职工基本养老保险" in detail.text
    assert "valid" not in re.sub(r"<[^>]+>", " ", detail.text), "no raw status code"
    download = client.get(f"/me/licenses/{lic.id}/file")
    assert download.status_code == 200 and download.content == licenses.license_file(issuing.settings, lic)
    usage, _ = licenses.holder_usage(issuing.session, person)
    assert {u.operation for u, _ in usage} >= {"holder_view", "holder_download"}
    client.cookies.set(
        "zw_session", str(identity.start_session(issuing.session, stranger, amr=["pwd"]).token)
    )
    issuing.session.flush()
    assert client.get(f"/me/licenses/{lic.id}").status_code == 404
    assert client.get(f"/me/licenses/{lic.id}/file").status_code == 404
    assert client.get(f"/me/licenses/{company.id}").status_code == 404
    assert "您还没有电子证照" in client.get("/me/licenses").text


@pytest.mark.db
def test_a_logged_in_persons_place_narrows_later_searches(client: Any, session: Session) -> None:
    codes = _passport_everywhere(session)
    person = _person(session, nth_citizen_id(31))
    client.cookies.set("zw_session", str(identity.start_session(session, person, amr=["pwd"]).token))
    session.flush()
    assert "演示用户" in client.get("/").text, "the header names the person"
    chosen = client.get("/search", params={"q": "护照", "division": "130600"})
    assert "1 个地方可办" in chosen.text and "zw_place=130600" in chosen.headers["set-cookie"]
    assert "竞秀区" in chosen.text, "a chosen city lists its counties"
    client.cookies.set("zw_place", "130600")
    later = client.get("/search", params={"q": "护照"})
    assert "已按您选择的地区“保定市”查找" in later.text and codes[0] not in later.text
    everywhere = client.get("/search", params={"q": "护照", "division": "all"})
    assert "3 个地方可办" in everywhere.text and "zw_place" in everywhere.headers["set-cookie"]
    client.cookies.delete("zw_session")
    client.cookies.set("zw_place", "130600")
    assert "3 个地方可办" in client.get("/search", params={"q": "护照"}).text, "only for a logged-in person"
