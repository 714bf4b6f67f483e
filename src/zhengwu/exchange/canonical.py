"""Canonical JSON for signed exchange documents: sorted keys, compact separators, UTF-8, no NaN."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from zhengwu.kernel.crypto import sm3


def canonical_bytes(document: Any) -> bytes:
    """The one byte representation that is digested and signed (sorted-key compact JSON, UTF-8)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


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
