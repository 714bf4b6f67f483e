"""The department registry: rules, API with pagination, CLI, and the deterministic demo seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zhengwu.kernel.codes import validate_uscc
from zhengwu.orgs import service
from zhengwu.orgs.errors import DepartmentExists
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import demo_departments, government_credit_code, seed_departments


def _create(**overrides: Any) -> DepartmentCreate:
    data = {
        "credit_code": government_credit_code("130100", 9001),
        "name": "石家庄市测试局",
        "division_code": "130100",
    }
    data.update(overrides)
    return DepartmentCreate(**data)


def test_add_department_derives_level_and_refuses_duplicates(session: Session) -> None:
    dept = service.add_department(session, _create())
    assert dept.level == 3
    assert (
        service.add_department(
            session, _create(credit_code=government_credit_code("130181", 9002), division_code="130181")
        ).level
        == 4
    )
    with pytest.raises(DepartmentExists):
        service.add_department(session, _create())


def test_bad_credit_code_and_unknown_division_are_refused_by_the_code_types() -> None:
    good = government_credit_code("130100", 9003)
    broken = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationError) as info:
        _create(credit_code=broken)
    assert info.value.errors()[0]["type"].startswith("uscc.") and "校验码" in info.value.errors()[0]["msg"]
    with pytest.raises(ValidationError):
        _create(credit_code=good, division_code="139999")
    with pytest.raises(ValidationError):
        _create(parent_credit_code=broken)
    assert _create(division_code="000000").division_code == "000000"  # the national level


def test_demo_departments_are_valid_and_deterministic() -> None:
    depts = demo_departments()
    assert 55 <= len(depts) <= 70
    assert depts == demo_departments()
    assert len({d.credit_code for d in depts}) == len(depts)
    for d in depts:
        assert validate_uscc(d.credit_code).ok, d
    names = {d.name for d in depts}
    assert "辛集市行政审批局" in names and "定州市行政审批局" in names
    assert "河北省市场监督管理局" in names
    assert {d.division_code for d in depts} >= {"130000", "130100", "131100", "130181", "130682"}


def test_seed_is_idempotent(session: Session) -> None:
    first = seed_departments(session)
    assert first == len(demo_departments())
    assert seed_departments(session) == 0


def test_list_api_paginates_with_headers(session: Session, client: TestClient) -> None:
    seed_departments(session)
    session.flush()
    r = client.get("/api/v1/orgs/departments", params={"division": "13", "limit": 10, "offset": 10})
    assert r.status_code == 200
    assert len(r.json()) == 10
    total = int(r.headers["x-total-count"])
    assert total == len(demo_departments())
    assert 'rel="next"' in r.headers["link"] and 'rel="prev"' in r.headers["link"]
    page_all = client.get("/api/v1/orgs/departments", params={"limit": 200}).json()
    assert [d["division_code"] for d in page_all] == sorted(d["division_code"] for d in page_all)
    one = client.get(f"/api/v1/orgs/departments/{page_all[0]['id']}")
    assert one.status_code == 200 and one.json()["credit_code"] == page_all[0]["credit_code"]
    missing = client.get("/api/v1/orgs/departments/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "orgs.department_not_found"
    too_big = client.get("/api/v1/orgs/departments", params={"limit": 100000})
    assert too_big.status_code == 422


def test_cli_departments_add_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbkit import migrate_fresh
    from zhengwu.cli import app

    url = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    migrate_fresh(url)
    monkeypatch.setenv("ZHENGWU_DATABASE_URL", url)
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    code = government_credit_code("130200", 9100)
    r = runner.invoke(
        app,
        [
            "departments",
            "add",
            "--credit-code",
            code.lower(),
            "--name",
            "唐山市测试局",
            "--division",
            "130200",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["credit_code"] == code
    r = runner.invoke(
        app, ["departments", "add", "--credit-code", code, "--name", "重复", "--division", "130200"]
    )
    assert r.exit_code == 1
    r = runner.invoke(app, ["departments", "list", "--json"])
    assert r.exit_code == 0
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["credit_code"] for row in rows] == [code]


def test_demo_seed_is_refused_on_production_nodes(tmp_path: Path) -> None:
    from zhengwu.kernel.config import Settings
    from zhengwu.seed import DemoSeedRefused, seed_demo

    settings = Settings(
        data_dir=tmp_path,
        production=True,
        public_url="https://zwfw.hebei.gov.cn",
        security={"secret_key": "a-real-secret-of-enough-length-0001"},  # type: ignore[arg-type]
        identity={"federation_key": "a-real-federation-key-0000000001"},  # type: ignore[arg-type]
    )
    with pytest.raises(DemoSeedRefused):
        seed_demo(settings)
