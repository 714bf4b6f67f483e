"""GB/T 36904 e-license identifiers: every row of VECTORS.md §8, construction and tolerant mode."""

from __future__ import annotations

import pytest

from zhengwu.kernel.codes import CodeError, make_license_id, mod37_36, parse_license_id, validate_license_id

ROOT = "1.2.156.3005.2"

# VECTORS.md §8 rows that are valid: identifier, check character
VALID = [
    (f"{ROOT}.11100000000013338W011.11430000006122244L.20230000403.002.S", "S"),
    (f"{ROOT}.11100000000013338W011.11430000006122244L.20230000403.001.U", "U"),
    (f"{ROOT}.11100000000013338W087.11370800MB28559184.37080001202411010001.001.3", "3"),
    (f"{ROOT}.11100000000013338W009.11330105002500287C.2025052201.002.0", "0"),
    (f"{ROOT}.11100000000013338W032.11220000013544541J.2430599.001.F", "F"),  # standards §5.1 (Jilin)
]
# VECTORS.md §8 rows whose check character does not follow MOD 37,36: identifier, computed check
MISMATCH = [
    (f"{ROOT}.11100000MB03271699022.11370000MB2852565A.301213AF0610489FBEC46E8AB9C5C25F.001.T", "W"),
    (f"{ROOT}.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M", "D"),
    (f"{ROOT}.11100000000013338W050.91610800064834709T.2023000001.001.X", "2"),
]
TEST_VALUE = f"{ROOT}.11100000MB03271699022.340100.000000016.001.9"


@pytest.mark.parametrize(("identifier", "check"), VALID)
def test_valid_rows(identifier: str, check: str) -> None:
    verdict = validate_license_id(identifier)
    assert verdict.ok and verdict.status == "OK", verdict
    parts = parse_license_id(identifier)
    assert parts.check == check
    assert mod37_36(parts.type_code + parts.issuer + parts.serial + parts.version) == check
    assert make_license_id(parts.type_code, parts.issuer, parts.serial, int(parts.version)) == identifier


def test_worked_example() -> None:
    # standards §5.1: final P = 7 -> ALNUM[30] = U
    assert mod37_36("11100000000013338W01111430000006122244L20230000403001") == "U"


@pytest.mark.parametrize(("identifier", "computed"), MISMATCH)
def test_mismatch_rows_strict_and_tolerant(identifier: str, computed: str) -> None:
    strict = validate_license_id(identifier)
    assert not strict.ok
    assert strict.code == "license_id.check"
    assert f"应为 {computed}" in strict.reason_zh
    tolerant = validate_license_id(identifier, tolerant=True)
    assert tolerant.ok and tolerant.status == "WARN"
    assert [w.code for w in tolerant.warnings] == ["license_id.check"]


def test_test_value_with_a_non_uscc_issuer() -> None:
    # VECTORS §8: check character 9 is right, but issuer 340100 is not a credit code.
    parts = TEST_VALUE.split(".")
    assert mod37_36("".join(parts[5:9])) == "9"
    strict = validate_license_id(TEST_VALUE)
    assert not strict.ok and strict.code == "license_id.issuer"
    tolerant = validate_license_id(TEST_VALUE, tolerant=True)
    assert tolerant.ok
    assert [w.code for w in tolerant.warnings] == ["license_id.issuer"]


@pytest.mark.parametrize(
    ("identifier", "code"),
    [
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001", "license_id.parts"),
        ("2.16.156.11100000000013338W011.11430000006122244L.20230000403.001.U.X", "license_id.root"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.2023-0000403.001.U", "license_id.charset"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L..001.U", "license_id.parts"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.01.U", "license_id.version"),
        ("1.2.156.3005.2.11100000000013338W01.11430000006122244L.20230000403.001.U", "license_id.type_code"),
        ("", "license_id.empty"),
    ],
)
def test_malformed(identifier: str, code: str) -> None:
    verdict = validate_license_id(identifier)
    assert not verdict.ok
    assert verdict.code == code


def test_wrong_root_variant_only_in_tolerant_mode() -> None:
    identifier = VALID[1][0].replace("3005", "3003", 1)
    assert validate_license_id(identifier).code == "license_id.root"
    tolerant = validate_license_id(identifier, tolerant=True)
    assert tolerant.ok and [w.code for w in tolerant.warnings] == ["license_id.root"]


def test_lowercase_serial_is_normalised() -> None:
    identifier = f"{ROOT}.11100000000013338W009.11330105002500287C.2025052201.002.0".lower()
    verdict = validate_license_id(identifier)
    assert verdict.ok and verdict.value == VALID[3][0]
    assert [w.code for w in verdict.warnings] == ["input.lowercase"]


def test_make_license_id_rejects_bad_parts() -> None:
    with pytest.raises(CodeError) as info:
        make_license_id("11100000000013338W011", "340100", "000000016", 1)
    assert info.value.verdict.code == "license_id.issuer"
    with pytest.raises(CodeError):
        make_license_id("11100000000013338W011", "11430000006122244L", "ABC-1", 1)
    with pytest.raises(CodeError):
        make_license_id("11100000000013338W011", "11430000006122244L", "ABC", 0)
    with pytest.raises(CodeError):
        make_license_id("11100000000013338W01", "11430000006122244L", "ABC", 1)
    made = make_license_id("11100000000013338W011", "11430000006122244L", "a1b2", 12)
    assert made.split(".")[-3:-1] == ["A1B2", "012"]
    assert validate_license_id(made).ok
