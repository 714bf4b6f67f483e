"""GB 11643 identity numbers: every row of VECTORS.md §6 gives the verdict the table states."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from zhengwu.kernel import clock
from zhengwu.kernel.codes import CodeError, parse_citizen_id, upgrade_15, validate, validate_citizen_id
from zhengwu.kernel.codes.citizen_id import check_digit

# VECTORS.md §6, main table: (number, valid?, expected verdict code)
VECTORS_6 = [
    ("11010519491231002X", True, "citizen_id.ok"),
    ("440524188001010014", True, "citizen_id.ok"),
    ("11010519491231001X", False, "citizen_id.check_digit"),
    ("440524188001010024", False, "citizen_id.check_digit"),
    ("360426199101010071", True, "citizen_id.ok"),
    ("412723199010050012", True, "citizen_id.ok"),
    ("110102199101010078", True, "citizen_id.ok"),
    ("120110198012010073", True, "citizen_id.ok"),  # 东郊区 in 1980
    ("120110199212010072", True, "citizen_id.ok"),  # 东丽区 after 1991
    ("990426199112010074", False, "citizen_id.area"),
    ("T60426199101010078", False, "citizen_id.charset"),
    ("360426199113010079", False, "citizen_id.birth_date"),
    ("36042619910102009X", False, "citizen_id.check_digit"),
    ("321083197812162119", True, "citizen_id.ok"),
    ("201511221897205960", False, "citizen_id.birth_date"),
    ("3301022011022000D6", False, "citizen_id.charset"),
    ("81000019980902013X", True, "citizen_id.ok"),  # Hong Kong residents' residence permit
    ("820000200009100032", True, "citizen_id.ok"),  # Macao
    ("830000200209060065", True, "citizen_id.ok"),  # Taiwan
    ("932682198501010017", True, "citizen_id.ok"),  # foreigner permanent residence (2023 format)
]


@pytest.mark.parametrize(("number", "valid", "code"), VECTORS_6)
def test_vectors_section_6(number: str, valid: bool, code: str) -> None:
    verdict = validate_citizen_id(number)
    assert verdict.ok is valid, verdict
    assert verdict.code == code
    assert verdict.reason_zh and verdict.reason_en


def test_lowercase_x_is_normalised() -> None:
    verdict = validate_citizen_id("44011320141005001x")
    assert verdict.ok
    assert verdict.value == "44011320141005001X"
    assert [w.code for w in verdict.warnings] == ["input.lowercase"]


def test_stdnum_only_row_follows_the_vectors_recommendation() -> None:
    # VECTORS §6: 110111 房山区 exists since 1986, not in the birth year 1980. python-stdnum rejects the
    # number ("invalid for stdnum only"); VECTORS recommends the "code existed at some time" rule
    # because the area code records the registration county when the number was assigned (after birth).
    assert validate_citizen_id("110111198012010078").ok


def test_code_only_in_the_1980_edition_is_rejected() -> None:
    # VECTORS §6: 110201 does not appear in the MCA 1981-2024 history. python-stdnum dates 110201 昌平县
    # to the 1980 edition only ([-1982]); ID numbers were first assigned in 1984, so it can never be an
    # area code of a real number and the "existed since 1984" rule rejects it.
    verdict = validate_citizen_id("110201199312010077")
    assert not verdict.ok
    assert verdict.code == "citizen_id.area"


@pytest.mark.parametrize(
    "number",
    [
        "440524188001010014",  # 440524 潮阳县 existed 1983-1993, not in 1880
        "321083197812162119",  # 321083 兴化市 existed 1989/1990-1996, not in 1978
        "33010219200403064X",  # 330102 上城区 listed from 1983; born 1920
        "932682198501010017",  # not a GB/T 2260 code at all: foreigner permanent residence
        "11010519491231002X",
        "150102198807303035",
        "81000019980902013X",
    ],
)
def test_disagreement_table_follows_the_history_rule(number: str) -> None:
    # VECTORS §6 "Test suites disagree": python-stdnum 2.2 rejects the first four; we accept all.
    assert validate_citizen_id(number).ok


@pytest.mark.parametrize(
    ("number15", "number18"),
    [("150102880730303", "150102198807303035"), ("330102200403064", "33010219200403064X")],
)
def test_first_generation_numbers_are_upgraded(number15: str, number18: str) -> None:
    assert upgrade_15(number15) == number18
    verdict = validate_citizen_id(number15)
    assert verdict.ok
    assert verdict.value == number18
    assert [w.code for w in verdict.warnings] == ["citizen_id.converted_15"]


def test_worked_example_check_digit() -> None:
    # standards §7.2: sum 167, 167 mod 11 = 2 -> X
    assert check_digit("11010519491231002") == "X"


@pytest.mark.parametrize("number", ["", "1101051949123100", "32108319781216211", "1101051949123100211"])
def test_wrong_lengths(number: str) -> None:
    verdict = validate_citizen_id(number)
    assert not verdict.ok
    assert verdict.code in {"citizen_id.length", "citizen_id.empty"}


def test_future_birth_date_is_rejected() -> None:
    first17 = "13010220300101001"
    number = first17 + check_digit(first17)
    assert not validate_citizen_id(number, today=date(2025, 1, 1)).ok
    assert validate_citizen_id(number, today=date(2030, 1, 1)).ok
    # Without an explicit date the kernel clock (Beijing calendar day) decides.
    clock.set_clock(lambda: datetime(2029, 12, 31, 16, 0, tzinfo=UTC))  # 2030-01-01 00:00 in Beijing
    try:
        assert validate_citizen_id(number).ok
        clock.set_clock(lambda: datetime(2029, 12, 31, 15, 59, tzinfo=UTC))
        verdict = validate_citizen_id(number)
        assert not verdict.ok and "未来" in verdict.reason_zh
    finally:
        clock.set_clock(None)


def test_retired_area_code_is_accepted() -> None:
    # 110103 崇文区 was abolished in 2010; people keep their numbers.
    first17 = "11010319800101001"
    assert validate_citizen_id(first17 + check_digit(first17)).ok


def test_residence_permit_prefix_needs_the_exact_area() -> None:
    first17 = "81010019980902013"
    verdict = validate_citizen_id(first17 + check_digit(first17))
    assert verdict.code == "citizen_id.area"


def test_parse_gives_the_parts() -> None:
    info = parse_citizen_id("11010519491231002X")
    assert info.birth_date == date(1949, 12, 31)
    assert info.sex == "F"
    assert info.kind == "resident"
    assert parse_citizen_id("932682198501010017").kind == "foreign_permanent_resident"
    assert parse_citizen_id("81000019980902013X").kind == "residence_permit"
    with pytest.raises(CodeError):
        parse_citizen_id("11010519491231001X")


def test_dispatcher() -> None:
    assert validate("citizen-id", "11010519491231002X").ok
    assert validate("citizen-id", "１１０１０５１９４９１２３１００２ｘ").value == "11010519491231002X"
