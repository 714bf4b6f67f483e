"""GB 11643-1999 citizen identity number (公民身份号码), incl. residence permits and foreigner permanent residence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from operator import getitem
from typing import Literal

from zhengwu.kernel import clock
from zhengwu.kernel.codes import _input, divisions
from zhengwu.kernel.codes.verdict import CodeError, Notice, Verdict, invalid

IdKind = Literal["resident", "residence_permit", "foreign_permanent_resident"]

# GB 11643: weights of digits 1-17 (2^(18-i) mod 11) and the check character by (sum mod 11).
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_FOR_REMAINDER = "10X98765432"
_TABLES = tuple({str(d): d * w for d in range(10)} for w in WEIGHTS)
_LAST = frozenset("0123456789X")

# Resident identity numbers were first assigned in 1984 (trial issuance; 居民身份证条例 1985), so an
# area code dropped from GB/T 2260 before 1984 can never appear in a real number (VECTORS §6, 110201).
ID_ERA_START = 1984
# Birth years before this are taken as typing errors (the oldest valid sample is born 1880).
EARLIEST_BIRTH_YEAR = 1800
# 港澳台居民居住证: area 810000 / 820000 / 830000 (VECTORS §6).
_PERMIT_AREAS = {"810000": "香港", "820000": "澳门", "830000": "台湾"}

_LABEL_ZH = "身份号码"
_LABEL_EN = "identity number"
_CONVERTED = Notice(
    "citizen_id.converted_15",
    "第一代15位号码已升位为18位",
    "first-generation 15-digit number converted to 18 digits",
)


@dataclass(frozen=True, slots=True)
class CitizenIdInfo:
    """What a valid identity number says: area (or issuing province), birth date, sex and kind."""

    number: str
    kind: IdKind
    area: str
    birth_date: date
    sex: Literal["M", "F"]


def check_digit(first17: str) -> str:
    """The GB 11643 check character for 17 digits; KeyError on a non-digit."""
    return _CHECK_FOR_REMAINDER[sum(map(getitem, _TABLES, first17)) % 11]


def upgrade_15(number15: str) -> str:
    """Convert a first-generation 15-digit number to 18 digits (century 19, GB 11643 check)."""
    if len(number15) != 15 or not (number15.isascii() and number15.isdigit()):
        raise CodeError(
            invalid(_input.display(number15), "citizen_id.format", "需要15位数字", "15 digits are required")
        )
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_digit(first17)


_BEIJING_OFFSET = timedelta(hours=8)


def _today() -> date:
    # Birth dates are civil dates in Beijing time (UTC+8, no DST).
    return (clock.utcnow() + _BEIJING_OFFSET).date()


def id_kind(area: str) -> IdKind:
    """The kind of number its first six digits announce."""
    if area in _PERMIT_AREAS:
        return "residence_permit"
    if area[0] == "9":
        return "foreign_permanent_resident"
    return "resident"


def validate_citizen_id(value: object, *, tolerant: bool = False, today: date | None = None) -> Verdict:
    """Validate an 18-digit (or first-generation 15-digit) identity number; ``tolerant`` is accepted for symmetry."""
    del tolerant  # no rule of GB 11643 is relaxed for existing data
    notices: tuple[Notice, ...] = ()
    if type(value) is str and len(value) == 18 and value.isascii() and value.isdigit():
        number = value
    else:
        cleaned = _input.clean(value, "citizen_id", _LABEL_ZH, _LABEL_EN)
        if isinstance(cleaned, Verdict):
            return cleaned
        number, notices = cleaned
        if len(number) == 15 and number.isascii() and number.isdigit():
            number = upgrade_15(number)
            notices = (*notices, _CONVERTED)
        elif len(number) != 18:
            return invalid(
                number,
                "citizen_id.length",
                f"身份号码应为18位（或第一代15位），实为{len(number)}位",
                f"an identity number has 18 digits (or 15 for the first generation), got {len(number)}",
                notices,
            )
        if not (number.isascii() and number[:17].isdigit()) or number[17] not in _LAST:
            bad = [str(i) for i, ch in enumerate(number, 1) if ch not in _LAST or (ch == "X" and i != 18)]
            return invalid(
                number,
                "citizen_id.charset",
                f"第{'、'.join(bad)}位不是数字（只有第18位可以是 X）",
                f"non-digit at position {', '.join(bad)} (only position 18 may be X)",
                notices,
            )
    expected = _CHECK_FOR_REMAINDER[sum(map(getitem, _TABLES, number)) % 11]
    if number[17] != expected:
        return invalid(
            number,
            "citizen_id.check_digit",
            f"校验码错误：第18位应为 {expected}",
            f"check character should be {expected}, not {number[17]}",
            notices,
        )
    birth = number[6:14]
    problem = _birth_problem(birth, today)
    if problem is not None:
        return invalid(number, "citizen_id.birth_date", problem[0], problem[1], notices)
    area = number[:6]
    problem = _area_problem(area)
    if problem is not None:
        return invalid(number, "citizen_id.area", problem[0], problem[1], notices)
    return Verdict(number, True, "citizen_id.ok", "有效的身份号码", "valid identity number", notices)


def _birth_problem(birth: str, today: date | None) -> tuple[str, str] | None:
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return "出生日期（第7–14位）不是真实日期", "birth date (positions 7-14) is not a real date"
    if born.year < EARLIEST_BIRTH_YEAR:
        return f"出生年份 {born.year} 不合理", f"birth year {born.year} is implausible"
    if born > (today if today is not None else _today()):
        return "出生日期在未来", "birth date lies in the future"
    return None


def _area_problem(area: str) -> tuple[str, str] | None:
    kind = id_kind(area)
    if kind == "residence_permit":
        return None
    if kind == "foreign_permanent_resident":
        # 2023 外国人永久居留身份证: 9 + 2-digit province of the issuing authority + 3-digit nationality code.
        if divisions.existed_ever(area[1:3] + "0000"):
            return None
        return (
            "外国人永久居留身份证号码第2–3位不是省级行政区划代码",
            "foreigner permanent-residence number: positions 2-3 are not a province code",
        )
    if area[:2] in ("81", "82", "83"):
        return (
            "港澳台居民居住证号码的地址码应为 810000、820000 或 830000",
            "residence permits use 810000/820000/830000",
        )
    # GB 11643: the area code of first registration, valid at some time since ID numbers exist (not in the birth year).
    if divisions.existed_since(area, ID_ERA_START):
        return None
    return (
        f"地址码 {area} 不是1984年以来使用过的 GB/T 2260 行政区划代码",
        f"area code {area} was never a GB/T 2260 division code since 1984",
    )


def parse_citizen_id(value: object, *, today: date | None = None) -> CitizenIdInfo:
    """Parse a valid identity number into its parts; raises CodeError (a ValueError) otherwise."""
    verdict = validate_citizen_id(value, today=today)
    if not verdict.ok:
        raise CodeError(verdict)
    number = verdict.value
    birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    area = number[:6]
    return CitizenIdInfo(number, id_kind(area), area, birth, "M" if int(number[16]) % 2 else "F")
