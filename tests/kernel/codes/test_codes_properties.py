"""Property tests: generated valid codes round-trip; one changed character is always detected."""

from __future__ import annotations

from datetime import date

from hypothesis import assume, given
from hypothesis import strategies as st

from zhengwu.kernel.codes import (
    complete_uscc,
    make_license_id,
    make_task_code,
    mod37_36,
    parse_task_code,
    validate_citizen_id,
    validate_license_id,
    validate_uscc,
)
from zhengwu.kernel.codes.citizen_id import check_digit
from zhengwu.kernel.codes.license_id import ALPHABET as ISO_ALPHABET
from zhengwu.kernel.codes.uscc import ALPHABET, org_check_digit

symbols = st.sampled_from(ALPHABET)
iso_symbols = st.sampled_from(ISO_ALPHABET)


@st.composite
def usccs(draw: st.DrawFn) -> str:
    """A structurally valid credit code: enterprise registered in Hebei, any organisation code body."""
    division = draw(st.sampled_from(["130000", "130100", "130181", "130682", "110105", "350100"]))
    body = "".join(draw(st.lists(symbols, min_size=8, max_size=8)))
    return complete_uscc(
        draw(st.sampled_from(["91", "92", "11", "12", "51", "93"])) + division + body + org_check_digit(body)
    )


@st.composite
def citizen_ids(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(["110105", "130181", "130682", "440524", "110103", "810000", "932682"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)))
    sequence = draw(st.integers(min_value=0, max_value=999))
    first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


@given(usccs())
def test_generated_usccs_are_valid(code: str) -> None:
    verdict = validate_uscc(code)
    assert verdict.ok and verdict.value == code and verdict.warnings == ()
    assert validate_uscc(code.lower()).value == code


@given(usccs(), st.integers(min_value=0, max_value=17), symbols)
def test_one_changed_uscc_character_is_detected(code: str, position: int, symbol: str) -> None:
    assume(code[position] != symbol)
    changed = code[:position] + symbol + code[position + 1 :]
    # GB 32100: weights 3^i are non-zero mod 31 (prime), so every single substitution changes the sum.
    verdict = validate_uscc(changed)
    assert not verdict.ok
    assert verdict.code in {"uscc.check_char", "uscc.org_check"}


@given(citizen_ids())
def test_generated_ids_are_valid(number: str) -> None:
    verdict = validate_citizen_id(number, today=date(2025, 1, 1))
    assert verdict.ok, verdict
    assert verdict.value == number


@given(citizen_ids(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_one_changed_id_character_is_detected(number: str, position: int, char: str) -> None:
    assume(number[position] != char)
    changed = number[:position] + char + number[position + 1 :]
    assert not validate_citizen_id(changed, today=date(2025, 1, 1)).ok


@given(usccs(), st.sampled_from([1, 2, 3, 4, 5, 6]), st.text("0123456789", min_size=12, max_size=12))
def test_task_codes_round_trip(body: str, level: int, catalog: str) -> None:
    code = make_task_code(body, level, catalog)
    parsed = parse_task_code(code)
    assert (parsed.body_uscc, parsed.level, parsed.catalog.code) == (body, level, catalog)


@given(
    usccs(), usccs(), st.text(ISO_ALPHABET, min_size=1, max_size=40), st.integers(min_value=1, max_value=999)
)
def test_license_ids_round_trip(definer: str, issuer: str, serial: str, version: int) -> None:
    identifier = make_license_id(definer + "001", issuer, serial, version)
    assert validate_license_id(identifier).ok


@given(st.text(ISO_ALPHABET, min_size=1, max_size=60), st.data())
def test_mod37_36_detects_single_substitutions(body: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    symbol = data.draw(iso_symbols)
    assume(body[position] != symbol)
    changed = body[:position] + symbol + body[position + 1 :]
    assert mod37_36(changed) != mod37_36(body)
