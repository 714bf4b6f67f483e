"""``codes validate`` CLI: one line per value, garbage handled per line, exit status, JSON, files and stdin."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from zhengwu.commands.codes import MAX_LINE, app, run
from zhengwu.kernel.codes import validate_uscc

runner = CliRunner()

GARBAGE = (
    b"91350100M000100Y43\n"
    b"\n"
    b"\xef\xbc\x99\xef\xbc\x91350100M000100Y43\n"  # full-width 9 and 1
    b"44011320141005001x\n"
    b"32108319781216211\n"
    b"\xff\xfe\x00\x01binary\n"
    b"\xc4\xe3\xba\xc3\r\n"  # GBK 你好, CRLF
    b"91350211M0000XUF46"  # no final newline
)


def _rows(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines()]


def test_values_as_arguments() -> None:
    result = runner.invoke(app, ["validate", "--kind", "uscc", "91350100M000100Y43", "91110000600037341L"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r[:3] for r in rows] == [
        ["91350100M000100Y43", "OK", "uscc.ok"],
        ["91110000600037341L", "OK", "uscc.ok"],
    ]
    assert rows[0][3] == "有效的统一社会信用代码 / valid unified social credit code"


def test_exit_status_1_when_any_value_is_invalid() -> None:
    result = runner.invoke(app, ["validate", "-k", "uscc", "91350100M000100Y43", "91110000600037341N"])
    assert result.exit_code == 1
    assert _rows(result.stdout)[1][1:3] == ["INVALID", "uscc.check_char"]


def test_garbage_file_gives_one_reasoned_line_per_input_line(tmp_path: Path) -> None:
    path = tmp_path / "codes.txt"
    path.write_bytes(GARBAGE)
    result = runner.invoke(app, ["validate", "--kind", "uscc", "--file", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    rows = _rows(result.stdout)
    assert len(rows) == 8
    assert all(len(r) == 4 and r[3] for r in rows)
    assert [r[1:3] for r in rows] == [
        ["OK", "uscc.ok"],
        ["INVALID", "uscc.empty"],
        ["WARN", "input.fullwidth"],
        ["INVALID", "uscc.check_char"],  # an ID number is 18 symbols long too
        ["INVALID", "uscc.length"],
        ["INVALID", "uscc.binary"],
        ["INVALID", "uscc.length"],
        ["INVALID", "uscc.check_char"],
    ]
    assert rows[5][0] == "\\xff\\xfe\\x00\\x01binary"
    assert rows[6][0] == "你好"


def test_citizen_id_garbage_via_stdin() -> None:
    result = runner.invoke(app, ["validate", "--kind", "citizen-id", "--file", "-"], input=GARBAGE)
    assert result.exit_code == 1
    rows = _rows(result.stdout)
    assert len(rows) == 8
    assert rows[3][:3] == ["44011320141005001x", "WARN", "input.lowercase"]
    assert rows[4][1:3] == ["INVALID", "citizen_id.length"]
    assert "17" in rows[4][3]


def test_tolerant_and_json() -> None:
    result = runner.invoke(app, ["validate", "--kind", "uscc", "--tolerant", "--json", "91350211M0000XUF46"])
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["status"] == "WARN"
    assert record["ok"] is True
    assert record["warnings"][0]["code"] == "uscc.pilot_check"
    strict = runner.invoke(app, ["validate", "--kind", "uscc", "--json", "91350211M0000XUF46"])
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["code"] == "uscc.check_char"


def test_every_kind_is_accepted() -> None:
    cases = {
        "citizen-id": "11010519491231002X",
        "division": "130181",
        "task-code": "11450721MB155808114000104002000",
        "catalog-code": "000131001000",
        "license-id": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    }
    for kind, value in cases.items():
        result = runner.invoke(app, ["validate", "--kind", kind, value])
        assert result.exit_code == 0, (kind, result.output)
        assert _rows(result.stdout)[0][1] == "OK"


def test_usage_errors() -> None:
    assert runner.invoke(app, ["validate", "--kind", "uscc"]).exit_code == 2
    assert runner.invoke(app, ["validate", "--kind", "passport", "x"]).exit_code == 2
    missing = runner.invoke(app, ["validate", "--kind", "uscc", "--file", "/nonexistent/codes.txt"])
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output


def test_overlong_line_is_reported_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_bytes(b"9" * (MAX_LINE * 3) + b"\n91350100M000100Y43\n")
    result = runner.invoke(app, ["validate", "--kind", "uscc", "--file", str(path)])
    rows = _rows(result.stdout)
    assert [r[1:3] for r in rows] == [["INVALID", "input.too_long"], ["OK", "uscc.ok"]]


def test_run_writes_in_batches() -> None:
    out = io.BytesIO()
    failures = run(
        validate_uscc, ["91350100M000100Y43"] * 5 + ["bad"], out, tolerant=False, as_json=False, batch=2
    )
    assert failures == 1
    assert out.getvalue().decode().count("\n") == 6


def test_module_entry_point(tmp_path: Path) -> None:
    path = tmp_path / "codes.txt"
    path.write_bytes(b"91350100M000100Y43\n\xff\n")
    done = subprocess.run(
        [sys.executable, "-m", "zhengwu.commands.codes", "validate", "--kind", "uscc", "--file", str(path)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.decode().count("\n") == 2
    assert b"Traceback" not in done.stderr
