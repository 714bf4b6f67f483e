"""工作人员管理 API: platform and department administrators manage staff within their reach."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_kit import API, IDENTIFY_CODE, Ca, answer_challenge, identify_code, make_ca
from zhengwu.identity import service as identity
from zhengwu.identity.models import Account, AuthEvent, StaffBinding
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.pki import authority
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import nth_citizen_id

PASSWORD = "Staff-Passw0rd!"
STAFF = f"{API}/staff"


@pytest.fixture
def ca(session: Session) -> Ca:
    made = make_ca()
    authority.add_trust_anchors(session, made.cert.der, purposes=["login"], actor="test", crl=made.crl())
    session.flush()
    return made


def _department(session: Session, n: int, name: str) -> str:
    dept = orgs.add_department(
        session,
        DepartmentCreate(credit_code=government_credit_code("130000", n), name=name, division_code="130000"),
    )
    session.flush()
    return str(dept.id)


def _staff(session: Session, n: int, department: str, roles: list[str]) -> Account:
    account = identity.register_staff(
        session,
        name="管理人员",
        login_name=f"staff-{n}",
        password=PASSWORD,
        department_id=department,
        roles=roles,
        id_number=nth_citizen_id(n),
    )
    session.flush()
    return account


def _as(client: Any, ca: Ca, n: int) -> None:
    """Log in (certificate: counts as the administrators' second factor) as staff ``n``."""
    client.post(f"{API}/logout", json={})
    response = answer_challenge(
        client, *ca.issue("管理人员", extensions={IDENTIFY_CODE: identify_code(nth_citizen_id(n))})
    )
    assert response.status_code == 200, response.text


def test_administrators_manage_staff_within_their_reach(client: Any, session: Session, ca: Ca) -> None:
    office = _department(session, 9101, "河北省政务服务管理办公室")
    bureau = _department(session, 9102, "河北省市场监督管理局")
    other = _department(session, 9103, "河北省公安厅")
    _staff(session, 9001, office, ["platform_admin"])
    _staff(session, 9002, bureau, ["admin"])

    _as(client, ca, 9002)  # the bureau's administrator
    new = {
        "login_name": "clerk.one",
        "name": "张三",
        "department_id": bureau,
        "roles": ["seal_user"],
        "password": PASSWORD,
    }
    created = client.post(STAFF, json=new)
    assert created.status_code == 201, created.text
    clerk = created.json()["id"]
    assert created.json()["departments"] == {bureau: ["seal_user"]}
    assert (
        client.post(STAFF, json={**new, "login_name": "x.other", "department_id": other}).status_code == 403
    )
    escalate = client.post(STAFF, json={**new, "login_name": "x.escalate", "roles": ["platform_admin"]})
    assert escalate.status_code == 403
    assert client.post(STAFF, json={**new, "login_name": "x.typo", "roles": ["sealuser"]}).status_code == 422
    assert (
        client.post(STAFF, json={**new, "login_name": "x.nowhere", "department_id": "0" * 32}).status_code
        == 404
    )
    assert client.post(STAFF, json={**new, "password": "weak"}).status_code == 422
    listed = client.get(STAFF).json()
    assert {s["login_name"] for s in listed} == {"staff-9002", "clerk.one"}
    assert client.get(STAFF, params={"department_id": office}).status_code == 403

    changed = client.put(
        f"{STAFF}/{clerk}/roles", json={"department_id": bureau, "roles": ["seal_admin", "seal_user"]}
    )
    assert changed.status_code == 200 and changed.json()["departments"] == {
        bureau: ["seal_admin", "seal_user"]
    }
    event = session.scalar(select(AuthEvent).where(AuthEvent.event_type == "staff_roles"))
    assert (
        event is not None
        and event.detail["from"] == ["seal_user"]
        and event.detail["to"] == ["seal_admin", "seal_user"]
    )

    _as(client, ca, 9001)  # the platform administrator reaches every department
    assert {s["login_name"] for s in client.get(STAFF).json()} >= {"staff-9001", "staff-9002", "clerk.one"}
    moved = client.put(f"{STAFF}/{clerk}/roles", json={"department_id": other, "roles": ["counter"]})
    assert moved.json()["departments"] == {bureau: ["seal_admin", "seal_user"], other: ["counter"]}
    dropped = client.put(f"{STAFF}/{clerk}/roles", json={"department_id": bureau, "roles": []})
    assert dropped.json()["departments"] == {other: ["counter"]}
    assert (
        session.scalar(
            select(StaffBinding).where(StaffBinding.account_id == clerk, StaffBinding.department_id == bureau)
        )
        is None
    )


def test_disabling_staff_ends_their_sessions_and_logins(client: Any, session: Session, ca: Ca) -> None:
    bureau = _department(session, 9201, "石家庄市行政审批局")
    admin = _staff(session, 9011, bureau, ["admin"])
    clerk = _staff(session, 9012, bureau, ["counter"])
    _as(client, ca, 9012)
    _as(client, ca, 9011)
    assert (
        client.post(f"{STAFF}/{admin.id}/disable", json={"reason": "测试"}).status_code == 403
    )  # not oneself
    disabled = client.post(f"{STAFF}/{clerk.id}/disable", json={"reason": "调离岗位"})
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert identity.staff_bindings(session, clerk.id)  # bindings stay for the record
    login = client.post(f"{API}/login", json={"identifier": "staff-9012", "password": PASSWORD})
    assert login.status_code == 403
    events = session.scalars(
        select(AuthEvent).where(
            AuthEvent.account_id == clerk.id, AuthEvent.event_type.in_(["account_disabled", "logout"])
        )
    ).all()
    assert {e.event_type for e in events} == {"account_disabled", "logout"}
    assert (
        next(e for e in events if e.event_type == "account_disabled").detail["actor"] == f"admin:{admin.id}"
    )


def test_citizens_and_other_staff_may_not_manage_staff(client: Any, session: Session, ca: Ca) -> None:
    bureau = _department(session, 9301, "保定市行政审批局")
    _staff(session, 9021, bureau, ["seal_user"])
    _as(client, ca, 9021)
    assert client.get(STAFF).status_code == 403


def test_staff_created_by_an_administrator_choose_their_own_password_first(
    client: Any, session: Session, ca: Ca
) -> None:
    bureau = _department(session, 9401, "唐山市行政审批局")
    _staff(session, 9031, bureau, ["admin"])
    _as(client, ca, 9031)
    new = {
        "login_name": "new.admin",
        "name": "李四",
        "department_id": bureau,
        "roles": ["admin"],
        "password": PASSWORD,
    }
    assert client.post(STAFF, json=new).status_code == 201
    client.post(f"{API}/logout", json={})
    login = client.post(f"{API}/login", json={"identifier": "new.admin", "password": PASSWORD})
    assert login.status_code == 200  # no second factor enrolled yet: the session is open
    blocked = client.get(STAFF)
    assert blocked.status_code == 403 and blocked.json()["code"] == "identity.password_change_required"
    changed = client.post(
        f"{API}/password/change", json={"current_password": PASSWORD, "new_password": "Own-Choice-2026!"}
    )
    assert changed.status_code == 204, changed.text
    after = client.get(STAFF)  # now the ordinary rule applies: a second factor is due
    assert after.status_code == 401 and after.json()["code"] == "identity.step_up_required"


def test_a_retried_create_replays_the_answer_and_records_nothing_twice(
    client: Any, session: Session, ca: Ca
) -> None:
    bureau = _department(session, 9501, "邯郸市行政审批局")
    _staff(session, 9041, bureau, ["admin"])
    _as(client, ca, 9041)
    new = {
        "login_name": "retry.me",
        "name": "王五",
        "department_id": bureau,
        "roles": ["counter"],
        "password": PASSWORD,
    }
    first = client.post(STAFF, json=new, headers={"Idempotency-Key": "staff-retry-1"})
    again = client.post(STAFF, json=new, headers={"Idempotency-Key": "staff-retry-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    created = session.scalars(select(AuthEvent).where(AuthEvent.event_type == "register_staff")).all()
    assert len([e for e in created if e.account_id == first.json()["id"]]) == 1
    other = client.post(STAFF, json={**new, "name": "赵六"}, headers={"Idempotency-Key": "staff-retry-1"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
