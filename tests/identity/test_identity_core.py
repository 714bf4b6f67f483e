"""Accounts, password login, lockout, sessions, claims, audited reads and the audit chain."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.identity import service
from zhengwu.identity.audit import RequestMeta, verify_chain
from zhengwu.identity.context import of
from zhengwu.identity.errors import AccountExists, AccountLocked, InvalidCredentials, InvalidRegistration
from zhengwu.identity.events import UserLoggedOut
from zhengwu.identity.levels import RealNameLevel, session_level
from zhengwu.identity.models import Account, AuthEvent, UserSession
from zhengwu.kernel import clock
from zhengwu.kernel.events import EventBus, OutboxRecord
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"
META = RequestMeta(ip="192.0.2.10", user_agent="pytest")


def _register(session: Session, n: int = 1, **kw: object) -> Account:
    return service.register_natural_person(
        session, name="演示用户一", id_number=nth_citizen_id(n), phone=nth_phone(n), password=PASSWORD, **kw
    )


def test_registration_protects_the_id_number_and_emits_the_upward_row(session: Session) -> None:
    account = _register(session)
    number = nth_citizen_id(1)
    assert account.citizen_id_enc is not None and number.encode() not in account.citizen_id_enc
    assert account.real_name_level == RealNameLevel.SELF_DECLARED
    assert service.find_account_by_citizen_id(session, number.lower()) is account
    assert service.find_account_by_citizen_id(session, nth_citizen_id(2)) is None
    rows = session.scalars(select(OutboxRecord).where(OutboxRecord.topic == "up_uc_province_user")).all()
    assert len(rows) == 1
    payload = rows[0].payload
    assert payload["cert_key"] == account.cert_key and len(payload["cert_key"]) == 64
    assert number not in str(payload) and nth_phone(1) not in str(payload)
    assert payload["user_real_lvl"] == "2" and payload["user_region"] == "130000"


def test_registration_rejects_bad_input_with_field_messages_and_audits(session: Session) -> None:
    bad = nth_citizen_id(3)[:17] + ("0" if nth_citizen_id(3)[17] != "0" else "1")
    with pytest.raises(InvalidRegistration) as info:
        service.register_natural_person(
            session, name="x", id_number=bad, phone="123", password="short", meta=META
        )
    fields = {e["field"] for e in info.value.extra["errors"]}
    assert fields == {"name", "id_number", "phone", "password"}
    assert "校验码" in info.value.detail
    assert session.scalar(select(Account.id)) is None
    event = session.scalars(select(AuthEvent).order_by(AuthEvent.seq.desc())).first()
    assert event is not None and event.event_type == "register" and not event.success


def test_duplicate_registration_is_refused(session: Session) -> None:
    _register(session)
    with pytest.raises(AccountExists):
        service.register_natural_person(
            session, name="演示用户二", id_number=nth_citizen_id(1), phone=nth_phone(9), password=PASSWORD
        )


def test_login_by_id_phone_and_lockout(session: Session) -> None:
    account = _register(session)
    assert service.authenticate_password(session, nth_citizen_id(1), PASSWORD, meta=META) is account
    assert service.authenticate_password(session, nth_phone(1), PASSWORD, meta=META) is account
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            service.authenticate_password(session, nth_phone(1), "wrong-password", meta=META)
    with pytest.raises(AccountLocked):
        service.authenticate_password(session, nth_phone(1), "wrong-password", meta=META)
    # Locked: even the right password is refused until the lock expires.
    with pytest.raises(AccountLocked):
        service.authenticate_password(session, nth_phone(1), PASSWORD, meta=META)
    later = clock.utcnow() + timedelta(minutes=16)
    clock.set_clock(lambda: later)
    try:
        assert service.authenticate_password(session, nth_phone(1), PASSWORD, meta=META) is account
    finally:
        clock.set_clock(None)
    types = [e.event_type for e in session.scalars(select(AuthEvent).order_by(AuthEvent.seq))]
    assert "lockout" in types
    assert verify_chain(session).ok


def test_unknown_account_and_wrong_password_look_the_same(session: Session) -> None:
    _register(session)
    with pytest.raises(InvalidCredentials) as a:
        service.authenticate_password(session, nth_citizen_id(77), PASSWORD)
    with pytest.raises(InvalidCredentials) as b:
        service.authenticate_password(session, nth_citizen_id(1), "Wrong-Passw0rd")
    assert a.value.detail == b.value.detail == "账号或密码错误"


def test_sessions_time_out_and_logout_publishes(session: Session) -> None:
    account = _register(session)
    user_session = service.start_session(session, account, amr=["pwd"])
    assert user_session.token and user_session.auth_level == 2
    assert service.session_by_token(session, user_session.token) is user_session
    assert service.session_expiry(of(session), user_session) is None
    assert (
        service.session_expiry(of(session), user_session, clock.utcnow() + timedelta(minutes=31))
        == "idle_timeout"
    )
    assert (
        service.session_expiry(of(session), user_session, clock.utcnow() + timedelta(hours=13))
        == "absolute_timeout"
    )
    seen: list[UserLoggedOut] = []
    bus = EventBus()
    bus.subscribe(UserLoggedOut, lambda _db, event: seen.append(event))
    service.end_session(session, user_session.id, "logout", bus=bus)
    assert seen == [UserLoggedOut(session_id=user_session.id, account_id=account.id, reason="logout")]
    assert service.session_expiry(of(session), user_session) == "logout"


def test_end_all_sessions(session: Session) -> None:
    account = _register(session)
    for _ in range(3):
        service.start_session(session, account, amr=["pwd"])
    assert service.end_all_sessions(session, account.id, "password_reset") == 3
    assert session.scalar(select(UserSession).where(UserSession.ended_at.is_(None))) is None


def test_session_level_is_capped_by_methods() -> None:
    assert session_level(5, ["pwd"]) == RealNameLevel.REGISTRY_MATCHED
    assert session_level(5, ["pwd", "otp"]) == RealNameLevel.REAL_PERSON
    assert session_level(2, ["pwd", "otp"]) == RealNameLevel.SELF_DECLARED
    assert session_level(5, ["sc"]) == RealNameLevel.CERTIFICATE


def test_reveal_is_audited_and_claims_carry_no_id(session: Session) -> None:
    account = _register(session)
    claims = service.account_claims(session, account)
    assert claims["name"] == "演示用户一" and claims["kind"] == "natural" and claims["real_name_level"] == 2
    assert nth_citizen_id(1) not in str(claims)
    assert service.reveal_citizen_id(
        session, account, reader="dept-app", purpose="办件核验"
    ) == nth_citizen_id(1)
    event = session.scalars(select(AuthEvent).order_by(AuthEvent.seq.desc())).first()
    assert event is not None and event.event_type == "pii_read" and event.detail["reader"] == "dept-app"


def test_legal_person_with_agent(session: Session) -> None:
    agent = _register(session)
    code = enterprise_credit_code("130100", 1)
    legal = service.register_legal_person(
        session,
        credit_code=code,
        name="演示科技有限公司",
        legal_rep_name="演示法人",
        password=PASSWORD,
        agent=agent,
    )
    assert service.authenticate_password(session, code, PASSWORD) is legal
    entities = service.agent_authorizations(session, agent.id)
    assert [e.name for _, e in entities] == ["演示科技有限公司"]
    user_session = service.start_session(session, agent, amr=["pwd"])
    service.set_acting_for(session, user_session, entities[0][1].id)
    claims = service.account_claims(session, agent, session=user_session)
    assert claims["acting_for"]["credit_code"] == code and claims["acting_for"]["role"] == "admin"
    topics = sorted(r.topic for r in session.scalars(select(OutboxRecord)))
    assert topics == ["up_uc_corporator_account", "up_uc_corporator_identity", "up_uc_province_user"]
    # Within the stricter reading of the national DDL (docs/national-tables.md; tests are not layer-checked).
    from zhengwu.exchange import national

    for record in session.scalars(select(OutboxRecord)):
        spec = national.table(record.topic)
        assert spec is not None and national.check_send(spec, record.payload) == [], record.topic


def test_tampering_breaks_the_chain(session: Session) -> None:
    _register(session)
    service.authenticate_password(session, nth_phone(1), PASSWORD)
    assert verify_chain(session).ok
    first = session.scalars(select(AuthEvent).order_by(AuthEvent.seq)).first()
    assert first is not None
    session.execute(update(AuthEvent).where(AuthEvent.seq == first.seq).values(success=False))
    session.expire_all()
    verdict = verify_chain(session)
    assert verdict.broken is not None and verdict.broken.seq == first.seq
