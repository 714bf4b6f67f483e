"""`zhengwu cases list|show` and `zhengwu calendar import` on a migrated node database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from clikit import cli_node, invoke


@pytest.fixture
def case_no(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from catalog_kit import guide, make_basic, make_department
    from zhengwu.cases import service
    from zhengwu.catalog import service as catalog
    from zhengwu.commands.node import load_settings, node_unit
    from zhengwu.identity import service as identity
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

    for _ in cli_node(tmp_path, monkeypatch):
        with node_unit(load_settings()) as (node, session):
            dept = make_department(session, "130000", "河北省住房和城乡建设厅", 31)
            make_basic(session)
            item = catalog.create_task(session, guide(dept.credit_code), actor="test")
            item = catalog.publish_task(session, item.task_code, actor="test")
            person = identity.register_natural_person(
                session, name="演示用户", id_number=nth_citizen_id(77), phone=nth_phone(77), password=None
            )
            materials = [
                service.MaterialInput(str(m["row_guid"]), file_sm3=node.files.put(b"scan"))
                for m in catalog.get_public_item(session, item.task_code)["materials"]
            ]
            done = service.save(
                session, person, task_code=item.task_code, form={}, materials=materials, submit=True
            )
            number = str(done.case.case_no)
        yield number


def test_list_and_show(case_no: str) -> None:
    listed = invoke("cases", "list", "--status", "submitted", "--json")
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.output)
    assert body["total"] == 1 and body["cases"][0]["case_no"] == case_no
    assert invoke("cases", "list", "--status", "concluded", "--json").output.count(case_no) == 0
    table = invoke("cases", "list")
    assert table.exit_code == 0 and case_no in table.output and "已申报" in table.output
    bad = invoke("cases", "list", "--status", "nonsense")
    assert bad.exit_code == 1 and "未知的办件状态" in bad.output
    shown = invoke("cases", "show", case_no, "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["history"][0]["action"] == "submit"
    assert case_no in invoke("cases", "show", case_no).output
    missing = invoke("cases", "show", "13000020990101000001")
    assert missing.exit_code == 1 and "办件不存在" in missing.output


def test_calendar_import(case_no: str, tmp_path: Path) -> None:
    from zhengwu.cases import service
    from zhengwu.commands.node import load_settings, node_unit

    good = tmp_path / "2031.csv"
    good.write_text("# 2031 年节假日安排\n2031-01-01,holiday\n2031-01-04,workday\n", encoding="utf-8")
    done = invoke("calendar", "import", str(good))
    assert done.exit_code == 0 and "2" in done.output, done.output
    with node_unit(load_settings()) as (_node, session):
        cal = service.calendar(session)
        assert not cal.is_workday(date(2031, 1, 1)) and cal.is_workday(date(2031, 1, 4))
    bad = tmp_path / "bad.csv"
    bad.write_text("2031-01-01,maybe\n", encoding="utf-8")
    refused = invoke("calendar", "import", str(bad))
    assert refused.exit_code == 1 and "line 1" in refused.output
    assert invoke("calendar", "import", str(tmp_path / "none.csv")).exit_code == 1


def test_item_fields_are_set_and_shown(case_no: str, tmp_path: Path) -> None:
    shown = invoke("cases", "show", case_no, "--json")
    task_code = json.loads(shown.output)["task_code"]
    good = tmp_path / "fields.json"
    good.write_text(json.dumps({"fields": [
        {"code": "years", "label": "从业年限", "type": "number", "required": True, "min": 0, "max": 50},
        {"code": "work_type", "label": "作业类别", "type": "choice", "options": ["建筑电工", "架子工"]},
    ]}, ensure_ascii=False))  # fmt: skip
    stored = invoke("cases", "fields", task_code, "--set", str(good))
    assert stored.exit_code == 0, stored.output
    assert (
        "已保存 2 个字段" in stored.output
        and "从业年限" in stored.output
        and "建筑电工、架子工" in stored.output
    )
    listed = json.loads(invoke("cases", "fields", task_code, "--json").output)
    assert [f["code"] for f in listed["fields"]] == ["years", "work_type"] and listed["fields"][0][
        "max"
    ] == 50
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"fields": [{"code": "years", "label": "年限", "type": "colour"}]}))
    refused = invoke("cases", "fields", task_code, "--set", str(bad))
    assert refused.exit_code == 1 and "类型" in refused.output
    assert json.loads(invoke("cases", "fields", task_code, "--json").output) == listed, "nothing changed"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "不是有效的 JSON" in invoke("cases", "fields", task_code, "--set", str(broken)).output
