"""deploy/prometheus: promtool accepts the configuration and the rules, the rules' own unit tests pass,
and every zhengwu metric the rules name is one a node really exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "rules" / "zhengwu.rules.yml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("ZHENGWU_CI"):
            pytest.fail("promtool is missing: .ci/run installs the Debian package prometheus")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "rules/zhengwu.rules.yml"],
        ["test", "rules", "rules/zhengwu.rules.test.yml"],
    ],
    ids=["config", "rules", "rule-tests"],
)
def test_promtool_accepts_the_deployment(args: list[str]) -> None:
    done = subprocess.run([_promtool(), *args], cwd=DEPLOY, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _families(exposition: str) -> set[str]:
    names = set()
    for line in exposition.splitlines():
        match = re.match(r"(?:# TYPE )?(zhengwu_[a-z_]+)", line)
        if match:
            names.add(re.sub(r"_(total|bucket|sum|count|created)$", "", match.group(1)))
    return names


def test_every_metric_the_rules_name_is_exported(client: Any) -> None:
    assert client.get("/_status").status_code == 200  # observe one request
    exported = _families(client.get("/metrics").text)
    named = {
        re.sub(r"_(total|bucket|sum|count)$", "", m)
        for m in re.findall(r"\bzhengwu_[a-z_]+", RULES.read_text())
    }
    assert named, "the rules name no zhengwu metric"
    assert named <= exported, f"rules name metrics no node exports: {sorted(named - exported)}"


def test_the_scrape_gauges_follow_the_database(client: Any) -> None:
    text = client.get("/metrics").text
    assert "zhengwu_backup_age_seconds -1.0" in text
    assert re.search(r'zhengwu_node_info\{node_id="hebei",tier="province",version="[^"]+"\} 1\.0', text)
