"""Verifying the node's case webhooks, as docs/department-systems.md documents (Standard Webhooks).

The signed content is ``<webhook-id>.<webhook-timestamp>.<raw body>``; the key is the base64 part of the
``whsec_`` secret; ``v1`` is HMAC-SHA256 and ``v1sm3`` HMAC-SM3, each base64. One matching pair of a
scheme we accept is enough. A timestamp too far from our clock is refused, and so (by the caller, which
keeps the ids it has seen) is a ``webhook-id`` already processed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac


class Refused(ValueError):
    """The message does not verify; the reason is for our log, not for the sender."""


def _sm3(key: bytes, content: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(content)
    return mac.finalize()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    schemes: Iterable[str] = ("v1", "v1sm3"),
    tolerance: int = 300,
) -> tuple[str, str]:
    """``(webhook-id, scheme)`` of a message that verifies; ``Refused`` otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    header = lowered.get("webhook-signature", "")
    if not msg_id or not stamp or not header:
        raise Refused("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isdigit():
        raise Refused("webhook-timestamp is not a number")
    if abs(now - int(stamp)) > tolerance:
        raise Refused("webhook-timestamp outside the tolerance")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError as exc:
        raise Refused("the configured secret is not whsec_<base64>") from exc
    signed = f"{msg_id}.{stamp}.".encode() + body
    wanted = set(schemes) & {"v1", "v1sm3"}
    expected: dict[str, bytes] = {}
    for pair in header.split():
        scheme, _, value = pair.partition(",")
        if scheme not in wanted:
            continue
        if scheme not in expected:
            expected[scheme] = (
                hmac.new(key, signed, hashlib.sha256).digest() if scheme == "v1" else _sm3(key, signed)
            )
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(expected[scheme], given):
            return msg_id, scheme
    raise Refused("no signature of an accepted scheme matches")
