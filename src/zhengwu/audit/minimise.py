"""What of a record may enter an audit log (PIPL minimisation; conventions §Personal data 2).

Fields that hold personal data or secrets keep only the fact that they are present; any other text is
passed through the log scrubber, which masks ID numbers, credit codes, phones, JWTs and PEM blocks that
slipped into free text. A plain hash is no protection for an ID number (the number space is small), so
none is stored; a change of a personal field shows as ``[personal]`` before and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final

from zhengwu.kernel.logging import scrub

PERSONAL: Final = "[personal]"
SECRET: Final = "[secret]"  # noqa: S105 - the marker that replaces a secret, not one

_PERSONAL_KEYS: Final = frozenset(
    {
        "id_number",
        "id_no",
        "cert_no",
        "cert_num",
        "citizen_id",
        "phone",
        "mobile",
        "email",
        "address",
        "real_name",
        "person_name",
        "birth_date",
        "holder_id",
        "legal_person_id",
    }
)
_SECRET_MARKS: Final = ("password", "secret", "private", "token", "otp", "totp", "recovery", "_enc", "pin")
_MAX_TEXT: Final = 500
_MAX_ITEMS: Final = 100


def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(mark in lowered for mark in _SECRET_MARKS)


def _value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return scrub(value[:_MAX_TEXT])
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, float)):
        return str(value)
    if isinstance(value, Enum):
        return _value(value.value, depth)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"[{len(value)} bytes]"
    if depth >= 4:
        return "[nested]"
    if isinstance(value, Mapping):
        return minimise(value, depth + 1)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_value(item, depth + 1) for item in list(value)[:_MAX_ITEMS]]
    return scrub(str(value)[:_MAX_TEXT])


def minimise(record: Mapping[str, Any] | None, depth: int = 0) -> dict[str, Any] | None:
    """The record as it may be logged: personal fields and secrets reduced to markers, text scrubbed."""
    if record is None:
        return None
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = str(key)[:64]
        if value is not None and _is_secret(name):
            out[name] = SECRET
        elif value is not None and name.lower() in _PERSONAL_KEYS:
            out[name] = PERSONAL
        else:
            out[name] = _value(value, depth)
    return out
