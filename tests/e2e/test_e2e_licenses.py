"""A province node served over HTTP: a department's license issuer logs in with a second factor, issues a
business licence through the API, anyone verifies it (identifier + holder, file upload), the holder's agent
downloads it, and `zhengwu seals verify` says VALID on the downloaded file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from clikit import run_in
from licenses_kit import BUSINESS_FACE, COMPANY
from nodekit import Node, database_urls, register_person, staff_client, start_node
from waf_kit import behind_the_waf  # noqa: F401 - fixture
from zhengwu.seed import government_credit_code

PASSWORD = "Issuer-Passw0rd-2026"


def _cli(node: Node, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # In this process with the node's environment: the node is a real server; an interpreter start per
    # command cost seconds each.
    return run_in(node.env, *args, stdin=stdin)


def _seed(node: Node) -> str:
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.seed.licenses import seed_license_types

    code = government_credit_code("130000", 31)
    assert _cli(node, "pki", "init").returncode == 0
    added = _cli(
        node,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "河北省市场监督管理局",
        "--division",
        "130000",
    )
    assert added.returncode == 0, added.stderr
    made = _cli(node, "seals", "create", "--department", code, "--name", "河北省市场监督管理局行政审批专用章")
    assert made.returncode == 0, made.stderr
    staff = _cli(node, "users", "add-staff", "--login-name", "lic.issuer", "--name", "证照签发员",
                 "--department", code, "--role", "license_issuer", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert staff.returncode == 0, staff.stderr
    engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        seed_license_types(session)
    engine.dispose()
    return code


def _issuer(node: Node) -> httpx.Client:
    """The issuer's session with a second factor."""
    return staff_client(node, "lic.issuer", PASSWORD)


@pytest.mark.e2e
@pytest.mark.db  # the nodes run on PostgreSQL too in .ci/run's second pass
@pytest.mark.usefixtures("behind_the_waf")  # through nginx + ModSecurity + CRS where installed
def test_issue_over_http_verify_and_download(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["province"])
    node = start_node("province", "127.0.0.1", tmp_path, urls["province"], None, national=False)
    try:
        department = _seed(node)
        number, _ = register_person(node, 3101, "演示用户", "Holder-Passw0rd-2026")
        with httpx.Client(base_url=node.url) as holder:
            holder.post(
                "/api/v1/identity/login", json={"identifier": number, "password": "Holder-Passw0rd-2026"}
            )
            legal = holder.post("/api/v1/identity/register/legal", json={
                "credit_code": COMPANY, "name": "石家庄演示科技有限公司", "legal_rep_name": "演示用户",
                "password": "Company-Passw0rd-2026"})  # fmt: skip
            assert legal.status_code in (200, 201, 202), legal.text
        types = httpx.get(f"{node.url}/api/v1/licenses/types").json()
        type_code = next(t["code"] for t in types if t["name"] == "营业执照")
        staff = _issuer(node)
        issued = staff.post("/api/v1/licenses", json={
            "type_code": type_code, "department_credit_code": department, "holder_code": COMPANY,
            "holder_name": "石家庄演示科技有限公司", "face": BUSINESS_FACE})  # fmt: skip
        staff.close()
        assert issued.status_code == 201, issued.text
        lic: dict[str, Any] = issued.json()
        answer = httpx.post(
            f"{node.url}/api/v1/licenses/verify",
            json={"identifier": lic["identifier"], "holder_code": COMPANY},
        )
        assert answer.status_code == 200 and answer.json()["valid"] is True
        with httpx.Client(base_url=node.url) as holder:
            holder.post(
                "/api/v1/identity/login", json={"identifier": number, "password": "Holder-Passw0rd-2026"}
            )
            mine = holder.get("/api/v1/licenses/mine").json()
            assert [m["identifier"] for m in mine] == [lic["identifier"]]
            data = holder.get(f"/api/v1/licenses/{lic['id']}/file").content
            usage = holder.get("/api/v1/licenses/usage").json()
            assert {u["operation"] for u in usage} == {"verify_id", "holder_download"}
        upload = httpx.post(
            f"{node.url}/api/v1/licenses/verify/file",
            content=data,
            headers={"Content-Type": "application/ofd"},
        )
        assert upload.json()["valid"] is True
        path = tmp_path / "license.ofd"
        path.write_bytes(data)
        sealed = _cli(node, "seals", "verify", str(path), "--json")
        assert sealed.returncode == 0 and json.loads(sealed.stdout.splitlines()[-1])["verdict"] == "VALID"
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)
