"""JSON API: registration, login, second factor, step-up, logout, reset, the one error envelope."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity.audit import verify_chain
from zhengwu.identity.events import UserLoggedOut
from zhengwu.identity.models import Account, AuthEvent, UserSession
from zhengwu.identity.servicekeys import NOTIFIER
from zhengwu.kernel.events import OutboxRecord
from zhengwu.kernel.node import node_of
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"
API = "/api/v1/identity"


def _register(client: Any, n: int = 1, *, login: bool = True) -> Any:
    body = {"name": "演示用户一", "id_number": nth_citizen_id(n), "phone": nth_phone(n), "password": PASSWORD}
    response = client.post(f"{API}/register/natural", json=body)
    assert response.status_code == 202, response.text
    if login:
        assert _login(client, nth_phone(n)).status_code == 200
    return response


def _login(client: Any, identifier: str, password: str = PASSWORD) -> Any:
    return client.post(f"{API}/login", json={"identifier": identifier, "password": password})


def _events(session: Session, event_type: str, success: bool | None = None) -> int:
    query = select(func.count()).select_from(AuthEvent).where(AuthEvent.event_type == event_type)
    if success is not None:
        query = query.where(AuthEvent.success.is_(success))
    return int(session.scalar(query) or 0)


def test_register_login_me_logout(client: Any, session: Session) -> None:
    created = _register(client, login=False)
    assert set(created.json()) == {"detail"} and "注册申请已受理" in created.json()["detail"]
    assert "set-cookie" not in created.headers, "registration starts no session"
    assert client.get(f"{API}/me").status_code == 401
    login = _login(client, nth_phone(1))
    assert login.status_code == 200 and login.json()["mfa_required"] is False
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    me = client.get(f"{API}/me")
    assert me.status_code == 200
    assert me.json()["claims"]["name"] == "演示用户一" and me.json()["session"]["auth_level"] == 2
    assert me.json()["account"]["real_name_level"] == 2
    assert me.json()["account"]["citizen_id_masked"].count("*") == 16
    assert client.post(f"{API}/logout", json={}).status_code == 204
    assert client.get(f"{API}/me").status_code == 401
    assert _events(session, "logout") == 1
    assert verify_chain(session).ok


def test_registration_is_idempotent(client: Any, session: Session) -> None:
    body = {"name": "演示用户一", "id_number": nth_citizen_id(5), "phone": nth_phone(5), "password": PASSWORD}
    first = client.post(f"{API}/register/natural", json=body, headers={"Idempotency-Key": "reg-5"})
    second = client.post(f"{API}/register/natural", json=body, headers={"Idempotency-Key": "reg-5"})
    assert first.status_code == second.status_code == 202 and first.json() == second.json()
    assert session.scalar(select(func.count()).select_from(Account)) == 1
    assert (
        session.scalar(
            select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == "up_uc_province_user")
        )
        == 1
    )


def test_bad_registration_gives_the_envelope_and_writes_nothing_but_audit(
    client: Any, session: Session
) -> None:
    bad = nth_citizen_id(2)[:-1] + ("1" if nth_citizen_id(2)[-1] != "1" else "2")
    response = client.post(
        f"{API}/register/natural",
        json={"name": "演示用户二", "id_number": bad, "phone": "10086", "password": "abc"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "identity.invalid_registration" and body["trace_id"]
    assert {e["field"] for e in body["errors"]} == {"id_number", "phone", "password"}
    assert bad not in response.text
    assert session.scalar(select(func.count()).select_from(Account)) == 0
    assert session.scalar(select(func.count()).select_from(OutboxRecord)) == 0
    assert _events(session, "register", success=False) == 1


def test_wrong_password_lockout_is_audited_over_http(client: Any, session: Session) -> None:
    _register(client)
    client.cookies.clear()
    for _ in range(4):
        response = _login(client, nth_citizen_id(1), "Wrong-Passw0rd")
        assert response.status_code == 401 and response.json()["code"] == "identity.invalid_credentials"
    locked = _login(client, nth_citizen_id(1), "Wrong-Passw0rd")
    assert locked.status_code == 423 and locked.json()["code"] == "identity.account_locked"
    assert "锁定" in locked.json()["detail"]
    assert _login(client, nth_citizen_id(1)).status_code == 423
    assert _events(session, "login", success=False) == 6 and _events(session, "lockout") == 1
    assert verify_chain(session).ok


def test_api_refuses_form_posts(client: Any) -> None:
    response = client.post(f"{API}/login", data={"identifier": "x", "password": "y"})
    assert response.status_code in (415, 422)
    assert "error" in response.json()


def _enrol(client: Any) -> tuple[str, list[str], str]:
    """Enrol TOTP; returns the secret, the recovery codes and the code used to confirm."""
    enrol = client.post(f"{API}/mfa/enrol", json={})
    assert enrol.status_code == 200, enrol.text
    secret = enrol.json()["secret"]
    used = pyotp.TOTP(secret).now()
    confirm = client.post(f"{API}/mfa/confirm", json={"code": used})
    assert confirm.status_code == 200, confirm.text
    return secret, confirm.json()["recovery_codes"], used


def test_totp_second_factor_and_recovery_codes(client: Any, session: Session) -> None:
    _register(client)
    _, codes, used = _enrol(client)
    assert len(codes) == 10
    client.post(f"{API}/logout", json={})
    first = _login(client, nth_phone(1))
    assert first.json()["mfa_required"] is True
    # A pending session is not a session.
    assert client.get(f"{API}/me").status_code == 401
    # The code used at enrolment cannot be replayed (the very code: "now" may be the next 30-s step).
    replay = client.post(f"{API}/login/mfa", json={"code": used})
    assert replay.status_code == 401 and replay.json()["code"] == "identity.invalid_otp"
    ok = client.post(f"{API}/login/mfa", json={"code": codes[0]})
    assert ok.status_code == 200, ok.text
    me = client.get(f"{API}/me").json()
    assert me["session"]["amr"] == ["mfa", "otp", "pwd"] and me["session"]["auth_level"] == 2
    # A recovery code works once.
    client.post(f"{API}/logout", json={})
    _login(client, nth_phone(1))
    assert client.post(f"{API}/login/mfa", json={"code": codes[0]}).status_code == 401
    assert _events(session, "mfa", success=False) == 2


def test_step_up_for_reading_ones_own_id_number(client: Any, session: Session) -> None:
    from datetime import timedelta

    from zhengwu.kernel import clock

    _register(client)
    assert client.post(f"{API}/me/citizen-id", json={}).json()["citizen_id"] == nth_citizen_id(1)
    later = clock.utcnow() + timedelta(minutes=10)
    clock.set_clock(lambda: later)
    try:
        stale = client.post(f"{API}/me/citizen-id", json={})
        assert stale.status_code == 401 and stale.json()["code"] == "identity.step_up_required"
        assert stale.json()["max_age"] == 300
        bad = client.post(f"{API}/step-up", json={"password": "Wrong-Passw0rd"})
        assert bad.status_code == 401
        good = client.post(f"{API}/step-up", json={"password": PASSWORD})
        assert good.status_code == 200
        assert client.post(f"{API}/me/citizen-id", json={}).status_code == 200
    finally:
        clock.set_clock(None)
    assert _events(session, "step_up_required", success=False) == 1
    assert _events(session, "pii_read") == 2


def test_idle_timeout_ends_the_session_and_publishes(client: Any, app: Any, session: Session) -> None:
    from datetime import timedelta

    from zhengwu.kernel import clock

    seen: list[str] = []
    node_of(app).bus.subscribe(UserLoggedOut, lambda _db, event: seen.append(event.reason))
    _register(client)
    later = clock.utcnow() + timedelta(minutes=31)
    clock.set_clock(lambda: later)
    try:
        response = client.get(f"{API}/me")
    finally:
        clock.set_clock(None)
    assert response.status_code == 401 and response.json()["code"] == "identity.session_expired"
    assert seen == ["idle_timeout"]
    ended = session.scalar(select(UserSession))
    assert ended is not None and ended.end_reason == "idle_timeout"


def test_password_reset_through_the_file_notifier(client: Any, settings: Any, session: Session) -> None:
    _register(client)
    client.cookies.clear()
    unknown = client.post(f"{API}/password/forgot", json={"identifier": nth_phone(99)})
    sent = client.post(f"{API}/password/forgot", json={"identifier": nth_phone(1)})
    assert unknown.status_code == sent.status_code == 202 and unknown.json() == sent.json()
    outbox = Path(settings.data_dir) / "notifications" / "outbox.jsonl"
    messages = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert len(messages) == 1 and messages[0]["to"] == nth_phone(1) and messages[0]["channel"] == "sms"
    code = re.search(r"验证码 (\d{6})", messages[0]["body"]).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    bad = client.post(
        f"{API}/password/reset",
        json={"identifier": nth_phone(1), "code": wrong, "new_password": "New-Passw0rd"},
    )
    assert bad.status_code == 401 and bad.json()["code"] == "identity.invalid_reset_code"
    ok = client.post(
        f"{API}/password/reset",
        json={"identifier": nth_phone(1), "code": code, "new_password": "New-Passw0rd"},
    )
    assert ok.status_code == 204
    # Used codes are dead, old passwords too, and every session was ended.
    again = client.post(
        f"{API}/password/reset",
        json={"identifier": nth_phone(1), "code": code, "new_password": "Other-Passw0rd"},
    )
    assert again.status_code == 401
    assert _login(client, nth_phone(1)).status_code == 401
    assert _login(client, nth_phone(1), "New-Passw0rd").status_code == 200
    assert (
        session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.end_reason == "password_changed")
        )
        == 1
    )


def test_reset_never_fakes_success_when_delivery_fails(client: Any, app: Any, session: Session) -> None:
    from zhengwu.identity.notifier import DeliveryFailed, Message

    class Broken:
        def send(self, message: Message) -> str:
            raise DeliveryFailed("gateway down")

    _register(client)
    node_of(app).services.replace(NOTIFIER, Broken())
    response = client.post(f"{API}/password/forgot", json={"identifier": nth_phone(1)})
    assert response.status_code == 503 and response.json()["code"] == "identity.notification_failed"
    assert _events(session, "reset_request", success=False) == 1


def test_status_reports_identity(client: Any) -> None:
    _register(client)
    body = client.get("/_status").json()
    identity = body["dependencies"]["identity"]
    assert (
        identity["ok"] is True and identity["open_sessions"] >= 1 and identity["notifier"] == "FileNotifier"
    )


def test_registrations_per_address_are_limited(app: Any, client: Any, session: Session) -> None:
    from zhengwu.identity import service
    from zhengwu.identity.audit import RequestMeta
    from zhengwu.identity.context import current

    limit = current().registration_ip_limit
    for n in range(limit - 1):
        _register(client, 100 + n, login=False)
    refused = client.post(  # a refused form counts too (probing which ID numbers exist costs attempts)
        f"{API}/register/natural",
        json={
            "name": "演示用户一",
            "id_number": nth_citizen_id(100),
            "phone": nth_phone(999),
            "password": PASSWORD,
        },
    )
    assert refused.status_code == 202  # answered like any registration (the owner is told by SMS)
    limited = client.post(
        f"{API}/register/natural",
        json={
            "name": "演示用户一",
            "id_number": nth_citizen_id(500),
            "phone": nth_phone(500),
            "password": PASSWORD,
        },
    )
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "identity.registration_rate_limited"
    assert limited.json()["detail"] == "注册过于频繁，请稍后再试"
    assert nth_citizen_id(500) not in limited.text
    rate_limited = session.scalars(
        select(AuthEvent).where(AuthEvent.event_type == "register", AuthEvent.success.is_(False))
    ).all()
    assert any(e.detail["reasons"] == ["rate_limited_ip"] for e in rate_limited)
    assert session.scalar(select(func.count()).select_from(Account)) == limit - 1
    # Another address, imports and staff tools (no address) are not held back.
    other = RequestMeta(ip="192.0.2.7", user_agent=None)
    service.register_natural_person(
        session,
        name="演示用户二",
        id_number=nth_citizen_id(501),
        phone=nth_phone(501),
        password=None,
        meta=other,
    )
    service.register_natural_person(
        session, name="演示用户三", id_number=nth_citizen_id(502), phone=nth_phone(502), password=None
    )
    assert verify_chain(session).ok


def _metric(client: Any, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_argon2_work_is_exported_as_metrics(client: Any) -> None:
    hashes = _metric(client, "zhengwu_identity_password_hashes_total")
    seconds = _metric(client, "zhengwu_identity_password_hash_cpu_seconds_total")
    _register(client)  # one hash at registration, one verification at login
    assert _metric(client, "zhengwu_identity_password_hashes_total") == hashes + 2
    # Each argon2id call (m=19 MiB, t=2) costs milliseconds of CPU, never nothing.
    assert _metric(client, "zhengwu_identity_password_hash_cpu_seconds_total") > seconds + 0.002
