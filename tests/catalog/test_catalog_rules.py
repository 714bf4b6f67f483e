"""Catalog rules without a database: normalisation, levels, required elements, lifecycle, tokens, diff."""

from __future__ import annotations

import re

import pytest

from catalog_kit import credit_code, guide
from zhengwu.catalog import national, rules
from zhengwu.catalog.errors import InvalidTransition
from zhengwu.catalog.lifecycle import transition
from zhengwu.catalog.models import Status
from zhengwu.catalog.rules import BasicInfo, BodyInfo
from zhengwu.catalog.search.postgres import tsquery_expression
from zhengwu.catalog.search.sqlite import fts_expression
from zhengwu.catalog.search.tokens import document_tokens, expand, name_key, parse_query

CITY = BodyInfo("d1", credit_code("130100", 1), "石家庄市公安局", "130100", 3)
COUNTY = BodyInfo("d2", credit_code("130123", 2), "正定县公安局", "130123", 4)
PROVINCE = BodyInfo("d3", credit_code("130000", 3), "河北省公安厅", "130000", 2)
BODIES = {b.credit_code: b for b in (CITY, COUNTY, PROVINCE)}
BASIC = BasicInfo("b1", "000101001000", "普通护照签发", "01", "3^4", "《中华人民共和国护照法》", "published")
BASICS = {BASIC.catalog_code: BASIC}


def check(**overrides: object) -> rules.Checked:
    data = guide(CITY.credit_code)
    data.update(overrides)
    checked, _, _ = rules.check_task(data, bodies=BODIES, basics=BASICS, complete=True)
    return checked


def fields(checked: rules.Checked) -> set[str]:
    return {p.field for p in checked.problems}


def test_complete_guide_passes_and_is_normalised() -> None:
    checked = check(is_fee="是", server_type="自然人", anticipate_day="15", handle_type=["2", "1"])
    assert checked.ok, checked.problems
    values = checked.values
    assert values["is_fee"] == "1"
    assert values["server_type"] == "1"
    assert values["anticipate_day"] == 15
    assert values["handle_type"] == "1^2"
    assert values["use_level"] == "3"  # derived from the body's division
    assert values["dept_name"] == "石家庄市公安局"  # the registry is authoritative
    assert values["task_name"] == "普通护照签发"  # from the basic catalog
    assert [m["is_need"] for m in values["materials"]] == ["1", "1"]


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"dept_code": "91350100M000100Y44"}, "dept_code"),  # check character fails
        ({"dept_code": "123"}, "dept_code"),  # malformed
        ({"dept_code": credit_code("130200", 99)}, "dept_code"),  # valid but not registered
        ({"catalog_code": "12345"}, "catalog_code"),
        ({"catalog_code": "009999999000"}, "catalog_code"),  # not in the basic catalog
        ({"use_level": "2"}, "use_level"),  # a city body cannot implement at province level
        ({"use_level": "7"}, "use_level"),  # 分级管理 belongs to the catalog only
        ({"task_type": "20"}, "task_type"),  # differs from the basic entry
        ({"anticipate_type": "天"}, "anticipate_type"),
        ({"server_type": "1^外星人"}, "server_type"),
        ({"anticipate_day": -1}, "anticipate_day"),
        ({"anticipate_day": "十五"}, "anticipate_day"),
        ({"promise_day": 30}, "promise_day"),  # longer than the statutory limit
        ({"is_fee": "maybe"}, "is_fee"),
        ({"is_fee": "1", "fee_projects": []}, "fee_projects"),
        ({"accept_condition": None}, "accept_condition"),
        ({"accept_condition": "x" * 30000}, "accept_condition"),
        ({"materials": "居民身份证"}, "materials"),
        ({"plan_effective_date": "2024-13-45"}, "plan_effective_date"),
    ],
)
def test_bad_input_names_the_field(override: dict[str, object], field: str) -> None:
    checked = check(**override)
    assert field in fields(checked), checked.problems
    assert all(p.reason_zh for p in checked.problems)


def test_duplicate_and_nameless_materials() -> None:
    checked = check(
        materials=[{"material_name": "居民身份证"}, {"material_name": "居民身份证"}, {"is_need": "1"}]
    )
    assert {"materials[2].material_name", "materials[3].material_name"} <= fields(checked)


def test_county_body_may_implement_town_level_but_not_city() -> None:
    graded = BasicInfo("b1", "000101001000", "普通护照签发", "01", "7", "法", "published")
    ok, _, _ = rules.check_task(
        guide(COUNTY.credit_code, use_level="5"),
        bodies=BODIES,
        basics={graded.catalog_code: graded},
        complete=True,
    )
    assert ok.ok, ok.problems
    bad, _, _ = rules.check_task(
        guide(COUNTY.credit_code, use_level="3"), bodies=BODIES, basics=BASICS, complete=True
    )
    assert "use_level" in fields(bad)


def test_level_must_be_in_the_catalog_levels() -> None:
    provincial, _, _ = rules.check_task(
        guide(PROVINCE.credit_code), bodies=BODIES, basics=BASICS, complete=True
    )
    assert [p.code for p in provincial.problems] == ["level_not_in_catalog"]


