"""SM2 key encodings: PKCS#8 (plain and encrypted), SEC1, SubjectPublicKeyInfo, PEM; bad input; secrecy."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
from asn1crypto import pem as asn1_pem
from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from zhengwu.kernel.crypto import CryptoError, SM2PrivateKey, SM2PublicKey
from zhengwu.kernel.crypto import keyformats as kf
from zhengwu.kernel.crypto.curve import GX, GY, N, P, encode_point

D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    """A fixed key (the GB/T 32918.5 example key)."""
    return SM2PrivateKey.from_int(D)


def test_pkcs8_sec1_spki_round_trips(key: SM2PrivateKey) -> None:
    for pem in (key.to_pem(), key.to_pem(kind="sec1")):
        assert SM2PrivateKey.from_pem(pem).public_key == key.public_key
    assert key.to_pem().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert key.to_pem(kind="sec1").startswith(b"-----BEGIN EC PRIVATE KEY-----\n")
    assert SM2PrivateKey.from_der(key.to_der()).to_der() == key.to_der()
    assert SM2PrivateKey.from_der(key.to_der(kind="sec1")).to_der(kind="sec1") == key.to_der(kind="sec1")
    pub = key.public_key
    assert pub.to_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert SM2PublicKey.from_pem(pub.to_pem()) == pub
    assert SM2PublicKey.from_der(pub.to_der()) == pub
    assert SM2PublicKey.from_pem(pub.to_pem().decode()) == pub


def test_spki_has_the_rfc5480_shape(key: SM2PrivateKey) -> None:
    info = x509.PublicKeyInfo.load(key.public_key.to_der())
    assert info["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert info["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"
    assert bytes(info["public_key"]) == key.public_key.point


@pytest.mark.parametrize("cipher", ["aes-256-cbc", "sm4-cbc"])
def test_encrypted_pkcs8_round_trip(key: SM2PrivateKey, cipher: str) -> None:
    pem = key.to_pem(b"s3cret", cipher=cipher, iterations=1000)  # type: ignore[arg-type]
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert SM2PrivateKey.from_pem(pem, b"s3cret").public_key == key.public_key
    assert SM2PrivateKey.from_pem(pem, "s3cret").public_key == key.public_key
    with pytest.raises(CryptoError, match="wrong password"):
        SM2PrivateKey.from_pem(pem, b"s3cres")
    with pytest.raises(CryptoError, match="password is needed"):
        SM2PrivateKey.from_pem(pem)


def test_default_kdf_iterations_are_strong(key: SM2PrivateKey) -> None:
    _, _, der = asn1_pem.unarmor(key.to_pem(b"pw"))
    epki = kf._EncryptedPKI.load(der)
    params = kf._PBES2Params.load(epki["algorithm"]["parameters"].dump())
    kdf = kf._PBKDF2Params.load(params["kdf"]["parameters"].dump())
    assert int(kdf["iterations"].native) == kf.DEFAULT_KDF_ITERATIONS >= 100_000
    assert kdf["prf"]["algorithm"].dotted == "1.2.840.113549.2.9"  # hmacWithSHA256


def test_key_encryption_arguments_are_checked(key: SM2PrivateKey) -> None:
    with pytest.raises(CryptoError, match="empty password"):
        key.to_pem(b"")
    with pytest.raises(CryptoError, match="iterations"):
        key.to_pem(b"pw", iterations=10)
    with pytest.raises(CryptoError, match="SEC1"):
        key.to_pem(b"pw", kind="sec1")
    with pytest.raises(CryptoError, match="not encrypted"):
        SM2PrivateKey.from_pem(key.to_pem(), b"pw")


def test_tongsuo_key_files(sm2_pki_dir: Path) -> None:
    t = sm2_pki_dir / "tongsuo"
    root_key = SM2PrivateKey.from_pem((t / "sm2-root.key").read_bytes())
    _, _, cert_der = asn1_pem.unarmor((t / "sm2-root-cert.pem").read_bytes())
    spki = x509.Certificate.load(cert_der)["tbs_certificate"]["subject_public_key_info"].dump()
    assert SM2PublicKey.from_der(spki) == root_key.public_key
    ec_key = SM2PrivateKey.from_pem((t / "sm2_begin_ec.key").read_bytes())
    sm2_key = SM2PrivateKey.from_pem((t / "sm2_begin_sm2.key").read_bytes())  # non-standard header, SEC1 DER
    assert ec_key.public_key != sm2_key.public_key
    pub = SM2PublicKey.from_pem((t / "sm2pub.key").read_bytes())
    assert pub.point[0] == 4
    for path in sorted((t / "sm2").glob("*.key")):
        k = SM2PrivateKey.from_pem(path.read_bytes())
        assert k.public_key.verify(k.sign(b"x"), b"x"), path.name


def test_ec_parameters_block_before_the_key_is_skipped(key: SM2PrivateKey) -> None:
    params = kf.armor("EC PARAMETERS", bytes.fromhex("06082a811ccf5501822d"))
    assert SM2PrivateKey.from_pem(params + key.to_pem(kind="sec1")).public_key == key.public_key


def test_explicit_sm2_parameters_are_accepted_and_others_refused(key: SM2PrivateKey) -> None:
    from asn1crypto import keys

    def specified(p: int) -> keys.SpecifiedECDomain:
        return keys.SpecifiedECDomain(
            {
                "version": "ecdpVer1",
                "field_id": {"field_type": "prime_field", "parameters": p},
                "curve": {
                    "a": (P - 3).to_bytes(32, "big"),
                    "b": bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"),
                },
                "base": encode_point(GX, GY),
                "order": N,
                "cofactor": 1,
            }
        )

    def sec1(params: keys.SpecifiedECDomain) -> bytes:
        return bytes(
            kf._ECPrivateKey(
                {
                    "version": 1,
                    "private_key": D.to_bytes(32, "big"),
                    "parameters": keys.ECDomainParameters(name="specified", value=params),
                }
            ).dump()
        )

    assert SM2PrivateKey.from_der(sec1(specified(P))).public_key == key.public_key
    with pytest.raises(CryptoError, match="explicit curve parameters differ"):
        SM2PrivateKey.from_der(sec1(specified(P - 2)))


def test_keys_of_other_curves_are_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = p256.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(CryptoError, match=r"curve 1\.2\.840\.10045\.3\.1\.7"):
        SM2PrivateKey.from_der(pkcs8)
    with pytest.raises(CryptoError, match=r"curve 1\.2\.840\.10045\.3\.1\.7"):
        SM2PublicKey.from_der(spki)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not pem at all",
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00000000000000000000000000000000\n\n"
        b"MAA=\n-----END EC PRIVATE KEY-----\n",
    ],
)
def test_bad_private_pem_raises_crypto_error(data: bytes) -> None:
    with pytest.raises(CryptoError):
        SM2PrivateKey.from_pem(data)


def test_bad_der_and_points_raise_crypto_error(key: SM2PrivateKey) -> None:
    der = key.to_der()
    for bad in (b"", b"\x30\x00", der[:-1], der + b"\x00", b"\x04" + der[1:], key.public_key.to_der()):
        with pytest.raises(CryptoError):
            SM2PrivateKey.from_der(bad)
    spki = key.public_key.to_der()
    for bad in (b"", spki[:-1], spki[:-65] + b"\x04" + bytes(64), der):
        with pytest.raises(CryptoError):
            SM2PublicKey.from_der(bad)
    off_curve = bytearray(key.public_key.point)
    off_curve[-1] ^= 1
    for bad in (bytes(off_curve), b"\x04" + bytes(64), key.public_key.point[:-1], b"\x05" + bytes(32)):
        with pytest.raises(CryptoError):
            SM2PublicKey.from_point(bad)


@pytest.mark.parametrize("d", [0, -1, N - 1, N, 1 << 256])
def test_private_scalar_out_of_range(d: int) -> None:
    with pytest.raises(CryptoError, match="out of range"):
        SM2PrivateKey.from_int(d)


def test_embedded_public_key_must_match(key: SM2PrivateKey) -> None:
    other = SM2PrivateKey.generate()
    forged = kf._sec1(D, other.public_key.point, with_params=True).dump()
    with pytest.raises(CryptoError, match="does not match"):
        SM2PrivateKey.from_der(forged)


def test_private_key_never_leaks(key: SM2PrivateKey) -> None:
    secret_hex = f"{D:064x}"
    assert secret_hex not in repr(key).lower() and secret_hex not in str(key).lower()
    assert key.fingerprint[:16] in repr(key)
    assert repr(key.public_key) == repr(key).replace("SM2PrivateKey", "SM2PublicKey")
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        copy.copy(key)
    errors = []
    for call in (
        lambda: SM2PrivateKey.from_pem(key.to_pem(b"pw", iterations=1000), b"bad"),
        lambda: key.decrypt(b"junk"),
    ):
        with pytest.raises(CryptoError) as info:
            call()
        errors.append(str(info.value).lower())
    assert all(secret_hex not in e and secret_hex[:16] not in e for e in errors)
