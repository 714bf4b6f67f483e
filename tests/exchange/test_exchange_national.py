"""National table specs, row checks, tolerant reading, the topic registry and canonical JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhengwu.exchange import national
from zhengwu.exchange.canonical import canonical_bytes, reference_canonical
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import RowError
from zhengwu.main import exchange_topics


def control(**over: Any) -> dict[str, Any]:
    row = {"row_guid": "a" * 32, "cd_batch": "b" * 32, "cd_operation": "I", "cd_time": "20241201103000",
           "data_source": "111"}  # fmt: skip
    row.update(over)
    return row


def result_row(**over: Any) -> dict[str, Any]:
    row = {**control(), "project_no": "P1", "result_type": "0", "result_date": "20241201103000",
           "is_delivery_results": "0"}  # fmt: skip
    row.update(over)
    return row


def test_control_columns() -> None:
    assert national.check_control(control()) == []
    codes = {e.code for e in national.check_control(control(cd_operation="X", row_guid=None, cd_time="2024"))}
    assert codes == {"bad_operation", "required", "bad_time"}
    assert national.check_control(control(cd_batch="x" * 33))[0].code == "too_long"


def test_columns_required_length_type() -> None:
    spec = national.UP_TABLES["up_pro_result"]
    assert national.check_columns(spec, result_row()) == []
    errors = national.check_columns(
        spec, result_row(result_type=None, remark="x" * 1001, result_date="notatime")
    )
    by_column = {e.column: e for e in errors}
    assert by_column["result_type"].code == "required" and "办结结果" in by_column["result_type"].reason
    assert by_column["remark"].code == "too_long"
    assert by_column["result_date"].code == "bad_time"
    assert national.check_columns(national.UP_TABLES["up_task_directory"], {"task_version": "x"})


def test_fast_path_agrees_with_slow_checks() -> None:
    spec = national.UP_TABLES["up_pro_result"]
    good = result_row(unknown_column="ignored")
    clean = spec.fast_clean(good)
    assert clean is not None and "unknown_column" not in clean
    for bad in (
        result_row(result_type=None),
        result_row(result_date="20241301000000"),
        result_row(cd_operation="Q"),
    ):
        assert spec.fast_clean(bad) is None
        assert national.check_control(bad) + national.check_columns(spec, bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20241201103000", "20241201103000"),
        ("20241201", "20241201000000"),
        ("2024-12-01", "20241201000000"),
        ("2024-12-01T02:30:00+00:00", "20241201103000"),
        ("2024-12-01T10:30:00", "20241201103000"),
        (datetime(2024, 12, 1, 2, 30, tzinfo=UTC), "20241201103000"),
        ("20240230000000", None),
        ("20241201250000", None),
        ("yesterday", None),
        (12, None),
    ],
)
def test_times_are_read_tolerantly(value: Any, expected: str | None) -> None:
    assert national.normalise_time(value) == expected


def test_compact_leap_years() -> None:
    assert national.compact_ok("20240229120000")
    assert not national.compact_ok("20230229120000")
    assert national.compact_ok("20000229000000") and not national.compact_ok("19000229000000")


def test_keep_known_normalises_times() -> None:
    spec = national.UP_TABLES["up_pro_result"]
    kept = national.keep_known(spec, result_row(result_date="2024-12-01", extra=1))
    assert kept["result_date"] == "20241201000000" and "extra" not in kept


def test_national_row_helper() -> None:
    row = national.national_row({"apply_date": datetime(2024, 12, 1, 2, 30, tzinfo=UTC), "n": 1})
    assert row == {"apply_date": "20241201103000", "n": 1}
    with pytest.raises(ValueError, match="naive"):
        national.national_value(datetime(2024, 1, 1))


def test_registry_conventions_and_hooks() -> None:
    registry = TopicRegistry()
    assert registry.get("catalog.up_task_general_basic").table == "up_task_general_basic"  # type: ignore[union-attr]
    assert registry.get("up_uc_province_user").key_column == "cert_key"  # type: ignore[union-attr]
    assert registry.get("nobody.unknown_table") is None
    with pytest.raises(ValueError, match="national table"):
        registry.register("tests.things")
    topic = registry.register("tests.things", table="up_pro_result", key_column="project_no")
    assert topic.key_column == "project_no"
    with pytest.raises(ValueError, match="already bound"):
        registry.register("tests.things", table="up_lic_data")
    registry.check_table("up_pro_result", lambda row: [RowError("custom", "自定义校验", None)])
    errors, _ = registry.get("tests.things").check(result_row())  # type: ignore[union-attr]
    assert [e.code for e in errors] == ["custom"]


def test_default_topics_check_national_codes(tmp_path: Any) -> None:
    registry = exchange_topics(Settings(data_dir=tmp_path))
    topic = registry.get("catalog.up_task_directory")
    assert topic is not None
    row = {**control(), "by_law": "法", "catalog_code": "000110110000", "task_name": "演示", "task_state": "1",
           "task_type": "01", "task_version": 1, "use_level": "2"}  # fmt: skip
    errors, _ = topic.check(row)
    assert errors == []
    errors, _ = topic.check({**row, "catalog_code": "ABCDEFGHIJKL"})
    assert any(e.column == "catalog_code" for e in errors)
    # The catalog's child rows are keyed by their stable row key.
    assert registry.get("catalog.up_task_general_material").key_column == "row_key"  # type: ignore[union-attr]
    # License rows are checked by the exchange's own declarations (it indexes them for verification).
    lic = registry.get("up_lic_data")
    assert lic is not None and len(lic.validators) == 2 and len(lic.apply) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_equals_the_definition(value: Any) -> None:
    assert canonical_bytes(value) == reference_canonical(value)


def test_canonical_big_integers_fall_back() -> None:
    assert canonical_bytes({"n": 2**80}) == reference_canonical({"n": 2**80})
