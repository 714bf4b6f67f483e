"""Department machine services over HTTP: scopes per license type, 用证事由 and item/case required, query by
identifier and by holder, verification, one-time download addresses, annotated copies — each use in the
holder's usage log under the department system's name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from clockkit import FakeClock
from license_shares_kit import API, ITEM, grant, insurance, login, machine, person
from licenses_kit import PERSON, Issuing
from seals_kit import assert_envelope
from zhengwu.kernel.clock import utcnow
from zhengwu.licenses.machine import type_scope

USE = {"purpose": "办理社保转移", "item_code": ITEM}


def _system(client: Any, issuing: Issuing, *types: str) -> dict[str, str]:
    scope = " ".join(["licenses.use", *(type_scope(issuing.type_code(t)) for t in types)])
    client_id, token = machine(
        client, issuing.session, department_id=issuing.department.id, scope=scope, name="社保业务系统"
    )
    for name in types:
        grant(issuing.session, client_id, issuing.type_code(name))
    return {"Authorization": f"Bearer {token}"}


def test_query_verify_and_the_usage_log(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, None)
    query = {"identifier": lic.identifier, **USE}
    assert_envelope(client.post(f"{API}/services/query", json=query), 401)
    other_type = _system(client, issuing, "营业执照")
    assert_envelope(client.post(f"{API}/services/query", json=query, headers=other_type), 403,
                    "licenses.service_denied")  # fmt: skip
    _, no_use = machine(client, issuing.session, department_id=None, scope=type_scope(lic.type_code))
    assert_envelope(client.post(f"{API}/services/query", json=query,
                                headers={"Authorization": f"Bearer {no_use}"}), 403)  # fmt: skip
    system = _system(client, issuing, "社会保险参保证明")
    assert_envelope(client.post(f"{API}/services/query", json={"identifier": lic.identifier, "item_code": ITEM},
                                headers=system), 422)  # fmt: skip
    assert_envelope(client.post(f"{API}/services/query", json={"identifier": lic.identifier, "purpose": "x"},
                                headers=system), 422)  # fmt: skip
    found = client.post(f"{API}/services/query", json=query, headers=system)
    assert found.status_code == 200 and found.json()["face"]["place"] == "石家庄市"
    by_holder = client.post(f"{API}/services/query-by-holder", headers=system, json={
        "holder_code": PERSON, "type_code": lic.type_code, "purpose": "核对参保", "case_number": "SB-2026-0001"})  # fmt: skip
    assert by_holder.status_code == 200 and [x["id"] for x in by_holder.json()["licenses"]] == [lic.id]
    assert PERSON not in by_holder.text
    assert_envelope(client.post(f"{API}/services/query-by-holder", headers=system, json={
        "holder_code": "130102199001011234", "type_code": lic.type_code, **USE}), 422, "licenses.holder_invalid")  # fmt: skip
    verified = client.post(f"{API}/services/verify", headers=system,
                           json={"identifier": lic.identifier, "holder_code": PERSON, **USE})  # fmt: skip
    assert verified.status_code == 200 and verified.json()["valid"] is True
    login(client, issuing.session, holder)
    usage = client.get(f"{API}/usage").json()
    mine = {(u["operation"], u["caller"], u["purpose"], u["item_code"], u["case_number"], u["result"])
            for u in usage if u["caller"] != "持证人本人"}  # fmt: skip
    who = "河北省市场监督管理局·社保业务系统"
    assert mine >= {
        ("service_query", who, "办理社保转移", ITEM, None, "valid"),
        ("service_query_holder", who, "核对参保", None, "SB-2026-0001", "valid"),
        ("verify_id", who, "办理社保转移", ITEM, None, "valid"),
    }
    # The refused call of the system without the type's scope is in the log too.
    assert any(u["operation"] == "service_query" and u["result"] == "denied" for u in usage)
    assert all("client:" not in u["caller"] for u in usage)
    # The machine reads of the person's license are in the person's read log too (conventions §3).
    reads = client.get("/api/v1/identity/me/reads").json()
    assert {(r["what"], r["purpose"]) for r in reads} >= {
        (f"license:{lic.type_code}", "办理社保转移"),
        (f"license:{lic.type_code}", "核对参保"),
    }
    assert all(r["reader"].startswith("client:") for r in reads)


def test_one_time_download(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    from zhengwu.licenses import service

    holder = person(issuing.session)
    lic = insurance(issuing)
    system = _system(client, issuing, "社会保险参保证明")
    login(client, issuing.session, None)
    ticket = client.post(
        f"{API}/services/download-url", headers=system, json={"identifier": lic.identifier, **USE}
    )
    assert ticket.status_code == 200, ticket.text
    path = ticket.json()["url"].split("127.0.0.1:8000", 1)[1]
    first = client.get(path)
    assert first.status_code == 200 and first.content == service.license_file(issuing.settings, lic)
    assert_envelope(client.get(path), 410, "licenses.ticket_gone")
    assert_envelope(client.get(f"{API}/downloads/zld_unknown-ticket"), 404)
    late = client.post(
        f"{API}/services/download-url", headers=system, json={"identifier": lic.identifier, **USE}
    )
    clock.advance(minutes=6)
    assert_envelope(client.get(late.json()["url"].split("127.0.0.1:8000", 1)[1]), 410)
    login(client, issuing.session, holder)
    results = sorted(u["result"] for u in client.get(f"{API}/usage").json() if u["operation"] == "download")
    assert results == ["ok", "ticket_expired", "ticket_used"]


def test_a_department_system_asks_for_an_annotated_copy(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    system = _system(client, issuing, "社会保险参保证明")
    until = (utcnow() + timedelta(days=3)).isoformat()
    made = client.post(f"{API}/services/copies", headers=system,
                       json={"identifier": lic.identifier, "expires_at": until, **USE})  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["copy_id"]
    data = client.get(made.json()["url"].split("127.0.0.1:8000", 1)[1]).content
    checked = client.post(
        f"{API}/verify/file", content=data, headers={"Content-Type": "application/ofd"}
    ).json()
    assert checked["valid"] is True and checked["seal_verdict"] == "VALID"
    assert checked["annotated_copy"]["license_identifier"] == lic.identifier
    assert checked["annotated_copy"]["purpose"] == "办理社保转移"
    assert_envelope(client.post(f"{API}/services/copies", headers=system,
                                json={"identifier": lic.identifier, "expires_at": until, "purpose": "x"}), 422)  # fmt: skip
    past = (utcnow() - timedelta(hours=1)).isoformat()
    assert_envelope(client.post(f"{API}/services/copies", headers=system,
                                json={"identifier": lic.identifier, "expires_at": past, **USE}), 400,
                    "licenses.copy_expiry")  # fmt: skip
    login(client, issuing.session, holder)
    copies = sorted(u["result"] for u in client.get(f"{API}/usage").json() if u["operation"] == "copy")
    assert copies == ["made", "refused"]
