"""Webhook signatures: known answers computed here independently (hmac + hashlib for ``v1``, the kernel's
HMAC-SM3 for ``v1sm3``), tampering, the timestamp window and unknown schemes."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from zhengwu.cases.webhooks import signing
from zhengwu.kernel.crypto.hashes import hmac_sm3

KEY = bytes(range(24))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
MSG = "msg_2f8a"
STAMP = 1_765_000_000
BODY = b'{"type":"case.submitted","schema_version":"1","data":{"case_no":"X"}}'


def _expected() -> dict[str, str]:
    signed = f"{MSG}.{STAMP}.".encode() + BODY
    return {
        "v1": base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode(),
        "v1sm3": base64.b64encode(hmac_sm3(KEY, signed)).decode(),
    }


def _headers(signature: str, stamp: int = STAMP) -> dict[str, str]:
    return {"Webhook-Id": MSG, "Webhook-Timestamp": str(stamp), "Webhook-Signature": signature}


def test_signature_header_is_both_schemes_over_id_timestamp_body() -> None:
    want = _expected()
    assert signing.sign(SECRET, MSG, STAMP, BODY) == f"v1,{want['v1']} v1sm3,{want['v1sm3']}"
    assert want["v1"] != want["v1sm3"]


def test_sm3_mac_matches_the_published_hmac_sm3_construction() -> None:
    # RFC 2104 with SM3 (block 64 bytes) written out here, independent of the kernel's implementation.
    from zhengwu.kernel.crypto.hashes import sm3

    signed = f"{MSG}.{STAMP}.".encode() + BODY
    key = KEY.ljust(64, b"\0")
    inner = sm3(bytes(k ^ 0x36 for k in key) + signed)
    outer = sm3(bytes(k ^ 0x5C for k in key) + inner)
    assert base64.b64encode(outer).decode() == _expected()["v1sm3"]


def test_verify_accepts_either_scheme_and_names_it() -> None:
    want = _expected()
    assert signing.verify(SECRET, _headers(f"v1,{want['v1']}"), BODY, now=STAMP) == "v1"
    assert signing.verify(SECRET, _headers(f"v1sm3,{want['v1sm3']}"), BODY, now=STAMP + 10) == "v1sm3"
    # A receiver that takes the national algorithm only ignores the v1 pair.
    header = signing.sign(SECRET, MSG, STAMP, BODY)
    assert signing.verify(SECRET, _headers(header), BODY, now=STAMP, schemes=("v1sm3",)) == "v1sm3"
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(SECRET, _headers(f"v1,{want['v1']}"), BODY, now=STAMP, schemes=("v1sm3",))


@pytest.mark.parametrize(
    ("body", "stamp", "now", "secret"),
    [
        (BODY + b" ", STAMP, STAMP, SECRET),  # body changed
        (BODY, STAMP + 1, STAMP, SECRET),  # timestamp changed after signing
        (BODY, STAMP, STAMP + 301, SECRET),  # too old
        (BODY, STAMP, STAMP - 301, SECRET),  # from the future
        (BODY, STAMP, STAMP, "whsec_" + base64.b64encode(b"x" * 24).decode()),  # another secret
    ],
)
def test_verify_refuses_tampering_and_stale_messages(body: bytes, stamp: int, now: int, secret: str) -> None:
    header = signing.sign(SECRET, MSG, STAMP, BODY)
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(secret, _headers(header, stamp), body, now=now)


def test_missing_headers_and_bad_secrets() -> None:
    with pytest.raises(signing.SignatureInvalid, match="required"):
        signing.verify(SECRET, {"webhook-id": MSG}, BODY, now=STAMP)
    with pytest.raises(signing.SignatureInvalid):
        signing.key_of("not-a-secret")
    with pytest.raises(signing.SignatureInvalid):
        signing.sign(SECRET, MSG, STAMP, BODY, schemes=("v2",))
    fresh = signing.new_secret()
    assert fresh.startswith("whsec_") and len(signing.key_of(fresh)) == 24


def test_the_documented_recipe_verifies_both_schemes() -> None:
    """The snippet in docs/department-systems.md, run as a receiver would."""
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "department-systems.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- webhook-recipe -->\n```python\n(.*?)```", doc, re.S)
    assert code is not None
    scope: dict[str, object] = {}
    exec(compile(code.group(1), "recipe", "exec"), scope)  # our own documentation, run as written
    verify_webhook = scope["verify_webhook"]
    now = int(time.time())
    header = signing.sign(SECRET, MSG, now, BODY)
    headers = {"webhook-id": MSG, "webhook-timestamp": str(now), "webhook-signature": header}
    assert verify_webhook(SECRET, headers, BODY) == "v1"  # type: ignore[operator]
    sm3_only = {**headers, "webhook-signature": header.split()[1]}
    assert verify_webhook(SECRET, sm3_only, BODY) == "v1sm3"  # type: ignore[operator]
    with pytest.raises(ValueError, match="no signature"):
        verify_webhook(SECRET, headers, BODY + b"x")  # type: ignore[operator]
