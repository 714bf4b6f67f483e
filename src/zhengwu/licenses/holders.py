"""Holder code types (持证主体代码类型, standards §5.2 / §7.4) and checks of a holder's code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from zhengwu.kernel.codes import validate_citizen_id, validate_uscc
from zhengwu.licenses.errors import HolderInvalid

CITIZEN_ID: Final = "111"
CREDIT_CODE: Final = "001"
#: GB/T 36903 share-service codes 111 / 001 and GA/T 2000.156 document codes for other persons.
CODE_TYPES: Final = {
    CITIZEN_ID: "公民身份号码",
    CREDIT_CODE: "统一社会信用代码",
    "414": "普通护照",
    "511": "台湾居民来往大陆通行证",
    "516": "港澳居民来往内地通行证",
    "553": "外国人永久居留身份证",
}
PERSON_TYPES: Final = (CITIZEN_ID, "414", "511", "516", "553")
ENTERPRISE_TYPES: Final = (CREDIT_CODE,)
HOLDER_KINDS: Final = {
    "person": PERSON_TYPES,
    "enterprise": ENTERPRISE_TYPES,
    "both": (*PERSON_TYPES, *ENTERPRISE_TYPES),
}
_DOCUMENT_RE: Final = re.compile(r"^[0-9A-Z]{5,20}$")


def label(code_type: str) -> str:
    """The Chinese name of a holder code type."""
    return CODE_TYPES.get(code_type, code_type)


def check_holder(code: str, allowed: Sequence[str], code_type: str | None = None) -> tuple[str, str]:
    """(code type, normalised code) of a holder, checked by its national rule; HolderInvalid otherwise.

    Without ``code_type`` the code is tried as an ID number, then as a credit code, among the allowed types.
    """
    text = code.strip().upper()
    candidates = (
        [code_type] if code_type is not None else [t for t in (CITIZEN_ID, CREDIT_CODE) if t in allowed]
    )
    if code_type is not None and code_type not in allowed:
        raise HolderInvalid(
            f"该证照类型的持证主体不能使用{label(code_type)}",
            detail_en=f"holder code type {code_type} not accepted by the license type",
        )
    if not candidates:
        raise HolderInvalid(
            "请指明持证主体代码类型", detail_en="holder code type required for this license type"
        )
    reason = "持证主体代码无效"
    for candidate in candidates:
        if candidate == CITIZEN_ID:
            verdict = validate_citizen_id(text)
        elif candidate == CREDIT_CODE:
            verdict = validate_uscc(text)
        else:
            if _DOCUMENT_RE.fullmatch(text):
                return candidate, text
            reason = f"{label(candidate)}号码应为5至20位数字或大写字母"
            continue
        if verdict.ok:
            return candidate, verdict.value
        reason = f"持证主体代码（{label(candidate)}）无效：{verdict.reason_zh}"
    raise HolderInvalid(reason, detail_en="holder code refused by its check rule")
