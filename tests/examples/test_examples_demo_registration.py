"""`zhengwu demo` prepares the reference department system beside the province: it registers it as a
client of the demo's 行政审批局 (both grants, the case scopes, its callback and logout addresses) with
its case webhook, hands it the environment it starts with, and reuses the registration on a second run
(the secrets are shown once). Run against a migrated province data folder through the CLI's commands."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from clikit import run_in
from zhengwu.demo import node_env, prepare_department_system
from zhengwu.seed import government_credit_code


def _cli(env: dict[str, str], *args: str) -> str:
    done = run_in(env, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_demo_registers_the_department_system_once(tmp_path: Path) -> None:
    root = tmp_path / "var"
    (root / "hebei").mkdir(parents=True)
    env = node_env("hebei", root, 18000, 18001)
    _cli(env, "migrate")
    approval = government_credit_code("130100", 901)
    for code, name, division in ((government_credit_code("130000", 902), "河北省市场监督管理局", "130000"),
                                 (approval, "石家庄市行政审批局", "130100")):  # fmt: skip
        _cli(env, "departments", "add", "--credit-code", code, "--name", name, "--division", division)

    system, problems = prepare_department_system(env, port=18002, root=root)
    assert problems == [] and system is not None
    assert system["DEPTSYS_NODE_URL"] == "http://127.0.0.1:18000"
    assert system["DEPTSYS_BASE_URL"] == "http://127.0.0.1:18002" and system["DEPTSYS_DEPARTMENT"] == approval
    assert system["DEPTSYS_WEBHOOK_SECRET"].startswith("whsec_") and system["DEPTSYS_CLIENT_SECRET"]
    assert not any(k.startswith("ZHENGWU_") for k in system), "the system knows the node over HTTP only"
    assert str(Path("examples/department-system").resolve()) in system["PYTHONPATH"]
    clients = [
        json.loads(line)
        for line in _cli(env, "identity", "clients", "list", "--json").splitlines()
        if line.startswith("{")
    ]
    mine = [c for c in clients if c["client_id"] == system["DEPTSYS_CLIENT_ID"]]
    assert len(mine) == 1
    client = mine[0]
    assert {"authorization_code", "client_credentials"} <= set(client["grant_types"])
    assert {"cases.handle", "licenses.issue"} <= set(client["scope"].split())
    assert client["redirect_uris"] == ["http://127.0.0.1:18002/callback"]
    with sqlite3.connect(root / "hebei" / "zhengwu.db") as db:
        endpoints = db.execute("SELECT client_id, url, active FROM cases_webhook_endpoint").fetchall()
    assert endpoints == [(system["DEPTSYS_CLIENT_ID"], "http://127.0.0.1:18002/webhooks", 1)]

    # A second run of the demo on the same data registers nothing new.
    again, problems = prepare_department_system(env, port=18002, root=root)
    assert problems == [] and again is not None and again["DEPTSYS_CLIENT_ID"] == system["DEPTSYS_CLIENT_ID"]
    again_clients = _cli(env, "identity", "clients", "list", "--json")
    assert again_clients.count("审批系统（演示）") == 1
    assert (root / "department-system" / "registration.json").stat().st_mode & 0o077 == 0

    # The system starts from that environment: its configuration reads it whole.
    from department_system.config import Config

    saved = dict(os.environ)
    try:
        os.environ.update(system)
        config = Config.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert config.redirect_uri == "http://127.0.0.1:18002/callback" and config.department == approval
