"""我的数据使用记录: identity's read records and the usage log of the person's licenses, merged newest
first, in plain Chinese (names, words, 北京时间), paged; the person's own uses stay on the license page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_portal_consents import consent_to_app

from clockkit import FakeClock
from license_shares_kit import insurance, login, other_person, person
from licenses_kit import Issuing
from zhengwu.audit.reads import record_read
from zhengwu.licenses import service as licenses

pytestmark = pytest.mark.db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_reads_and_license_uses_in_plain_chinese(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    consent, _ = consent_to_app(client, issuing.session, holder, issuing.department.id)
    record_read(issuing.session, holder.id, f"client:{consent.client_id}", "userinfo for 社保查询应用",
                "userinfo:name,phone_number,phone_number_verified,real_name_level")  # fmt: skip
    clock.advance(minutes=1)
    record_read(issuing.session, holder.id, "account:0123456789abcdef", "窗口核验", "account.real_name")
    clock.advance(minutes=1)
    # A department's query of the license is in both logs: listed once, from the usage log.
    record_read(issuing.session, holder.id, "client:x", "核对参保", f"license:{lic.type_code}")
    licenses.record_usage(
        issuing.session,
        licenses.Caller("client:x", "核对参保", None, display="石家庄市人社局·社保业务系统", item_code="1"),
        "service_query",
        "ok",
        lic,
    )
    clock.advance(minutes=1)
    licenses.record_usage(
        issuing.session, licenses.Caller("public", "门户公开核验", None), "verify_id", "valid", lic
    )
    licenses.record_usage(
        issuing.session, licenses.Caller(f"holder:{holder.id}", "持证人查看", None), "holder_view", "ok", lic
    )
    issuing.session.commit()  # read records are linked into their chain at commit
    login(client, issuing.session, holder)
    page = client.get("/me/data-use")
    assert page.status_code == 200
    text = _text(page.text).split("我的数据使用记录", 2)[-1]
    assert f"{issuing.department.name}·社保查询应用：读取了您的姓名、手机号码、实名等级" in text
    assert "您登录该应用时，按您的授权提供" in text
    assert "政务服务工作人员：读取了您的姓名和身份证号码（实名核验）" in text and "事由：窗口核验" in text
    assert (
        "石家庄市人社局·社保业务系统：查询（标识）您的社会保险参保证明" in text and "事由：核对参保" in text
    )
    assert "公众核验：核验（标识+持证主体）您的社会保险参保证明" in text and "结果：证照有效" in text
    assert text.count("核对参保") == 1, "a license read is listed once"
    assert "持证人查看" not in text, "the person's own views stay on the license page"
    order = [text.index(w) for w in ("公众核验：", "石家庄市人社局", "政务服务工作人员", "社保查询应用：")]
    assert order == sorted(order), "newest first"
    for code in ("client:", "userinfo", "account.", "verify_id", "service_query", "valid", consent.client_id):
        assert code not in text, code
    assert "年" in text and "月" in text, "times in 北京时间 words"
    login(client, issuing.session, other_person(issuing.session))
    assert "还没有人读取或使用过您的信息" in client.get("/me/data-use").text


def test_the_merged_log_pages(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    for n in range(13):
        record_read(
            issuing.session, holder.id, "account:0123456789abcdef", f"窗口核验{n}", "account.real_name"
        )
        licenses.record_usage(
            issuing.session, licenses.Caller("public", f"核验{n}", None), "verify_id", "valid", lic
        )
        clock.advance(minutes=1)
    issuing.session.commit()  # read records are linked into their chain at commit
    login(client, issuing.session, holder)
    first = _text(client.get("/me/data-use").text)
    second = _text(client.get("/me/data-use?page=2").text)
    assert "第 1 页，共 2 页" in first and "第 2 页，共 2 页" in second
    assert "窗口核验12" in first and "核验12；" in first and "窗口核验0" not in first
    assert "窗口核验0" in second and "核验0；" in second and "窗口核验12" not in second
    seen = re.findall(r"事由：(\S+?)[；\s]", first + second)
    assert len(seen) == 26 and len(set(seen)) == 26, "every record once across the pages"
    assert client.get("/me/data-use?page=999").status_code == 200


def test_data_use_needs_a_login(client: Any) -> None:
    page = client.get("/me/data-use", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/identity/login?next=%2Fme%2Fdata-use"
