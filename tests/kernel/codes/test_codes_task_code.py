"""Item codes (standards §1.2): the five real examples, construction, and warn-only inferred parts."""

from __future__ import annotations

import pytest

from zhengwu.kernel.codes import (
    CodeError,
    complete_uscc,
    make_handle_item_code,
    make_task_code,
    parse_catalog_code,
    parse_task_code,
    validate,
)
from zhengwu.kernel.codes.uscc import org_check_digit

# standards §1.2: (code, body USCC, level, 基本编码, handling-item suffix, task type)
REAL_EXAMPLES = [
    ("11450721MB155808114000104002000", "11450721MB15580811", 4, "000104002000", None, "01"),
    ("1145072100811537184452004020000", "114507210081153718", 4, "452004020000", None, "20"),
    ("11650000010183859F2650116013001", "11650000010183859F", 2, "650116013001", None, "01"),
    ("11370800MB285591843370117002011", "11370800MB28559184", 3, "370117002011", None, "01"),
    ("11310000MB2F30661Y231200356400001", "11310000MB2F30661Y", 2, "312003564000", "01", "20"),
]


@pytest.mark.parametrize(("code", "uscc", "level", "catalog", "suffix", "task_type"), REAL_EXAMPLES)
def test_real_examples(
    code: str, uscc: str, level: int, catalog: str, suffix: str | None, task_type: str
) -> None:
    verdict = validate("task-code", code)
    assert verdict.ok, verdict
    assert verdict.warnings == ()
    parsed = parse_task_code(code)
    assert parsed.body_uscc == uscc
    assert parsed.level == level
    assert parsed.catalog.code == catalog
    assert parsed.catalog.task_type == task_type
    assert parsed.handle_suffix == suffix
    assert make_task_code(uscc, level, catalog) == code[:31]
    if suffix is not None:
        assert make_handle_item_code(code[:31], int(suffix)) == code


def test_catalog_code_parts() -> None:
    national = parse_catalog_code("000131001000")  # 个体工商户设立登记
    assert national.national and national.task_type == "01" and national.task_type_name == "行政许可"
    assert national.sequence == "31001000"
    assert national.warnings == ()
    local = parse_catalog_code("312003564000")
    assert not local.national and local.origin == "31" and local.task_type_name == "公共服务"


def test_inferred_catalog_parts_only_warn() -> None:
    odd = parse_catalog_code("994401001000")  # neither 00 nor a province, type 44 unknown
    assert {w.code for w in odd.warnings} == {"task_code.catalog_origin", "task_code.task_type"}
    verdict = validate("catalog-code", "994401001000")
    assert verdict.ok and verdict.status == "WARN"
    task = make_task_code("11450721MB15580811", 4, "994401001000")
    assert validate("task-code", task).status == "WARN"


@pytest.mark.parametrize("value", ["00013100100", "0001310010001", "00013100100A"])
def test_catalog_code_must_be_12_digits(value: str) -> None:
    with pytest.raises(CodeError) as info:
        parse_catalog_code(value)
    assert info.value.verdict.code == "catalog_code.format"


def test_level_7_is_not_an_implementation_level() -> None:
    verdict = validate("task-code", "11450721MB155808117000104002000")
    assert not verdict.ok and verdict.code == "task_code.level"
    assert "分级管理" in verdict.reason_zh
    with pytest.raises(CodeError):
        make_task_code("11450721MB15580811", 7, "000104002000")
    with pytest.raises(ValueError):
        make_task_code("11450721MB15580811", 0, "000104002000")


def test_level_mismatch_warns() -> None:
    # A county body (450721) exercising provincial level: plausible data error, inferred rule -> warning.
    verdict = validate("task-code", "11450721MB155808112000104002000")
    assert verdict.ok
    assert [w.code for w in verdict.warnings] == ["task_code.level_mismatch"]


def test_body_uscc_must_be_valid() -> None:
    verdict = validate("task-code", "11450721MB155808124000104002000")
    assert not verdict.ok and verdict.code == "task_code.body_uscc"
    with pytest.raises(CodeError):
        make_task_code("11450721MB15580812", 4, "000104002000")


@pytest.mark.parametrize(
    ("code", "ok", "verdict_code", "warnings"),
    [
        ("11310000MB2F30661Y2312003564000010", True, "task_code.ok", ["task_code.handle_length"]),
        ("11310000MB2F30661Y23120035640001", True, "task_code.ok", ["task_code.handle_length"]),
        ("11310000MB2F30661Y2312003564000A1", False, "task_code.handle_suffix", []),
        ("000131001000", False, "task_code.length", []),
        ("11310000MB2F30661Y23120035640", False, "task_code.length", []),
        ("11310000MB2F30661Y" + "2" + "3120035640X0", False, "task_code.catalog", []),
    ],
)
def test_handle_item_lengths(code: str, ok: bool, verdict_code: str, warnings: list[str]) -> None:
    verdict = validate("task-code", code)
    assert (verdict.ok, verdict.code, [w.code for w in verdict.warnings]) == (ok, verdict_code, warnings)


def test_catalog_hint_for_12_digit_input() -> None:
    verdict = validate("task-code", "000131001000")
    assert "基本编码" in verdict.reason_zh


def test_make_task_code_for_a_hebei_body() -> None:
    body = complete_uscc("11130000" + "00000001" + org_check_digit("00000001"))
    code = make_task_code(body, 2, "000131001000")
    assert len(code) == 31
    parsed = parse_task_code(code)
    assert parsed.level_name == "省级" and parsed.warnings == ()
    assert make_handle_item_code(code, 1).endswith("01")
    with pytest.raises(CodeError):
        make_handle_item_code(code, 100)
