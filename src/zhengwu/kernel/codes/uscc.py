"""GB 32100-2015 unified social credit code (统一社会信用代码) and its embedded GB 11714 organisation code."""

from __future__ import annotations

from operator import getitem

from zhengwu.kernel.codes import _input, divisions
from zhengwu.kernel.codes.verdict import CodeError, Notice, Verdict, invalid

# GB 32100: 31 symbols, digits and upper-case letters without I, O, S, V, Z.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
# GB 32100: weight of position i (1-based) is 3^(i-1) mod 31.
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# One table per position mapping a symbol to value*weight, so the sum is 17 dict lookups.
_TABLES = tuple({ch: v * w for ch, v in _VALUE.items()} for w in WEIGHTS)
# GB 32100: C18 = 31 - (sum mod 31), 31 -> 0; indexed by (sum mod 31).
_CHECK_FOR_REMAINDER = tuple(ALPHABET[(31 - r) % 31] for r in range(31))

# GB 11714: the organisation code body is valued over the full alphanumeric alphabet (A=10 ... Z=35).
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_TABLES = tuple({ch: v * w for v, ch in enumerate(_ORG_ALPHABET)} for w in ORG_WEIGHTS)
# GB 11714: C9 = 11 - (sum mod 11); 10 -> X, 11 -> 0; indexed by (sum mod 11).
_ORG_CHECK_FOR_REMAINDER = tuple("0" if r == 0 else "X" if r == 1 else str(11 - r) for r in range(11))

# GB 32100 登记管理部门码 (position 1). 1, 5, 9, Y are confirmed; the rest is general knowledge (standards §7.1).
DEPARTMENTS = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商（市场监管）",
    "A": "中央军委改革和编制办公室",
    "N": "农业",
    "Y": "其他",
}
# 机构类别码 (position 2) per department, where known (standards §7.1); unknown pairs only warn.
CATEGORIES = {
    "11": "机关",
    "12": "事业单位",
    "13": "群团组织",
    "19": "其他",
    "51": "社会团体",
    "52": "民办非企业单位",
    "53": "基金会",
    "59": "其他",
    "91": "企业",
    "92": "个体工商户",
    "93": "农民专业合作社",
}

_OK_ZH = "有效的统一社会信用代码"
_OK_EN = "valid unified social credit code"
_LABEL_ZH = "统一社会信用代码"
_LABEL_EN = "credit code"

_PILOT = Notice(
    "uscc.pilot_check",
    "福建早期试点赋码，校验码不符合 GB 32100，需人工核查",
    "early Fujian pilot code: check character does not follow GB 32100; needs manual review",
)
_DEPT_UNKNOWN = Notice(
    "uscc.department_unknown",
    "第1位登记管理部门码不在已知列表中",
    "registration department code (position 1) is not a known one",
)
_DIVISION_FORMAT = Notice(
    "uscc.division_format",
    "第3–8位登记管理机关行政区划码不是6位数字",
    "registration division code (positions 3-8) is not six digits",
)
_DIVISION_UNKNOWN = Notice(
    "uscc.division_unknown",
    "第3–8位登记管理机关行政区划码不是已知的 GB/T 2260 代码",
    "registration division code (positions 3-8) is not a known GB/T 2260 code",
)


def check_char(first17: str) -> str:
    """The GB 32100 check character (position 18) for the first 17 characters; KeyError on a bad symbol."""
    return _CHECK_FOR_REMAINDER[sum(map(getitem, _TABLES, first17)) % 31]


def org_check_digit(body8: str) -> str:
    """The GB 11714 check digit for an 8-character organisation code body; KeyError on a bad symbol."""
    return _ORG_CHECK_FOR_REMAINDER[sum(map(getitem, _ORG_TABLES, body8)) % 11]


def complete_uscc(first17: str) -> str:
    """Append the check character to 17 characters (raises CodeError when they are not GB 32100 symbols)."""
    candidate = first17.upper()
    if len(candidate) != 17 or any(ch not in _VALUE for ch in candidate):
        raise CodeError(
            invalid(
                _input.display(first17),
                "uscc.charset",
                "需要17个 GB 32100 字符",
                "17 GB 32100 symbols are required",
            )
        )
    return candidate + check_char(candidate)


