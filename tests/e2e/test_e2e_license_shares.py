"""A province node over HTTP: a holder shares a license with a bank's system, the bank redeems it, the
holder revokes the share and the next redemption is refused; the bank's system (client credentials with
the license type's scope) queries with its 用证事由 and downloads once through a one-time address (the
second use refused); the holder sees every one of these uses, named, in the usage log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from test_e2e_licenses import _issuer, _seed

from licenses_kit import INSURANCE_FACE
from nodekit import database_urls, register_person, start_node
from zhengwu.licenses.machine import type_scope

PASSWORD = "Holder-Passw0rd-2026"
ITEM = "11450721MB155808114000104002000"


@pytest.mark.e2e
@pytest.mark.db  # the nodes run on PostgreSQL too in .ci/run's second pass
def test_share_revoke_and_department_services(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["province"])
    node = start_node("province", "127.0.0.1", tmp_path, urls["province"], None, national=False)
    try:
        department = _seed(node)
        number, _ = register_person(node, 3201, "演示用户", PASSWORD)
        types = httpx.get(f"{node.url}/api/v1/licenses/types").json()
        type_code = next(t["code"] for t in types if t["name"] == "社会保险参保证明")
        staff = _issuer(node)
        issued = staff.post("/api/v1/licenses", json={
            "type_code": type_code, "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE})  # fmt: skip
        staff.close()
        assert issued.status_code == 201, issued.text
        lic = issued.json()
        # A department system: bound to its department, and granted the type's use by the platform.
        bank = node.cli("identity", "clients", "create", "--name", "某银行开户系统", "--grant", "client_credentials",
                        "--scope", f"licenses.use {type_scope(type_code)}", "--department", department,
                        "--audience", f"{node.url}/api/v1/licenses")  # fmt: skip
        granted = node.cli("licenses", "grants", "add", "--client", bank["client_id"], "--type", type_code,
                           "--operations", "query,download", "--purpose", "开户核验")  # fmt: skip
        assert granted["status"] == "active" and granted["operations"] == ["download", "query"]
        token = httpx.post(f"{node.url}/oidc/token", data={"grant_type": "client_credentials"},
                           auth=(bank["client_id"], bank["client_secret"])).json()["access_token"]  # fmt: skip
        as_bank = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=node.url) as holder:
            holder.post("/api/v1/identity/login", json={"identifier": number, "password": PASSWORD})
            until = (datetime.now(UTC) + timedelta(days=7)).isoformat()
            made = holder.post(f"/api/v1/licenses/{lic['id']}/shares", json={
                "audience_kind": "client", "audience": bank["client_id"], "purpose": "开立账户",
                "expires_at": until, "grants": ["face"]})  # fmt: skip
            assert made.status_code == 201, made.text
            share = made.json()
            redeem = {"token": share["token"], "purpose": "开户核验"}
            seen = httpx.post(f"{node.url}/api/v1/licenses/shares/redeem", json=redeem, headers=as_bank)
            assert seen.status_code == 200, seen.text
            assert seen.json()["valid"] is True and seen.json()["license"]["identifier"] == lic["identifier"]
            stranger = httpx.post(f"{node.url}/api/v1/licenses/shares/redeem", json=redeem)
            assert stranger.status_code == 403 and stranger.json()["code"] == "licenses.share_audience"
            revoked = holder.delete(f"/api/v1/licenses/{lic['id']}/shares/{share['id']}")
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
            gone = httpx.post(f"{node.url}/api/v1/licenses/shares/redeem", json=redeem, headers=as_bank)
            assert gone.status_code == 410 and gone.json()["detail"] == "持证人已撤销该共享"
            use = {"identifier": lic["identifier"], "purpose": "办理社保转移", "item_code": ITEM}
            queried = httpx.post(f"{node.url}/api/v1/licenses/services/query", json=use, headers=as_bank)
            assert queried.status_code == 200 and queried.json()["face"]["place"] == INSURANCE_FACE["place"]
            no_reason = httpx.post(f"{node.url}/api/v1/licenses/services/query", headers=as_bank,
                                   json={"identifier": lic["identifier"], "item_code": ITEM})  # fmt: skip
            assert no_reason.status_code == 422
            ticket = httpx.post(
                f"{node.url}/api/v1/licenses/services/download-url", json=use, headers=as_bank
            )
            assert ticket.status_code == 200, ticket.text
            first = httpx.get(ticket.json()["url"])
            assert first.status_code == 200 and first.content[:2] == b"PK"  # the OFD (a zip package)
            second = httpx.get(ticket.json()["url"])
            assert second.status_code == 410 and second.json()["code"] == "licenses.ticket_gone"
            usage = holder.get("/api/v1/licenses/usage").json()
        # The system is named with its department: 某部门·某银行开户系统.
        uses = {(u["operation"], u["caller"].rsplit("·", 1)[-1], u["result"]) for u in usage}
        assert {
            ("share_redeem", "某银行开户系统", "valid"),
            ("share_redeem", "共享链接持有人", "share_audience"),
            ("share_redeem", "某银行开户系统", "share_revoked"),
            ("service_query", "某银行开户系统", "valid"),
            ("download_url", "某银行开户系统", "valid"),
            ("download", "某银行开户系统", "ok"),
            ("download", "某银行开户系统", "ticket_used"),
        } <= uses
        assert all("client:" not in u["caller"] and "holder:" not in u["caller"] for u in usage)
        assert next(u for u in usage if u["operation"] == "service_query")["item_code"] == ITEM
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)
