"""Government service item codes (standards §1.2): 基本编码 (12), 实施编码 (31), 业务办理项编码 (33).

The 31-character layout (body USCC + level + 基本编码) fits every real example; the internal split of
the 基本编码 and the 2-digit suffix of a 业务办理项编码 are INFERRED, so anomalies there only warn.
"""

from __future__ import annotations

from dataclasses import dataclass

from zhengwu.kernel.codes import _input, divisions
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.codes.verdict import CodeError, Notice, Verdict, invalid

# standards §1.3 行使层级; 7 分级管理 describes a catalog item, never one implementation of it.
LEVELS = {1: "国家级", 2: "省级", 3: "市级", 4: "县级", 5: "镇（乡、街道）级", 6: "村（社区）级"}
GRADED_LEVEL = 7
# standards §1.3 事项类型 (national numbering).
TASK_TYPES = {
    "01": "行政许可",
    "02": "行政处罚",
    "03": "行政强制",
    "04": "行政征收",
    "05": "行政给付",
    "06": "行政检查",
    "07": "行政确认",
    "08": "行政奖励",
    "09": "行政裁决",
    "10": "其他行政权力",
    "20": "公共服务",
}
CATALOG_LENGTH = 12
TASK_LENGTH = 31
HANDLE_ITEM_LENGTH = 33
MAX_HANDLE_ITEM_LENGTH = 50  # national exchange column task_handle_item varchar(50)


@dataclass(frozen=True, slots=True)
class CatalogCode:
    """A 12-digit 基本编码: origin (00 national or a province prefix), item type and item sequence."""

    code: str
    origin: str
    national: bool
    task_type: str
    task_type_name: str
    sequence: str
    warnings: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class TaskCode:
    """A 31-character 实施编码 (plus the suffix of a 业务办理项编码 when present)."""

    code: str
    body_uscc: str
    level: int
    level_name: str
    catalog: CatalogCode
    handle_suffix: str | None
    warnings: tuple[Notice, ...]


def _catalog_notices(code: str) -> tuple[Notice, ...]:
    notices: list[Notice] = []
    origin = code[:2]
    if origin != "00" and not divisions.existed_ever(origin + "0000"):
        notices.append(
            Notice(
                "task_code.catalog_origin",
                f"基本编码前两位 {origin} 既不是 00（国家基本目录）也不是省级区划代码（推断规则）",
                f"catalog code prefix {origin} is neither 00 nor a province code (inferred rule)",
            )
        )
    if code[2:4] not in TASK_TYPES:
        notices.append(
            Notice(
                "task_code.task_type",
                f"基本编码第3–4位 {code[2:4]} 不是已知的事项类型代码（推断规则）",
                f"catalog code positions 3-4 ({code[2:4]}) are not a known item type (inferred rule)",
            )
        )
    return tuple(notices)


def _catalog(code: str) -> CatalogCode:
    return CatalogCode(
        code,
        code[:2],
        code[:2] == "00",
        code[2:4],
        TASK_TYPES.get(code[2:4], ""),
        code[4:],
        _catalog_notices(code),
    )


def validate_catalog_code(value: object, *, tolerant: bool = False) -> Verdict:
    """Validate a 12-digit 基本编码 (12 digits required; inferred inner parts only warn)."""
    del tolerant
    cleaned = _input.clean(value, "catalog_code", "基本编码", "catalog code")
    if isinstance(cleaned, Verdict):
        return cleaned
    code, notices = cleaned
    if len(code) != CATALOG_LENGTH or not (code.isascii() and code.isdigit()):
        return invalid(
            code,
            "catalog_code.format",
            f"基本编码应为12位数字，实为{len(code)}个字符",
            f"a catalog code has 12 digits, got {len(code)} characters",
            notices,
        )
    return Verdict(
        code,
        True,
        "catalog_code.ok",
        "有效的基本编码",
        "valid catalog code",
        notices + _catalog_notices(code),
    )


def parse_catalog_code(value: object) -> CatalogCode:
    """Split a 基本编码 into origin, item type and sequence; raises CodeError when it is not 12 digits."""
    verdict = validate_catalog_code(value)
    if not verdict.ok:
        raise CodeError(verdict)
    return _catalog(verdict.value)


def _level_notice(body_uscc: str, level: int) -> Notice | None:
    # INFERRED (standards §1.2 examples): the level matches the body's registration division level;
    # bodies of towns and villages are registered with their county's division code.
    division = body_uscc[2:8]
    if division == "100000":
        expected: tuple[int, ...] = (1,)
    elif division.endswith("0000"):
        expected = (2,)
    elif division.endswith("00"):
        expected = (3,)
    else:
        expected = (4, 5, 6)
    if level in expected:
        return None
    return Notice(
        "task_code.level_mismatch",
        f"行使层级 {level} 与实施主体登记区划 {division} 的层级不一致（推断规则）",
        f"level {level} does not match the body's registration division {division} (inferred rule)",
    )


