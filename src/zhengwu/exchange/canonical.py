"""Canonical JSON for signed exchange documents: sorted keys, compact separators, UTF-8, no NaN.

The canonical form is defined by the standard library's ``json.dumps(sort_keys=True, separators=(",",
":"), ensure_ascii=False)``. Exchange documents carry strings, integers, booleans, null, arrays and
objects only — never floats, whose text differs between encoders. For those values orjson produces the
same bytes about six times faster, so it is used when installed (tests check it against the definition);
anything orjson refuses (e.g. integers beyond 64 bits) falls back to the definition.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from zhengwu.kernel.crypto import sm3

try:  # optional accelerator
    import orjson
except ImportError:  # pragma: no cover - exercised when orjson is absent
    orjson = None  # type: ignore[assignment]


def reference_canonical(document: Any) -> bytes:
    """The definition of the canonical form (standard library)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_bytes(document: Any) -> bytes:
    """The one byte representation that is digested and signed (sorted-key compact JSON, UTF-8)."""
    if orjson is not None:
        try:
            data: bytes = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
            return data
        except (TypeError, orjson.JSONEncodeError):
            pass
    return reference_canonical(document)


def loads(data: bytes | str) -> Any:
    """Parse JSON (orjson when installed); ValueError on malformed input."""
    if orjson is not None:
        return orjson.loads(data)
    return json.loads(data)


def dumps_text(value: Any) -> str:
    """Compact JSON text (UTF-8 characters kept), for storing rows."""
    if orjson is not None:
        try:
            return orjson.dumps(value).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sm3_hex(data: bytes) -> str:
    """SM3 digest of ``data`` as lowercase hex."""
    return sm3(data).hex()


def b64encode(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64 (ValueError on bad input)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("invalid base64") from exc
