"""SM3 and HMAC-SM3 against the published vectors (conformance/VECTORS.md §1)."""

from __future__ import annotations

import pytest

from zhengwu.kernel.crypto import _reference as ref
from zhengwu.kernel.crypto import hashes, hmac_sm3, hmac_sm3_verify, new_sm3, sm3

SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
    ("你好".encode(), "78e5c78c5322ca174089e58dc7790acf8ce9d542bee6ae4a5a0797d5e356be61"),
    (b"abcdefghABCDEFGH12345678", "d670c7f027fd5f9f0c163f4bfe98f9003fe597d3f52dbab0885ec2ca8dd23e9b"),
]

_KEY8 = bytes(range(1, 9))
HMAC_VECTORS = [
    (
        bytes.fromhex(
            "daac25c1512fe50f79b0e4526b93f5c0e1460cef40b6dd44af13caec62e8c60e"
            "0d885f3c6d6fb51e530889e6fd4ac743a6d332e68a0f2a3923f42585dceb93e9"
        ),
        b"abc",
        "5c690e2b822a514017f1ccb9a61b6738714dbd17dbd6fdbc2fa662d122b6885d",
    ),
    (b"1234567890", b"123456", "bc1f71eef901223ae7a9718e3ae1dbf97353c81acb429b491bbdbefd2195b95e"),
    (_KEY8 * 4, _KEY8 * 4, "41e6589cde89b4f8c810a820c2fb6f0ad86bf2c136a19cfb3a5c0835f598e07b"),
    (_KEY8 * 8, _KEY8 * 8, "d6fb17c240930a21996373aa9fc0b1092931b016640809297911cd3f8cc9dcdd"),
    (_KEY8 * 16, _KEY8 * 16, "d374f8adb0e9d1f12de94c1406fe8b2d53f84129e033f0d269400de8e8e7ca1a"),
]


@pytest.fixture(params=[True, False], ids=["hashlib", "cryptography"])
def sm3_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a test with hashlib's SM3 and again with the cryptography fallback."""
    if request.param and not hashes.HASHLIB_SM3:
        pytest.skip("this Python's hashlib has no SM3")
    monkeypatch.setattr(hashes, "HASHLIB_SM3", request.param)


@pytest.mark.parametrize(("data", "digest"), SM3_VECTORS)
def test_sm3_vectors(sm3_impl: None, data: bytes, digest: str) -> None:
    assert sm3(data).hex() == digest


@pytest.mark.parametrize(("data", "digest"), SM3_VECTORS)
def test_incremental_sm3_matches_one_shot(sm3_impl: None, data: bytes, digest: str) -> None:
    h = new_sm3()
    for i in range(0, len(data), 7):
        h.update(data[i : i + 7])
    snapshot = h.copy()
    assert h.hexdigest() == digest
    assert h.digest() == bytes.fromhex(digest)  # digest() does not finalise the state
    snapshot.update(b"x")
    assert snapshot.digest() == sm3(data + b"x")
    assert new_sm3(data).hexdigest() == digest


def test_sm3_of_the_test_curve_za_input() -> None:
    # VECTORS.md §1 last row / §4.2: ZA of ALICE's key on the Fp-256 test curve
    c = ref.TEST_FP256
    d = 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263
    assert ref.za(c, b"ALICE123@YAHOO.COM", ref.public_point(c, d)).hex().upper() == (
        "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    )


@pytest.mark.parametrize(("key", "data", "mac"), HMAC_VECTORS)
def test_hmac_sm3_vectors(sm3_impl: None, key: bytes, data: bytes, mac: str) -> None:
    assert hmac_sm3(key, data).hex() == mac
    assert hmac_sm3_verify(key, data, bytes.fromhex(mac))
    assert not hmac_sm3_verify(key, data + b"!", bytes.fromhex(mac))
    assert not hmac_sm3_verify(key, data, bytes.fromhex(mac)[:-1])
