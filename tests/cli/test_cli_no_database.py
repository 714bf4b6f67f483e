"""A command pointed at a data directory without a (migrated) database says so in one sentence per language.

It names the data directory it used and how to choose another, instead of a driver traceback quoting SQL.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from zhengwu import cli

COMMANDS = [
    ["departments", "list"],
    ["catalog", "export", "out.jsonl"],
    ["seals", "list"],
    ["exchange", "status", "--json"],
    ["exchange", "nodes", "list"],
    ["users", "verify-audit"],
    ["audit", "verify"],
    ["cases", "list"],
    ["identity", "clients", "list"],
    ["worker", "--until-idle"],
    ["seed", "--demo"],
]


def _run(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["zhengwu", *argv])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    return int(stopped.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_commands_name_the_data_directory_instead_of_a_traceback(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [k for k in os.environ if k.startswith("ZHENGWU_")]:
        monkeypatch.delenv(name)
    data_dir = tmp_path / "elsewhere"
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    code, err = _run(argv, monkeypatch, capsys)
    assert code == 3, err
    text = " ".join(err.split())
    assert str(data_dir) in text and "ZHENGWU_DATA_DIR" in text and "./var/hebei" in text
    assert "没有已迁移的数据库" in text and "has no migrated database" in text
    assert "Traceback" not in err and "SELECT" not in err and "sqlite3" not in err


def test_an_unreachable_database_is_named_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ZHENGWU_DATABASE_URL", "postgresql+psycopg://zw:s3cret@127.0.0.1:1/none")
    code, err = _run(["departments", "list"], monkeypatch, capsys)
    assert code == 3 and "无法连接数据库" in err and "cannot reach its database" in " ".join(err.split())
    assert "s3cret" not in err and "Traceback" not in err
