"""No false positives: real zhengwu traffic through nginx + ModSecurity + CRS at paranoia level 2.

Two parts. Flows driven here against a node behind the WAF: a staff member with a second factor,
catalog imports (XLSX and JSON lines with Chinese text), OFD uploads (raw and multipart) for seal
verification, Chinese catalog searches, a department system's client-credentials token used on a JSON
API. The suite's own end-to-end tests (citizen registration and login, OIDC single sign-on with PKCE,
userinfo and back-channel logout, trust transfer between nodes, licence issuing, verification and
download, the signed exchange between two nodes) run behind the WAF themselves wherever it is installed
(``waf_kit.behind_the_waf``): they must pass, and no audit log may show a WAF refusal.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

import catalog_kit
from nodekit import Node, eventually, register_person, staff_client
from waf_kit import audit_entries, refused
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, Table, write_ofd

pytestmark = pytest.mark.e2e

PASSWORD = "Waf-Passw0rd-2026"


def _prepare(node: Node) -> str:
    """The basic catalog entry and a department straight into the node's database, a platform
    administrator through the CLI; returns the department's credit code."""
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            catalog_kit.make_basic(session)
            code = str(catalog_kit.make_department(session, "130100", "石家庄市公安局", 21).credit_code)
    finally:
        engine.dispose()
    added = subprocess.run(
        [sys.executable, "-m", "zhengwu", "users", "add-staff", "--login-name", "waf.admin", "--name", "平台管理员",
         "--department", code, "--role", "platform_admin", "--password-stdin"],
        env=node.env, input=PASSWORD + "\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return code


def _xlsx(item: dict[str, Any]) -> bytes:
    from zhengwu.catalog import codetables as ct

    scalar = [k for k, v in item.items() if not isinstance(v, list)]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "实施清单"
    sheet.append([ct.label(k) if k not in ("dept_code", "catalog_code") else k for k in scalar])
    sheet.append([item[k] for k in scalar])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _import(staff: httpx.Client, body: bytes, media: str, filename: str) -> dict[str, Any]:
    started = staff.post(
        "/api/v1/catalog/imports",
        params={"filename": filename},
        content=body,
        headers={"Content-Type": media},
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    final: dict[str, Any] = {}

    def done() -> bool:
        final.update(staff.get(f"/api/v1/catalog/imports/{job_id}").json())
        return final.get("status") not in ("queued", "running")

    assert eventually(done, 120), final
    return final


def test_staff_imports_ofd_uploads_searches_and_machine_tokens_pass_the_waf(waf_node: Node) -> None:
    code = _prepare(waf_node)
    staff = staff_client(waf_node, "waf.admin", PASSWORD)
    try:
        # XLSX with Chinese headers and text, then the same item as JSON lines with an edited guide.
        item = {**catalog_kit.guide(code, is_fee="0"), "fee_projects": []}  # free of charge: no fee sheet
        xlsx = _import(
            staff,
            _xlsx(item),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "事项.xlsx",
        )
        assert xlsx["status"] == "done" and xlsx["summary"]["inserted"] == 1, (
            xlsx["summary"],
            xlsx["rejects"],
        )

        edited = {
            **item,
            "handle_flow": "1. 申请人提交《护照申请表》（含照片）；2. 窗口受理、审核 & 签发——当场告知结果！",
        }
        jsonl = _import(
            staff,
            (json.dumps(edited, ensure_ascii=False) + "\n").encode(),
            "application/x-ndjson",
            "事项.jsonl",
        )
        summary = jsonl["summary"]
        assert jsonl["status"] == "done" and summary["rejected_rows"] == 0, (summary, jsonl["rejects"])
        assert summary["updated"] + summary["unchanged"] == 1, summary
    finally:
        staff.close()
    # Searches people type: Chinese, with spaces, punctuation and quotes.
    for q in ("护照", "普通护照 签发", "护照（补办）", "“护照”、签证", "身份证-换领", "营业执照#变更"):
        answer = httpx.get(f"{waf_node.url}/api/v1/catalog/search", params={"q": q})
        assert answer.status_code == 200, (q, answer.text[:200])
    # OFD documents for verification: raw application/ofd and a multipart form upload.
    ofd = write_ofd(
        DocumentSpec(
            title="河北省政务服务事项办理结果通知书",
            blocks=[
                Paragraph(
                    "申请人：欧阳娜娜。您于 2026年12月5日 提交的申请（受理编号 SJZ-2026-000123）已办结。"
                ),
                Table([["事项名称", "办理结果"], ["普通护照签发", "准予许可"]]),
            ],
        )
    )
    raw = httpx.post(
        f"{waf_node.url}/api/v1/seals/verify", content=ofd, headers={"Content-Type": "application/ofd"}
    )
    multipart = httpx.post(
        f"{waf_node.url}/api/v1/seals/verify", files={"file": ("办理结果通知书.ofd", ofd, "application/ofd")}
    )
    assert raw.status_code == multipart.status_code == 200, (raw.text[:300], multipart.text[:300])
    assert raw.json() == multipart.json()
    # A department system: client-credentials token (HTTP Basic, form body), then a JSON API with the JWT.
    client = waf_node.cli(
        "identity", "clients", "create", "--name", "省人社厅社保业务系统", "--grant", "client_credentials",
        "--scope", "verify:person",
    )  # fmt: skip
    token = httpx.post(
        f"{waf_node.url}/oidc/token",
        data={"grant_type": "client_credentials", "scope": "verify:person"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert token.status_code == 200, token.text
    asked = httpx.post(
        f"{waf_node.url}/api/v1/verify/person",
        json={"name": "欧阳娜娜", "id_number": "110101199003070011"},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )
    assert asked.status_code in (200, 404, 503), asked.text  # the node's answer, whatever the registry says
    # A citizen registers with a Chinese name and logs in with a password and a second factor.
    number, account = register_person(waf_node, 4242, "欧阳娜娜", PASSWORD)
    citizen = staff_client(waf_node, number, PASSWORD)  # the same steps as staff: password, TOTP, recovery
    assert citizen.get("/api/v1/identity/me").json()["account"]["id"] == account["id"]
    citizen.close()
    audit_log = waf_node.waf.rendered.audit_log
    assert refused(audit_log) == []
    assert not [t for t in audit_entries(audit_log) if t["response"]["http_code"] == 403]


# Random base64url credentials: one in a few hundred holds "--…-" (CRS 942440, "SQL comment"), or "0x"
# and hex digits (942450), or a dozen "-" (942430). They must never cost a citizen their session.
UNLUCKY = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.ab--cd-0x1f2e3d-ab-cd-ef-gh-ij-kl-mn-op-qr-st-uv"


def test_credentials_that_look_like_sql_pass_the_waf(waf_node: Node) -> None:
    session_cookie = "Ab--cD-0x1f2e3dEf-gh-ij-kl-mn-op-qr-st"
    with httpx.Client(base_url=waf_node.url, timeout=30) as client:
        for name in ("zw_session", "__Host-zw_session", "zw_csrf", "zw_kept_form"):
            page = client.get("/", headers={"Cookie": f"{name}={session_cookie}"})
            assert page.status_code == 200, (name, page.status_code)
        answers = [
            client.post("/oidc/introspect", data={"token": UNLUCKY}),
            client.post("/oidc/revoke", data={"token": UNLUCKY, "token_type_hint": "access_token"}),
            client.post("/oidc/token", data={"grant_type": "authorization_code", "code": UNLUCKY,
                                             "code_verifier": UNLUCKY, "redirect_uri": "https://rp.example/cb"}),
            client.post("/oidc/token", data={"grant_type": "refresh_token", "refresh_token": UNLUCKY}),
            client.post("/oidc/token", data={"grant_type": "client_credentials", "client_assertion": UNLUCKY,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}),
            client.get("/oidc/logout", params={"id_token_hint": UNLUCKY}),
            client.post("/oidc/backchannel-logout", data={"logout_token": UNLUCKY}),
        ]  # fmt: skip
        assert [a.status_code for a in answers if a.status_code == 403] == []
        # The exclusions name credentials only: the same text in a search query is still refused.
        assert client.get("/api/v1/catalog/search", params={"q": "1' OR '1'='1' --"}).status_code == 403
    # nginx writes the audit log after it has answered: let that refusal land before the next test counts.
    assert eventually(
        lambda: any("/api/v1/catalog/search" in line for line in refused(waf_node.waf.rendered.audit_log)), 10
    )


def test_a_relying_partys_random_oidc_values_pass_the_waf(waf_node: Node) -> None:
    # state, nonce and the PKCE challenge are the relying party's random base64url, alone on
    # /oidc/authorize and inside the whole request carried by `next` and the consent form (942440 refused
    # a consent form in CI). The node's answers vary (unknown client, no session): never nginx's 403.
    query = (
        f"response_type=code&client_id=zwc0000&redirect_uri=https://rp.example/cb&scope=openid"
        f"&state={UNLUCKY}&nonce={UNLUCKY}&code_challenge={UNLUCKY}&code_challenge_method=S256"
    )
    audit_log = waf_node.waf.rendered.audit_log
    before = len(refused(audit_log))
    with httpx.Client(base_url=waf_node.url, timeout=30) as client:
        answers = {
            "authorize": client.get(f"/oidc/authorize?{query}"),
            "decision": client.post("/oidc/authorize/decision", data={"request_params": query, "allow": "1"}),
            "login": client.get("/identity/login", params={"next": f"/oidc/authorize?{query}"}),
        }
        assert {k: a.status_code for k, a in answers.items() if "<center>nginx</center>" in a.text} == {}
        # Only those arguments: the same text under another name is still refused.
        assert "<center>nginx</center>" in client.get("/identity/login", params={"other": UNLUCKY}).text
    # nginx writes the audit log after it has answered: let that refusal land before the next test counts.
    assert eventually(lambda: len(refused(audit_log)) > before, 10)


def test_passwords_and_posted_client_secrets_pass_the_waf(waf_node: Node) -> None:
    # People choose passwords with symbols (the rule asks for them); a client may post its secret.
    password = "Zw--Secret-2026'; 0x1f-ab-cd!"
    audit_log = waf_node.waf.rendered.audit_log
    before = len(refused(audit_log))
    with httpx.Client(base_url=waf_node.url, timeout=30) as client:
        answers = {
            "api login": client.post("/api/v1/identity/login", json={"identifier": "13800000000", "password": password}),
            "page login": client.post("/identity/login", data={"identifier": "13800000000", "password": password}),
            "page register": client.post("/identity/register", data={"password": password, "password2": password}),
            "change": client.post("/api/v1/identity/password/change",
                                  json={"current_password": password, "new_password": password}),
            "token": client.post("/oidc/token", data={"grant_type": "client_credentials", "client_id": "zwc0000",
                                                      "client_secret": UNLUCKY}),
        }  # fmt: skip
        assert {k: a.status_code for k, a in answers.items() if "<center>nginx</center>" in a.text} == {}
        # Only the password fields: the same text as the account name is still refused.
        refusal = client.post("/api/v1/identity/login", json={"identifier": password, "password": password})
        assert "<center>nginx</center>" in refusal.text
    assert eventually(lambda: len(refused(audit_log)) > before, 10)


# The base64 members of a signed exchange envelope (exchange/signing.py): a fresh SM2 signature on every
# request and the sender's certificates. About one signature in 1,400 ends like "…7onAbc=", which is
# CRS 941120's "event handler" (…onload=); a certificate that did would refuse its node on every request.
UNLUCKY_BASE64 = "MEUCIQC7x2+aL/y--9onLoad=MEYCIQD0x1f2e3d/onerror="


@pytest.mark.parametrize("route", ["batches", "verify", "feed", "selftest", "feedback"])
def test_signed_exchange_envelopes_pass_the_waf_whatever_their_base64(waf_node: Node, route: str) -> None:
    envelope = {
        "protocol": "zhengwu-exchange/1",
        "document": {"type": "feed", "after": 0, "nonce": "0f" * 16},
        "signature": {
            "algorithm": "SM2-with-SM3",
            "digest": "ab" * 32,
            "value": UNLUCKY_BASE64,
            "certificate": UNLUCKY_BASE64,
            "chain": [UNLUCKY_BASE64, UNLUCKY_BASE64],
        },
    }
    audit_log = waf_node.waf.rendered.audit_log
    before = len(refused(audit_log))
    answer = httpx.post(f"{waf_node.url}/exchange/v1/{route}", json=envelope, timeout=30)
    assert answer.status_code == 422 and answer.json()["code"] == "exchange.malformed", answer.text[:300]
    assert refused(audit_log)[before:] == []
    # Only the signature's members: the same text in the signed document is still refused.
    envelope["document"]["note"] = "<body onload=alert(1)>"
    assert httpx.post(f"{waf_node.url}/exchange/v1/{route}", json=envelope, timeout=30).status_code == 403
    # nginx writes the audit log after it has answered.
    assert eventually(lambda: len(refused(audit_log)) > before, 10)
    assert [line.split(":")[0] for line in refused(audit_log)[before:]] == [f"POST /exchange/v1/{route}"]


def test_licence_qr_contents_and_share_tokens_pass_the_waf(waf_node: Node) -> None:
    # A QR's signature and a share token are random base64url: 942440 refused about one QR in ninety.
    audit_log = waf_node.waf.rendered.audit_log
    before = len(refused(audit_log))
    qr = f"{waf_node.url}/licenses/verify#eyJ2IjoxfQ.{UNLUCKY.rsplit('.', maxsplit=1)[-1]}"
    with httpx.Client(base_url=waf_node.url, timeout=30) as client:
        answers = {
            "verify": client.post("/api/v1/licenses/verify", json={"qr": qr}),
            "qr-lookup": client.post("/api/v1/licenses/qr-lookup", json={"qr": qr}),
            "query-by-qr": client.post("/api/v1/licenses/services/query-by-qr", json={"qr": qr}),
            "redeem": client.post("/api/v1/licenses/shares/redeem", json={"token": f"share_{UNLUCKY}"}),
        }
        assert refused(audit_log)[before:] == [], {k: a.status_code for k, a in answers.items()}
        assert all(a.headers["content-type"].startswith("application/") for a in answers.values())
        # Only those arguments: the same text under another name is still refused.
        assert (
            client.post("/api/v1/licenses/verify", json={"identifier": UNLUCKY, "qr": qr}).status_code == 403
        )
    assert eventually(lambda: len(refused(audit_log)) > before, 10)


def test_certificate_logins_pass_the_waf_whatever_their_base64(waf_node: Node) -> None:
    # A PEM certificate's "-----BEGIN" is an "SQL comment"; random base64 matched 942440/942340 in 3 of 200.
    audit_log = waf_node.waf.rendered.audit_log
    before = len(refused(audit_log))
    pem = f"-----BEGIN CERTIFICATE-----\n{UNLUCKY_BASE64}\n-----END CERTIFICATE-----"
    fields = {"challenge": UNLUCKY, "certificate": pem, "signature": UNLUCKY_BASE64}
    with httpx.Client(base_url=waf_node.url, timeout=30) as client:
        for kind in ("login", "step-up"):
            page = client.post(f"/identity/{kind}/certificate", data={**fields, "chain": pem})
            api = client.post(f"/api/v1/identity/{kind}/certificate", json={**fields, "chain": [pem, pem]})
            assert page.status_code != 403 or "csrf" in page.text.lower() or "表单" in page.text, page.text[
                :300
            ]
            assert api.headers["content-type"].startswith("application/"), api.text[:300]
        assert refused(audit_log)[before:] == []
        # Only those fields: the same text in another one is still refused.
        assert (
            client.post("/api/v1/identity/login/certificate", json={**fields, "note": pem}).status_code == 403
        )
    assert eventually(lambda: len(refused(audit_log)) > before, 10)