def validate_uscc(value: object, *, tolerant: bool = False) -> Verdict:
    """Validate a unified social credit code; ``tolerant`` accepts known Fujian pilot codes with a warning."""
    # Fast path for clean input; anything unusual (wrong type, length, symbols) takes the slow path.
    if type(value) is str and len(value) == 18:
        try:
            expected = _CHECK_FOR_REMAINDER[sum(map(getitem, _TABLES, value)) % 31]
            _VALUE[value[17]]
            org_expected = _ORG_CHECK_FOR_REMAINDER[sum(map(getitem, _ORG_TABLES, value[8:16])) % 11]
        except KeyError:
            pass
        else:
            return _judge(value, expected, org_expected, (), tolerant)
    return _validate_slow(value, tolerant)


def _validate_slow(raw: object, tolerant: bool) -> Verdict:
    cleaned = _input.clean(raw, "uscc", _LABEL_ZH, _LABEL_EN)
    if isinstance(cleaned, Verdict):
        return cleaned
    value, notices = cleaned
    if len(value) != 18:
        return invalid(
            value,
            "uscc.length",
            f"统一社会信用代码应为18位，实为{len(value)}位",
            f"a credit code has 18 characters, got {len(value)}",
            notices,
        )
    bad = [i for i, ch in enumerate(value, 1) if ch not in _VALUE]
    if bad:
        positions = "、".join(str(i) for i in bad)
        return invalid(
            value,
            "uscc.charset",
            f"第{positions}位含有非法字符（只允许数字和除 I、O、S、V、Z 以外的大写字母）",
            f"invalid character at position {', '.join(map(str, bad))} (digits and capitals except I O S V Z)",
            notices,
        )
    expected = check_char(value)
    org_expected = org_check_digit(value[8:16])
    return _judge(value, expected, org_expected, notices, tolerant)


def _judge(
    value: str, expected: str, org_expected: str, notices: tuple[Notice, ...], tolerant: bool
) -> Verdict:
    org_ok = value[16] == org_expected
    if value[17] != expected:
        if org_ok and tolerant and _is_fujian_pilot(value):
            return Verdict(
                value, True, "uscc.ok", _OK_ZH, _OK_EN, (*notices, _PILOT, *_structure_notices(value))
            )
        pilot_zh = (
            "（疑似福建早期试点代码，可用宽松模式人工核查）" if org_ok and _is_fujian_pilot(value) else ""
        )
        pilot_en = " (looks like an early Fujian pilot code; review it in tolerant mode)" if pilot_zh else ""
        return invalid(
            value,
            "uscc.check_char",
            f"校验码错误：第18位应为 {expected}，实为 {value[17]}{pilot_zh}",
            f"check character should be {expected}, not {value[17]}{pilot_en}",
            notices,
        )
    if not org_ok:
        return invalid(
            value,
            "uscc.org_check",
            f"主体标识码（组织机构代码，第9–17位）校验位错误：第17位应为 {org_expected}",
            f"organisation code (positions 9-17) check digit should be {org_expected}, not {value[16]}",
            notices,
        )
    structure = _structure_notices(value)
    if structure:
        notices = (*notices, *structure)
    return Verdict(value, True, "uscc.ok", _OK_ZH, _OK_EN, notices)


def _is_fujian_pilot(value: str) -> bool:
    # VECTORS §7: legally issued early Fujian/Xiamen codes 9135xxxxM... whose GB 32100 check fails.
    return value.startswith("9135") and value[8] == "M"


def _structure_notices(value: str) -> tuple[Notice, ...]:
    # Positions 1-8 are deliberately not forced to be digits (VECTORS §7: Y, N and A department codes exist).
    found: tuple[Notice, ...] = ()
    if value[0] not in DEPARTMENTS:
        found = (_DEPT_UNKNOWN,)
    division = value[2:8]
    if not division.isdigit():
        found = (*found, _DIVISION_FORMAT)
    elif division != "100000" and not divisions.existed_ever(division):
        # 100000 is the registration division of central bodies (e.g. 11100000000013338W).
        found = (*found, _DIVISION_UNKNOWN)
    return found


def describe(value: str) -> dict[str, str]:
    """Named parts of a (valid) credit code: department, category, division, organisation code."""
    return {
        "department": value[0],
        "department_name": DEPARTMENTS.get(value[0], ""),
        "category": value[:2],
        "category_name": CATEGORIES.get(value[:2], ""),
        "division": value[2:8],
        "organisation_code": value[8:17],
        "check": value[17],
    }
