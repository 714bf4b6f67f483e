"""Signatures of the Standard Webhooks convention, with HMAC-SM3 beside HMAC-SHA256.

The signed content is ``<webhook-id>.<webhook-timestamp>.<body>`` (the raw body bytes). The
``webhook-signature`` header lists space-separated ``<scheme>,<base64 MAC>`` pairs: ``v1`` is HMAC-SHA256
(the convention's own), ``v1sm3`` is HMAC-SM3 (GB/T 32905) for receivers that must use national
algorithms. A receiver accepts the message when any pair of a scheme it supports matches.

Secrets look like ``whsec_<base64>``; the key is the base64-decoded part (as the convention says), so
the libraries of the convention verify the ``v1`` pair unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Final

from zhengwu.kernel.crypto.hashes import hmac_sm3

PREFIX: Final = "whsec_"
SCHEMES: Final = ("v1", "v1sm3")
#: A message whose timestamp is further than this from the receiver's clock is refused (replay window).
TOLERANCE_SECONDS: Final = 300


class SignatureInvalid(ValueError):
    """The message's signature, timestamp or headers do not verify."""


def new_secret() -> str:
    """A fresh secret: 24 random bytes (192 bits), base64 with the ``whsec_`` prefix."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def key_of(secret: str) -> bytes:
    """The MAC key of a ``whsec_`` secret."""
    if not secret.startswith(PREFIX):
        raise SignatureInvalid("secret must start with whsec_")
    try:
        return base64.b64decode(secret[len(PREFIX) :], validate=True)
    except ValueError as exc:
        raise SignatureInvalid("secret is not base64") from exc


def _mac(scheme: str, key: bytes, content: bytes) -> bytes:
    if scheme == "v1":
        return hmac.new(key, content, hashlib.sha256).digest()
    if scheme == "v1sm3":
        return hmac_sm3(key, content)
    raise SignatureInvalid(f"unknown scheme {scheme}")


def content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    """What is signed."""
    return f"{msg_id}.{timestamp}.".encode() + body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes, schemes: Iterable[str] = SCHEMES) -> str:
    """The ``webhook-signature`` header value."""
    key = key_of(secret)
    signed = content(msg_id, timestamp, body)
    return " ".join(f"{s},{base64.b64encode(_mac(s, key, signed)).decode('ascii')}" for s in schemes)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    schemes: Iterable[str] = SCHEMES,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received message; returns the scheme that matched (``SignatureInvalid`` otherwise)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    header = lowered.get("webhook-signature")
    if not msg_id or not stamp or not header:
        raise SignatureInvalid("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise SignatureInvalid("webhook-timestamp is not an integer") from exc
    if abs(now - timestamp) > tolerance:
        raise SignatureInvalid("webhook-timestamp is outside the tolerance")
    key = key_of(secret)
    signed = content(msg_id, timestamp, body)
    accepted = set(schemes)
    for pair in header.split():
        scheme, _, value = pair.partition(",")
        if scheme not in accepted:
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        if hmac.compare_digest(_mac(scheme, key, signed), given):
            return scheme
    raise SignatureInvalid("no signature matches")
