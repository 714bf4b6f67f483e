"""Our national table specs equal the national 前置库 DDL, read in place from ../shared/national-ddl.

Every ``up_*``/``dn_*`` table of both sources (the 55 per-table files and ``task_init.sql``), every
column, its type, length and NULL rule: where the two sources disagree our spec sends within the
narrower definition and accepts the wider one (docs/national-tables.md); any other difference fails.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from conformance_path import national_ddl_dir
from zhengwu.exchange import national, nationalddl


@pytest.fixture(scope="module")
def sources() -> nationalddl.Sources:
    return nationalddl.load(national_ddl_dir())


def test_the_ddl_is_read_completely(sources: nationalddl.Sources) -> None:
    # The counts the material's README states: a parser that skips lines fails here.
    assert len(sources.per_table) == 55
    assert len(sources.task_init) == 57
    assert sum(len(t.columns) for t in sources.task_init.values()) == 1669
    assert len(sources.per_table["up_task_general_basic"].columns) == 47
    assert len(sources.per_table["dn_lic_data_error"].columns) == 18
    assert set(sources.task_init) - set(sources.per_table) == {
        "dn_audit_item_condition",
        "dn_audit_material_condition",
    }
    by_law = sources.task_init["up_task_directory"].columns["by_law"]
    assert (by_law.base, by_law.length, by_law.not_null, by_law.comment) == ("varchar", 256, True, "设定依据")
    assert sources.per_table["up_task_directory"].columns["by_law"].base == "longtext"
    assert sources.task_init["up_task_directory"].comment == "政务服务事项基本目录"


def test_the_sources_differ_where_differences_md_says(sources: nationalddl.Sources) -> None:
    """193 shared columns differ (125 type, 32 length, 32 NULL, 4 type+NULL): our reading of the two
    sources finds exactly the disagreements the material lists."""
    kinds: Counter[str] = Counter()
    for name, old in sources.per_table.items():
        new = sources.task_init[name]
        for column, a in old.columns.items():
            b = new.columns.get(column)
            if b is None or column == "id":
                continue
            typed = a.base != b.base
            sized = not typed and a.length != b.length
            nulls = a.not_null != b.not_null
            if typed and nulls:
                kinds["type+null"] += 1
            elif typed:
                kinds["type"] += 1
            elif sized:
                kinds["length"] += 1
            elif nulls:
                kinds["null"] += 1
    assert kinds == {"type": 125, "length": 32, "null": 32, "type+null": 4}


def test_every_table_and_column_follows_the_national_ddl(sources: nationalddl.Sources) -> None:
    found = list(nationalddl.differences(sources))
    assert found == [], "our specs differ from the national DDL:\n" + "\n".join(found)
    assert set(national.UP_TABLES) | set(national.DN_TABLES) == set(sources.task_init)


def test_a_changed_spec_is_a_difference(
    sources: nationalddl.Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = national.UP_TABLES["up_pro_accept"]
    columns = tuple(
        dataclasses.replace(c, length=64, accept_length=64) if c.name == "org_code" else c
        for c in spec.columns
        if c.name != "zip_code"
    )
    changed = national.NationalTable(spec.name, spec.comment, spec.key_column, columns, spec.feedback_table)
    monkeypatch.setitem(national.UP_TABLES, "up_pro_accept", changed)
    monkeypatch.delitem(national.DN_TABLES, "dn_audit_item_condition")
    found = list(nationalddl.differences(sources))
    assert any(line.startswith("up_pro_accept.org_code: ours send varchar(64) NOT NULL") for line in found)
    assert any(line.startswith("up_pro_accept.zip_code: missing") for line in found)
    assert "dn_audit_item_condition: table of the national DDL missing from our specs" in found


@pytest.mark.parametrize(
    ("table", "column", "send", "accept"),
    [
        # longtext per table, varchar(256) in task_init
        ("up_task_directory", "by_law", ("str", 256, True), ("str", None, True)),
        # NOT NULL per table, NULL in task_init
        ("up_task_punish_basic", "anticipate_day", ("int", None, True), ("int", None, False)),
        # varchar(36) per table, varchar(50) in task_init
        ("up_task_general_material", "task_guid", ("str", 36, True), ("str", 50, True)),
        # varchar(30) per table, varchar(2) in task_init
        ("up_task_public_extend", "result_type", ("str", 2, True), ("str", 30, True)),
        # varchar(20) 注册时间 per table, datetime in task_init
        ("up_uc_province_user", "create_time", ("datetime", None, True), ("str", 20, True)),
    ],
)
def test_send_narrow_accept_wide(
    table: str, column: str, send: tuple[object, ...], accept: tuple[object, ...]
) -> None:
    spec = national.table(table)
    assert spec is not None
    c = spec.by_name[column]
    assert (c.kind, c.length, c.required) == send
    assert (c.accept_kind, c.accept_length, c.accept_required) == accept
    assert c.widened


def test_rows_between_the_rules_are_accepted_but_not_sent() -> None:
    spec = national.UP_TABLES["up_task_directory"]
    row = {"by_law": "法" * 300, "catalog_code": "000110110000", "task_name": "演示", "task_state": "1",
           "task_type": "01", "task_version": 1, "use_level": "2"}  # fmt: skip
    assert national.check_columns(spec, row) == []
    (error,) = national.check_send(spec, row)
    assert (error.code, error.column) == ("too_long", "by_law") and "最多 256 个字符" in error.reason
    assert national.check_send(spec, {**row, "by_law": "法" * 256}) == []
    (unknown,) = national.unknown_columns(spec, {**row, "made_up": 1})
    assert unknown.code == "unknown_column"


def test_older_column_names_are_read_as_the_current_ones() -> None:
    spec = national.UP_TABLES["up_pro_material"]
    row = {"project_no": "P1", "material_name": "身份证", "get_type": "1", "get_name": "2",
           "row_guid": "r" * 32, "cd_batch": "b", "cd_operation": "I", "cd_time": "20241201103000",
           "data_source": "111"}  # fmt: skip
    assert spec.fast_clean(row) is None
    assert national.check_columns(spec, row) == []
    kept = national.keep_known(spec, row)
    assert kept["get_num"] == "2" and "get_name" not in kept
    assert national.check_columns(spec, {**row, "get_name": "123456"})[0].column == "get_num"


def test_condition_tables_carry_only_row_guid_of_the_control_columns() -> None:
    spec = national.DN_TABLES["dn_audit_item_condition"]
    assert [c.name for c in spec.ddl_columns if c.name in national.CONTROL_NAMES] == ["row_guid"]
    assert national.DN_TABLES["dn_audit_abnormal"].controls == ("row_guid", "cd_time")
