"""Field rules of catalog entries, without a database: normalise raw values, say what is wrong and why.

Used alike by the API, the importer (one row at a time, a million times) and ``catalog validate``.
Every problem is a :class:`FieldProblem` naming the national column and giving a Chinese reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache, partial
from typing import Any

from zhengwu.catalog import codetables as ct
from zhengwu.identity.levels import RealNameLevel
from zhengwu.kernel.codes import validate_catalog_code, validate_uscc


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one field: national column name, stable code, Chinese and English reason."""

    field: str
    code: str
    reason_zh: str
    reason_en: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON form (error envelopes, reject reports)."""
        return {"field": self.field, "code": self.code, "reason": self.reason_zh, "reason_en": self.reason_en}


@dataclass(frozen=True, slots=True)
class BodyInfo:
    """What the rules need to know about an implementing body (from ``orgs``)."""

    id: str
    credit_code: str
    name: str
    division_code: str
    level: int


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """What the rules need to know about a basic catalog item."""

    id: str
    catalog_code: str
    task_name: str
    task_type: str
    use_level: str
    by_law: str
    status: str


@dataclass
class Checked:
    """The normalised values of one entry and the problems found in it."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, name: str, code: str, zh: str, en: str = "") -> None:
        """Record a problem."""
        self.problems.append(FieldProblem(name, code, zh, en))

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


