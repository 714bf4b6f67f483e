"""`zhengwu licenses` end to end on a node database: types, issue, `seals verify` VALID, verify, revoke."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from licenses_kit import BUSINESS_FACE, COMPANY
from zhengwu.seed import government_credit_code

runner = CliRunner()


@pytest.fixture(scope="module")
def node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from dbkit import migrate_fresh
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.seed.licenses import seed_license_types

    folder = tmp_path_factory.mktemp("licenses-cli")
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    migrate_fresh(url)
    env = {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(folder), "ZHENGWU_LOG_LEVEL": "WARNING"}
    engine = make_engine(Settings(database_url=url, data_dir=folder).database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        seed_license_types(session)
    engine.dispose()
    code = government_credit_code("130000", 13)
    assert run(env, "pki", "init").exit_code == 0
    assert (
        run(
            env,
            "departments",
            "add",
            "--credit-code",
            code,
            "--name",
            "河北省市场监督管理局",
            "--division",
            "130000",
        ).exit_code
        == 0
    )
    assert (
        run(
            env, "seals", "create", "--department", code, "--name", "河北省市场监督管理局行政审批专用章"
        ).exit_code
        == 0
    )
    env["DEPARTMENT"] = code
    return env


def run(env: dict[str, str], *args: str) -> Any:
    from zhengwu.cli import app

    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def last_json(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_types_issue_verify_revoke(node_env: dict[str, str], tmp_path: Path) -> None:
    listed = run(node_env, "licenses", "types", "list", "--json")
    assert listed.exit_code == 0, listed.output
    code = next(t["code"] for t in last_json(listed) if t["name"] == "营业执照")
    assert run(node_env, "licenses", "types", "list").exit_code == 0
    face = tmp_path / "face.json"
    face.write_text(json.dumps(BUSINESS_FACE, ensure_ascii=False), encoding="utf-8")
    args = [
        "licenses",
        "issue",
        "--type",
        code,
        "--holder-code",
        COMPANY,
        "--holder-name",
        "石家庄演示科技有限公司",
    ]
    issued = run(node_env, *args, "--data", str(face), "--department", node_env["DEPARTMENT"], "--json")
    assert issued.exit_code == 0, issued.output
    out = last_json(issued)
    path = Path(out["file"])
    assert path.is_file() and out["status"] == "valid"
    sealed = run(node_env, "seals", "verify", str(path), "--json")
    assert sealed.exit_code == 0 and last_json(sealed)["verdict"] == "VALID"
    checked = run(node_env, "licenses", "verify", str(path), "--json")
    assert checked.exit_code == 0 and last_json(checked)["valid"] is True
    by_id = run(node_env, "licenses", "verify", "--id", out["identifier"])
    assert by_id.exit_code == 0 and "VALID" in by_id.stdout
    revoked = run(node_env, "licenses", "revoke", out["license_id"], "--reason", "依法吊销")
    assert revoked.exit_code == 0, revoked.output
    assert run(node_env, "licenses", "verify", "--id", out["identifier"]).exit_code == 1
    again = run(node_env, "licenses", "revoke", out["license_id"], "--reason", "再次")
    assert again.exit_code == 1 and "注销" in again.output


def test_bad_input_exits_1_with_a_reason(node_env: dict[str, str], tmp_path: Path) -> None:
    face = tmp_path / "face.json"
    face.write_text("{not json", encoding="utf-8")
    args = [
        "licenses",
        "issue",
        "--type",
        "11100000MB0009021X001",
        "--holder-code",
        COMPANY,
        "--holder-name",
        "某公司",
    ]
    broken = run(node_env, *args, "--data", str(face), "--department", node_env["DEPARTMENT"])
    assert broken.exit_code == 1 and "JSON" in broken.output
    face.write_text("{}", encoding="utf-8")
    unknown = run(node_env, "licenses", "issue", "--type", "11100000MB0009021X999", "--holder-code", COMPANY,
                  "--holder-name", "某公司", "--data", str(face), "--department", node_env["DEPARTMENT"])  # fmt: skip
    assert unknown.exit_code == 1 and "证照类型不存在" in unknown.output
    assert run(node_env, "licenses", "verify").exit_code == 1


def test_refusing_a_row_no_lower_node_reported_says_so(node_env: dict[str, str]) -> None:
    # The reported rows live in the upper node's aggregate; this node has none, so nothing is queued.
    unknown = run(node_env, "licenses", "refuse", "13000000000000000000000000", "--reason", "类型未登记")
    assert unknown.exit_code == 1 and "没有下级节点上报过该证照" in unknown.output
    blank = run(node_env, "licenses", "refuse", " ", "--reason", "x")
    assert blank.exit_code == 1 and "请给出证照标识和原因" in blank.output


def test_grants_add_list_revoke(node_env: dict[str, str]) -> None:
    listed = run(node_env, "licenses", "types", "list", "--json")
    code = next(t["code"] for t in last_json(listed) if t["name"] == "社会保险参保证明")
    made = run(node_env, "identity", "clients", "create", "--name", "社保业务系统", "--grant", "client_credentials",
               "--scope", "licenses.use", "--department", node_env["DEPARTMENT"], "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    client_id = last_json(made)["client_id"]
    bad = run(node_env, "licenses", "grants", "add", "--client", client_id, "--type", code, "--operations",
              "query,erase", "--purpose", "社保转移")  # fmt: skip
    assert bad.exit_code == 1 and "query" in bad.output
    late = run(node_env, "licenses", "grants", "add", "--client", client_id, "--type", code, "--operations",
               "query", "--purpose", "社保转移", "--until", "2020-01-01T00:00")  # fmt: skip
    assert late.exit_code == 1 and "截止时间" in late.output
    added = run(node_env, "licenses", "grants", "add", "--client", client_id, "--type", code, "--operations",
                "query,verify", "--purpose", "社保转移", "--until", "2099-12-31T23:59", "--json")  # fmt: skip
    assert added.exit_code == 0, added.output
    grant = last_json(added)
    assert grant["operations"] == ["query", "verify"] and grant["status"] == "active"
    assert grant["valid_until"].startswith("2099-12-31T15:59")  # 北京时间 when no zone is given
    current = last_json(run(node_env, "licenses", "grants", "list", "--current", "--json"))
    assert [g["id"] for g in current["items"]] == [grant["id"]]
    assert run(node_env, "licenses", "grants", "list").exit_code == 0
    revoked = run(node_env, "licenses", "grants", "revoke", grant["id"], "--reason", "系统下线")
    assert revoked.exit_code == 0, revoked.output
    assert run(node_env, "licenses", "grants", "revoke", grant["id"], "--reason", "again").exit_code == 1
    assert last_json(run(node_env, "licenses", "grants", "list", "--current", "--json"))["total"] == 0
