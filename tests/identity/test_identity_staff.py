"""Staff accounts: department binding with roles; administrators need a second factor."""

from __future__ import annotations

from typing import Annotated, Any

import pyotp
from fastapi import Depends
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.identity import mfa, service
from zhengwu.identity.models import AuthEvent
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.identity.rights import STAFF_MANAGE
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Staff-Passw0rd!"
API = "/api/v1/identity"


def _install(app: Any) -> None:
    @app.get("/test-only/staff")
    def staff_only(auth: Annotated[StaffPrincipal, Depends(guard(STAFF_MANAGE))]) -> dict[str, Any]:
        return {"departments": list(auth.department_ids)}


def _login(client: Any, identifier: str, password: str) -> Any:
    return client.post(f"{API}/login", json={"identifier": identifier, "password": password})


def test_staff_need_role_and_second_factor(app: Any, client: Any, session: Session) -> None:
    _install(app)
    department = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 7001),
            name="石家庄市演示审批局",
            division_code="130100",
        ),
    )
    staff = service.register_staff(
        session,
        name="演示管理员",
        login_name="Admin-Test",
        password=PASSWORD,
        department_id=department.id,
        roles=["admin"],
    )
    secret, _ = mfa.begin_enrolment(session, staff)
    mfa.confirm_enrolment(session, staff, pyotp.TOTP(secret).now())
    service.register_natural_person(
        session, name="演示用户一", id_number=nth_citizen_id(1), phone=nth_phone(1), password="Demo-Passw0rd"
    )
    session.flush()

    assert _login(client, nth_phone(1), "Demo-Passw0rd").status_code == 200
    citizen = client.get("/test-only/staff")
    assert citizen.status_code == 403 and citizen.json()["detail"] == "仅限具有相应权限的工作人员"
    client.post(f"{API}/logout", json={})

    first = _login(client, "admin-test", PASSWORD)
    assert first.status_code == 200 and first.json()["mfa_required"] is True
    assert client.get("/test-only/staff").status_code == 401
    # A fresh code (the enrolment code is spent): move the clock one step forward.
    from datetime import timedelta

    from zhengwu.kernel import clock

    later = clock.utcnow() + timedelta(seconds=31)
    clock.set_clock(lambda: later)
    try:
        code = pyotp.TOTP(secret).at(later)
        assert client.post(f"{API}/login/mfa", json={"code": code}).status_code == 200
        ok = client.get("/test-only/staff")
    finally:
        clock.set_clock(None)
    assert ok.status_code == 200 and ok.json() == {"departments": [department.id]}
    denied = session.scalar(
        select(func.count()).select_from(AuthEvent).where(AuthEvent.event_type == "permission_denied")
    )
    assert denied == 1


def test_staff_without_second_factor_get_step_up(app: Any, client: Any, session: Session) -> None:
    _install(app)
    department = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code("130100", 7002),
            name="石家庄市演示公安局",
            division_code="130100",
        ),
    )
    service.register_staff(
        session,
        name="演示管理员",
        login_name="admin-nomfa",
        password=PASSWORD,
        department_id=department.id,
        roles=["admin"],
    )
    session.flush()
    assert _login(client, "admin-nomfa", PASSWORD).json()["mfa_required"] is False
    response = client.get("/test-only/staff")
    assert response.status_code == 401 and response.json()["code"] == "identity.step_up_required"
