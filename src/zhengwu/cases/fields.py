"""An item's own form fields (申请表单字段): the typed fields an item asks for beyond its materials — a
number, a date, a choice among options, a phone number or a line of text — kept per item by cases (the
catalog's guide has no such list), validated when loaded, rendered on the apply page and in the apply
form's API, and checked with Chinese messages naming the field.

Pure: no database. ``cases.service`` stores a definition per item and snapshots it into each case, so
staff read the labels the applicant saw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final

MAX_FIELDS: Final = 30
TYPES: Final = {"text": "文本", "number": "数字", "date": "日期", "choice": "选项", "phone": "电话"}
#: Names the platform's own form already uses (contact phone and note on the apply page).
RESERVED: Final = frozenset({"phone", "note"})
_PHONE: Final = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class FieldsInvalid(ValueError):
    """A definition that breaks a rule (the message names the rule, in Chinese)."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field: its key in the case's form, the label the applicant reads, its type and its limits."""

    code: str
    label: str
    type: str
    required: bool = False
    max_length: int = 200
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    options: tuple[str, ...] = ()
    hint: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored (and API) shape."""
        out: dict[str, Any] = {"code": self.code, "label": self.label, "type": self.type,
                               "required": self.required}  # fmt: skip
        if self.type == "text":
            out["max_length"] = self.max_length
        if self.minimum is not None:
            out["min"] = float(self.minimum) if self.minimum % 1 else int(self.minimum)
        if self.maximum is not None:
            out["max"] = float(self.maximum) if self.maximum % 1 else int(self.maximum)
        if self.options:
            out["options"] = list(self.options)
        if self.hint:
            out["hint"] = self.hint
        return out

    def check(self, raw: Any) -> tuple[str, str | None]:
        """The value as kept (trimmed text) and the Chinese error, if any, for a non-empty value."""
        text = "" if raw is None else str(raw).strip()
        name = f"“{self.label}”"
        if self.type == "text":
            return text, f"{name}不能超过{self.max_length}个字符" if len(text) > self.max_length else None
        if self.type == "number":
            try:
                number = Decimal(text)
            except InvalidOperation:
                return text, f"{name}应填写数字"
            if not number.is_finite():
                return text, f"{name}应填写数字"
            if self.minimum is not None and number < self.minimum:
                return text, f"{name}不能小于{self.as_json()['min']}"
            if self.maximum is not None and number > self.maximum:
                return text, f"{name}不能大于{self.as_json()['max']}"
            return text, None
        if self.type == "date":
            try:
                date.fromisoformat(text)
            except ValueError:
                return text, f"{name}应为日期，格式如 2026-12-06"
            return text, None
        if self.type == "choice":
            return text, None if text in self.options else f"{name}应从给出的选项中选择"
        # phone
        compact = text.replace(" ", "")
        return compact, None if _PHONE.match(compact) else f"{name}应为手机号码或带区号的固定电话"


@dataclass(frozen=True, slots=True)
class ItemFields:
    """The ordered own fields of an item (none: the item asks for nothing beyond its materials)."""

    fields: tuple[Field, ...] = ()

    @classmethod
    def from_json(cls, raw: Any) -> ItemFields:
        """Validate ``{"fields": [{"code", "label", "type", "required"?, "max_length"?, "min"?, "max"?,
        "options"?, "hint"?}, ...]}``."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("fields"), Sequence):
            raise FieldsInvalid("表单定义应为含 fields 列表的对象")
        items = list(raw["fields"])
        if len(items) > MAX_FIELDS:
            raise FieldsInvalid(f"事项表单字段不能超过{MAX_FIELDS}个")
        out = [_field(n, item) for n, item in enumerate(items, start=1)]
        if len({f.code for f in out}) != len(out):
            raise FieldsInvalid("字段代码不能重复")
        return cls(tuple(out))

    def as_json(self) -> dict[str, Any]:
        """The stored shape."""
        return {"fields": [f.as_json() for f in self.fields]}

    def labels(self) -> dict[str, str]:
        """Field code → label."""
        return {f.code: f.label for f in self.fields}

    def check(self, form: Mapping[str, str], *, complete: bool) -> tuple[dict[str, str], dict[str, str]]:
        """The form with this item's fields normalised, and the errors by field code (empty: valid).
        ``complete``: a submission, so required fields must be filled (a draft may leave them empty)."""
        clean = dict(form)
        errors: dict[str, str] = {}
        for f in self.fields:
            raw = form.get(f.code)
            if raw is None or not str(raw).strip():
                clean.pop(f.code, None)
                if complete and f.required:
                    errors[f.code] = f"请填写“{f.label}”" if f.type != "choice" else f"请选择“{f.label}”"
                continue
            value, error = f.check(raw)
            clean[f.code] = value
            if error is not None:
                errors[f.code] = error
        return clean, errors


