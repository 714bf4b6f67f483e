"""National code validators: credit codes, ID numbers, divisions, item codes and e-license identifiers.

Public surface: ``validate(kind, value, tolerant=...)`` returning a ``Verdict`` (never raising on bad
input), the per-kind ``validate_*`` functions, ``make_*``/``parse_*`` helpers raising ``CodeError``
(a ``ValueError``), the ``divisions`` module, and pydantic ``Annotated`` types in ``codes.types``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.citizen_id import CitizenIdInfo, parse_citizen_id, upgrade_15, validate_citizen_id
from zhengwu.kernel.codes.divisions import validate_division
from zhengwu.kernel.codes.license_id import (
    LicenseId,
    make_license_id,
    mod37_36,
    parse_license_id,
    validate_license_id,
)
from zhengwu.kernel.codes.task_code import (
    CatalogCode,
    TaskCode,
    make_handle_item_code,
    make_task_code,
    parse_catalog_code,
    parse_task_code,
    validate_catalog_code,
    validate_task_code,
)
from zhengwu.kernel.codes.uscc import complete_uscc, validate_uscc
from zhengwu.kernel.codes.verdict import CodeError, Notice, Status, Verdict, invalid

Kind = Literal["uscc", "citizen-id", "division", "task-code", "catalog-code", "license-id"]
KINDS: tuple[Kind, ...] = get_args(Kind)

Validator = Callable[..., Verdict]

VALIDATORS: dict[str, Validator] = {
    "uscc": validate_uscc,
    "citizen-id": validate_citizen_id,
    "division": validate_division,
    "task-code": validate_task_code,
    "catalog-code": validate_catalog_code,
    "license-id": validate_license_id,
}


def validate(kind: str, value: object, *, tolerant: bool = False) -> Verdict:
    """Validate ``value`` as a code of ``kind``; an unknown kind is reported as an invalid verdict."""
    validator = VALIDATORS.get(kind)
    if validator is None:
        return invalid(
            str(value)[:64],
            "kind.unknown",
            f"未知的代码类型：{kind}",
            f"unknown code kind {kind!r} (one of {', '.join(KINDS)})",
        )
    return validator(value, tolerant=tolerant)


__all__ = [
    "KINDS",
    "VALIDATORS",
    "CatalogCode",
    "CitizenIdInfo",
    "CodeError",
    "Kind",
    "LicenseId",
    "Notice",
    "Status",
    "TaskCode",
    "Verdict",
    "complete_uscc",
    "divisions",
    "make_handle_item_code",
    "make_license_id",
    "make_task_code",
    "mod37_36",
    "parse_catalog_code",
    "parse_citizen_id",
    "parse_license_id",
    "parse_task_code",
    "upgrade_15",
    "validate",
    "validate_catalog_code",
    "validate_citizen_id",
    "validate_division",
    "validate_license_id",
    "validate_task_code",
    "validate_uscc",
]
