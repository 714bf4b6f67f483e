"""GB 32100 unified social credit code: VECTORS.md §7, the 200 python-stdnum codes, structure rules."""

from __future__ import annotations

import pytest

from conformance_path import conformance_dir
from zhengwu.kernel.codes import CodeError, complete_uscc, validate, validate_uscc
from zhengwu.kernel.codes.uscc import check_char, describe, org_check_digit

VALID = [
    "91350100M000100Y43",  # IDCheck "官方示例"
    "91110000600037341L",
    "91310110666007217T",
    "91310115591693856A",
    "914403001922038216",
    "91110108795101314G",
    "9135010557098120XJ",
    "91120222MA06DG3067",
    # standards §7.1: real government codes
    "11100000000013338W",
    "11330105002500287C",
    "11430000006122244L",
    "11450721MB15580811",
    "11650000010183859F",
    "11370800MB28559184",
    "11420503087246977F",
    "11110000000021135M",
    "11310000MB2F30661Y",
]
FUJIAN_PILOT = {
    "91350211M0000XUF46": "R",
    "91350100M0001TGQXM": "1",
    "91350203M0001FUE2P": "J",
    "91350211M00013FA1N": "3",
}


def _stdnum_codes() -> list[str]:
    path = conformance_dir() / "ids" / "uscc_valid_python-stdnum.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("code", VALID)
def test_valid_vectors(code: str) -> None:
    verdict = validate_uscc(code)
    assert verdict.ok, verdict
    assert verdict.status == "OK"
    assert verdict.code == "uscc.ok"
    assert verdict.value == code


def test_all_200_stdnum_codes_are_valid_without_warnings() -> None:
    codes = _stdnum_codes()
    assert len(codes) == 200
    results = {code: validate_uscc(code) for code in codes}
    assert [c for c, v in results.items() if not v.ok] == []
    assert [c for c, v in results.items() if v.warnings] == []


def test_worked_example_check_char() -> None:
    # standards §7.1: sum 1640, 1640 mod 31 = 28, 31 - 28 = 3
    assert check_char("91350100M000100Y4") == "3"
    # GB 11714 body M000100Y: 139 mod 11 = 7, 11 - 7 = 4
    assert org_check_digit("M000100Y") == "4"


def test_wrong_check_char() -> None:
    verdict = validate_uscc("91110000600037341N")
    assert not verdict.ok
    assert verdict.code == "uscc.check_char"
    assert "L" in verdict.reason_zh and "L" in verdict.reason_en


def test_letter_in_first_position_is_not_a_format_error() -> None:
    # VECTORS §7: digits-only positions 1-8 are too strict; A1110000600037341L fails only on its check char.
    verdict = validate_uscc("A1110000600037341L")
    assert verdict.code == "uscc.check_char"
    fixed = complete_uscc("A1110000600037341")
    assert validate_uscc(fixed).ok
    # Y (其他) and N (农业) department codes are accepted without a structural warning.
    for first17 in ("Y1110000600037341", "N2110000600037341"):
        verdict = validate_uscc(complete_uscc(first17))
        assert verdict.ok
        assert "uscc.department_unknown" not in [w.code for w in verdict.warnings]


def test_unknown_department_and_division_only_warn() -> None:
    verdict = validate_uscc(complete_uscc("B1110000600037341"))
    assert verdict.ok and "uscc.department_unknown" in [w.code for w in verdict.warnings]
    verdict = validate_uscc(complete_uscc("91AB0000600037341"))
    assert verdict.ok and "uscc.division_format" in [w.code for w in verdict.warnings]
    verdict = validate_uscc(complete_uscc("91999999600037341"))
    assert verdict.ok and "uscc.division_unknown" in [w.code for w in verdict.warnings]


@pytest.mark.parametrize("code", ["9111000060003IOZSV", "91110000600037341I", "91110000600O37341L"])
def test_forbidden_letters(code: str) -> None:
    verdict = validate_uscc(code)
    assert not verdict.ok
    assert verdict.code == "uscc.charset"


@pytest.mark.parametrize("code", ["12345", "91350100M000100Y4", "91350100M000100Y433"])
def test_wrong_length(code: str) -> None:
    verdict = validate_uscc(code)
    assert verdict.code == "uscc.length"
    assert str(len(code)) in verdict.reason_zh


def test_organisation_code_check_digit() -> None:
    # Recompute the USCC check after breaking position 17 so that only the GB 11714 digit is wrong.
    broken = complete_uscc("91350100M000100Y5")
    verdict = validate_uscc(broken)
    assert not verdict.ok
    assert verdict.code == "uscc.org_check"
    assert "4" in verdict.reason_zh


@pytest.mark.parametrize(("code", "expected"), sorted(FUJIAN_PILOT.items()))
def test_fujian_pilot_codes_strict_vs_tolerant(code: str, expected: str) -> None:
    strict = validate_uscc(code)
    assert not strict.ok
    assert strict.code == "uscc.check_char"
    assert f"应为 {expected}" in strict.reason_zh
    assert "福建" in strict.reason_zh
    tolerant = validate_uscc(code, tolerant=True)
    assert tolerant.ok
    assert tolerant.status == "WARN"
    assert [w.code for w in tolerant.warnings] == ["uscc.pilot_check"]
    assert "人工核查" in tolerant.warnings[0].zh
    assert "manual review" in tolerant.warnings[0].en


def test_tolerant_mode_does_not_excuse_other_bad_checks() -> None:
    # Not 9135…M…: a wrong check character stays invalid even in tolerant mode.
    assert not validate_uscc("91110000600037341N", tolerant=True).ok
    # 9135…M… whose GB 11714 digit is also wrong is not a pilot code either.
    assert not validate_uscc("91350211M0000XUF56", tolerant=True).ok


def test_normalisation_is_reported() -> None:
    verdict = validate_uscc("９１３５０１００Ｍ０００１００Ｙ４３")
    assert verdict.ok and verdict.value == "91350100M000100Y43"
    assert [w.code for w in verdict.warnings] == ["input.fullwidth"]
    verdict = validate_uscc(" 91350100m000100y43 ")
    assert verdict.ok and verdict.value == "91350100M000100Y43"
    assert [w.code for w in verdict.warnings] == ["input.lowercase"]


def test_complete_uscc_rejects_bad_symbols() -> None:
    with pytest.raises(CodeError) as info:
        complete_uscc("9111000060003IOZS")
    assert info.value.verdict.code == "uscc.charset"
    with pytest.raises(ValueError):
        complete_uscc("123")


def test_describe_names_the_parts() -> None:
    parts = describe("91350100M000100Y43")
    assert parts["category_name"] == "企业"
    assert parts["division"] == "350100"
    assert parts["organisation_code"] == "M000100Y4"


def test_dispatcher_matches_direct_call() -> None:
    assert validate("uscc", "91350100M000100Y43") == validate_uscc("91350100M000100Y43")
    assert validate("uscc", "91350211M0000XUF46", tolerant=True).ok
