"""三员 separation: no staff account holds two of the system, security and audit administrator roles —
refused when an account is created and when roles are granted, in any department."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.deps import COOKIE
from zhengwu.identity.errors import ThreeAdminsConflict
from zhengwu.identity.models import StaffBinding
from zhengwu.identity.roles import THREE_ADMINS, three_admin_roles
from zhengwu.orgs.models import Department

PASSWORD = "Sec-Passw0rd-2026"


def test_the_three_roles_are_told_apart_from_the_others() -> None:
    assert three_admin_roles(["case_handler", "audit_admin", "platform_admin"]) == [
        "platform_admin",
        "audit_admin",
    ]
    assert three_admin_roles(["security_admin", "seal_admin"]) == ["security_admin"]
    assert set(THREE_ADMINS) == {"platform_admin", "security_admin", "audit_admin"}
    identity.ensure_three_admins_apart(["audit_admin", "case_handler", "counter"])
    with pytest.raises(ThreeAdminsConflict) as refused:
        identity.ensure_three_admins_apart(["security_admin", "audit_admin"])
    assert refused.value.status_code == 409
    assert "安全管理员" in str(refused.value.detail) and "审计管理员" in str(refused.value.detail)


def _department(session: Session, code: str, name: str) -> Department:
    found = session.scalar(select(Department).where(Department.credit_code == code))
    if found is None:
        found = Department(credit_code=code, name=name, division_code="130000", level=2)
        session.add(found)
        session.flush()
    return found


def _staff(session: Session, login: str, roles: list[str], department: Department) -> Any:
    return identity.register_staff(
        session,
        name="工作人员",
        login_name=login,
        password=PASSWORD,
        department_id=department.id,
        roles=roles,
    )


@pytest.mark.db
def test_an_account_is_not_created_with_two_of_the_three(session: Session) -> None:
    office = _department(session, "11130000MB0000001X", "河北省网络安全中心")
    with pytest.raises(ThreeAdminsConflict):
        _staff(session, "both", ["platform_admin", "security_admin"], office)
    assert _staff(session, "auditor", ["audit_admin"], office).login_name == "auditor"


@pytest.mark.db
def test_roles_granting_a_second_of_the_three_are_refused_in_any_department(
    client: Any, session: Session
) -> None:
    office = _department(session, "11130000MB0000001X", "河北省网络安全中心")
    other = _department(session, "11130000MB0000002Y", "河北省数据局")
    admin = _staff(session, "root", ["platform_admin"], office)
    token = identity.start_session(session, admin, amr=["pwd", "otp"]).token
    security = _staff(session, "sec", ["security_admin"], office)
    session.flush()
    client.cookies.set(COOKIE, str(token))
    url = f"/api/v1/identity/staff/{security.id}/roles"

    same = client.put(url, json={"department_id": office.id, "roles": ["security_admin", "audit_admin"]})
    assert same.status_code == 409, same.text
    body = same.json()
    assert body["code"] == "identity.three_admins" and "三员" in body["detail"] and body["detail_en"]
    # Through a second department's binding: still one account.
    elsewhere = client.put(url, json={"department_id": other.id, "roles": ["audit_admin"]})
    assert elsewhere.status_code == 409
    bindings = session.scalars(select(StaffBinding).where(StaffBinding.account_id == security.id)).all()
    assert [b.roles for b in bindings] == [["security_admin"]]  # nothing half-done
    # A role outside the three is fine, and so is replacing one of the three by another.
    assert client.put(url, json={"department_id": other.id, "roles": ["case_handler"]}).status_code == 200
    assert client.put(url, json={"department_id": office.id, "roles": ["audit_admin"]}).status_code == 200


@pytest.mark.db
def test_the_audit_administrator_reads_the_change_log_and_nothing_else(client: Any, session: Session) -> None:
    office = _department(session, "11130000MB0000001X", "河北省网络安全中心")
    auditor = _staff(session, "auditor", ["audit_admin"], office)
    token = identity.start_session(session, auditor, amr=["pwd", "otp"]).token
    session.commit()  # change records are linked into their chain at commit
    client.cookies.set(COOKIE, str(token))
    log = client.get("/api/v1/security/audit/changes?entity=identity.staff")
    assert log.status_code == 200, log.text
    assert any(row["action"] == "staff.create" and row["entity_id"] == auditor.id for row in log.json())
    assert client.get("/api/v1/security/events").status_code == 403
    assert client.get("/api/v1/security/notices").status_code == 403
    assert client.get("/api/v1/identity/staff").status_code == 403
