"""Server-rendered pages: CSRF, Chinese messages, accessible forms, login → account → logout."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity.models import Account, AuthEvent
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"


def _csrf(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert match is not None
    return match.group(1)


def _register_form(n: int, token: str, **overrides: str) -> dict[str, str]:
    form = {
        "name": "演示用户一",
        "id_number": nth_citizen_id(n),
        "phone": nth_phone(n),
        "email": "",
        "password": PASSWORD,
        "password2": PASSWORD,
        "csrf_token": token,
    }
    form.update(overrides)
    return form


def _register_and_login(client: Any, n: int, token: str) -> None:
    """Register on the page (which starts no session: ADR 0014), then log in on the login page."""
    accepted = client.post("/identity/register", data=_register_form(n, token), follow_redirects=False)
    assert accepted.status_code == 202 and "注册申请已受理" in accepted.text
    login = client.post(
        "/identity/login",
        data={"identifier": nth_phone(n), "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text


def test_pages_are_chinese_and_accessible(client: Any) -> None:
    page = client.get("/identity/login")
    assert page.status_code == 200 and '<html lang="zh-CN">' in page.text
    assert 'for="identifier"' in page.text and 'id="identifier"' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "zw_csrf" in page.headers["set-cookie"]


def test_register_then_logout_then_login(client: Any, session: Session) -> None:
    token = _csrf(client, "/identity/register")
    done = client.post("/identity/register", data=_register_form(1, token), follow_redirects=False)
    assert done.status_code == 202 and "注册申请已受理" in done.text and "set-cookie" not in done.headers
    assert client.get("/identity/account", follow_redirects=False).status_code == 303  # not logged in
    again = client.post("/identity/register", data=_register_form(1, token), follow_redirects=False)
    assert again.status_code == 202 and again.text == done.text, "a known ID number reads the same"
    _register_and_login(client, 1, token)
    account_page = client.get("/identity/account")
    assert (
        account_page.status_code == 200 and "演示用户一" in account_page.text and "二级" in account_page.text
    )
    # The page shows identifiers masked only.
    assert nth_citizen_id(1) not in account_page.text and nth_phone(1) not in account_page.text
    logout = client.post("/identity/logout", data={"csrf_token": token}, follow_redirects=False)
    assert logout.status_code == 303
    assert client.get("/identity/account", follow_redirects=False).status_code == 303
    login = client.post(
        "/identity/login",
        data={
            "identifier": nth_citizen_id(1),
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/identity/account",
        },
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"] == "/identity/account"


def test_bad_registration_shows_field_errors_in_chinese(client: Any, session: Session) -> None:
    token = _csrf(client, "/identity/register")
    bad_id = nth_citizen_id(2)[:6] + "20991301" + nth_citizen_id(2)[14:]
    page = client.post("/identity/register", data=_register_form(2, token, id_number=bad_id, phone="12"))
    assert page.status_code == 422
    assert "身份证号码有误" in page.text and "手机号码应为11位" in page.text
    assert 'aria-invalid="true"' in page.text and 'role="alert"' in page.text
    # Never echoed back into the page.
    assert bad_id not in page.text
    assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_mismatched_passwords(client: Any) -> None:
    token = _csrf(client, "/identity/register")
    page = client.post("/identity/register", data=_register_form(3, token, password2="Other-Passw0rd"))
    assert page.status_code == 422 and "两次输入的密码不一致" in page.text


def test_csrf_failures_are_refused_and_audited(client: Any, session: Session) -> None:
    _csrf(client, "/identity/login")
    page = client.post(
        "/identity/login", data={"identifier": nth_phone(1), "password": PASSWORD, "csrf_token": "0" * 64}
    )
    assert page.status_code == 403 and "页面已过期" in page.text
    client.cookies.clear()
    no_cookie = client.post("/identity/register", data=_register_form(4, "abc"))
    assert no_cookie.status_code == 403
    assert session.scalar(select(func.count()).select_from(Account)) == 0
    assert (
        session.scalar(select(func.count()).select_from(AuthEvent).where(AuthEvent.event_type == "csrf")) == 2
    )


def test_wrong_password_message_and_open_redirects_refused(client: Any) -> None:
    token = _csrf(client, "/identity/register")
    _register_and_login(client, 5, token)
    client.post("/identity/logout", data={"csrf_token": token})
    wrong = client.post(
        "/identity/login",
        data={"identifier": nth_phone(5), "password": "Wrong-Passw0rd", "csrf_token": token},
    )
    assert wrong.status_code == 401 and "账号或密码错误" in wrong.text
    evil = client.post(
        "/identity/login",
        data={
            "identifier": nth_phone(5),
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/x",
        },
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/identity/account"
    proto = client.post(
        "/identity/login",
        data={
            "identifier": nth_phone(5),
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example",
        },
        follow_redirects=False,
    )
    assert proto.headers["location"] == "/identity/account"


def test_legal_registration_by_a_logged_in_agent(client: Any, session: Session) -> None:
    token = _csrf(client, "/identity/register")
    _register_and_login(client, 6, token)
    code = enterprise_credit_code("130100", 42)
    bad = client.post(
        "/identity/register/legal",
        data={
            "credit_code": code[:-1] + ("0" if code[-1] != "0" else "1"),
            "name": "演示商贸有限公司",
            "legal_rep_name": "演示法人",
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422 and "统一社会信用代码有误" in bad.text
    ok = client.post(
        "/identity/register/legal",
        data={
            "credit_code": code,
            "name": "演示商贸有限公司",
            "legal_rep_name": "演示法人",
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf_token": token,
        },
    )
    assert ok.status_code == 202 and "注册申请已受理" in ok.text
    account = client.get("/identity/account")
    assert "演示商贸有限公司" in account.text


def test_second_factor_and_step_up_on_pages(client: Any, session: Session) -> None:
    from datetime import timedelta

    import pyotp

    from zhengwu.kernel import clock

    token = _csrf(client, "/identity/register")
    _register_and_login(client, 7, token)
    setup = client.get("/identity/mfa/setup")
    assert setup.status_code == 200
    match = re.search(r'<code aria-label="密钥">([A-Z2-7]+)</code>', setup.text)
    assert match is not None
    secret = match.group(1)
    done = client.post("/identity/mfa/setup", data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert done.status_code == 200 and "恢复码" in done.text
    codes = re.findall(r"<li><code>([A-Z2-9]{10})</code></li>", done.text)
    assert len(codes) == 10
    client.post("/identity/logout", data={"csrf_token": token})
    login = client.post(
        "/identity/login",
        data={
            "identifier": nth_phone(7),
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/identity/account",
        },
        follow_redirects=False,
    )
    assert login.status_code == 303 and login.headers["location"].startswith("/identity/login/mfa")
    assert client.get("/identity/account", follow_redirects=False).status_code == 303
    wrong = client.post(
        "/identity/login/mfa", data={"code": "000000", "csrf_token": token, "next": "/identity/account"}
    )
    assert wrong.status_code == 401 and "动态验证码错误" in wrong.text
    ok = client.post(
        "/identity/login/mfa",
        data={"code": codes[0], "csrf_token": token, "next": "/identity/account"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/identity/account"
    assert client.get("/identity/account").status_code == 200
    # Ten minutes later, setting up the second factor again needs a fresh authentication.
    later = clock.utcnow() + timedelta(minutes=10)
    clock.set_clock(lambda: later)
    try:
        again = client.get("/identity/mfa/setup", follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/identity/step-up")
        step = client.post(
            "/identity/step-up",
            data={"password": PASSWORD, "code": codes[1], "csrf_token": token, "next": "/identity/mfa/setup"},
            follow_redirects=False,
        )
        assert step.status_code == 303 and step.headers["location"] == "/identity/mfa/setup"
        assert client.get("/identity/mfa/setup").status_code == 200
    finally:
        clock.set_clock(None)


def test_step_up_hints_name_what_reaches_the_level() -> None:
    from zhengwu.identity.pages import _level_hint

    assert _level_hint(None, False) is None and _level_hint(3, False) is None  # a password reaches 3
    assert "数字证书" in (_level_hint(5, True) or "") and "动态验证码" not in (_level_hint(5, True) or "")
    assert "输入密码和动态验证码" in (_level_hint(4, True) or "")
    assert "开启动态验证码" in (_level_hint(4, False) or "")


def test_reads_of_personal_data_are_named_by_field() -> None:
    from types import SimpleNamespace

    from zhengwu.identity.pages import _event_label

    def event(kind: str, **detail: str) -> SimpleNamespace:
        return SimpleNamespace(event_type=kind, detail=detail)

    assert _event_label(event("pii_read", field="citizen_id")) == "身份证号码被读取"
    assert _event_label(event("pii_read", field="phone")) == "手机号码被读取"
    assert _event_label(event("pii_read")) == "个人信息被读取"
    assert _event_label(event("login")) == "登录"
