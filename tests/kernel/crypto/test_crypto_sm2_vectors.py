"""SM2 against GB/T 32918 / GM/T 0003 worked examples (conformance/VECTORS.md §4.1–4.3)."""

from __future__ import annotations

import pytest

from zhengwu.kernel.crypto import (
    DEFAULT_SM2_UID,
    SM2PrivateKey,
    SM2PublicKey,
    sm2_ciphertext_from_raw,
    sm2_ciphertext_to_raw,
    sm2_sig_raw_to_der,
)
from zhengwu.kernel.crypto import _reference as ref
from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext

# §4.1 — recommended curve, default ID (GB/T 32918.5 Annex A, via OpenSSL sm2_internal_test.c)
D_A = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
X_A = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
Y_A = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
Z_A = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
E_41 = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
R_41 = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
S_41 = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
MSG = b"message digest"
RAW_41 = R_41.to_bytes(32, "big") + S_41.to_bytes(32, "big")

# §4.3 — encryption (GB/T 32918.5 Annex C)
C1X = 0x04EBFC718E8D179862043226 << 160 | 0x8E77FEB6415E2EDE0E073C0F4F640ECD2E149A73
C1Y = 0xE858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0
C3 = bytes.fromhex("59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766")
C2 = bytes.fromhex("21886CA989CA9C7D58087307CA93092D651EFA")
PLAIN_43 = b"encryption standard"
ASN1_43 = bytes.fromhex(
    "307C022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    "041321886CA989CA9C7D58087307CA93092D651EFA"
)


def _enc(v: int) -> bytes:
    return v.to_bytes(32, "big")


def test_41_public_key_z_and_e(backend: str) -> None:
    key = SM2PrivateKey.from_int(D_A, backend=backend)
    assert key.public_key.point == b"\x04" + _enc(X_A) + _enc(Y_A)
    assert key.public_key.z().hex().upper() == Z_A
    assert key.public_key.z(DEFAULT_SM2_UID) == key.public_key.z(b"1234567812345678")
    assert key.public_key.digest(MSG).hex().upper() == E_41


def test_41_signature_with_fixed_k_via_reference() -> None:
    c = ref.SM2P256V1
    assert ref.public_point(c, D_A) == (X_A, Y_A)
    assert ref.za(c, DEFAULT_SM2_UID, (X_A, Y_A)).hex().upper() == Z_A
    assert ref.sign(c, D_A, MSG, DEFAULT_SM2_UID, k=K) == (R_41, S_41)
    assert ref.sign_digest(c, D_A, bytes.fromhex(E_41), k=K) == (R_41, S_41)


def test_41_signature_with_fixed_k_via_gmalglib() -> None:
    # gmalglib takes k from its rnd_fn, read little-endian (found by experiment; test-only hook).
    SM2 = pytest.importorskip("gmalglib.sm2").SM2
    sm2 = SM2(sk=_enc(D_A), rnd_fn=lambda n: _enc(K)[::-1])
    assert sm2.sign(MSG) == RAW_41


def test_41_published_signature_verifies(backend: str) -> None:
    pub = SM2PublicKey.from_point(_enc(X_A) + _enc(Y_A), backend=backend)
    assert pub.verify(RAW_41, MSG)
    assert pub.verify(sm2_sig_raw_to_der(RAW_41), MSG)
    assert pub.verify_digest(RAW_41, bytes.fromhex(E_41))
    assert not pub.verify(RAW_41, MSG, uid=b"")
    assert not pub.verify(RAW_41, MSG, uid=None)
    assert not pub.verify(RAW_41, MSG + b"!")
    bad = bytearray(RAW_41)
    bad[40] ^= 1
    assert not pub.verify(bytes(bad), MSG)


def test_42_test_curve_via_reference() -> None:
    c = ref.TEST_FP256
    d = 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263
    k = 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
    uid = b"ALICE123@YAHOO.COM"
    pub = ref.public_point(c, d)
    assert pub == (
        0x0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A,
        0x7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857,
    )
    z = ref.za(c, uid, pub)
    assert z.hex().upper() == "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    r, s = ref.sign(c, d, MSG, uid, k=k)
    assert r == 0x40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1
    assert s == 0x6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7
    from zhengwu.kernel.crypto import sm3

    e = sm3(z + MSG)
    assert e.hex().upper() == "B524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76"
    assert ref.verify_digest(c, pub, e, r, s)
    assert not ref.verify_digest(c, pub, e, r, s + 1)


def test_43_decrypts_published_ciphertext(backend: str) -> None:
    key = SM2PrivateKey.from_int(D_A, backend=backend)
    assert key.decrypt(ASN1_43) == PLAIN_43


def test_43_reproduce_with_fixed_k_via_reference() -> None:
    (x, y), c3, c2 = ref.encrypt(ref.SM2P256V1, (X_A, Y_A), PLAIN_43, k=K)
    assert (x, y, c3, c2) == (C1X, C1Y, C3, C2)
    assert SM2Ciphertext(x, y, c3, c2).to_der() == ASN1_43  # OpenSSL's expected DER, byte for byte
    assert ref.decrypt(ref.SM2P256V1, D_A, (x, y), c3, c2) == PLAIN_43


def test_43_reproduce_with_fixed_k_via_gmalglib() -> None:
    SM2 = pytest.importorskip("gmalglib.sm2").SM2
    raw = SM2(pk=b"\x04" + _enc(X_A) + _enc(Y_A), rnd_fn=lambda n: _enc(K)[::-1]).encrypt(PLAIN_43)
    assert sm2_ciphertext_from_raw(raw) == ASN1_43


def test_43_raw_byte_orders() -> None:
    c1 = b"\x04" + _enc(C1X) + _enc(C1Y)
    assert sm2_ciphertext_to_raw(ASN1_43) == c1 + C3 + C2
    assert sm2_ciphertext_to_raw(ASN1_43, "C1C2C3") == c1 + C2 + C3
    assert sm2_ciphertext_to_raw(ASN1_43, prefix=False) == c1[1:] + C3 + C2
    assert sm2_ciphertext_from_raw(c1 + C2 + C3, "C1C2C3") == ASN1_43
    assert sm2_ciphertext_from_raw(c1[1:] + C3 + C2, prefix=False) == ASN1_43
