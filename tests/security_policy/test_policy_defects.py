"""The defects the staff-rights policy fixed (issue 10), each shown as it was found.

* the role ``admin`` of one department acted platform-wide on seals and OIDC clients;
* seals, catalog, OIDC-client and exchange administration accepted a password-only staff session;
* staff could switch their own TOTP off (or replace it) without a code.
"""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from policy_kit import PASSWORD, World, as_, init_pki, make_seal
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clockkit import FakeClock
from zhengwu.identity import mfa
from zhengwu.identity.models import Account, AuthEvent, StaffBinding
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.node import node_of
from zhengwu.seals import service as seals
from zhengwu.seals.models import Seal
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd

API = "/api/v1"


def _seal(session: Session, app: Any, credit_code: str) -> str:
    return make_seal(session, node_of(app).settings, credit_code)


def _events(session: Session, event_type: str) -> list[AuthEvent]:
    return list(session.scalars(select(AuthEvent).where(AuthEvent.event_type == event_type)))


# --- a department's admin acted platform-wide --------------------------------------------------------


def test_a_department_admin_cannot_make_suspend_resume_or_sign_with_another_departments_seals(
    app: Any, client: Any, session: Session, world: World
) -> None:
    es_id = _seal(session, app, world.a.credit_code)
    other = as_(client, world.staff(world.b, ["admin"]))
    made = other.post(f"{API}/seals", json={"department_credit_code": world.a.credit_code, "name": "假印章"})
    assert made.status_code == 403, made.text
    assert other.post(f"{API}/seals/{es_id}/suspend", json={"reason": "冒用"}).status_code == 403
    seals.suspend_seal(session, es_id, reason="核查", actor="test")
    session.flush()
    assert other.post(f"{API}/seals/{es_id}/resume", json={"reason": "冒用"}).status_code == 403
    document = write_ofd(DocumentSpec(title="决定书", blocks=[Paragraph("准予许可。")]))
    signed = other.post(
        f"{API}/seals/{es_id}/sign", content=document, headers={"Content-Type": "application/ofd"}
    )
    assert signed.status_code == 403
    # Nothing was made, and every refusal is in the audit trail with what was refused and where.
    assert session.scalar(select(func.count()).select_from(Seal)) == 1
    refusals = _events(session, "permission_denied")
    assert len(refusals) == 4
    assert {e.detail["right"] for e in refusals} == {"seals.manage", "seals.use"}
    assert {e.detail["department_id"] for e in refusals} == {world.a.id}


def test_a_department_admin_manages_the_seals_of_its_own_department_and_sub_departments(
    app: Any, client: Any, session: Session, world: World
) -> None:
    own = _seal(session, app, world.a.credit_code)
    below = _seal(session, app, world.a_child.credit_code)
    elsewhere = _seal(session, app, world.b.credit_code)
    admin = as_(client, world.staff(world.a, ["admin"]))
    assert admin.post(f"{API}/seals/{own}/suspend", json={"reason": "核查"}).status_code == 200
    assert admin.post(f"{API}/seals/{below}/suspend", json={"reason": "核查"}).status_code == 200
    assert admin.post(f"{API}/seals/{elsewhere}/suspend", json={"reason": "核查"}).status_code == 403
    assert {s["es_id"] for s in admin.get(f"{API}/seals").json()} == {own, below}
    # seal_admin reaches its own department only (the role says so: identity.roles).
    seal_admin = as_(client, world.staff(world.a, ["seal_admin"]))
    assert seal_admin.post(f"{API}/seals/{below}/resume", json={"reason": "核查完毕"}).status_code == 403
    assert seal_admin.post(f"{API}/seals/{own}/resume", json={"reason": "核查完毕"}).status_code == 200


def test_a_department_admin_cannot_administer_oidc_clients(
    app: Any, client: Any, session: Session, world: World
) -> None:
    row, _ = oidc_service.create_client(
        session,
        node_of(app).services.provide(OIDC).node_keys,
        ClientCreate(name="省人社厅业务系统", grant_types=["client_credentials"], scope="verify:person"),
        actor=None,
    )
    session.flush()
    admin = as_(client, world.staff(world.a, ["admin"]))
    assert admin.post(f"{API}/identity/clients/{row.client_id}/secret").status_code == 403
    node_client = {
        "name": "冒充的节点",
        "kind": "node",
        "grant_types": ["client_credentials"],
        "scope": "exchange:admin verify:person verify:legal_person",
    }
    created = admin.post(f"{API}/identity/clients", json=node_client)
    assert created.status_code == 403 and created.json()["code"] == "identity.oidc.admin_required"
    # The identity administrator (a role of platform reach) may.
    identity_admin = as_(client, world.staff(world.office, ["identity_admin"]))
    assert identity_admin.post(f"{API}/identity/clients", json=node_client).status_code == 201