# Lengths (varchar(n), characters) of the national 前置库 columns the catalog emits: the DDL of
# up_task_directory and the up_task_{general|public}_{basic|extend|material|fee_project|questions}
# tables (standards §1.4–1.5). Where one name has several lengths the shortest is kept (remark: 256 in
# *_material, 1000 in *_fee_project; result_type: 30 general, 2 public). Where the two national DDL
# sources disagree the narrower length is the one we send within (docs/national-tables.md: task_guid
# 36 not 50, service_type 200 not 500). The receiving side keeps its
# own copy in zhengwu.exchange.national, which the catalog may not import (layering); the test
# tests/catalog/test_catalog_national_limits.py holds the two equal.
NATIONAL_LENGTHS: dict[str, int] = {
    # up_task_directory and the columns every task table shares
    "catalog_code": 12,
    "local_catalog_code": 50,
    "task_name": 1000,
    "task_type": 2,
    "task_state": 2,
    "use_level": 11,
    "by_law": 256,
    "task_code": 36,
    "local_task_code": 50,
    "task_handle_item": 50,
    "task_guid": 36,
    "dept_code": 50,
    "dept_name": 200,
    "dept_type": 2,
    "entrust_name": 100,
    "handle_flow": 256,
    "link_way": 256,
    "supervise_way": 256,
    # *_basic guide columns
    "accept_condition": 256,
    "anticipate_explain": 256,
    "anticipate_type": 2,
    "promise_explain": 256,
    "power_source": 2,
    "handle_type": 5,
    "transact_addr": 500,
    "transact_time": 500,
    "is_fee": 2,
    "fee_basis": 256,
    "server_type": 32,
    "project_type": 2,
    "special_procedure": 500,
    "link_addr": 256,
    "mobile_terminal_url": 500,
    "is_single_login": 2,
    "app_is_single_login": 2,
    # *_extend
    "is_entry_center": 2,
    "handle_area": 2,
    "other_dept": 200,
    "service_type": 200,
    "limit_explain": 256,
    "result_type": 2,
    "result_name": 200,
    "result_guid": 256,
    "is_schedule": 2,
    "is_pay_online": 2,
    "is_express": 2,
    "is_service_terminals": 2,
    "user_topic_type": 40,
    "corp_topic_type": 40,
    "is_online": 2,
    "online_handle_depth": 20,
    "online_handle_url": 256,
    "limit_scene_explain": 1000,
    "town_code": 18,
    "town_name": 200,
    "village_code": 18,
    "village_name": 200,
    "extend_field": 2000,
    # *_material, *_fee_project, *_questions
    "material_name": 200,
    "is_need": 2,
    "material_format": 2,
    "material_type": 2,
    "page_format": 200,
    "source_type": 2,
    "source_explain": 500,
    "form_guid": 256,
    "example_guid": 256,
    "fill_explain": 500,
    "accept_stand": 256,
    "remark": 256,
    "fee_name": 200,
    "fee_stand": 256,
    "is_desc": 2,
    "desc_explain": 256,
    "question": 1000,
    "answer": 256,
}
# Columns the catalog fills itself (codes it derives, ids, the registry's name of the body) and the
# longest value it puts there.
DERIVED_LENGTHS: dict[str, int] = {
    "task_code": 31,  # credit code + level + 基本编码
    "task_handle_item": 33,  # 实施编码 + two-digit sequence
    "task_guid": 32,  # row id (uuid hex)
    "catalog_code": 12,
    "dept_code": 18,  # a credit code
    "dept_name": 200,  # orgs_department.name
    "task_state": 1,
}
# Text columns the catalog stores narrower than the national column, and catalog-only columns.
_OWN_LIMITS = {
    "town_name": 100,
    "village_name": 100,
    "page_format": 20,
    "result_guid": 64,  # sm3 digest of a stored file
    "form_guid": 64,
    "example_guid": 64,
    "license_type_code": 64,
    "handle_item_name": 500,
}
LONG_TEXT_LIMIT = 20000  # Text columns: generous, but a bound (no 2 GB cell reaches the database)
CODE_FIELDS: dict[str, dict[str, str]] = {
    "task_type": ct.TASK_TYPES,
    "dept_type": ct.DEPT_TYPES,
    "power_source": ct.POWER_SOURCES,
    "anticipate_type": ct.TIME_UNITS,
    "promise_type": ct.TIME_UNITS,
    "project_type": ct.PROJECT_TYPES,
    "result_type": ct.RESULT_TYPES,
    "task_state": ct.TASK_STATES,
    "handle_area": ct.HANDLE_AREAS,
}
FLAG_FIELDS = frozenset(
    {
        "is_fee",
        "is_single_login",
        "app_is_single_login",
        "is_entry_center",
        "is_schedule",
        "is_pay_online",
        "is_express",
        "is_service_terminals",
        "is_online",
        "is_desc",
    }
)
MULTI_FIELDS: dict[str, dict[str, str]] = {
    "server_type": ct.SERVER_TYPES,
    "online_handle_depth": ct.ONLINE_DEPTHS,
    "handle_type": ct.HANDLE_TYPES,
}
_CHILD_CODES: dict[str, Mapping[str, str]] = {
    "is_need": ct.IS_NEED,
    "material_format": ct.MATERIAL_FORMATS,
    "material_type": ct.MATERIAL_TYPES,
    "source_type": ct.SOURCE_TYPES,
}
INT_FIELDS = frozenset({"anticipate_day", "promise_day", "limit_scene_num", "page_num", "task_version"})
DATE_FIELDS = frozenset({"plan_effective_date", "plan_cancel_date"})
MAX_DAYS = 3650  # ten years: anything longer is a typing error, not a time limit
_TRUE = frozenset({"1", "是", "y", "yes", "true", "t"})
_FALSE = frozenset({"0", "否", "n", "no", "false", "f"})
_MULTI_SPLIT = re.compile(r"[\^,，、;；|\s]+")
# Multi-valued values already seen in canonical form (``1^2^3``), per column: a bounded memo.
_MULTI_CANONICAL: dict[str, set[str]] = {}
_MULTI_MEMO_LIMIT = 4096
_CODE_CLEAN = str.maketrans("", "", " \t")
_CODED = frozenset({*CODE_FIELDS, *FLAG_FIELDS, *MULTI_FIELDS, *_CHILD_CODES, "use_level"})
# Length limit of every free-text column: the national length unless the catalog's own is narrower.
TEXT_LIMITS: dict[str, int] = {
    name: min(length, _OWN_LIMITS.get(name, length))
    for name, length in NATIONAL_LENGTHS.items()
    if name not in _CODED
} | {name: limit for name, limit in _OWN_LIMITS.items() if name not in NATIONAL_LENGTHS}


def text_limit(name: str) -> int:
    """The most characters a free-text column may hold (never more than its national column)."""
    return TEXT_LIMITS.get(name, LONG_TEXT_LIMIT)


def max_length(name: str) -> int | None:
    """The longest value the rules can produce for a column (None: not a text or code column)."""
    if name in DERIVED_LENGTHS:
        return DERIVED_LENGTHS[name]
    table = CODE_FIELDS.get(name) or _CHILD_CODES.get(name)
    if table is not None:
        return max(len(code) for code in table)
    if name in FLAG_FIELDS:
        return 1
    if name in MULTI_FIELDS or name == "use_level":
        every = MULTI_FIELDS.get(name, ct.USE_LEVELS)
        return min(len("^".join(every)), NATIONAL_LENGTHS[name])  # clean_multi bounds the joined value
    if name in INT_FIELDS or name in DATE_FIELDS:
        return None
    return text_limit(name)


