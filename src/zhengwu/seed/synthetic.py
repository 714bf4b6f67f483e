"""Deterministic synthetic identities for demos, tests and benchmarks (check-valid, clearly fictional)."""

from __future__ import annotations

from datetime import date, timedelta

from zhengwu.kernel.codes.citizen_id import check_digit
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit

# Hebei division codes valid since 1984 (standards §7.3).
HEBEI_AREAS = ("130102", "130104", "130105", "130108", "130202", "130203", "130302", "130402", "130503", "130602",
               "130702", "130802", "130902", "131002", "131102", "130181", "130682")  # fmt: skip
_DIGITS_ZH = "零一二三四五六七八九"


def citizen_id(area: str, birth: date, sequence: int) -> str:
    """A check-valid 18-digit identity number (sequence 0..999; odd = male)."""
    first17 = f"{area}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_digit(first17)


def nth_citizen_id(n: int) -> str:
    """The n-th synthetic Hebei identity number (distinct for n < 17 * 20000 * 1000)."""
    area = HEBEI_AREAS[n % len(HEBEI_AREAS)]
    rest = n // len(HEBEI_AREAS)
    birth = date(1950, 1, 1) + timedelta(days=rest % 20000)
    return citizen_id(area, birth, (rest // 20000) % 1000)


def nth_phone(n: int) -> str:
    """The n-th synthetic mobile number (170 block: virtual operators, here purely fictional)."""
    return f"170{n % 100_000_000:08d}"


def chinese_number(n: int) -> str:
    """1 → 一, 12 → 一二 (digit by digit, for fictional names like 演示用户一二)."""
    return "".join(_DIGITS_ZH[int(d)] for d in str(n))


def enterprise_credit_code(area: str, serial: int) -> str:
    """A check-valid USCC of an enterprise (registration dept 9 工商, category 1 企业)."""
    body = f"MA{serial:06d}"[-8:]
    return complete_uscc(f"91{area}{body}{org_check_digit(body)}")
