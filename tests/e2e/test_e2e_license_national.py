"""A province and the national node over HTTP: a license issued on the province (and one imported from
historical data) reach the national node as ``up_lic_data`` rows, where the national license registry
keeps them and its verification service answers for them (identifier + holder); the national node then
sends down a refusal (``dn_lic_data_error``) and a revocation (``dn_lic_status``) that the province pulls
from the feed: the refusal waits in the abnormal queue until staff resubmit it, the revocation is applied
and travels back up, after which the national service no longer vouches for that license."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from clikit import run_in
from licenses_kit import BUSINESS_FACE, COMPANY
from nodekit import Node, database_urls, start_node
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]  # a minute on two cores: handed out first
HISTORIC = enterprise_credit_code("130100", 8123)


def _cli(node: Node, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    # In this process with the node's environment (the worker's rounds too): the two nodes are real
    # servers; an interpreter start per command cost this test most of its CPU.
    done = run_in(node.env, *args)
    assert done.returncode in ok, f"zhengwu {' '.join(args)}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
    return done


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout.strip().splitlines()[-1])


def _unit(node: Node) -> Any:
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work

    class _Unit:
        def __enter__(self) -> Any:
            self.engine = make_engine(node.env["ZHENGWU_DATABASE_URL"])
            self.cm = unit_of_work(make_session_factory(self.engine))
            return self.cm.__enter__()

        def __exit__(self, *exc: Any) -> None:
            self.cm.__exit__(*exc)
            self.engine.dispose()

    return _Unit()


def _seed_province(node: Node, tmp: Path) -> tuple[str, str]:
    from zhengwu.seed.licenses import seed_license_types

    department = government_credit_code("130000", 31)
    _cli(node, "pki", "init")
    _cli(
        node,
        "departments",
        "add",
        "--credit-code",
        department,
        "--name",
        "河北省市场监督管理局",
        "--division",
        "130000",
    )
    _cli(node, "seals", "create", "--department", department, "--name", "河北省市场监督管理局行政审批专用章")
    with _unit(node) as session:
        seed_license_types(session)
    types = _json(_cli(node, "licenses", "types", "list", "--json"))
    return department, next(t["code"] for t in types if t["name"] == "营业执照")


def _token(node: Node) -> str:
    client = _json(_cli(node, "identity", "clients", "create", "--name", "国家证照核验（测试）", "--grant",
                        "client_credentials", "--scope", "verify:license", "--json"))  # fmt: skip
    answer = httpx.post(f"{node.url}/oidc/token", data={"grant_type": "client_credentials", "scope": "verify:license"},
                        auth=(client["client_id"], client["client_secret"]), timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _national_says(node: Node, token: str, identifier: str, holder: str) -> dict[str, Any]:
    answer = httpx.post(f"{node.url}/api/v1/verify/license", json={"identifier": identifier, "holder": holder},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert holder not in answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_province_licenses_at_the_national_node(tmp_path: Path) -> None:
    urls = database_urls(tmp_path, ["national", "hebei"])
    national = start_node("national", "127.0.0.1", tmp_path, urls["national"], None, national=True)
    province = None
    try:
        province = start_node("hebei", "127.0.0.1", tmp_path, urls["hebei"], national.url, national=False)
        assert "requested" in _cli(province, "exchange", "join").stdout
        _cli(national, "exchange", "nodes", "approve", "hebei")
        assert "joined" in _cli(province, "exchange", "join").stdout
        department, type_code = _seed_province(province, tmp_path)

        face = tmp_path / "face.json"
        face.write_text(json.dumps(BUSINESS_FACE, ensure_ascii=False), encoding="utf-8")
        issued = _json(_cli(province, "licenses", "issue", "--type", type_code, "--holder-code", COMPANY,
                            "--holder-name", "石家庄演示科技有限公司", "--data", str(face), "--department",
                            department, "--json"))  # fmt: skip
        history = tmp_path / "history.csv"
        with history.open("w", encoding="utf-8-sig", newline="") as out:
            csv.writer(out).writerows([
                ["holder_code", "holder_name", "issue_date", *BUSINESS_FACE],
                [HISTORIC, "石家庄历史商贸有限公司", "2015-06-01", *{**BUSINESS_FACE, "name": "石家庄历史商贸有限公司"}.values()],
            ])  # fmt: skip
        imported = _json(_cli(province, "licenses", "import", str(history), "--type", type_code, "--rejects",
                              str(tmp_path / "rejects.csv"), "--json"))  # fmt: skip
        assert imported["imported"] == 1
        from sqlalchemy import select

        from zhengwu.licenses.models import License

        with _unit(province) as session:
            old = session.scalars(select(License).where(License.source == "imported")).one().identifier

        # The province's worker relays both rows; the national registry answers for them.
        _cli(province, "worker", "--until-idle")
        token = _token(national)
        assert _national_says(national, token, issued["identifier"], COMPANY)["match"] is True
        assert (
            _national_says(national, token, issued["identifier"], "石家庄演示科技有限公司")["match"] is True
        )
        assert _national_says(national, token, old, HISTORIC)["match"] is True
        assert _national_says(national, token, issued["identifier"], HISTORIC)["match"] is False

        # The national system refuses the first row and revokes the historical license.
        _cli(
            national,
            "licenses",
            "refuse",
            issued["identifier"],
            "--reason",
            "证照类型代码未在国家证照目录中登记",
        )
        _cli(national, "licenses", "push-status", old, "--status", "revoked", "--reason", "国家系统注销")
        _cli(national, "worker", "--until-idle")  # publishes the feed
        _cli(province, "worker", "--until-idle")  # pulls it, applies it, relays the revocation (D) upward
        queue = _json(_cli(province, "licenses", "abnormal", "list", "--json"))
        assert queue["total"] == 1
        [entry] = queue["items"]
        assert entry["source"] == "upper" and entry["identifier"] == issued["identifier"]
        assert "国家证照目录" in entry["reason"]
        revoked = _json(_cli(province, "licenses", "verify", "--id", old, "--json", ok=(1,)))
        assert revoked["status"] == "revoked"
        assert _national_says(national, token, old, HISTORIC)["match"] is False

        # Staff resubmit (the type is now registered nationally): a new row goes up, the queue empties.
        resent = _json(_cli(province, "licenses", "abnormal", "resubmit", entry["id"], "--json"))
        assert resent["status"] == "resubmitted" and resent["license_id"] == issued["license_id"]
        _cli(province, "worker", "--until-idle")
        assert _json(_cli(province, "licenses", "abnormal", "list", "--json"))["total"] == 0
        assert _national_says(national, token, issued["identifier"], COMPANY)["match"] is True
    finally:
        for node in (province, national):
            if node is not None:
                node.proc.terminate()
                node.proc.wait(timeout=30)
