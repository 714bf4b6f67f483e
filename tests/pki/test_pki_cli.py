"""The `zhengwu pki` commands end to end on a node database (SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from dbkit import migrate_fresh

    folder = tmp_path_factory.mktemp("pki-cli")
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    migrate_fresh(url)
    env = {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(folder), "ZHENGWU_LOG_LEVEL": "WARNING"}
    first = run(env, "pki", "init", "--json")
    assert first.exit_code == 0, first.output
    assert set(json_of(first)["created"]) == {"root-ca", "issuing-ca", "seal-maker", "tsa"}
    second = run(env, "pki", "init", "--json")
    assert json_of(second)["created"] == []
    assert json_of(second)["certificates"] == json_of(first)["certificates"]
    return env


def run(env: dict[str, str], *args: str) -> Any:
    from zhengwu.cli import app

    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def json_of(result: Any) -> Any:
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_trust_anchor_commands(node_env: dict[str, str], tmp_path: Path) -> None:
    from seals_kit import make_kit

    kit = make_kit("外省 CA")
    cert = tmp_path / "root.pem"
    cert.write_bytes(kit.root.to_pem())
    added = run(node_env, "pki", "trust", "add", str(cert), "--for", "seals", "--for", "exchange", "--json")
    assert added.exit_code == 0, added.output
    assert json_of(added)["purposes"] == ["exchange", "seals"]
    bad = run(node_env, "pki", "trust", "add", str(cert), "--for", "everything")
    assert bad.exit_code == 1
    listed = [json.loads(x) for x in run(node_env, "pki", "trust", "list", "--json").stdout.splitlines() if x]
    assert kit.root.fingerprint in {x["fingerprint"] for x in listed}
    assert run(node_env, "pki", "trust", "list").exit_code == 0
    assert run(node_env, "pki", "trust", "remove", kit.root.fingerprint[:16]).exit_code == 0
    assert run(node_env, "pki", "trust", "remove", kit.root.fingerprint[:16]).exit_code == 1
    chain = tmp_path / "chain.pem"
    assert run(node_env, "pki", "export-ca", "-o", str(chain)).exit_code == 0
    assert chain.read_bytes().count(b"BEGIN CERTIFICATE") == 2
    shown = json_of(run(node_env, "pki", "show", "--json"))
    assert shown["initialized"] and set(shown["crls"]) == {"root-ca", "issuing-ca"}
