"""Errors of the item catalog."""

from __future__ import annotations

from collections.abc import Iterable

from zhengwu.catalog.rules import FieldProblem
from zhengwu.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ItemNotFound(NotFound):
    """No catalog entry with that code (or not published, for the public)."""

    code = "catalog.item_not_found"
    default_detail = "事项不存在"


class VersionNotFound(NotFound):
    """No such version of the entry."""

    code = "catalog.version_not_found"
    default_detail = "事项版本不存在"


class ItemExists(Conflict):
    """The entry (same 基本编码, or same body + level + 基本编码) already exists."""

    code = "catalog.item_exists"
    default_detail = "事项已存在"


class InvalidItem(ValidationFailed):
    """Field-level problems; ``errors`` lists field, code and Chinese reason for each."""

    code = "catalog.invalid_item"
    default_detail = "事项要素校验未通过"

    @classmethod
    def of(cls, problems: Iterable[FieldProblem], detail: str | None = None) -> InvalidItem:
        """Build from rule problems."""
        listed = list(problems)
        summary = detail or "；".join(p.reason_zh for p in listed[:3]) + ("等" if len(listed) > 3 else "")
        return cls(
            summary, detail_en="field validation failed", extra={"errors": [p.as_dict() for p in listed]}
        )


class InvalidTransition(Conflict):
    """The lifecycle does not allow this action in the current state."""

    code = "catalog.invalid_transition"
    default_detail = "当前状态不允许此操作"


class NotYourDepartment(Forbidden):
    """A department administrator acting on another department's item."""

    code = "catalog.not_your_department"
    default_detail = "只能管理本部门的事项"


class ImportRefused(ValidationFailed):
    """A whole file was refused before reading rows (size, format)."""

    code = "catalog.import_refused"
    default_detail = "导入文件无法读取"
