"""Pydantic v2 ``Annotated`` types for request models and parameters: normalise, or refuse with the reason.

They are strict (citizen input): retired division codes, pilot-era credit codes with a wrong check
character and e-license identifiers with a wrong check character are rejected. Warnings are dropped.
A refusal is a pydantic error whose ``type`` is the verdict's stable code (``uscc.check``, ...) and whose
message is the Chinese reason, without the ``Value error,`` prefix; no reason quotes the value, so the
422 envelope never echoes what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from zhengwu.kernel.codes.citizen_id import validate_citizen_id
from zhengwu.kernel.codes.divisions import validate_division
from zhengwu.kernel.codes.license_id import validate_license_id
from zhengwu.kernel.codes.task_code import (
    HANDLE_ITEM_LENGTH,
    TASK_LENGTH,
    validate_catalog_code,
    validate_task_code,
)
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.codes.verdict import Verdict


def _refuse(code: str, reason_zh: str) -> PydanticCustomError:
    return PydanticCustomError(code, reason_zh)


def _checked(validator: Callable[..., Verdict]) -> Callable[[str], str]:
    def check(value: str) -> str:
        verdict = validator(value)
        if not verdict.ok:
            raise _refuse(verdict.code, verdict.reason_zh)
        return verdict.value

    check.__name__ = f"check_{validator.__name__.removeprefix('validate_')}"
    return check


def _task_code(value: str) -> str:
    verdict = validate_task_code(value)
    if not verdict.ok:
        raise _refuse(verdict.code, verdict.reason_zh)
    if len(verdict.value) != TASK_LENGTH:
        raise _refuse("task_code.length", f"实施编码应为{TASK_LENGTH}位，实为{len(verdict.value)}位")
    return verdict.value


def _handle_item_code(value: str) -> str:
    verdict = validate_task_code(value)
    if not verdict.ok:
        raise _refuse(verdict.code, verdict.reason_zh)
    if len(verdict.value) == TASK_LENGTH:
        raise _refuse(
            "task_code.length", f"业务办理项编码应为{HANDLE_ITEM_LENGTH}位（实施编码+序号），这是31位实施编码"
        )
    return verdict.value


USCC = Annotated[
    str,
    AfterValidator(_checked(validate_uscc)),
    Field(description="统一社会信用代码 (GB 32100, 18 chars)", examples=["91350100M000100Y43"]),
]
CitizenId = Annotated[
    str,
    AfterValidator(_checked(validate_citizen_id)),
    Field(
        description="公民身份号码 (GB 11643, 18 chars; 15-digit numbers are upgraded)",
        examples=["11010519491231002X"],
    ),
]
DivisionCode = Annotated[
    str,
    AfterValidator(_checked(validate_division)),
    Field(description="行政区划代码 (GB/T 2260, current, 6 digits)", examples=["130100"]),
]
NATIONAL_DIVISION = "000000"


def _node_division(value: str) -> str:
    if value.strip() == NATIONAL_DIVISION:
        return NATIONAL_DIVISION
    return _checked(validate_division)(value)


NodeDivisionCode = Annotated[
    str,
    AfterValidator(_node_division),
    Field(
        description="行政区划代码 (GB/T 2260, current), or 000000 for the national level",
        examples=["130100", "000000"],
    ),
]
CatalogCode = Annotated[
    str,
    AfterValidator(_checked(validate_catalog_code)),
    Field(description="事项基本编码 (12 digits)", examples=["000131001000"]),
]
TaskCode = Annotated[
    str,
    AfterValidator(_task_code),
    Field(
        description="实施编码 (31 chars: body USCC + level + 基本编码)",
        examples=["11450721MB155808114000104002000"],
    ),
]
HandleItemCode = Annotated[
    str,
    AfterValidator(_handle_item_code),
    Field(
        description="业务办理项编码 (实施编码 + 2-digit sequence)",
        examples=["11310000MB2F30661Y231200356400001"],
    ),
]
LicenseId = Annotated[
    str,
    AfterValidator(_checked(validate_license_id)),
    Field(
        description="电子证照标识 (GB/T 36904)",
        examples=["1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"],
    ),
]

__all__ = [
    "USCC",
    "CatalogCode",
    "CitizenId",
    "DivisionCode",
    "HandleItemCode",
    "LicenseId",
    "NodeDivisionCode",
    "TaskCode",
]