def test_the_operators_office_admin_is_a_department_admin_not_a_platform_admin(
    client: Any, world: World
) -> None:
    # Catalog used to treat ``admin`` of 政务服务管理办公室 as a platform administrator; platform_admin says it.
    office_admin = as_(client, world.staff(world.office, ["admin"]))
    entry = {"catalog_code": "000101099000", "task_name": "测试事项", "task_type": "01", "use_level": "2",
             "by_law": "《测试法》"}  # fmt: skip
    assert office_admin.post(f"{API}/catalog/directory", json=entry).status_code == 403
    platform = as_(client, world.staff(world.office, ["platform_admin"]))
    assert platform.post(f"{API}/catalog/directory", json=entry).status_code == 201


def test_a_department_admin_grants_no_role_of_platform_reach(client: Any, world: World) -> None:
    admin = as_(client, world.staff(world.a, ["admin"]))
    new = {"login_name": "x.identity", "name": "王五", "department_id": world.a.id, "password": PASSWORD}
    assert admin.post(f"{API}/identity/staff", json={**new, "roles": ["identity_admin"]}).status_code == 403
    assert admin.post(f"{API}/identity/staff", json={**new, "roles": ["seal_admin"]}).status_code == 201
    below = {**new, "login_name": "x.below", "department_id": world.a_child.id, "roles": ["admin"]}
    assert admin.post(f"{API}/identity/staff", json=below).status_code == 201


def test_disabling_someone_needs_reach_over_every_department_they_belong_to(
    client: Any, session: Session, world: World
) -> None:
    both = world.staff_account(world.a, ["seal_user"])
    session.add(StaffBinding(account_id=both.id, department_id=world.b.id, roles=["seal_user"]))
    session.flush()
    admin = as_(client, world.staff(world.a, ["admin"]))
    assert admin.post(f"{API}/identity/staff/{both.id}/disable", json={"reason": "调离"}).status_code == 403
    platform = as_(client, world.staff(world.office, ["platform_admin"]))
    assert (
        platform.post(f"{API}/identity/staff/{both.id}/disable", json={"reason": "调离"}).status_code == 200
    )


# --- the second factor was enforced on the staff API only -------------------------------------------


