"""Per-client grants (用证授权): a department system uses only the license types and operations a grant in
force allows it; refusals are clear (which type, which operation) and logged; each use names its grant;
platform staff manage grants over the API (second factor) and the CLI path shares the service."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clockkit import FakeClock
from license_shares_kit import API, ITEM, grant, insurance, login, machine, person
from licenses_kit import PERSON, Issuing
from seals_kit import assert_envelope
from zhengwu.identity import service as identity
from zhengwu.kernel.clock import utcnow
from zhengwu.licenses import grants
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.machine import type_scope
from zhengwu.licenses.models import LicenseUsage

pytestmark = pytest.mark.db

USE = {"purpose": "办理社保转移", "item_code": ITEM}


def _system(
    client: Any, issuing: Issuing, type_name: str, department_id: str | None = None
) -> tuple[str, dict[str, str]]:
    scope = f"licenses.use {type_scope(issuing.type_code(type_name))}"
    client_id, token = machine(client, issuing.session, department_id=department_id or issuing.department.id,
                               scope=scope, name="社保业务系统")  # fmt: skip
    return client_id, {"Authorization": f"Bearer {token}"}


def _usage(session: Session, operation: str) -> list[LicenseUsage]:
    query = select(LicenseUsage).where(LicenseUsage.operation == operation).order_by(LicenseUsage.at)
    return list(session.scalars(query))


def test_a_system_uses_only_the_operations_its_grant_allows(client: Any, issuing: Issuing) -> None:
    person(issuing.session)
    lic = insurance(issuing)
    client_id, system = _system(client, issuing, "社会保险参保证明")
    query = {"identifier": lic.identifier, **USE}
    # The token's scope alone is not enough: no grant, a clear 403 naming the type and the operation.
    refused = client.post(f"{API}/services/query", json=query, headers=system)
    body = assert_envelope(refused, 403, "licenses.grant_required")
    assert "社会保险参保证明" in body["detail"] and "查询" in body["detail"]
    assert body["type_code"] == lic.type_code and body["operation"] == "query"
    assert [u.result for u in _usage(issuing.session, "service_query")] == ["no_grant"]
    verify_only = grant(issuing.session, client_id, lic.type_code, ("verify",))
    assert_envelope(
        client.post(f"{API}/services/query", json=query, headers=system), 403, "licenses.grant_required"
    )
    assert_envelope(client.post(f"{API}/services/download-url", json=query, headers=system), 403,
                    "licenses.grant_required")  # fmt: skip
    verified = client.post(f"{API}/services/verify", headers=system,
                           json={"identifier": lic.identifier, "holder_code": PERSON, **USE})  # fmt: skip
    assert verified.status_code == 200 and verified.json()["valid"] is True
    [used] = [u for u in _usage(issuing.session, "verify_id")]
    assert used.grant_id == verify_only.id and used.caller == f"client:{client_id}"
    # Revoked: refused at once.
    grants.revoke(issuing.session, verify_only.id, reason="系统下线", actor="test")
    assert_envelope(client.post(f"{API}/services/verify", headers=system,
                                json={"identifier": lic.identifier, "holder_code": PERSON, **USE}), 403)  # fmt: skip
    assert _usage(issuing.session, "service_verify")[-1].result == "no_grant"


def test_a_grant_ends_with_its_window_and_with_the_clients_department(
    client: Any, issuing: Issuing, clock: FakeClock
) -> None:
    from zhengwu.identity.oidc.models import OidcClient
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    lic = insurance(issuing)
    client_id, system = _system(client, issuing, "社会保险参保证明")
    query = {"identifier": lic.identifier, **USE}
    made = grants.add(issuing.session, client_id=client_id, type_code=lic.type_code, operations=["query", "download"],
                      purpose="社保转移", valid_until=utcnow() + timedelta(hours=1), actor="test")  # fmt: skip
    found = client.post(f"{API}/services/query", json=query, headers=system)
    assert found.status_code == 200, found.text
    ticket = client.post(f"{API}/services/download-url", json=query, headers=system).json()
    # A download address made under a grant revoked since is void.
    grants.revoke(issuing.session, made.id, reason="误授", actor="test")
    assert_envelope(client.get(ticket["url"].split("127.0.0.1:8000", 1)[1]), 410, "licenses.ticket_gone")
    assert _usage(issuing.session, "download")[-1].result == "no_grant"
    again = grants.add(issuing.session, client_id=client_id, type_code=lic.type_code, operations=["query"],
                       purpose="社保转移", valid_until=utcnow() + timedelta(hours=1), actor="test")  # fmt: skip
    assert client.post(f"{API}/services/query", json=query, headers=system).status_code == 200
    assert _usage(issuing.session, "service_query")[-1].grant_id == again.id
    clock.advance(minutes=61)
    assert_envelope(
        client.post(f"{API}/services/query", json=query, headers=system), 403, "licenses.grant_required"
    )
    assert grants.status_of(again) == "expired"
    # Bound to another department since: the grant was for the first one.
    clock.advance(minutes=1)
    third = grants.add(issuing.session, client_id=client_id, type_code=lic.type_code, operations=["query"],
                       purpose="社保转移", actor="test")  # fmt: skip
    other = orgs.add_department(issuing.session, DepartmentCreate(
        credit_code=government_credit_code("130000", 881), name="河北省人力资源和社会保障厅", division_code="130000"))  # fmt: skip
    row = issuing.session.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).one()
    row.department_id = other.id
    issuing.session.flush()
    assert_envelope(
        client.post(f"{API}/services/query", json=query, headers=system), 403, "licenses.grant_required"
    )
    assert grants.status_of(third) == "active"


def test_grant_rules(client: Any, issuing: Issuing) -> None:
    type_code = issuing.type_code("社会保险参保证明")
    unbound, _ = machine(client, issuing.session, department_id=None, scope="licenses.use")
    with pytest.raises(LicenseError) as unbound_error:
        grants.add(issuing.session, client_id=unbound, type_code=type_code, operations=["query"], purpose="x",
                   actor="test")  # fmt: skip
    assert unbound_error.value.status_code == 422 and "未绑定部门" in unbound_error.value.detail
    client_id, _ = _system(client, issuing, "社会保险参保证明")
    for bad in ({"operations": []}, {"operations": ["delete"]}, {"purpose": "  "},
                {"valid_until": utcnow() - timedelta(days=1)}, {"client_id": "nobody"}):  # fmt: skip
        args: dict[str, Any] = {"client_id": client_id, "type_code": type_code, "operations": ["query"],
                                "purpose": "社保转移", "actor": "test", **bad}  # fmt: skip
        with pytest.raises(LicenseError) as err:
            grants.add(issuing.session, **args)
        assert err.value.status_code == 422, bad
    with pytest.raises(LicenseError) as unknown_type:
        grants.add(issuing.session, client_id=client_id, type_code="1" * 21, operations=["query"], purpose="x",
                   actor="test")  # fmt: skip
    assert unknown_type.value.status_code == 404
    first = grant(issuing.session, client_id, type_code)
    with pytest.raises(LicenseError) as twice:
        grant(issuing.session, client_id, type_code)
    assert twice.value.status_code == 409
    grants.revoke(issuing.session, first.id, reason="换新授权", actor="test")
    with pytest.raises(LicenseError) as revoked_twice:
        grants.revoke(issuing.session, first.id, reason="again", actor="test")
    assert revoked_twice.value.code == "licenses.grant_revoked" or revoked_twice.value.status_code == 409
    assert grant(issuing.session, client_id, type_code).id != first.id  # a new one after the revocation
    with pytest.raises(LicenseError) as missing:
        grants.revoke(issuing.session, "0" * 32, reason="x", actor="test")
    assert missing.value.status_code == 404


def _staff(session: Session, department_id: str, roles: list[str]) -> str:
    account = identity.register_staff(session, name="平台管理员", login_name=f"grt{secrets.token_hex(4)}",
                                      password="Licence-Passw0rd-2026", department_id=department_id, roles=roles)  # fmt: skip
    token = str(identity.start_session(session, account, amr=["pwd", "otp"]).token)
    session.flush()
    return token


def test_grants_over_http(client: Any, issuing: Issuing) -> None:
    from zhengwu.audit.models import AuditChange

    type_code = issuing.type_code("社会保险参保证明")
    client_id, _ = _system(client, issuing, "社会保险参保证明")
    body = {
        "client_id": client_id,
        "type_code": type_code,
        "operations": ["query", "verify"],
        "purpose": "社保转移",
    }
    login(client, issuing.session, None)
    assert_envelope(client.post(f"{API}/grants", json=body), 401)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["admin"]))
    assert_envelope(client.post(f"{API}/grants", json=body), 403)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["platform_admin"]))
    assert_envelope(client.post(f"{API}/grants", json={**body, "operations": ["erase"]}), 422)
    made = client.post(f"{API}/grants", json=body, headers={"Idempotency-Key": "grant-1"})
    assert made.status_code == 201, made.text
    grant_id = made.json()["id"]
    assert made.json()["status"] == "active" and made.json()["client_name"].endswith("社保业务系统")
    replay = client.post(f"{API}/grants", json=body, headers={"Idempotency-Key": "grant-1"})
    assert replay.status_code == 201 and replay.json()["id"] == grant_id
    assert_envelope(client.post(f"{API}/grants", json=body), 409, "licenses.grant_conflict")
    listed = client.get(f"{API}/grants?current=true&client_id={client_id}")
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "1"
    assert client.get(f"{API}/grants/{grant_id}").json()["operations"] == ["query", "verify"]
    assert_envelope(client.get(f"{API}/grants/{'0' * 32}"), 404, "licenses.grant_not_found")
    assert_envelope(client.post(f"{API}/grants/{grant_id}/revoke", json={}), 422)
    revoked = client.post(f"{API}/grants/{grant_id}/revoke", json={"reason": "系统下线"})
    assert revoked.status_code == 200 and revoked.json()["status_label"] == "已撤销"
    assert client.get(f"{API}/grants?current=true").headers["X-Total-Count"] == "0"
    actions = set(
        issuing.session.scalars(select(AuditChange.action).where(AuditChange.entity == "license_grant"))
    )
    assert actions == {"license_grant.add", "license_grant.revoke"}


def test_usage_views_name_the_grant_and_its_purpose(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    client_id, system = _system(client, issuing, "社会保险参保证明")
    made = grants.add(issuing.session, client_id=client_id, type_code=lic.type_code, operations=["verify"],
                      purpose="社保关系转移核验", actor="test")  # fmt: skip
    verified = client.post(f"{API}/services/verify", headers=system,
                           json={"identifier": lic.identifier, "holder_code": PERSON, **USE})  # fmt: skip
    assert verified.status_code == 200 and verified.json()["valid"] is True
    # The holder sees which grant the department system used, and what it was granted for.
    login(client, issuing.session, holder)
    mine = client.get(f"{API}/usage")
    assert mine.status_code == 200, mine.text
    [through] = [u for u in mine.json() if u["operation"] == "verify_id"]
    assert through["grant_id"] == made.id and through["grant_purpose"] == "社保关系转移核验"
    assert through["purpose"] == USE["purpose"]  # the call's own 用证事由 stays beside it
    # Staff holding licenses.grants list the uses made under a grant; others are refused.
    login(client, issuing.session, None)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["admin"]))
    assert_envelope(client.get(f"{API}/grants/{made.id}/usage"), 403)
    client.cookies.set("zw_session", _staff(issuing.session, issuing.department.id, ["platform_admin"]))
    under = client.get(f"{API}/grants/{made.id}/usage")
    assert under.status_code == 200 and under.headers["X-Total-Count"] == "1", under.text
    [use] = under.json()
    assert use["grant_id"] == made.id and use["grant_purpose"] == "社保关系转移核验"
    assert use["identifier"] == lic.identifier and use["result"] == "valid"
    assert use["caller"].endswith("社保业务系统")
    assert_envelope(client.get(f"{API}/grants/{'0' * 32}/usage"), 404, "licenses.grant_not_found")
