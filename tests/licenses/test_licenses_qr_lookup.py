"""Lookups by the content of a license's 2-D code (QueryCertInfoByQrCode): anyone gets the verification
answer and the code's public face once its signature holds; a department system gets the license under
its grant for ``query``; forged, altered and share codes are refused clearly; every lookup is logged."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import select

from license_shares_kit import API, ITEM, grant, insurance, login, machine, person
from licenses_kit import Issuing
from seals_kit import assert_envelope
from zhengwu.licenses import service
from zhengwu.licenses.machine import type_scope
from zhengwu.licenses.models import LicenseUsage

pytestmark = pytest.mark.db

USE = {"purpose": "窗口扫码核验", "item_code": ITEM}


def _code(issuing: Issuing, lic: Any) -> str:
    """The content of the license's 2-D code, as a scanner reads it (the verification address)."""
    kind = service.get_type(issuing.session, lic.type_code)
    return service.face_of(issuing.session, issuing.settings, lic, kind, at=lic.issued_at).verify_url


def _altered(code: str) -> str:
    url, token = code.split("#")
    head, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    claims["hn"] = "张*三"
    forged = base64.urlsafe_b64encode(json.dumps(claims, ensure_ascii=False).encode()).rstrip(b"=").decode()
    return f"{url}#{forged}.{sig}"


def test_anyone_reads_the_answer_and_the_public_face(client: Any, issuing: Issuing) -> None:
    person(issuing.session)
    lic = insurance(issuing)
    code = _code(issuing, lic)
    login(client, issuing.session, None)
    found = client.post(f"{API}/qr-lookup", json={"qr": code})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["valid"] is True and body["status"] == "valid" and body["type_name"] == "社会保险参保证明"
    assert body["face"] == {"identifier": lic.identifier, "type_name": "社会保险参保证明",
                            "issuer_name": lic.issuer_name, "holder_name_masked": "演**户",
                            "issued_on": lic.issued_at.date().isoformat(),
                            "valid_until": lic.valid_until.isoformat() if lic.valid_until else None}  # fmt: skip
    assert "演示用户" not in found.text
    # The payload alone (what an app that strips the address sends) answers the same.
    assert client.post(f"{API}/qr-lookup", json={"qr": code.split("#")[1]}).json()["valid"] is True
    altered = client.post(f"{API}/qr-lookup", json={"qr": _altered(code)})
    assert altered.status_code == 200 and altered.json()["valid"] is False and altered.json()["face"] is None
    assert "签名无效" in altered.json()["reason"]
    share = client.post(f"{API}/qr-lookup", json={"qr": "http://127.0.0.1:8000/licenses/share#zls_abcdefgh"})
    assert_envelope(share, 422, "licenses.qr_share")
    assert_envelope(client.post(f"{API}/qr-lookup", json={"qr": "short"}), 422)
    service.change_status(issuing.session, lic.id, "revoke", reason="依法注销", actor="test", bus=None)
    revoked = client.post(f"{API}/qr-lookup", json={"qr": code}).json()
    assert revoked["valid"] is False and revoked["status"] == "revoked" and revoked["face"]["identifier"]
    results = list(issuing.session.scalars(
        select(LicenseUsage.result).where(LicenseUsage.operation == "qr_lookup").order_by(LicenseUsage.at)))  # fmt: skip
    assert results == ["valid", "valid", "bad_signature", "revoked"]


def test_a_department_system_queries_by_the_code_under_its_grant(client: Any, issuing: Issuing) -> None:
    person(issuing.session)
    lic = insurance(issuing)
    code = _code(issuing, lic)
    client_id, token = machine(client, issuing.session, department_id=issuing.department.id,
                               scope=f"licenses.use {type_scope(lic.type_code)}", name="窗口系统")  # fmt: skip
    system = {"Authorization": f"Bearer {token}"}
    login(client, issuing.session, None)
    assert_envelope(client.post(f"{API}/services/query-by-qr", json={"qr": code, **USE}), 401)
    assert_envelope(client.post(f"{API}/services/query-by-qr", json={"qr": code, **USE}, headers=system), 403,
                    "licenses.grant_required")  # fmt: skip
    made = grant(issuing.session, client_id, lic.type_code, ("query",))
    found = client.post(f"{API}/services/query-by-qr", json={"qr": code, **USE}, headers=system)
    assert found.status_code == 200, found.text
    assert found.json()["identifier"] == lic.identifier and found.json()["face"]["place"]
    assert_envelope(client.post(f"{API}/services/query-by-qr", json={"qr": _altered(code), **USE}, headers=system),
                    422, "licenses.qr_invalid")  # fmt: skip
    assert_envelope(client.post(f"{API}/services/query-by-qr", json={"qr": code, "purpose": "x"}, headers=system),
                    422)  # fmt: skip
    rows = list(issuing.session.scalars(
        select(LicenseUsage).where(LicenseUsage.operation == "service_query_qr").order_by(LicenseUsage.at)))  # fmt: skip
    assert [(r.result, r.grant_id) for r in rows] == [
        ("no_grant", None),
        ("valid", made.id),
        ("bad_code", None),
    ]
