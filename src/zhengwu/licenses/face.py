"""The face (照面) of a license type as a typed schema, and validation of face data against it.

A type lists its fields; each has a machine name, a Chinese label, a value type, whether it is required,
and optionally a pattern, a list of allowed values or a maximum length. Validation is strict (citizen and
department input): unknown fields, missing required ones and every malformed value are reported together,
one Chinese reason per field, without quoting the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Final

from zhengwu.kernel.codes import validate_citizen_id, validate_uscc
from zhengwu.licenses.errors import FaceDataInvalid, LicenseTypeInvalid

TEXT: Final = "text"
DATE: Final = "date"
INTEGER: Final = "integer"
DECIMAL: Final = "decimal"
ENUM: Final = "enum"
USCC: Final = "uscc"
CITIZEN_ID: Final = "citizen_id"
FIELD_TYPES: Final = (TEXT, DATE, INTEGER, DECIMAL, ENUM, USCC, CITIZEN_ID)
_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DECIMAL_RE: Final = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
DEFAULT_MAX_LENGTH: Final = 500


@dataclass(frozen=True, slots=True)
class FaceField:
    """One field of a license face."""

    name: str
    label: str
    type: str = TEXT
    required: bool = True
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    max_length: int = DEFAULT_MAX_LENGTH

    def as_json(self) -> dict[str, Any]:
        """The stored and published form."""
        data = asdict(self)
        data["enum"] = list(self.enum)
        return data


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """Why one field was refused."""

    field: str
    label: str
    reason: str

    def as_json(self) -> dict[str, str]:
        """JSON form (the envelope's ``fields``)."""
        return {"field": self.field, "label": self.label, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class FaceSchema:
    """The ordered fields of a face."""

    fields: tuple[FaceField, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> FaceSchema:
        """Read and check a stored or submitted schema; LicenseTypeInvalid on a bad definition."""
        fields: list[FaceField] = []
        for raw in data:
            try:
                item = FaceField(
                    name=str(raw["name"]),
                    label=str(raw["label"]),
                    type=str(raw.get("type", TEXT)),
                    required=bool(raw.get("required", True)),
                    pattern=raw.get("pattern"),
                    enum=tuple(str(v) for v in raw.get("enum") or ()),
                    max_length=int(raw.get("max_length", DEFAULT_MAX_LENGTH)),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise LicenseTypeInvalid("照面字段定义不完整", detail_en=f"face field: {exc}") from exc
            fields.append(item)
        schema = cls(tuple(fields))
        schema.check()
        return schema

    def check(self) -> None:
        """The schema itself is sound: names unique and well-formed, known types, compilable patterns."""
        seen: set[str] = set()
        for item in self.fields:
            if not _NAME_RE.fullmatch(item.name) or item.name in seen:
                raise LicenseTypeInvalid(f"照面字段名无效或重复：{item.name}")
            seen.add(item.name)
            if item.type not in FIELD_TYPES:
                raise LicenseTypeInvalid(f"照面字段“{item.label}”的类型无效：{item.type}")
            if item.type == ENUM and not item.enum:
                raise LicenseTypeInvalid(f"照面字段“{item.label}”是枚举类型，但没有可选值")
            if not 1 <= item.max_length <= 4000:
                raise LicenseTypeInvalid(f"照面字段“{item.label}”的最大长度应为1至4000")
            if item.pattern is not None:
                try:
                    re.compile(item.pattern)
                except re.error as exc:
                    raise LicenseTypeInvalid(f"照面字段“{item.label}”的格式表达式无效") from exc

    def as_json(self) -> list[dict[str, Any]]:
        """The stored form."""
        return [f.as_json() for f in self.fields]

    def names(self) -> tuple[str, ...]:
        """Field names in order."""
        return tuple(f.name for f in self.fields)

    def validate(self, data: Mapping[str, Any]) -> dict[str, str]:
        """The face data normalised to strings in schema order, or FaceDataInvalid listing every problem."""
        problems: list[FieldProblem] = []
        known = {f.name: f for f in self.fields}
        for name in sorted(set(data) - set(known)):
            problems.append(FieldProblem(str(name)[:64], str(name)[:64], "证照类型没有这个照面字段"))
        clean: dict[str, str] = {}
        for item in self.fields:
            value = data.get(item.name)
            if value is None or (isinstance(value, str) and not value.strip()):
                if item.required:
                    problems.append(FieldProblem(item.name, item.label, "必填"))
                continue
            result = _check_value(item, value)
            if isinstance(result, FieldProblem):
                problems.append(result)
            else:
                clean[item.name] = result
        if problems:
            first = problems[0]
            raise FaceDataInvalid(
                f"照面信息有{len(problems)}处错误，如“{first.label}”：{first.reason}",
                detail_en=f"{len(problems)} face field(s) refused",
                extra={"fields": [p.as_json() for p in problems]},
            )
        return clean


def _check_value(item: FaceField, value: object) -> str | FieldProblem:
    def problem(reason: str) -> FieldProblem:
        return FieldProblem(item.name, item.label, reason)

    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return problem("应为文本、数字或日期")
    text = str(value).strip()
    if len(text) > item.max_length:
        return problem(f"不能超过{item.max_length}个字符")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        return problem("含有控制字符")
    if item.type == DATE:
        try:
            text = date.fromisoformat(text).isoformat()
        except ValueError:
            return problem("应为日期，格式 YYYY-MM-DD")
    elif item.type == INTEGER:
        if isinstance(value, float) or not text.lstrip("-").isdigit() or len(text) > 18:
            return problem("应为整数")
        text = str(int(text))
    elif item.type == DECIMAL:
        if not _DECIMAL_RE.fullmatch(text):
            return problem("应为数字（最多6位小数）")
    elif item.type == ENUM:
        if text not in item.enum:
            return problem(f"应为以下之一：{'、'.join(item.enum)}")
    elif item.type in (USCC, CITIZEN_ID):
        verdict = (validate_uscc if item.type == USCC else validate_citizen_id)(text)
        if not verdict.ok:
            return problem(verdict.reason_zh)
        text = verdict.value
    if item.pattern is not None and not re.fullmatch(item.pattern, text):
        return problem("格式不正确")
    return text