@pytest.mark.parametrize(
    ("roles", "method", "path", "body"),
    [
        (["seal_admin"], "POST", "/seals", {"department_credit_code": "{a}", "name": "行政审批专用章"}),
        (["platform_admin"], "POST", "/catalog/directory", {"catalog_code": "000101099000",
         "task_name": "测试事项", "task_type": "01", "use_level": "2", "by_law": "《测试法》"}),
        (["identity_admin"], "GET", "/identity/clients", None),
        (["platform_admin"], "GET", "/exchange/status", None),
    ],
    ids=["seals", "catalog", "oidc-clients", "exchange"],
)  # fmt: skip
def test_a_password_only_staff_session_is_refused_and_a_second_factor_admits_it(
    app: Any,
    client: Any,
    session: Session,
    world: World,
    roles: list[str],
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    if path == "/seals":
        init_pki(session, node_of(app).settings)
    if body is not None:
        body = {k: v.format(a=world.a.credit_code) for k, v in body.items()}
    department = world.office if "platform_admin" in roles or "identity_admin" in roles else world.a
    password_only = as_(client, world.staff(department, roles, factor=False))
    refused = password_only.request(method, f"{API}{path}", json=body)
    assert refused.status_code == 401 and refused.json()["code"] == "identity.step_up_required", refused.text
    assert refused.json()["second_factor"] == ["hwk", "otp"]
    two_factors = as_(client, world.staff(department, roles, factor=True))
    assert two_factors.request(method, f"{API}{path}", json=body).status_code in (200, 201)


def _enrolled(client: Any, world: World, clock: FakeClock) -> tuple[Account, pyotp.TOTP]:
    """A staff member with TOTP, logged in with password and code."""
    account = world.staff_account(world.a, ["seal_admin"])
    secret, _ = mfa.begin_enrolment(world.session, account)
    totp = pyotp.TOTP(secret)
    mfa.confirm_enrolment(world.session, account, totp.at(clock.now))
    world.session.flush()
    as_(client, None)
    clock.advance(seconds=30)
    assert client.post(f"{API}/identity/login", json={"identifier": account.login_name, "password": PASSWORD})
    answer = client.post(f"{API}/identity/login/mfa", json={"code": totp.at(clock.now)})
    assert answer.status_code == 200, answer.text
    return account, totp


def test_turning_ones_own_totp_off_needs_the_code_not_only_the_password(
    client: Any, session: Session, world: World, clock: FakeClock
) -> None:
    account, totp = _enrolled(client, world, clock)
    clock.advance(minutes=10)
    # A password step-up makes the session fresh, but it is not the factor being removed.
    assert client.post(f"{API}/identity/step-up", json={"password": PASSWORD}).status_code == 200
    refused = client.post(f"{API}/identity/mfa/disable", json={})
    assert refused.status_code == 401 and refused.json()["code"] == "identity.step_up_required"
    assert client.post(f"{API}/identity/mfa/enrol", json={}).status_code == 401  # replacing it: the same
    session.refresh(account)
    assert account.totp_enabled
    clock.advance(seconds=30)
    assert client.post(f"{API}/identity/step-up", json={"code": totp.at(clock.now)}).status_code == 200
    assert client.post(f"{API}/identity/mfa/disable", json={}).status_code == 204
    session.refresh(account)
    assert not account.totp_enabled
    # The session no longer carries a factor the account has not got: staff actions wait for a new one.
    assert client.get(f"{API}/seals").status_code == 401


def test_a_platform_admin_removes_a_lost_factor_and_it_is_audited(
    client: Any, session: Session, world: World, clock: FakeClock
) -> None:
    account, _ = _enrolled(client, world, clock)
    admin = as_(client, world.staff(world.a, ["admin"]))
    reset = f"{API}/identity/staff/{account.id}/mfa-reset"
    assert admin.post(reset, json={"reason": "手机遗失"}).status_code == 403
    platform = as_(client, world.staff(world.office, ["platform_admin"]))
    done = platform.post(reset, json={"reason": "手机遗失"})
    assert done.status_code == 200 and done.json()["mfa_enabled"] is False
    (event,) = _events(session, "mfa_reset")
    assert event.account_id == account.id and event.detail["reason"] == "手机遗失"
    assert event.detail["admin"].startswith("admin:")


def test_the_second_factor_counts_only_within_its_window(
    app: Any, client: Any, session: Session, world: World, clock: FakeClock
) -> None:
    from zhengwu.identity.context import configure

    settings = node_of(app).settings.model_copy(deep=True)
    settings.identity.staff_factor_max_age_minutes = 10
    configure(settings)
    try:
        _, totp = _enrolled(client, world, clock)
        assert client.get(f"{API}/seals").status_code == 200
        clock.advance(minutes=9)
        assert client.get(f"{API}/seals").status_code == 200
        clock.advance(minutes=2)
        late = client.get(f"{API}/seals")
        assert late.status_code == 401 and late.json()["max_age"] == 600
        # A password step-up does not renew the second factor; the code does.
        assert client.post(f"{API}/identity/step-up", json={"password": PASSWORD}).status_code == 200
        assert client.get(f"{API}/seals").status_code == 401
        assert client.post(f"{API}/identity/step-up", json={"code": totp.at(clock.now)}).status_code == 200
        assert client.get(f"{API}/seals").status_code == 200
        assert {e.detail["reason"] for e in _events(session, "step_up_required")} == {"second_factor"}
    finally:
        configure(node_of(app).settings)


def test_the_enrolment_page_replaces_a_factor_only_after_that_factor(
    client: Any, session: Session, world: World, clock: FakeClock
) -> None:
    account, totp = _enrolled(client, world, clock)
    clock.advance(minutes=10)
    assert client.post(f"{API}/identity/step-up", json={"password": PASSWORD}).status_code == 200
    page = client.get("/identity/mfa/setup", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/identity/step-up")
    session.refresh(account)
    assert account.totp_enabled  # still the old factor: nothing was replaced
    clock.advance(seconds=30)
    assert client.post(f"{API}/identity/step-up", json={"code": totp.at(clock.now)}).status_code == 200
    assert client.get("/identity/mfa/setup", follow_redirects=False).status_code == 200
