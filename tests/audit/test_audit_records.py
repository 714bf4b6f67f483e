"""The change log commits and rolls back with its change; write_apart outlives a failed request; a person
sees who read their data."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cert_kit import API
from zhengwu.audit import chain, changes, reads
from zhengwu.audit.apart import write_apart
from zhengwu.audit.minimise import PERSONAL, SECRET
from zhengwu.audit.models import AuditChange, AuditRead
from zhengwu.identity import service as identity
from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.deps import COOKIE
from zhengwu.identity.models import AuthEvent
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_change_is_logged_in_its_transaction_and_rolled_back_with_it(session: Session) -> None:
    before = _count(session, AuditChange)
    head_before = chain.head(session, changes.CHANGES)
    savepoint = session.begin_nested()
    made = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 9101), name="审计测试局", division_code="130100"
        ),
        actor="account:tester",
    )
    logged = session.scalars(select(AuditChange).where(AuditChange.entity_id == made.id)).one()
    assert (logged.actor, logged.action, logged.entity, logged.department_id) == (
        "account:tester", "department.create", "orgs.department", made.id,
    )  # fmt: skip
    savepoint.rollback()
    assert _count(session, AuditChange) == before
    assert chain.head(session, changes.CHANGES) == head_before
    assert chain.verify(session, changes.CHAIN).ok


def test_personal_data_and_secrets_are_not_logged_in_clear(session: Session) -> None:
    number, phone = nth_citizen_id(9102), nth_phone(9102)
    row = changes.record_change(
        session,
        actor="cli",
        action="test.minimise",
        entity="test",
        entity_id="p1",
        before={"id_number": number, "phone": phone, "client_secret": "s3cret"},
        after={"note": f"电话 {phone}，证件 {number}", "nested": {"mobile": phone}, "level": 3},
    )
    session.flush()
    stored = f"{row.before}{row.after}"
    assert number not in stored and phone not in stored and "s3cret" not in stored
    assert row.before == {"id_number": PERSONAL, "phone": PERSONAL, "client_secret": SECRET}
    assert row.after is not None and row.after["nested"] == {"mobile": PERSONAL} and row.after["level"] == 3


def test_write_apart_outlives_the_failed_request(session_factory: sessionmaker[Session]) -> None:
    request = session_factory()
    try:
        changes.record_change(request, actor="cli", action="test.lost", entity="test", entity_id="lost")
        write_apart(
            request,
            lambda apart: record_auth_event(
                apart, "permission_denied", success=False, detail={"test": "apart"}
            ),
        )
        request.rollback()  # the request fails
    finally:
        request.close()
    with session_factory() as check:
        kept = check.scalars(select(AuthEvent).where(AuthEvent.event_type == "permission_denied")).all()
        assert [e.detail for e in kept] == [{"test": "apart"}]
        lost = check.scalar(
            select(func.count()).select_from(AuditChange).where(AuditChange.entity_id == "lost")
        )
        assert lost == 0
        assert chain.verify(check, changes.CHAIN).ok


def test_a_person_sees_who_read_their_data(client: Any, session: Session) -> None:
    person = identity.register_natural_person(
        session, name="读取审计", id_number=nth_citizen_id(9103), phone=nth_phone(9103), password=None
    )
    session.flush()
    # A staff member reads the identity number (a counter, a case officer): the read is recorded.
    identity.reveal_citizen_id(session, person, reader="account:clerk-1", purpose="窗口办件")
    identity.reveal_citizen_id(session, person, reader="owner", purpose="本人查看")  # not listed
    reads.record_read(session, person.id, "client:zwdept", "userinfo for 部门系统", "userinfo:name")
    session.commit()  # read records are linked into their chain at commit, not at a flush
    assert client.get(f"{API}/me/reads").status_code == 401
    token = identity.start_session(session, person, amr=["pwd"]).token
    session.flush()
    client.cookies.set(COOKIE, str(token))
    listed = client.get(f"{API}/me/reads", params={"limit": 1})
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "2" and 'rel="next"' in listed.headers.get("Link", "")
    (newest,) = listed.json()
    assert (newest["reader"], newest["what"]) == ("client:zwdept", "userinfo:name")
    older = client.get(f"{API}/me/reads", params={"offset": 1}).json()
    assert [(r["reader"], r["purpose"], r["what"]) for r in older] == [
        ("account:clerk-1", "窗口办件", "account.citizen_id")
    ]
    assert nth_citizen_id(9103) not in listed.text
    assert chain.verify(session, reads.CHAIN).ok
    assert _count(session, AuditRead) >= 2


def test_administrative_writes_of_several_capabilities_are_logged(session: Session) -> None:
    hall = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 9104), name="变更日志局", division_code="130100"
        ),
        actor="cli",
    )
    staff = identity.register_staff(
        session,
        name="变更测试",
        login_name="audit-change-9104",
        password="Audit-Passw0rd!",
        department_id=hall.id,
        roles=["seal_admin"],
        source="admin:abc123",
    )
    session.flush()
    logged = {
        (c.entity, c.action, c.actor, c.department_id)
        for c in changes.list_changes(session, department_ids=[hall.id])
    }
    assert ("orgs.department", "department.create", "cli", hall.id) in logged
    assert ("identity.staff", "staff.create", "account:abc123", hall.id) in logged
    (created,) = changes.list_changes(session, entity="identity.staff", entity_id=staff.id)
    assert created.after == {"login_name": "audit-change-9104", "roles": ["seal_admin"]}
