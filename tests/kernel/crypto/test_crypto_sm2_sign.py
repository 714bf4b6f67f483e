"""SM2 signatures: ID conventions, encodings, garbage handling, and the cross-backend check."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhengwu.kernel.crypto import (
    DEFAULT_SM2_UID,
    CryptoError,
    DigestSigner,
    Signer,
    SM2PrivateKey,
    SM2PublicKey,
    SoftwareSigner,
    sm2_sig_der_to_raw,
    sm2_sig_raw_to_der,
    sm3,
)
from zhengwu.kernel.crypto.curve import N
from zhengwu.kernel.crypto.signature import decode_der, encode_der

_PUB = SM2PrivateKey.from_int(0x1234567).public_key
UIDS = [DEFAULT_SM2_UID, b"", None, b"ALICE123@YAHOO.COM", "政务".encode()]


@pytest.mark.parametrize("uid", UIDS, ids=["default", "empty", "noZ", "alice", "utf8"])
def test_sign_verify_each_id_convention(backend: str, uid: bytes | None) -> None:
    key = SM2PrivateKey.generate(backend=backend)
    sig = key.sign(b"data", uid=uid)
    assert key.public_key.verify(sig, b"data", uid=uid)
    for other in UIDS:
        if other != uid:
            assert not key.public_key.verify(sig, b"data", uid=other)


def test_no_z_and_empty_id_digests_differ() -> None:
    pub = SM2PrivateKey.generate().public_key
    assert pub.digest(b"m", uid=None) == sm3(b"m")
    assert pub.digest(b"m", uid=b"") == sm3(pub.z(b"") + b"m")
    assert pub.z(b"") != pub.z(DEFAULT_SM2_UID)
    assert pub.digest(b"m") == sm3(pub.z() + b"m")


def test_der_and_raw_forms() -> None:
    key = SM2PrivateKey.generate()
    der = key.sign(b"x")
    raw = key.sign(b"x", raw=True)
    assert der[0] == 0x30 and 8 <= len(der) <= 72
    assert len(raw) == 64
    for sig in (der, raw, sm2_sig_der_to_raw(der), sm2_sig_raw_to_der(raw)):
        assert key.public_key.verify(sig, b"x")
    assert sm2_sig_raw_to_der(sm2_sig_der_to_raw(der)) == der
    assert sm2_sig_der_to_raw(sm2_sig_raw_to_der(raw)) == raw


def test_sign_digest_and_verify_digest() -> None:
    key = SM2PrivateKey.generate()
    e = key.public_key.digest(b"payload")
    assert key.public_key.verify(key.sign_digest(e), b"payload")
    assert key.public_key.verify_digest(key.sign(b"payload", raw=True), e)
    assert not key.public_key.verify_digest(key.sign(b"payload"), sm3(b"payload"))
    with pytest.raises(CryptoError, match="32 bytes"):
        key.sign_digest(b"short")
    with pytest.raises(CryptoError, match="32 bytes"):
        key.public_key.verify_digest(key.sign(b"x"), b"short")


def test_too_long_uid_is_a_caller_error() -> None:
    key = SM2PrivateKey.generate()
    assert key.public_key.verify(key.sign(b"x", uid=b"u" * 8191), b"x", uid=b"u" * 8191)
    with pytest.raises(CryptoError, match="too long"):
        key.sign(b"x", uid=b"u" * 8192)


def _garbage(valid_der: bytes, rng: random.Random) -> list[object]:
    r, s = decode_der(valid_der)
    out: list[object] = [
        b"",
        b"\x30",
        b"\x30\x00",
        valid_der[:-1],
        valid_der + b"\x00",
        b"\x00" * 64,
        b"\xff" * 64,
        encode_der(0, s),
        encode_der(r, 0),
        encode_der(r, N),
        encode_der(N + 1, s),
        encode_der((1 << 256) - 1, s),
        # non-minimal INTEGER (a leading 00 before a byte < 0x80)
        b"\x30" + bytes([len(valid_der) - 1]) + b"\x02\x21\x00" + r.to_bytes(32, "big")[:1] + valid_der[5:],
        # negative INTEGER: 32 bytes with the top bit set and no 00 pad
        b"\x30\x44\x02\x20" + b"\x80" + bytes(31) + b"\x02\x20" + b"\x01" * 32,
        # long-form length where the short form applies
        b"\x30\x81" + bytes([len(valid_der) - 2]) + valid_der[2:],
        "a string",
        None,
        12345,
        bytearray(valid_der[:-2]),
    ]
    out += [rng.randbytes(rng.randrange(0, 100)) for _ in range(200)]
    out += [b"\x30" + bytes([n]) + rng.randbytes(n) for n in range(0, 72, 3)]
    return out


def test_garbage_signatures_return_false_never_raise(backend: str) -> None:
    key = SM2PrivateKey.generate(backend=backend)
    valid = key.sign(b"m")
    rng = random.Random(1)
    for sig in _garbage(valid, rng):
        assert key.public_key.verify(sig, b"m") is False  # type: ignore[arg-type]
        assert key.public_key.verify_digest(sig, key.public_key.digest(b"m")) is False  # type: ignore[arg-type]
    assert key.public_key.verify(valid, b"m") is True


def test_conversion_helpers_reject_malformed() -> None:
    with pytest.raises(CryptoError):
        sm2_sig_der_to_raw(b"\x30\x02\x02\x00")
    with pytest.raises(CryptoError):
        sm2_sig_raw_to_der(b"\x01" * 63)
    with pytest.raises(CryptoError):
        sm2_sig_der_to_raw(encode_der(1, 1) + b"\x00")


def _keys_with_awkward_x(backend: str, rng: random.Random) -> list[SM2PrivateKey]:
    """Random keys plus keys whose x starts with hex 0 or 4 (the py-gmssl lstrip("04") bug) or a 00 byte."""
    keys: list[SM2PrivateKey] = []
    want = {"0": 3, "4": 3, "00": 1}
    while any(want.values()):
        key = SM2PrivateKey.from_int(rng.randrange(1, N - 1), backend=backend)
        x_hex = key.public_key.point[1:33].hex()
        for prefix in ("00", "0", "4"):
            if want[prefix] and x_hex.startswith(prefix):
                want[prefix] -= 1
                keys.append(key)
                break
    keys += [SM2PrivateKey.from_int(rng.randrange(1, N - 1), backend=backend) for _ in range(25)]
    return keys


def test_cross_backend_sign_and_verify_both_directions() -> None:
    from zhengwu.kernel.crypto import available_backends

    natives = [b for b in ("tongsuopy", "gmalglib") if b in available_backends()]
    if len(natives) < 2:
        pytest.skip("needs two native SM2 backends")
    primary, second = natives
    rng = random.Random(20260101)
    der_lengths = set()
    for key in _keys_with_awkward_x("gmalglib", rng):  # gmalglib derives public keys fastest
        pem = key.to_pem()
        by = {b: SM2PrivateKey.from_pem(pem, backend=b) for b in (primary, second)}
        assert by[primary].public_key == by[second].public_key == key.public_key
        for _ in range(8):
            msg = rng.randbytes(rng.randrange(0, 300))
            uid = rng.choice(UIDS)
            for signer, verifier in ((primary, second), (second, primary)):
                sig = by[signer].sign(msg, uid=uid)
                der_lengths.add(len(sig))
                assert by[verifier].public_key.verify(sig, msg, uid=uid), (signer, verifier)
                assert not by[verifier].public_key.verify(sig, msg + b"\x00", uid=uid)
                raw = by[signer].sign(msg, uid=uid, raw=True)
                assert by[verifier].public_key.verify(raw, msg, uid=uid)
    assert {70, 71, 72} <= der_lengths  # r or s with a short top byte showed up and round-tripped


def test_reference_agrees_with_primary() -> None:
    rng = random.Random(7)
    for _ in range(5):
        d = rng.randrange(1, N - 1)
        native, reference = SM2PrivateKey.from_int(d), SM2PrivateKey.from_int(d, backend="reference")
        assert native.public_key == reference.public_key
        msg = rng.randbytes(50)
        assert reference.public_key.verify(native.sign(msg), msg)
        assert native.public_key.verify(reference.sign(msg), msg)


def test_signer_protocol_and_software_signer() -> None:
    key = SM2PrivateKey.generate()
    signer = SoftwareSigner(key, key_id="seal-1")
    assert isinstance(signer, Signer)
    assert isinstance(signer, DigestSigner)
    assert isinstance(key, Signer)  # a bare key is a signer too
    assert not isinstance(key.public_key, Signer)
    assert signer.public_key == key.public_key
    assert signer.public_key.verify(signer.sign(b"doc", uid=None, raw=True), b"doc", uid=None)
    assert signer.public_key.verify(signer.sign_digest(key.public_key.digest(b"doc")), b"doc")
    assert "seal-1" in repr(signer)


def test_software_signer_from_encrypted_pem_file(tmp_path: pytest.TempPathFactory) -> None:
    key = SM2PrivateKey.generate()
    path = tmp_path / "k.pem"  # type: ignore[operator]
    path.write_bytes(key.to_pem(b"pw", iterations=1000))
    signer = SoftwareSigner.from_pem_file(path, b"pw")
    assert signer.public_key == key.public_key
    assert signer.key_id == key.fingerprint[:16]


def test_public_key_from_point_forms() -> None:
    pub = SM2PrivateKey.generate().public_key
    x, y = pub.point[1:33], pub.point[33:]
    compressed = bytes([2 + (y[-1] & 1)]) + x
    for form in (pub.point, x + y, compressed):
        assert SM2PublicKey.from_point(form) == pub
    assert hash(SM2PublicKey.from_point(x + y)) == hash(pub)


@settings(database=None)
@given(st.integers(0, (1 << 256) - 1), st.integers(0, (1 << 256) - 1))
def test_der_codec_round_trip(r: int, s: int) -> None:
    der = encode_der(r, s)
    assert decode_der(der) == (r, s)
    assert sm2_sig_raw_to_der(sm2_sig_der_to_raw(der)) == der


@settings(max_examples=300, database=None)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_never_raise_in_verify(blob: bytes) -> None:
    assert _PUB.verify(blob, b"m") is False
