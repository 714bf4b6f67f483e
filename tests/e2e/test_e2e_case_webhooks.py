"""A department system over HTTP: a real province node, a receiver registered as the department's system
gets a signed ``case.submitted`` webhook after a citizen applies (delivered by ``zhengwu worker``),
verifies both signature schemes, then accepts the case with its own client-credentials token —
idempotently — and hears of the acceptance."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from licenses_kit import INSURANCE_FACE
from nodekit import database_urls, free_port, register_person, staff_client, start_node
from zhengwu.cases.webhooks import signing

CITIZEN_PASSWORD = "Citizen-Passw0rd-2026"


class _Inbox:
    """What the department system received (verified messages only) and what it refused."""

    def __init__(self) -> None:
        self.secret = ""
        self.messages: list[tuple[str, str, dict[str, Any]]] = []  # (webhook-id, scheme, body)
        self.refused = 0
        self.lock = threading.Lock()


def _receiver(inbox: _Inbox) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                scheme = signing.verify(inbox.secret, headers, body, now=int(time.time()), schemes=("v1sm3",))
                signing.verify(inbox.secret, headers, body, now=int(time.time()), schemes=("v1",))
            except signing.SignatureInvalid:
                with inbox.lock:
                    inbox.refused += 1
                self.send_response(401)
                self.end_headers()
                return
            with inbox.lock:
                inbox.messages.append((headers["webhook-id"], scheme, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{port}/hooks"


@pytest.mark.e2e
@pytest.mark.db  # the nodes run on PostgreSQL too in .ci/run's second pass
def test_department_system_gets_the_webhook_and_accepts_the_case(tmp_path: Path) -> None:
    from test_e2e_cases import _cli, _seed

    inbox = _Inbox()
    server, hook_url = _receiver(inbox)
    urls = database_urls(tmp_path, ["hebei"])
    province = start_node("hebei", "127.0.0.1", tmp_path, urls["hebei"], None, national=False)
    try:
        department, task_code = _seed(province)
        made = json.loads(_cli(province, "identity", "clients", "create", "--name", "住建厅审批系统",
                               "--grant", "client_credentials", "--scope", "cases.handle",
                               "--department", department, "--json").stdout)  # fmt: skip
        client_id, client_secret = made["client_id"], made["client_secret"]
        registered = json.loads(
            _cli(province, "webhooks", "register", client_id, "--url", hook_url, "--json").stdout
        )
        inbox.secret = registered["secret"]

        number, _ = register_person(province, 4344, "演示用户", CITIZEN_PASSWORD)
        clerk = staff_client(province, "case.clerk", "Clerk-Passw0rd-2026")
        types = {t["name"]: t["code"] for t in httpx.get(f"{province.url}/api/v1/licenses/types").json()}
        held = clerk.post("/api/v1/licenses", json={
            "type_code": types["社会保险参保证明"], "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE})  # fmt: skip
        assert held.status_code == 201, held.text
        clerk.close()
        guide = httpx.get(f"{province.url}/api/v1/catalog/items/{task_code}").json()
        ids = {m["material_name"]: m["row_guid"] for m in guide["materials"]}
        with httpx.Client(base_url=province.url) as citizen:
            login = {"identifier": number, "password": CITIZEN_PASSWORD}
            assert citizen.post("/api/v1/identity/login", json=login).status_code == 200
            stored = citizen.post("/api/v1/cases/uploads", content=b"%PDF-1.7 form",
                                  headers={"Content-Type": "application/pdf"})  # fmt: skip
            body = {"task_code": task_code, "form": {}, "materials": [
                {"material_id": ids["社会保险参保证明"], "license_id": held.json()["id"]},
                {"material_id": ids["申请表"], "file_sm3": stored.json()["file_sm3"]}]}  # fmt: skip
            applied = citizen.post("/api/v1/cases", json=body)
            assert applied.status_code == 201, applied.text
            case_no = applied.json()["case_no"]

        _cli(province, "worker", "--until-idle")
        assert inbox.refused == 0
        assert [(m[1], m[2]["type"], m[2]["data"]["case_no"]) for m in inbox.messages] == [
            ("v1sm3", "case.submitted", case_no)
        ]
        assert inbox.messages[0][2]["schema_version"] == "1"

        # The department system acts as itself: a client-credentials token, an idempotent call.
        token = httpx.post(f"{province.url}/oidc/token", data={"grant_type": "client_credentials", "scope": "cases.handle"},
                           auth=(client_id, client_secret))  # fmt: skip
        assert token.status_code == 200, token.text
        system = httpx.Client(
            base_url=province.url, headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        act = {"action": "accept", "opinion": "予以受理"}
        first = system.post(
            f"/api/v1/cases/{case_no}/actions", json=act, headers={"Idempotency-Key": "wf-77"}
        )
        assert first.status_code == 200, first.text
        again = system.post(
            f"/api/v1/cases/{case_no}/actions", json=act, headers={"Idempotency-Key": "wf-77"}
        )
        assert again.status_code == 200 and again.json()["status"] == "accepted"
        shown = system.get(f"/api/v1/department-systems/cases/{case_no}").json()
        accepts = [h for h in shown["history"] if h["action"] == "accept"]
        assert len(accepts) == 1 and accepts[0]["actor"] == f"client:{client_id}"
        pulled = system.get("/api/v1/cases/events", params={"after": 0}).json()["events"]
        assert [e["type"] for e in pulled] == ["case.submitted", "case.accepted"]
        system.close()

        _cli(province, "worker", "--until-idle")
        assert [m[2]["type"] for m in inbox.messages] == ["case.submitted", "case.accepted"]
        assert [m[0] for m in inbox.messages] == [e["webhook_id"] for e in pulled]
        log = json.loads(_cli(province, "webhooks", "list", "--json").stdout)
        assert log["counts"] == {"delivered": 2}
        assert {d["last_status_code"] for d in log["deliveries"]} == {204}
    finally:
        server.shutdown()
        server.server_close()
        province.proc.terminate()
        province.proc.wait(timeout=30)
