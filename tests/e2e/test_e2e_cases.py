"""A province and a national node served over HTTP: a citizen applies for an item with a held license
attached by reference, the department's clerk (second factor) accepts, asks for a supplement, the citizen
resubmits, the clerk concludes with a license that the citizen then holds, the citizen evaluates, and the
province's worker delivers the ``up_pro_*`` rows, which the national node applies."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cases_kit import WORKER_FACE, WORKER_TYPE
from clikit import run_in
from licenses_kit import INSURANCE_FACE
from nodekit import Node, database_urls, register_person, staff_client, start_node
from zhengwu.seed import government_credit_code

PASSWORD = "Clerk-Passw0rd-2026"
CITIZEN_PASSWORD = "Citizen-Passw0rd-2026"


def _cli(node: Node, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # In this process with the node's environment (the worker's rounds too): the nodes are real servers;
    # an interpreter start per command cost seconds each.
    done = run_in(node.env, *args, stdin=stdin)
    assert done.returncode == 0, f"zhengwu {' '.join(args)}: {done.stdout[-1000:]} {done.stderr[-2000:]}"
    return done


def _seed(node: Node) -> tuple[str, str]:
    """The department with its seal, a clerk, the license types and a published item; (credit code, task code)."""
    from catalog_kit import guide, make_basic
    from zhengwu.catalog import service as catalog
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.licenses import service as licenses
    from zhengwu.seed.licenses import seed_license_types

    code = government_credit_code("130000", 32)
    _cli(node, "pki", "init")
    _cli(
        node,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "河北省住房和城乡建设厅",
        "--division",
        "130000",
    )
    _cli(node, "seals", "create", "--department", code, "--name", "河北省住房和城乡建设厅行政审批专用章")
    _cli(node, "users", "add-staff", "--login-name", "case.clerk", "--name", "办件人员", "--department", code,
         "--role", "case_handler", "--role", "license_issuer", "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
    with unit_of_work(make_session_factory(engine)) as session:
        seed_license_types(session)
        insurance = next(t.code for t in licenses.list_types(session) if t.name == "社会保险参保证明")
        make_basic(session, "000132001000", "建筑施工特种作业人员操作资格认定", "01")
        item = catalog.create_task(session, guide(code, "000132001000", promise_day=5, materials=[
            {"material_name": "社会保险参保证明", "source_type": "20", "license_type_code": insurance},
            {"material_name": "申请表", "source_type": "10"},
        ]), actor="e2e")  # fmt: skip
        task_code = catalog.publish_task(session, item.task_code, actor="e2e").task_code
    engine.dispose()
    return code, task_code


def _applied(node: Node) -> dict[str, list[dict[str, Any]]]:
    from zhengwu.exchange.models import ExchangeAggregate
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
    found: dict[str, list[dict[str, Any]]] = {}
    with unit_of_work(make_session_factory(engine)) as session:
        for row in session.scalars(
            select(ExchangeAggregate).where(ExchangeAggregate.table_name.like("up_pro_%"))
        ):
            found.setdefault(row.table_name, []).append(dict(row.payload))
    engine.dispose()
    return found


@pytest.mark.e2e
@pytest.mark.db  # the nodes run on PostgreSQL too in .ci/run's second pass
def test_case_over_http_to_the_national_node(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["national", "hebei"])
    national = start_node("national", "127.0.0.1", tmp_path, urls["national"], None, national=True)
    province = None
    try:
        province = start_node("hebei", "127.0.0.1", tmp_path, urls["hebei"], national.url, national=False)
        assert "requested" in _cli(province, "exchange", "join").stdout
        _cli(national, "exchange", "nodes", "approve", "hebei")
        assert "joined" in _cli(province, "exchange", "join").stdout
        department, task_code = _seed(province)
        number, _ = register_person(province, 4343, "演示用户", CITIZEN_PASSWORD)
        clerk = staff_client(province, "case.clerk", PASSWORD)
        types = {t["name"]: t["code"] for t in httpx.get(f"{province.url}/api/v1/licenses/types").json()}
        held = clerk.post("/api/v1/licenses", json={
            "type_code": types["社会保险参保证明"], "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE})  # fmt: skip
        assert held.status_code == 201, held.text
        guide = httpx.get(f"{province.url}/api/v1/catalog/items/{task_code}").json()
        ids = {m["material_name"]: m["row_guid"] for m in guide["materials"]}

        citizen = httpx.Client(base_url=province.url)
        assert citizen.post("/api/v1/identity/login", json={"identifier": number, "password": CITIZEN_PASSWORD}).status_code == 200  # fmt: skip

        def upload(data: bytes) -> str:
            stored = citizen.post(
                "/api/v1/cases/uploads", content=data, headers={"Content-Type": "application/pdf"}
            )
            assert stored.status_code == 201, stored.text
            return str(stored.json()["file_sm3"])

        form_file = upload(b"%PDF-1.7 application form")
        body = {"task_code": task_code, "form": {"phone_note": "工作日"}, "materials": [
            {"material_id": ids["社会保险参保证明"], "license_id": held.json()["id"]},
            {"material_id": ids["申请表"], "file_sm3": form_file}]}  # fmt: skip
        made = citizen.post("/api/v1/cases", json=body, headers={"Idempotency-Key": "e2e-1"})
        assert made.status_code == 201, made.text
        case_no = made.json()["case_no"]
        act = f"/api/v1/cases/{case_no}/actions"
        assert clerk.post(act, json={"action": "accept", "opinion": "予以受理"}).status_code == 200
        asked = clerk.post(act, json={"action": "request_supplement", "opinion": "申请表未签名",
                                      "materials": [ids["申请表"]]})  # fmt: skip
        assert asked.json()["status"] == "supplement_requested"
        again = upload(b"%PDF-1.7 application form, signed")
        fixed = citizen.post(f"/api/v1/cases/{case_no}/supplement",
                             json={"materials": [{"material_id": ids["申请表"], "file_sm3": again}]})  # fmt: skip
        assert fixed.status_code == 200 and fixed.json()["status"] == "accepted", fixed.text
        concluded = clerk.post(act, json={"action": "conclude", "outcome": "approved", "result_kind": "license",
                                          "opinion": "准予许可", "license_type_code": types[WORKER_TYPE],
                                          "license_face": WORKER_FACE})  # fmt: skip
        assert concluded.status_code == 200, concluded.text
        license_id = concluded.json()["result"]["license_id"]
        assert license_id in {lic["id"] for lic in citizen.get("/api/v1/licenses/mine").json()}
        rated = citizen.post(f"/api/v1/cases/{case_no}/evaluation", json={"channel": "1", "satisfaction": 5})
        assert rated.status_code == 201, rated.text
        citizen.close()
        clerk.close()

        _cli(province, "worker", "--until-idle")
        applied = _applied(national)
        assert sorted(applied) == ["up_pro_accept", "up_pro_material", "up_pro_process", "up_pro_result"], (
            applied
        )
        result = applied["up_pro_result"][0]
        assert result["project_no"] == case_no and result["result_cetr_no"] == WORKER_FACE["certificate_no"]
        assert result["satisfaction"] == "5"
        assert [r["event_name"] for r in applied["up_pro_process"]].count("5") == 2  # asked, resubmitted
    finally:
        for node in (province, national):
            if node is not None:
                node.proc.terminate()
                node.proc.wait(timeout=30)