def _parse(code: str, notices: tuple[Notice, ...], tolerant: bool) -> Verdict | TaskCode:
    """Parse a cleaned 实施编码 / 业务办理项编码 into its parts, or a failing verdict."""
    if len(code) < TASK_LENGTH or len(code) > MAX_HANDLE_ITEM_LENGTH:
        hint_zh = "（这是12位基本编码，不是实施编码）" if len(code) == CATALOG_LENGTH else ""
        hint_en = " (that is a 12-digit catalog code)" if hint_zh else ""
        return invalid(
            code,
            "task_code.length",
            f"实施编码应为31位、业务办理项编码应为33位，实为{len(code)}位{hint_zh}",
            f"an implementation code has 31 characters and a handling-item code 33, got {len(code)}{hint_en}",
            notices,
        )
    body = validate_uscc(code[:18], tolerant=tolerant)
    if not body.ok:
        return invalid(
            code,
            "task_code.body_uscc",
            f"实施主体编码（第1–18位）无效：{body.reason_zh}",
            f"implementing body code (positions 1-18) is invalid: {body.reason_en}",
            notices,
        )
    level_char = code[18]
    if level_char == str(GRADED_LEVEL):
        return invalid(
            code,
            "task_code.level",
            "第19位行使层级为7（分级管理），实施编码必须是具体层级1–6",
            "position 19 is 7 (graded management); an implementation has a concrete level 1-6",
            notices,
        )
    if level_char not in "123456":
        return invalid(
            code,
            "task_code.level",
            f"第19位行使层级应为1–6，实为 {level_char}",
            f"position 19 (exercise level) must be 1-6, not {level_char}",
            notices,
        )
    catalog = code[19:31]
    if not (catalog.isascii() and catalog.isdigit()):
        return invalid(
            code,
            "task_code.catalog",
            "第20–31位基本编码应为12位数字",
            "positions 20-31 (catalog code) must be 12 digits",
            notices,
        )
    suffix: str | None = None
    found = list(notices) + list(body.warnings)
    if len(code) > TASK_LENGTH:
        suffix = code[TASK_LENGTH:]
        if not (suffix.isascii() and suffix.isdigit()):
            return invalid(
                code,
                "task_code.handle_suffix",
                "业务办理项编码第32位起应为数字",
                "the handling-item suffix (from position 32) must be digits",
                notices,
            )
        if len(code) != HANDLE_ITEM_LENGTH:
            found.append(
                Notice(
                    "task_code.handle_length",
                    f"业务办理项编码通常为33位（实施编码+2位序号），实为{len(code)}位（推断规则）",
                    f"a handling-item code usually has 33 characters (31 + 2 digits), got {len(code)} (inferred)",
                )
            )
    level = int(level_char)
    level_notice = _level_notice(code[:18], level)
    if level_notice is not None:
        found.append(level_notice)
    parsed_catalog = _catalog(catalog)
    found.extend(parsed_catalog.warnings)
    return TaskCode(code, code[:18], level, LEVELS[level], parsed_catalog, suffix, tuple(found))


def validate_task_code(value: object, *, tolerant: bool = False) -> Verdict:
    """Validate a 31-char 实施编码 or a 业务办理项编码 (33 chars; other lengths up to 50 only warn)."""
    cleaned = _input.clean(value, "task_code", "实施编码", "implementation code")
    if isinstance(cleaned, Verdict):
        return cleaned
    code, notices = cleaned
    parsed = _parse(code, notices, tolerant)
    if isinstance(parsed, Verdict):
        return parsed
    if parsed.handle_suffix is None:
        return Verdict(
            code, True, "task_code.ok", "有效的实施编码", "valid implementation code", parsed.warnings
        )
    return Verdict(
        code, True, "task_code.ok", "有效的业务办理项编码", "valid handling-item code", parsed.warnings
    )


def parse_task_code(value: object, *, tolerant: bool = False) -> TaskCode:
    """Split a 实施编码 (or 业务办理项编码) into body USCC, level and 基本编码; raises CodeError if invalid."""
    cleaned = _input.clean(value, "task_code", "实施编码", "implementation code")
    if isinstance(cleaned, Verdict):
        raise CodeError(cleaned)
    parsed = _parse(*cleaned, tolerant)
    if isinstance(parsed, Verdict):
        raise CodeError(parsed)
    return parsed


def make_task_code(uscc: str, level: int, catalog_code: str) -> str:
    """Build the 31-character 实施编码 = body USCC + level (1-6) + 12-digit 基本编码."""
    body = validate_uscc(uscc)
    if not body.ok:
        raise CodeError(body)
    if level not in LEVELS:
        raise CodeError(
            invalid(
                str(level),
                "task_code.level",
                "行使层级必须是1–6（7 分级管理不能作为实施层级）",
                "level must be 1-6 (7, graded management, is not an implementation level)",
            )
        )
    catalog = parse_catalog_code(catalog_code)
    return f"{body.value}{level}{catalog.code}"


def make_handle_item_code(task_code: str, sequence: int) -> str:
    """Build a 33-character 业务办理项编码 = 实施编码 + 2-digit sequence (01-99)."""
    parsed = parse_task_code(task_code)
    if parsed.handle_suffix is not None:
        raise CodeError(
            invalid(
                parsed.code,
                "task_code.length",
                "需要31位实施编码",
                "a 31-character implementation code is required",
            )
        )
    if not 1 <= sequence <= 99:
        raise CodeError(
            invalid(str(sequence), "task_code.handle_suffix", "序号必须是01–99", "sequence must be 01-99")
        )
    return f"{parsed.code}{sequence:02d}"