def _check_national_lengths() -> None:
    # The catalog must never accept what the national node refuses (a too-long value there means a
    # refused row and an operator fixing it by hand).
    for name, length in NATIONAL_LENGTHS.items():
        allowed = max_length(name)
        if allowed is not None and allowed > length:
            raise RuntimeError(
                f"catalog rules allow {allowed} characters for {name}, national column {length}"
            )


_check_national_lengths()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def clean_text(checked: Checked, name: str, value: Any) -> str | None:
    """A stripped string within the column's length limit (or None when empty)."""
    if type(value) is str:  # fast path: the common case of a million-row import
        stripped = value.strip()
        if not stripped:
            return None
        # TEXT_LIMITS looked up inline: this runs ~30 times per imported item
        if len(stripped) <= TEXT_LIMITS.get(name, LONG_TEXT_LIMIT) and "\x00" not in stripped:
            return stripped
    if isinstance(value, (dict, list, tuple, set, bytes)):
        checked.add(name, "type", f"{ct.label(name)}应为文本", f"{name} must be text")
        return None
    text = _text(value)
    if text is None:
        return None
    limit = text_limit(name)
    if len(text) > limit:
        checked.add(
            name,
            "too_long",
            f"{ct.label(name)}过长：最多{limit}个字符，实为{len(text)}个",
            f"{name} has {len(text)} characters, at most {limit} allowed",
        )
        return None
    if "\x00" in text:
        checked.add(name, "binary", f"{ct.label(name)}含有非法的控制字符", f"{name} contains NUL characters")
        return None
    return text


def clean_code(checked: Checked, name: str, value: Any, table: Mapping[str, str]) -> str | None:
    """A value of a code table; accepts the code or its Chinese label, and 1 for 01 where unambiguous."""
    if type(value) is str and value in table:
        return value
    text = _text(value)
    if text is None:
        return None
    text = text.translate(_CODE_CLEAN)
    if text in table:
        return text
    if text.isdigit() and text.zfill(2) in table:
        return text.zfill(2)
    for code, label_zh in table.items():
        if text == label_zh:
            return code
    allowed = "、".join(f"{k} {v}" for k, v in table.items())
    checked.add(
        name,
        "code",
        f"{ct.label(name)}取值“{text[:20]}”无效，应为：{allowed}",
        f"{name} value {text[:20]!r} is not in its code table",
    )
    return None


def clean_flag(checked: Checked, name: str, value: Any) -> str | None:
    """是/否 flags as national 1/0."""
    if type(value) is str and value in ("1", "0"):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    text = _text(value)
    if text is None:
        return None
    low = text.lower()
    if low in _TRUE:
        return "1"
    if low in _FALSE:
        return "0"
    checked.add(name, "flag", f"{ct.label(name)}应为 1（是）或 0（否）", f"{name} must be 1 or 0")
    return None


def clean_multi(checked: Checked, name: str, value: Any, table: Mapping[str, str]) -> str | None:
    """A multi-valued code joined by ``^`` (national convention), sorted and without repeats."""
    if type(value) is str and value in _MULTI_CANONICAL.get(name, ()):
        return value
    if isinstance(value, (list, tuple)):
        parts = [p for p in (_text(v) for v in value) if p]
    else:
        text = _text(value)
        if text is None:
            return None
        parts = [p for p in _MULTI_SPLIT.split(text) if p]
    codes: set[str] = set()
    for part in parts:
        code = part if part in table else next((k for k, v in table.items() if v == part), None)
        if code is None:
            checked.add(
                name,
                "code",
                f"{ct.label(name)}含有无效取值“{part[:20]}”，可选：{'、'.join(f'{k} {v}' for k, v in table.items())}",
                f"{name} contains an invalid value {part[:20]!r}",
            )
            return None
        codes.add(code)
    if not codes:
        return None
    canonical = "^".join(sorted(codes, key=lambda c: (len(c), c)))
    limit = NATIONAL_LENGTHS.get(name)
    if limit is not None and len(canonical) > limit:
        checked.add(
            name,
            "too_long",
            f"{ct.label(name)}取值过多：“{canonical}”超过国家前置库该字段的{limit}个字符",
            f"{name} {canonical!r} is longer than the national column ({limit})",
        )
        return None
    memo = _MULTI_CANONICAL.setdefault(name, set())
    if len(memo) < _MULTI_MEMO_LIMIT:
        memo.add(canonical)
    return canonical