def _decimal(n: int, item: Mapping[str, Any], key: str) -> Decimal | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FieldsInvalid(f"第{n}个字段的 {key} 应为数字")
    try:
        found = Decimal(str(value))
    except InvalidOperation as exc:
        raise FieldsInvalid(f"第{n}个字段的 {key} 应为数字") from exc
    if not found.is_finite():
        raise FieldsInvalid(f"第{n}个字段的 {key} 应为数字")
    return found


def _field(n: int, item: Any) -> Field:
    if not isinstance(item, Mapping):
        raise FieldsInvalid(f"第{n}个字段应为对象")
    code, label, kind = item.get("code"), item.get("label"), item.get("type")
    if not isinstance(code, str) or not _CODE.match(code):
        raise FieldsInvalid(f"第{n}个字段的代码应为小写字母开头、不超过32位的小写字母、数字或下划线")
    if code in RESERVED:
        raise FieldsInvalid(f"第{n}个字段的代码“{code}”已被平台表单使用，请换一个")
    if not isinstance(label, str) or not 1 <= len(label.strip()) <= 50:
        raise FieldsInvalid(f"第{n}个字段的名称应为1至50个字符")
    if kind not in TYPES:
        raise FieldsInvalid(f"第{n}个字段的类型应为 {'、'.join(TYPES)} 之一")
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise FieldsInvalid(f"第{n}个字段的 required 应为 true 或 false")
    max_length = item.get("max_length", 200)
    if kind == "text" and (isinstance(max_length, bool) or not isinstance(max_length, int)
                           or not 1 <= max_length <= 2000):  # fmt: skip
        raise FieldsInvalid(f"第{n}个字段的最大长度应为1至2000")
    minimum, maximum = _decimal(n, item, "min"), _decimal(n, item, "max")
    if (minimum is not None or maximum is not None) and kind != "number":
        raise FieldsInvalid(f"第{n}个字段不是数字，不能设置最小值或最大值")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise FieldsInvalid(f"第{n}个字段的最小值大于最大值")
    options = item.get("options") or []
    if kind == "choice":
        if (not isinstance(options, list) or not 2 <= len(options) <= 50
                or not all(isinstance(o, str) and 1 <= len(o.strip()) <= 50 for o in options)):  # fmt: skip
            raise FieldsInvalid(f"第{n}个字段应有2至50个选项，每项1至50个字符")
        if len({o.strip() for o in options}) != len(options):
            raise FieldsInvalid(f"第{n}个字段的选项不能重复")
    elif options:
        raise FieldsInvalid(f"第{n}个字段不是选项类型，不能设置选项")
    hint = item.get("hint")
    if hint is not None and (not isinstance(hint, str) or len(hint) > 100):
        raise FieldsInvalid(f"第{n}个字段的提示不能超过100个字符")
    return Field(
        code=code,
        label=label.strip(),
        type=kind,
        required=required,
        max_length=max_length if kind == "text" else 200,
        minimum=minimum,
        maximum=maximum,
        options=tuple(o.strip() for o in options) if kind == "choice" else (),
        hint=hint or None,
    )
