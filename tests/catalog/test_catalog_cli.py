"""``zhengwu catalog import|export|validate`` against a node database of its own (commits for real)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from catalog_kit import guide, make_basic, make_department
from dbkit import migrate_fresh
from zhengwu.cli import app
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.main import import_models


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A migrated SQLite node with a published basic entry and two bodies."""
    root = tmp_path_factory.mktemp("catalog-cli")
    url = f"sqlite:///{(root / 'node.db').as_posix()}"
    migrate_fresh(url)
    import_models()
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        make_basic(session)
        city = make_department(session, "130100", "石家庄市公安局", 41).credit_code
        county = make_department(session, "130123", "正定县公安局", 42).credit_code
    engine.dispose()
    yield {"root": root, "url": url, "city": city, "county": county}


def invoke(node: dict[str, Any], *args: str) -> Any:
    env = {"ZHENGWU_DATABASE_URL": node["url"], "ZHENGWU_DATA_DIR": str(node["root"] / "data")}
    return CliRunner().invoke(app, ["catalog", *args], env=env)


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_export_validate(node: dict[str, Any]) -> None:
    root = node["root"]
    good = guide(node["city"])
    bad = guide(node["county"], use_level="3", anticipate_day=20)
    rejects = root / "rejects.csv"
    result = invoke(
        node, "import", str(write(root / "a.jsonl", [good, bad])), "--rejects", str(rejects), "--publish"
    )
    assert result.exit_code == 1, result.output  # one row refused
    assert "新增 1" in result.output and "拒绝 1 行" in result.output
    assert "use_level" in rejects.read_text(encoding="utf-8-sig")

    assert invoke(node, "validate").exit_code == 0

    diverging = guide(node["county"], anticipate_day=20)  # county: a different statutory time limit
    result = invoke(node, "import", str(write(root / "b.jsonl", [diverging])), "--publish", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["inserted"] == 1

    result = invoke(node, "validate", "--json")
    assert result.exit_code == 1
    issues = [json.loads(line) for line in result.output.splitlines()]
    assert [(i["kind"], i["field"], i["value"], i["other_value"]) for i in issues] == [
        ("divergence", "anticipate_day", 20, 15)
    ]
    human = invoke(node, "validate")
    assert human.exit_code == 1 and "法定办结时限" in human.output and "发现 1 处问题" in human.output

    for fmt in ("jsonl", "xlsx"):
        out = root / f"export.{fmt}"
        result = invoke(node, "export", str(out), "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "实施清单 2 项" in result.output and out.stat().st_size > 0


def test_unusable_files_exit_2(node: dict[str, Any]) -> None:
    fake = node["root"] / "fake.xlsx"
    fake.write_bytes(b"not a workbook")
    result = invoke(node, "import", str(fake))
    assert result.exit_code == 2 and "XLSX" in result.output
    missing = invoke(node, "import", str(node["root"] / "missing.jsonl"))
    assert missing.exit_code == 2