def clean_int(checked: Checked, name: str, value: Any, *, maximum: int = 1_000_000) -> int | None:
    """A non-negative integer (XLSX gives floats, text files give strings)."""
    if type(value) is int and 0 <= value <= maximum:
        return value
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            checked.add(name, "int", f"{ct.label(name)}应为整数", f"{name} must be an integer")
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if math.isnan(value):
            return None
        if not value.is_integer():
            checked.add(name, "int", f"{ct.label(name)}应为整数", f"{name} must be an integer")
            return None
        number = int(value)
    else:
        text = _text(value)
        if text is None:
            return None
        if not re.fullmatch(r"[+]?\d{1,9}(\.0+)?", text):
            checked.add(
                name, "int", f"{ct.label(name)}应为非负整数", f"{name} must be a non-negative integer"
            )
            return None
        number = int(float(text))
    if number < 0 or number > maximum:
        checked.add(
            name, "range", f"{ct.label(name)}应在0到{maximum}之间", f"{name} must be between 0 and {maximum}"
        )
        return None
    return number


def clean_date(checked: Checked, name: str, value: Any) -> date | None:
    """An ISO date, a datetime, or ``yyyyMMdd[HHmmss]`` (前置库 style)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{8}(\d{6})?", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return date.fromisoformat(text[:10])
    except ValueError:
        checked.add(name, "date", f"{ct.label(name)}不是有效日期（应为 YYYY-MM-DD）", f"{name} is not a date")
        return None


# 认证有效时长: from one minute (a shorter age forces a new login on every redirect) to thirty days
# (the longest session any tier keeps).
AUTH_MAX_AGE_RANGE = (60, 30 * 24 * 3600)


def clean_auth_level(checked: Checked, name: str, value: Any) -> int | None:
    """最低实名等级: one of the real-name levels 2–5 (二级 … 五级)."""
    level = clean_int(checked, name, value, maximum=999_999_999)
    if level is not None and not RealNameLevel.SELF_DECLARED <= level <= RealNameLevel.CERTIFICATE:
        checked.add(
            name, "range", f"{ct.label(name)}应为2到5级", f"{name} must be a real-name level from 2 to 5"
        )
        return None
    return level


def clean_auth_max_age(checked: Checked, name: str, value: Any) -> int | None:
    """认证有效时长 in seconds, within AUTH_MAX_AGE_RANGE."""
    low, high = AUTH_MAX_AGE_RANGE
    seconds = clean_int(checked, name, value, maximum=999_999_999)
    if seconds is not None and not low <= seconds <= high:
        checked.add(
            name,
            "range",
            f"{ct.label(name)}应在{low}到{high}秒之间",
            f"{name} must be between {low} and {high}",
        )
        return None
    return seconds


Cleaner = Callable[[Checked, str, Any], Any]


def _cleaner(name: str) -> Cleaner:
    if name == "auth_level":
        return clean_auth_level
    if name == "auth_max_age":
        return clean_auth_max_age
    if name in CODE_FIELDS:
        return partial(clean_code, table=CODE_FIELDS[name])
    if name in FLAG_FIELDS:
        return clean_flag
    if name in MULTI_FIELDS:
        return partial(clean_multi, table=MULTI_FIELDS[name])
    if name in INT_FIELDS:
        return partial(clean_int, maximum=MAX_DAYS if name.endswith("_day") else 1_000_000)
    if name in DATE_FIELDS:
        return clean_date
    return clean_text


# One cleaner per national column, chosen once (the importer calls these a hundred million times).
_CLEANERS: dict[str, Cleaner] = {name: _cleaner(name) for name in (*ct.GUIDE_FIELDS, *ct.DIRECTORY_FIELDS)}


def clean_field(checked: Checked, name: str, value: Any) -> Any:
    """Normalise one scalar national column by its kind."""
    cleaner = _CLEANERS.get(name) or _cleaner(name)
    return cleaner(checked, name, value)


def require(checked: Checked, names: Iterable[str]) -> None:
    """Report every required element that is empty (unless a problem was already reported for it)."""
    reported = {p.field for p in checked.problems}
    for name in names:
        if checked.values.get(name) in (None, "") and name not in reported:
            checked.add(
                name, "required", f"缺少必填要素：{ct.label(name)}", f"required element {name} is missing"
            )


def clean_use_levels(checked: Checked, value: Any) -> str | None:
    """The 行使层级 set of a basic item (1–7 joined by ``^``)."""
    return clean_multi(checked, "use_level", value, ct.USE_LEVELS)


def check_directory(raw: Mapping[str, Any], *, complete: bool) -> Checked:
    """Normalise and check a basic catalog entry (up_task_directory)."""
    checked = Checked()
    code_raw = raw.get("catalog_code")
    if _text(code_raw) is not None:
        verdict = validate_catalog_code(code_raw)
        if verdict.ok:
            checked.values["catalog_code"] = verdict.value
        else:
            checked.add("catalog_code", verdict.code, f"基本编码无效：{verdict.reason_zh}", verdict.reason_en)
    for name in ("local_catalog_code", "task_name", "by_law"):
        checked.values[name] = clean_text(checked, name, raw.get(name))
    checked.values["task_type"] = clean_code(checked, "task_type", raw.get("task_type"), ct.TASK_TYPES)
    checked.values["use_level"] = clean_use_levels(checked, raw.get("use_level"))
    for name in DATE_FIELDS:
        checked.values[name] = clean_date(checked, name, raw.get(name))
    require(checked, ct.REQUIRED_DIRECTORY if complete else ("catalog_code", "task_name", "task_type"))
    _check_dates(checked)
    return checked


def _check_dates(checked: Checked) -> None:
    start, end = checked.values.get("plan_effective_date"), checked.values.get("plan_cancel_date")
    if start and end and end < start:
        checked.add(
            "plan_cancel_date", "order", "计划取消日期早于计划生效日期", "cancel date before effective date"
        )


def check_body(checked: Checked, raw_code: Any, lookup: Mapping[str, BodyInfo]) -> BodyInfo | None:
    """The implementing body named by its credit code: check character first, then the registry."""
    if type(raw_code) is str and raw_code in lookup:
        return lookup[raw_code]  # registered codes were checked at registration
    if _text(raw_code) is None:
        checked.add("dept_code", "required", "缺少必填要素：实施主体编码", "dept_code is missing")
        return None
    verdict = validate_uscc(raw_code)
    if not verdict.ok:
        checked.add("dept_code", verdict.code, f"实施主体编码无效：{verdict.reason_zh}", verdict.reason_en)
        return None
    body = lookup.get(verdict.value)
    if body is None:
        checked.add(
            "dept_code",
            "unknown_body",
            "实施主体未在部门库登记（请先登记部门）",
            "the implementing body is not registered",
        )
    return body


def allowed_levels(body: BodyInfo) -> tuple[int, ...]:
    """Levels a body may implement at: its own; county bodies also for towns and villages (5, 6)."""
    # Town and village bodies are registered with their county's division code (standards §1.2).
    return (4, 5, 6) if body.level == 4 else (body.level,)


def check_level(checked: Checked, raw: Any, body: BodyInfo | None, basic: BasicInfo | None) -> int | None:
    """The 行使层级 of an implementation: agrees with the body's division and the catalog's level set."""
    text = _text(raw)
    level: int | None = None
    if text is not None:
        if text not in ("1", "2", "3", "4", "5", "6"):
            reason = "7（分级管理）只能用于基本目录" if text == "7" else "应为1–6中的一个层级"
            checked.add(
                "use_level", "level", f"行使层级“{text[:11]}”无效：{reason}", "level must be one of 1-6"
            )
            return None
        level = int(text)
    elif body is not None:
        level = body.level
    if level is None or body is None:
        return level
    allowed = allowed_levels(body)
    if level not in allowed:
        checked.add(
            "use_level",
            "level_mismatch",
            f"行使层级 {level}（{ct.LEVELS[level]}）与实施主体所在区划 {body.division_code} 的层级"
            f"（{ct.LEVELS[body.level]}）不一致",
            f"level {level} contradicts the body's division level {body.level}",
        )
        return None
    if (
        basic is not None
        and "7" not in basic.use_level.split("^")
        and str(level) not in basic.use_level.split("^")
    ):
        checked.add(
            "use_level",
            "level_not_in_catalog",
            f"行使层级 {level} 不在基本目录规定的行使层级 {basic.use_level} 之内",
            f"level {level} is not among the catalog item's levels {basic.use_level}",
        )
        return None
    return level


_NOT_GUIDE = frozenset(
    {
        "task_code",
        "catalog_code",
        "dept_code",
        "dept_name",
        "use_level",
        "task_state",
        "task_version",
        "task_guid",
    }
)
_GUIDE_CLEANERS = {
    name: cleaner for name, cleaner in _CLEANERS.items() if name in ct.GUIDE_FIELDS and name not in _NOT_GUIDE
}


def check_guide(checked: Checked, raw: Mapping[str, Any]) -> None:
    """Normalise every scalar guide element (basic and extend columns) of an implementation item."""
    values = checked.values
    for name, value in raw.items():
        cleaner = _GUIDE_CLEANERS.get(name)
        if cleaner is not None:
            values[name] = None if value is None else cleaner(checked, name, value)


def check_children(checked: Checked, raw: Mapping[str, Any]) -> None:
    """Materials, fees, questions and handling items (lists of objects keyed by national column names)."""
    checked.values["materials"] = _rows(checked, raw, "materials", ct.MATERIAL_FIELDS, "material_name")
    checked.values["fee_projects"] = _rows(checked, raw, "fee_projects", ct.FEE_FIELDS, "fee_name")
    checked.values["questions"] = _rows(checked, raw, "questions", ct.QUESTION_FIELDS, "question")
    checked.values["handle_items"] = _rows(
        checked, raw, "handle_items", ("handle_item_name", "remark"), "handle_item_name"
    )
    for item in checked.values["materials"]:
        if item.get("is_need") is None:
            item["is_need"] = "1"  # 必要 unless said otherwise


MAX_CHILDREN = 200
# NOT NULL columns of the national child tables besides the row's name (*_fee_project, *_questions).
_CHILD_REQUIRED: dict[str, tuple[str, ...]] = {"fee_projects": ("fee_stand",), "questions": ("answer",)}


@cache
def _child_cleaners(fields: tuple[str, ...]) -> dict[str, Cleaner]:
    cleaners: dict[str, Cleaner] = {}
    for name in fields:
        if name in _CHILD_CODES:
            cleaners[name] = partial(clean_code, table=_CHILD_CODES[name])
        elif name in FLAG_FIELDS:
            cleaners[name] = clean_flag
        elif name in INT_FIELDS:
            cleaners[name] = partial(clean_int, maximum=1000)
        else:
            cleaners[name] = clean_text
    return cleaners


def _rows(
    checked: Checked, raw: Mapping[str, Any], key: str, fields: tuple[str, ...], name_field: str
) -> list[dict[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        checked.add(key, "type", f"{ct.label(key)}应为列表", f"{key} must be a list")
        return []
    if len(value) > MAX_CHILDREN:
        checked.add(
            key, "too_many", f"{ct.label(key)}过多（最多{MAX_CHILDREN}项）", f"at most {MAX_CHILDREN} {key}"
        )
        return []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    cleaners = _child_cleaners(fields)
    template = dict.fromkeys(fields)
    sub = Checked()  # problems of the current row, moved to ``checked`` with the row's position
    for index, item in enumerate(value, 1):
        if not isinstance(item, Mapping):
            checked.add(
                f"{key}[{index}]",
                "type",
                f"{ct.label(key)}第{index}项应为对象",
                f"{key}[{index}] must be an object",
            )
            continue
        row = template.copy()
        for name, raw_value in item.items():
            cleaner = cleaners.get(name)
            if cleaner is not None and raw_value is not None:
                row[name] = cleaner(sub, name, raw_value)
        title = row[name_field]
        if title is None:
            sub.add(
                name_field, "required", f"缺少必填要素：{ct.label(name_field)}", f"{name_field} is missing"
            )
        for required in _CHILD_REQUIRED.get(key, ()):
            if row.get(required) is None and not any(p.field == required for p in sub.problems):
                sub.add(required, "required", f"缺少必填要素：{ct.label(required)}", f"{required} is missing")
        if sub.problems:
            for problem in sub.problems:
                checked.add(
                    f"{key}[{index}].{problem.field}",
                    problem.code,
                    f"{ct.label(key)}第{index}项：{problem.reason_zh}",
                    problem.reason_en,
                )
            sub.problems.clear()
        if title is not None:
            if title in seen:
                checked.add(
                    f"{key}[{index}].{name_field}",
                    "duplicate",
                    f"{ct.label(key)}第{index}项与第{seen[title]}项重复：{title[:40]}",
                    f"{key}[{index}] repeats item {seen[title]}",
                )
            else:
                seen[title] = index
        row["order_num"] = index
        rows.append(row)
    return rows


def check_consistency(checked: Checked, basic: BasicInfo | None) -> None:
    """Rules across fields: type and name of the catalog, time limits, fees."""
    values = checked.values
    if basic is not None:
        if values.get("task_type") is None:
            values["task_type"] = basic.task_type
        elif values["task_type"] != basic.task_type:
            checked.add(
                "task_type",
                "type_mismatch",
                f"事项类型 {values['task_type']} 与基本目录的事项类型 {basic.task_type} 不一致",
                "item type differs from the catalog item's type",
            )
        if values.get("task_name") is None:
            values["task_name"] = basic.task_name
        if values.get("by_law") is None:
            values["by_law"] = basic.by_law
    anticipate, promise = values.get("anticipate_day"), values.get("promise_day")
    if (
        anticipate is not None
        and promise is not None
        and values.get("anticipate_type") == values.get("promise_type")
        and promise > anticipate
    ):
        checked.add(
            "promise_day",
            "promise_exceeds_law",
            f"承诺办结时限（{promise}）不得超过法定办结时限（{anticipate}）",
            "the promised time limit exceeds the statutory one",
        )
    if values.get("is_fee") == "1" and not values.get("fee_projects"):
        checked.add("fee_projects", "required", "收费事项缺少收费项目", "a charged item needs fee projects")
    if values.get("is_fee") == "0" and values.get("fee_projects"):
        checked.add("is_fee", "fee_mismatch", "标为不收费的事项不应列出收费项目", "free item lists fees")


def required_fields(task_type: str | None) -> tuple[str, ...]:
    """The required elements for the type's national table."""
    return ct.REQUIRED_PUBLIC if task_type == ct.PUBLIC_SERVICE_TYPE else ct.REQUIRED_GENERAL


