"""Real-name level 3: an account's own data matched against the registries (fake verifier and the real
exchange-backed one on a national node seeded with the synthetic registries)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange.models import VerificationAudit
from zhengwu.identity import service
from zhengwu.identity.audit import verify_chain
from zhengwu.identity.errors import RealNameMismatch, RealNameNotApplicable, RealNameUnavailable
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, AuthEvent, LegalEntity
from zhengwu.identity.realname import verify_real_name
from zhengwu.identity.servicekeys import REAL_NAME_VERIFIER
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.events import OutboxRecord
from zhengwu.kernel.node import node_of
from zhengwu.seed import registries as registry_seed
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"
API = "/api/v1/identity"
VERIFY = f"{API}/me/real-name-verification"


class FakeVerifier:
    """Answers a fixed outcome and remembers what it was asked."""

    def __init__(self, outcome: bool | None) -> None:
        self.outcome = outcome
        self.asked: list[tuple[str, ...]] = []

    def verify_person(self, db: Session, name: str, id_number: str) -> bool | None:
        self.asked.append(("person", name, id_number))
        return self.outcome

    def verify_legal_person(self, db: Session, credit_code: str, name: str, legal_rep: str) -> bool | None:
        self.asked.append(("legal_person", credit_code, name, legal_rep))
        return self.outcome


def _events(session: Session, account_id: str) -> list[AuthEvent]:
    return list(
        session.scalars(
            select(AuthEvent)
            .where(AuthEvent.account_id == account_id, AuthEvent.event_type == "real_name_verification")
            .order_by(AuthEvent.seq)
        )
    )


def _user_rows(session: Session, account_id: str) -> list[OutboxRecord]:
    return list(
        session.scalars(
            select(OutboxRecord)
            .where(OutboxRecord.topic == "up_uc_province_user", OutboxRecord.key == account_id)
            .order_by(OutboxRecord.seq)
        )
    )


def _person(session: Session, n: int = 1) -> Account:
    return service.register_natural_person(
        session, name="演示用户一", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
    )


# --- service ---------------------------------------------------------------------------------------


def test_match_raises_a_natural_person_to_level_3_audited_and_sent_upward(session: Session) -> None:
    account = _person(session)
    verifier = FakeVerifier(True)
    assert verify_real_name(session, account, verifier) == RealNameLevel.REGISTRY_MATCHED
    assert verifier.asked == [("person", "演示用户一", nth_citizen_id(1))]
    assert account.real_name_level == 3
    [event] = _events(session, account.id)
    assert event.success and event.detail["outcome"] == "match"
    assert nth_citizen_id(1) not in str(event.detail)
    rows = _user_rows(session, account.id)
    assert [r.operation for r in rows] == ["I", "U"] and rows[-1].payload["user_real_lvl"] == "3"
    # Asking again never asks the registry and never changes the level.
    assert verify_real_name(session, account, verifier) == RealNameLevel.REGISTRY_MATCHED
    assert len(verifier.asked) == 1 and len(_user_rows(session, account.id)) == 2
    assert verify_chain(session).ok


def test_no_match_and_unavailable_keep_level_2_and_are_audited(session: Session) -> None:
    account = _person(session)
    with pytest.raises(RealNameMismatch) as mismatch:
        verify_real_name(session, account, FakeVerifier(False))
    assert mismatch.value.status_code == 422 and "实名核验未通过" in mismatch.value.detail
    with pytest.raises(RealNameUnavailable) as down:
        verify_real_name(session, account, FakeVerifier(None))
    assert down.value.status_code == 503
    with pytest.raises(RealNameUnavailable):
        verify_real_name(session, account, None)
    assert account.real_name_level == 2
    outcomes = [(e.success, e.detail["outcome"]) for e in _events(session, account.id)]
    assert outcomes == [(False, "no_match"), (False, "unavailable"), (False, "unavailable")]
    assert [r.operation for r in _user_rows(session, account.id)] == ["I"]


def test_a_higher_level_is_never_lowered_nor_re_asked(session: Session) -> None:
    account = _person(session)
    service.set_real_name_level(session, account, RealNameLevel.REAL_PERSON, actor="counter", evidence="face")
    verifier = FakeVerifier(False)
    assert verify_real_name(session, account, verifier) == RealNameLevel.REAL_PERSON
    assert verifier.asked == [] and account.real_name_level == 4


def test_legal_person_is_matched_on_credit_code_name_and_representative(session: Session) -> None:
    code = enterprise_credit_code("130102", 3)
    account = service.register_legal_person(
        session, credit_code=code, name="演示科技有限公司", legal_rep_name="演示法人", password=None
    )
    verifier = FakeVerifier(True)
    assert verify_real_name(session, account, verifier) == RealNameLevel.REGISTRY_MATCHED
    assert verifier.asked == [("legal_person", code, "演示科技有限公司", "演示法人")]
    entity = session.get(LegalEntity, account.legal_entity_id)
    assert entity is not None and entity.real_name_level == 3 and account.real_name_level == 3
    rows = list(
        session.scalars(
            select(OutboxRecord)
            .where(OutboxRecord.topic == "up_uc_corporator_identity", OutboxRecord.key == entity.id)
            .order_by(OutboxRecord.seq)
        )
    )
    assert [r.operation for r in rows] == ["I", "U"] and rows[-1].payload["real_lvl"] == "3"


def test_staff_accounts_are_not_verified_this_way(session: Session) -> None:
    staff = Account(kind="staff", display_name="演示工作人员", real_name_level=2)
    session.add(staff)
    session.flush()
    with pytest.raises(RealNameNotApplicable):
        verify_real_name(session, staff, FakeVerifier(True))


# --- API (fake verifier) ---------------------------------------------------------------------------


def _register_and_login(
    client: Any, n: int = 1, name: str = "演示用户一", id_number: str | None = None
) -> None:
    body = {
        "name": name,
        "id_number": id_number or nth_citizen_id(n),
        "phone": nth_phone(n),
        "password": PASSWORD,
    }
    assert client.post(f"{API}/register/natural", json=body).status_code == 202
    login = client.post(f"{API}/login", json={"identifier": nth_phone(n), "password": PASSWORD})
    assert login.status_code == 200, login.text


def test_api_match_no_match_unavailable(app: Any, client: Any, session: Session) -> None:
    _register_and_login(client)
    assert client.post(VERIFY).status_code == 415  # JSON only, like every identity write
    node_of(app).services.replace(REAL_NAME_VERIFIER, FakeVerifier(False))
    refused = client.post(VERIFY, json={})
    assert refused.status_code == 422 and refused.json()["code"] == "identity.real_name_mismatch"
    assert "实名核验未通过" in refused.json()["detail"]
    node_of(app).services.remove(REAL_NAME_VERIFIER)
    down = client.post(VERIFY, json={})
    assert down.status_code == 503 and down.json()["code"] == "identity.real_name_unavailable"
    node_of(app).services.put(REAL_NAME_VERIFIER, FakeVerifier(True))
    ok = client.post(VERIFY, json={})
    assert ok.status_code == 200 and ok.json()["real_name_level"] == 3
    assert nth_citizen_id(1) not in ok.text
    assert client.get(f"{API}/me").json()["account"]["real_name_level"] == 3
    account = session.scalars(select(Account)).one()
    # The refusals' audit rows survived their requests' rollback.
    assert [e.detail["outcome"] for e in _events(session, account.id)] == ["no_match", "unavailable", "match"]


def test_api_needs_a_session(client: Any) -> None:
    assert client.post(VERIFY, json={}).status_code == 401


def test_account_page_offers_verification_with_csrf(app: Any, client: Any) -> None:
    import re

    _register_and_login(client)
    page = client.get("/identity/account")
    assert page.status_code == 200 and "实名核验" in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    node_of(app).services.replace(REAL_NAME_VERIFIER, FakeVerifier(True))
    forged = client.post("/identity/real-name-verification", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    done = client.post(
        "/identity/real-name-verification", data={"csrf_token": token.group(1)}, follow_redirects=False
    )
    assert done.status_code in (302, 303) and done.headers["location"] == "/identity/account?verified=1"
    after = client.get("/identity/account?verified=1")
    assert "实名等级已提升为三级" in after.text and "三级（实名核验）" in after.text
    assert 'action="/identity/real-name-verification"' not in after.text


# --- the real adapter on a national node ------------------------------------------------------------


@pytest.fixture
def national_client(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> Iterator[tuple[TestClient, Settings]]:
    from zhengwu.main import create_app

    settings = Settings(
        data_dir=tmp_path / "national",
        database_url=database_url,
        tier=Tier.NATIONAL,
        division_code="000000",
        node_id="national",
        log_json=True,
        log_level="DEBUG",
    )
    app = create_app(settings)
    node_of(app).session_factory = session_factory
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, settings
    node_of(app).engine.dispose()


def test_national_registry_raises_a_seeded_person_and_refuses_a_wrong_name(
    national_client: tuple[TestClient, Settings], session: Session
) -> None:
    client, settings = national_client
    assert (
        registry_seed.seed_registries(session, settings, people_count=20, companies_count=0)["people"] == 20
    )
    session.commit()
    person = registry_seed.people(20)[4]
    _register_and_login(client, 1, name=person.name, id_number=person.id_number)
    ok = client.post(VERIFY, json={})
    assert ok.status_code == 200, ok.text
    assert ok.json()["real_name_level"] == 3

    client.cookies.clear()
    other = registry_seed.people(20)[5]
    wrong_name = "演示错名" if other.name != "演示错名" else "演示他名"
    _register_and_login(client, 2, name=wrong_name, id_number=other.id_number)
    refused = client.post(VERIFY, json={})
    assert refused.status_code == 422 and refused.json()["code"] == "identity.real_name_mismatch"
    assert client.get(f"{API}/me").json()["account"]["real_name_level"] == 2
    outcomes = [a.outcome for a in session.scalars(select(VerificationAudit).order_by(VerificationAudit.id))]
    assert sorted(outcomes) == ["match", "no_match"]
    assert all(a.caller == "identity.real-name" for a in session.scalars(select(VerificationAudit)))