def test_public_service_needs_no_statutory_limit_or_power_source() -> None:
    public = BasicInfo("b2", "002030001000", "社会保险登记", "20", "2^3^4", "《社会保险法》", "published")
    data = guide(CITY.credit_code, public.catalog_code)
    for name in ("power_source", "anticipate_day", "anticipate_type"):
        data.pop(name)
    checked, _, _ = rules.check_task(data, bodies=BODIES, basics={public.catalog_code: public}, complete=True)
    assert checked.ok, checked.problems
    # ... but a promised one: NOT NULL in the stricter national DDL (docs/national-tables.md)
    for name in ("promise_day", "promise_type"):
        data.pop(name)
    checked, _, _ = rules.check_task(data, bodies=BODIES, basics={public.catalog_code: public}, complete=True)
    assert {(p.field, p.code) for p in checked.problems} == {
        ("promise_day", "required"),
        ("promise_type", "required"),
    }


def test_drafts_may_be_incomplete_but_not_malformed() -> None:
    data = {"dept_code": CITY.credit_code, "catalog_code": BASIC.catalog_code, "anticipate_type": "x"}
    checked, _, _ = rules.check_task(data, bodies=BODIES, basics=BASICS, complete=False)
    assert fields(checked) == {"anticipate_type"}


def test_directory_rules() -> None:
    good = rules.check_directory(
        {
            "catalog_code": "000101001000",
            "task_name": "普通护照签发",
            "task_type": "1",
            "use_level": "4,3,2",
            "by_law": "法",
        },
        complete=True,
    )
    assert good.ok and good.values["use_level"] == "2^3^4" and good.values["task_type"] == "01"
    bad = rules.check_directory({"catalog_code": "0001", "task_type": "99", "use_level": "8"}, complete=True)
    assert {"catalog_code", "task_type", "use_level", "task_name", "by_law"} <= fields(bad)


def test_lifecycle() -> None:
    assert transition(Status.DRAFT, "publish") == Status.PUBLISHED
    assert transition(Status.PUBLISHED, "suspend") == Status.SUSPENDED
    assert transition(Status.SUSPENDED, "publish", dirty=False) == Status.PUBLISHED
    assert transition(Status.SUSPENDED, "cancel") == Status.CANCELLED
    with pytest.raises(InvalidTransition):
        transition(Status.PUBLISHED, "publish", dirty=False)
    with pytest.raises(InvalidTransition):
        transition(Status.CANCELLED, "publish")
    with pytest.raises(InvalidTransition):
        transition(Status.DRAFT, "suspend")
    with pytest.raises(InvalidTransition):
        transition(Status.DRAFT, "delete", published_before=True)


def test_tokens_and_synonyms() -> None:
    assert "工商户" in document_tokens("个体工商户设立登记").split()
    assert name_key(" 普通 护照签发 ") == name_key("普通护照签发")
    assert expand("社保卡", {"社保": "社会保险"}) == ("社保卡", "社会保险卡")
    assert "社保" in expand("社会保险登记", {"社保": "社会保险"})[1]
    query = parse_query("社保", {"社保": "社会保险"})
    assert len(query.variants) == 2


@pytest.mark.parametrize(
    "raw", ['护照" OR "x', "NEAR(a b)", "a AND NOT b", "'; DROP TABLE x; --", "*", '"', "护照'签发"]
)
def test_query_syntax_from_users_is_quoted(raw: str) -> None:
    query = parse_query(raw, {})
    if query.empty:
        return
    # Once the quoted tokens are removed only the operators we wrote remain.
    fts_rest = re.sub(r'"[^"]*"', "", fts_expression(query))
    assert re.fullmatch(r"[()\sANDOR]*", fts_rest), fts_rest
    pg_rest = re.sub(r"'[^']*'", "", tsquery_expression(query))
    assert re.fullmatch(r"[()\s&|]*", pg_rest), pg_rest


def test_diff_lists_field_and_material_changes() -> None:
    old = {
        "task_name": "甲",
        "promise_day": 7,
        "materials": [{"row_guid": "1", "order_num": 1, "material_name": "居民身份证"}],
    }
    new = {
        "task_name": "甲",
        "promise_day": 5,
        "materials": [
            {"row_guid": "1", "order_num": 1, "material_name": "居民身份证", "accept_stand": "原件"},
            {"row_guid": "2", "order_num": 2, "material_name": "照片"},
        ],
    }
    changes = {c["field"]: c for c in national.diff(old, new)}
    assert changes["promise_day"]["old"] == 7 and changes["promise_day"]["new"] == 5
    assert "materials[照片]" in changes
    assert changes["materials[居民身份证].accept_stand"]["new"] == "原件"
    assert "task_name" not in changes


def test_child_changes_give_insert_update_delete() -> None:
    old = {"materials": [{"row_guid": "a", "material_name": "甲"}, {"row_guid": "b", "material_name": "乙"}]}
    new = {
        "materials": [{"row_guid": "a", "material_name": "甲改"}, {"row_guid": "c", "material_name": "丙"}]
    }
    ops = sorted((op, row["row_guid"]) for op, row in national.child_changes(old, new, "materials"))
    assert ops == [("D", "b"), ("I", "c"), ("U", "a")]
