"""The reference department system (examples/department-system) in the whole loop, over HTTP: a province
and a national node, the reference system as its own HTTP server. A citizen applies with a held license
attached by reference; the node's signed webhook reaches the reference system; a clerk signed in there
through the node (single sign-on, no second password) accepts, asks for a supplement, and — after the
citizen resubmits — concludes with a license; the citizen holds the license and evaluates; the
``up_pro_*`` rows reach the national node; the pull feed adds nothing the webhooks did not bring."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cases_kit import WORKER_FACE, WORKER_TYPE
from licenses_kit import INSURANCE_FACE
from nodekit import database_urls, eventually, free_port, register_person, staff_client, start_node

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "department-system"
CLERK_PASSWORD = "Clerk-Passw0rd-2026"
CITIZEN_PASSWORD = "Citizen-Passw0rd-2026"


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} in {html[:500]}"
    return found.group(1)


def _start_system(tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    host = "127.0.0.2"  # another host than the node's: the browser keeps the two cookie jars apart
    port = int(env.pop("PORT"))
    url = f"http://{host}:{port}"
    child = {k: v for k, v in os.environ.items() if not k.startswith(("ZHENGWU_", "DEPTSYS_"))}
    child |= env | {"PYTHONPATH": str(EXAMPLE)}
    with (tmp / "department-system.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "department_system", "serve", "--host", host, "--port", str(port)],
            env=child, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if not eventually(up, 30):
        proc.kill()
        raise RuntimeError((tmp / "department-system.log").read_text()[-2000:])
    return proc, url


@pytest.mark.e2e
@pytest.mark.db  # the nodes run on PostgreSQL too when the suite does (.ci/run's second pass)
@pytest.mark.slow
def test_reference_department_system_handles_a_case_end_to_end(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "catalog"))  # catalog_kit's guides
    sys.path.insert(0, str(ROOT / "tests" / "identity_oidc"))  # a browser's redirects and consent
    from oidc_browser import approve_consent, follow
    from test_e2e_cases import _applied, _cli, _seed

    urls = database_urls(tmp_path, ["national", "hebei"])
    national = start_node("national", "127.0.0.1", tmp_path, urls["national"], None, national=True)
    province = system = None
    try:
        province = start_node("hebei", "127.0.0.1", tmp_path, urls["hebei"], national.url, national=False)
        _cli(province, "exchange", "join")
        _cli(national, "exchange", "nodes", "approve", "hebei")
        assert "joined" in _cli(province, "exchange", "join").stdout
        department, task_code = _seed(province)

        # The operator registers the system: staff sign in with it, and it calls the case API as itself.
        port = free_port("127.0.0.2")
        rp = f"http://127.0.0.2:{port}"
        client = json.loads(_cli(
            province, "identity", "clients", "create", "--name", "住建厅审批系统",
            "--grant", "authorization_code", "--grant", "client_credentials",
            "--redirect-uri", f"{rp}/callback", "--backchannel-logout-uri", f"{rp}/backchannel-logout",
            "--post-logout-redirect-uri", f"{rp}/", "--scope", "openid profile cases.handle licenses.issue",
            "--department", department, "--json").stdout)  # fmt: skip
        hook = json.loads(
            _cli(
                province, "webhooks", "register", client["client_id"], "--url", f"{rp}/webhooks", "--json"
            ).stdout
        )
        system, rp = _start_system(tmp_path, {
            "PORT": str(port), "DEPTSYS_NODE_URL": province.url, "DEPTSYS_BASE_URL": rp,
            "DEPTSYS_CLIENT_ID": client["client_id"], "DEPTSYS_CLIENT_SECRET": client["client_secret"],
            "DEPTSYS_WEBHOOK_SECRET": hook["secret"], "DEPTSYS_DATABASE": str(tmp_path / "deptsys.db"),
            "DEPTSYS_TITLE": "住建厅审批系统"})  # fmt: skip

        # A citizen applies, attaching a license they hold by reference.
        number, _ = register_person(province, 4345, "演示用户", CITIZEN_PASSWORD)
        clerk = staff_client(province, "case.clerk", CLERK_PASSWORD)  # the clerk's browser, node session
        types = {t["name"]: t["code"] for t in httpx.get(f"{province.url}/api/v1/licenses/types").json()}
        held = clerk.post("/api/v1/licenses", json={
            "type_code": types["社会保险参保证明"], "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE})  # fmt: skip
        assert held.status_code == 201, held.text
        guide = httpx.get(f"{province.url}/api/v1/catalog/items/{task_code}").json()
        ids = {m["material_name"]: m["row_guid"] for m in guide["materials"]}
        citizen = httpx.Client(base_url=province.url)
        login = {"identifier": number, "password": CITIZEN_PASSWORD}
        assert citizen.post("/api/v1/identity/login", json=login).status_code == 200

        def upload(data: bytes) -> str:
            stored = citizen.post(
                "/api/v1/cases/uploads", content=data, headers={"Content-Type": "application/pdf"}
            )
            assert stored.status_code == 201, stored.text
            return str(stored.json()["file_sm3"])

        applied = citizen.post("/api/v1/cases", json={"task_code": task_code, "form": {}, "materials": [
            {"material_id": ids["社会保险参保证明"], "license_id": held.json()["id"]},
            {"material_id": ids["申请表"], "file_sm3": upload(b"%PDF-1.7 form")}]})  # fmt: skip
        assert applied.status_code == 201, applied.text
        case_no = applied.json()["case_no"]
        _cli(province, "worker", "--until-idle")  # the node's worker sends the webhook

        # The clerk opens the reference system: single sign-on through the node, no second password.
        page = follow(clerk, clerk.get(f"{rp}/"))
        assert "请登录" in page.text
        page = follow(clerk, clerk.get(f"{rp}/login"))
        if "授权确认" in page.text:
            page = follow(clerk, approve_consent(clerk, page))
        assert page.status_code == 200 and page.url.host == "127.0.0.2", page.text[:500]
        assert "办件人员" in page.text  # the person's name, from the node
        assert case_no in page.text and "已申报，待受理" in page.text  # the webhook arrived

        def act(fields: dict[str, str | list[str]], key: str | None = None) -> httpx.Response:
            shown = clerk.get(f"{rp}/cases/{case_no}")
            assert shown.status_code == 200, shown.text[:500]
            form = {"csrf_token": _hidden(shown.text, "csrf_token"),
                    "action_key": key or _hidden(shown.text, "action_key"), **fields}  # fmt: skip
            return clerk.post(f"{rp}/cases/{case_no}/actions", data=form)

        accepted = act({"action": "accept", "opinion": "予以受理"}, key="form-1")
        assert accepted.status_code == 303, accepted.text[:800]
        again = act({"action": "accept", "opinion": "予以受理"}, key="form-1")  # the form sent twice
        assert again.status_code == 303, again.text[:800]
        asked = act({"action": "request_supplement", "opinion": "申请表未签名", "materials": [ids["申请表"]]})
        assert asked.status_code == 303, asked.text[:800]
        # A form left open in another tab: not allowed now, the node says why, the page keeps the typing.
        refused = act({"action": "accept", "opinion": "予以受理"}, key="stale-form")
        assert refused.status_code == 409 and "待补正" in refused.text, refused.text[:800]

        fixed = citizen.post(f"/api/v1/cases/{case_no}/supplement", json={
            "materials": [{"material_id": ids["申请表"], "file_sm3": upload(b"%PDF-1.7 form, signed")}]})  # fmt: skip
        assert fixed.status_code == 200 and fixed.json()["status"] == "accepted", fixed.text

        face = {f"face_{k}": v for k, v in WORKER_FACE.items()}
        conclude_page = clerk.get(f"{rp}/cases/{case_no}", params={"license_type": types[WORKER_TYPE]})
        assert (
            "颁发证照：" + WORKER_TYPE in conclude_page.text
            and 'name="face_certificate_no"' in conclude_page.text
        )
        concluded = act({"action": "conclude", "outcome": "approved", "opinion": "准予许可",
                         "license_type_code": types[WORKER_TYPE], **face})  # fmt: skip
        assert concluded.status_code == 303, concluded.text[:800]
        shown = clerk.get(f"{rp}/cases/{case_no}").text
        assert "已办结" in shown and WORKER_FACE["certificate_no"] in shown

        # The citizen holds the license and evaluates.
        mine = citizen.get("/api/v1/licenses/mine").json()
        assert WORKER_FACE["certificate_no"] in {lic.get("number") for lic in mine}, mine
        rated = citizen.post(f"/api/v1/cases/{case_no}/evaluation", json={"channel": "1", "satisfaction": 5})
        assert rated.status_code == 201, rated.text
        citizen.close()

        # The node's worker: the remaining webhooks to the reference system, the national records upward.
        _cli(province, "worker", "--until-idle")
        applied_up = _applied(national)
        assert {"up_pro_accept", "up_pro_process", "up_pro_result", "up_pro_material"} <= set(applied_up)
        result = applied_up["up_pro_result"][0]
        assert result["project_no"] == case_no and result["result_cetr_no"] == WORKER_FACE["certificate_no"]

        # What the node recorded: one acceptance despite the form sent twice, every action by the system.
        with httpx.Client(base_url=province.url) as machine:
            token = machine.post("/oidc/token", data={"grant_type": "client_credentials", "scope": "cases.handle"},
                                 auth=(client["client_id"], client["client_secret"])).json()["access_token"]  # fmt: skip
            machine.headers["Authorization"] = f"Bearer {token}"
            history = machine.get(f"/api/v1/department-systems/cases/{case_no}").json()["history"]
            feed = machine.get("/api/v1/cases/events", params={"after": 0}).json()["events"]
        assert [h["action"] for h in history].count("accept") == 1
        assert {
            h["actor"] for h in history if h["action"] in ("accept", "request_supplement", "conclude")
        } == {f"client:{client['client_id']}"}
        log = json.loads(_cli(province, "webhooks", "list", "--json").stdout)
        assert log["counts"] == {"delivered": len(feed)}

        # The reference system's own database: every event once, all by push; its clerk's name on its actions.
        db = sqlite3.connect(tmp_path / "deptsys.db")
        stored = db.execute("SELECT webhook_id, type, via FROM events ORDER BY received_at").fetchall()
        assert sorted(w for w, _, _ in stored) == sorted(e["webhook_id"] for e in feed)
        assert {v for _, _, v in stored} == {"push"}
        assert sorted(t for _, t, _ in stored) == sorted(e["type"] for e in feed)
        assert {"case.submitted", "case.accepted", "case.supplement_requested", "case.resubmitted",
                "case.concluded", "case.evaluated"} <= {t for _, t, _ in stored}  # fmt: skip
        clerks = {r[0] for r in db.execute("SELECT clerk_name FROM actions WHERE http_status < 300")}
        assert clerks == {"办件人员"}
        db.close()
        queue = clerk.get(f"{rp}/").text  # sent in parallel, applied by the node's timestamps: the last wins
        assert "已办结" in queue

        # Catching up through the pull feed finds nothing new (the same webhook-ids), and remembers the cursor.
        synced = clerk.post(f"{rp}/sync", data={"csrf_token": _hidden(queue, "csrf_token")})
        assert synced.status_code == 303 and f"synced={len(feed)}%3A0" in synced.headers["location"]

        # The clerk logs out on the node: the node's back-channel logout ends the session here too.
        assert clerk.post("/api/v1/identity/logout", json={}).status_code == 204
        assert eventually(lambda: "请登录" in clerk.get(f"{rp}/").text)
        clerk.close()
    finally:
        if system is not None:
            system.terminate()
            system.wait(timeout=30)
        for node in (province, national):
            if node is not None:
                node.proc.terminate()
                node.proc.wait(timeout=30)
