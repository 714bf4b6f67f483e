"""``zhengwu exchange schedule set/list/clear`` on a node's own database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clikit import cli_node, invoke


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(tmp_path, monkeypatch)


def rules() -> dict[str, Any]:
    lines = invoke("exchange", "schedule", "list", "--json").output.splitlines()
    return {r["table"]: r for r in map(json.loads, lines)}


def test_set_list_and_clear(node: Any) -> None:
    before = rules()
    assert before["up_pro_process"]["mode"] == "realtime" and not before["up_pro_process"]["configured"]
    assert before["up_task_general_basic"]["priority"] > before["up_pro_process"]["priority"]
    done = invoke("exchange", "schedule", "set", "up_pro_process", "--mode", "window", "--window", "22:00-06:00",
                  "--priority", "2")  # fmt: skip
    assert done.exit_code == 0, done.output
    rule = rules()["up_pro_process"]
    assert (rule["mode"], rule["window_start"], rule["window_end"], rule["priority"], rule["configured"]) == (
        "window",
        "22:00",
        "06:00",
        2,
        True,
    )
    assert (
        invoke(
            "exchange", "schedule", "set", "up_pro_result", "--mode", "interval", "--every", "15"
        ).exit_code
        == 0
    )
    assert rules()["up_pro_result"]["every_minutes"] == 15
    assert invoke("exchange", "schedule", "clear", "up_pro_process").exit_code == 0
    assert rules()["up_pro_process"]["configured"] is False


@pytest.mark.parametrize(
    "args",
    [("up_nothing", "--mode", "realtime"), ("up_pro_result", "--mode", "interval"),
     ("up_pro_result", "--mode", "window", "--window", "8-9"), ("up_pro_result", "--priority", "0")],
)  # fmt: skip
def test_refusals_say_why_in_chinese(node: Any, args: tuple[str, ...]) -> None:
    result = invoke("exchange", "schedule", "set", *args)
    assert result.exit_code == 1
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.output)


def test_progress_json_xlsx_and_report(node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openpyxl import load_workbook

    shown = invoke("exchange", "progress", "--json")
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["nodes"] == [] and [k["kind"] for k in data["kinds"]] == [
        "items",
        "cases",
        "licenses",
        "users",
    ]
    out = tmp_path / "progress.xlsx"
    assert invoke("exchange", "progress", "--xlsx", str(out)).exit_code == 0
    assert load_workbook(out).sheetnames == ["节点汇总", "部门明细", "退回原因"]
    assert invoke("exchange", "progress", "--report").exit_code == 1  # no upstream: nobody to report to
    monkeypatch.setenv("ZHENGWU_UPSTREAM_URL", "http://national.test")
    queued = invoke("exchange", "progress", "--report")
    assert queued.exit_code == 0 and "1 行" in queued.output  # an empty node: no user, no department yet
    status = json.loads(invoke("exchange", "status", "--json").output)
    assert [(t["topic"], t["pending"]) for t in status["topics"]] == [("exchange.progress", 1)]
