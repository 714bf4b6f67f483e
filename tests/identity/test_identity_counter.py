"""窗口核验 (counter verification, level 4) by a clerk who logged in with a UKey certificate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_kit import API, IDENTIFY_CODE, answer_challenge, identify_code, make_ca
from zhengwu.identity import service as identity
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import AuthEvent
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.pki import authority
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Staff-Passw0rd!"


def _clerk(client: Any, session: Session, n: int, roles: list[str]) -> str:
    """A staff member of a service hall, logged in with the certificate of their UKey."""
    hall = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 8000 + n),
            name=f"石家庄市政务服务中心{n}",
            division_code="130100",
        ),
    )
    identity.register_staff(
        session,
        name="窗口人员",
        login_name=f"counter-{n}",
        password=PASSWORD,
        department_id=hall.id,
        roles=roles,
        id_number=nth_citizen_id(n),
    )
    ca = make_ca()
    authority.add_trust_anchors(session, ca.cert.der, purposes=["login"], actor="test", crl=ca.crl())
    session.flush()
    login = answer_challenge(
        client, *ca.issue("窗口人员", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(n))})
    )
    assert login.status_code == 200, login.text
    assert login.json()["session"]["amr"] == ["hwk"]
    return str(hall.id)


def _citizen(session: Session, n: int, level: RealNameLevel = RealNameLevel.SELF_DECLARED) -> Any:
    person = identity.register_natural_person(
        session,
        name="窗口用户",
        id_number=nth_citizen_id(n),
        phone=nth_phone(n),
        password=None,
        real_name_level=level,
    )
    session.flush()
    return person


def test_a_clerk_raises_a_citizen_to_level_four_after_seeing_the_id_card(
    client: Any, session: Session
) -> None:
    hall = _clerk(client, session, 8101, ["counter"])
    person = _citizen(session, 8102)
    # A certificate login counts as the second factor staff need (UKey + PIN), so no TOTP step here.
    checked = client.post(
        f"{API}/counter-verifications", json={"id_number": nth_citizen_id(8102), "name": "窗口用户"}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["real_name_level"] == 4 and nth_citizen_id(8102) not in checked.text
    session.refresh(person)
    assert person.real_name_level == 4
    event = session.scalar(
        select(AuthEvent).where(AuthEvent.event_type == "counter_verification", AuthEvent.success.is_(True))
    )
    assert event is not None and event.detail["department_id"] == hall and event.account_id == person.id

    wrong = client.post(
        f"{API}/counter-verifications", json={"id_number": nth_citizen_id(8102), "name": "别人"}
    )
    assert wrong.status_code == 422 and "姓名" in wrong.json()["detail"]
    unknown = client.post(
        f"{API}/counter-verifications", json={"id_number": nth_citizen_id(8103), "name": "某人"}
    )
    assert unknown.status_code == 404
    elsewhere = client.post(
        f"{API}/counter-verifications",
        json={"id_number": nth_citizen_id(8102), "name": "窗口用户", "department_id": "f" * 32},
    )
    assert elsewhere.status_code == 403
    refused = session.scalars(
        select(AuthEvent).where(AuthEvent.event_type == "counter_verification", AuthEvent.success.is_(False))
    ).all()
    assert sorted(e.detail["reason"] for e in refused) == ["name", "unknown_account"]


def test_a_higher_level_is_kept_and_only_counter_clerks_may_verify(client: Any, session: Session) -> None:
    _clerk(client, session, 8201, ["counter"])
    certified = _citizen(session, 8202, RealNameLevel.CERTIFICATE)
    kept = client.post(
        f"{API}/counter-verifications", json={"id_number": nth_citizen_id(8202), "name": "窗口用户"}
    )
    assert kept.status_code == 200 and kept.json()["real_name_level"] == 5
    session.refresh(certified)
    assert certified.real_name_level == 5
    client.post(f"{API}/logout", json={})
    _clerk(client, session, 8203, ["seal_admin"])
    denied = client.post(
        f"{API}/counter-verifications", json={"id_number": nth_citizen_id(8202), "name": "窗口用户"}
    )
    assert denied.status_code == 403


def test_a_retried_counter_verification_is_recorded_once(client: Any, session: Session) -> None:
    _clerk(client, session, 8301, ["counter"])
    _citizen(session, 8302)
    body = {"id_number": nth_citizen_id(8302), "name": "窗口用户"}
    first = client.post(
        f"{API}/counter-verifications", json=body, headers={"Idempotency-Key": "counter-8302"}
    )
    again = client.post(
        f"{API}/counter-verifications", json=body, headers={"Idempotency-Key": "counter-8302"}
    )
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    events = session.scalars(select(AuthEvent).where(AuthEvent.event_type == "counter_verification")).all()
    assert len(events) == 1