def check_task(
    raw: Mapping[str, Any],
    *,
    bodies: Mapping[str, BodyInfo],
    basics: Mapping[str, BasicInfo],
    complete: bool,
    body: BodyInfo | None = None,
    basic: BasicInfo | None = None,
) -> tuple[Checked, BodyInfo | None, BasicInfo | None]:
    """Normalise and check an implementation item; ``complete`` demands every required element."""
    checked = Checked()
    if body is None:
        body = check_body(checked, raw.get("dept_code"), bodies)
    if basic is None:
        code_raw = raw.get("catalog_code")
        if type(code_raw) is str and code_raw in basics:
            basic = basics[code_raw]  # known entries were checked when they were added
            if basic.status == "cancelled":
                checked.add(
                    "catalog_code", "cancelled", "该基本目录事项已取消，不能认领", "catalog item cancelled"
                )
        elif _text(code_raw) is None:
            checked.add("catalog_code", "required", "缺少必填要素：基本编码", "catalog_code is missing")
        else:
            verdict = validate_catalog_code(code_raw)
            if not verdict.ok:
                checked.add(
                    "catalog_code", verdict.code, f"基本编码无效：{verdict.reason_zh}", verdict.reason_en
                )
            else:
                basic = basics.get(verdict.value)
                if basic is None:
                    checked.add(
                        "catalog_code",
                        "unknown_catalog",
                        f"基本目录中没有基本编码为 {verdict.value} 的事项",
                        "no basic catalog item with this code",
                    )
                elif basic.status == "cancelled":
                    checked.add(
                        "catalog_code",
                        "cancelled",
                        "该基本目录事项已取消，不能认领",
                        "catalog item cancelled",
                    )
    level = check_level(checked, raw.get("use_level"), body, basic)
    check_guide(checked, raw)
    check_children(checked, raw)
    check_consistency(checked, basic)
    values = checked.values
    if level is not None:
        values["use_level"] = str(level)
    if body is not None:
        values["dept_code"] = body.credit_code
        values["dept_name"] = body.name  # the registry is authoritative for the body's name
    if basic is not None:
        values["catalog_code"] = basic.catalog_code
    if complete:
        # Elements derived from an unknown body or basic entry are not reported a second time.
        skip = (set() if body is not None else {"use_level"}) | (
            set() if basic is not None else {"task_name", "task_type", "by_law"}
        )
        require(checked, [f for f in required_fields(values.get("task_type")) if f not in skip])
    return checked, body, basic
