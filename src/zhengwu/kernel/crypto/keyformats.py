"""SM2 key encodings, built and parsed with asn1crypto (own schemas, no global OID registration).

* public: SubjectPublicKeyInfo (RFC 5480: id-ecPublicKey + namedCurve 1.2.156.10197.1.301), PEM "PUBLIC KEY";
* private: PKCS#8 (RFC 5208/5958) "PRIVATE KEY", encrypted PKCS#8 (PBES2, RFC 8018) "ENCRYPTED PRIVATE KEY",
  SEC1 (RFC 5915) "EC PRIVATE KEY" and Tongsuo's non-standard "SM2 PRIVATE KEY" header for the same DER.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from asn1crypto import core, keys, parser, pem
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes

from zhengwu.kernel.crypto import curve
from zhengwu.kernel.crypto.errors import CryptoError

EC_PUBLIC_KEY_OID: Final = "1.2.840.10045.2.1"
_PBES2: Final = "1.2.840.113549.1.5.13"
_PBKDF2: Final = "1.2.840.113549.1.5.12"
_SCRYPT: Final = "1.3.6.1.4.1.11591.4.11"
_PRFS: Final = {  # RFC 8018 appendix B.1.2
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.8": "sha224",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
_HMAC_SHA256: Final = "1.2.840.113549.2.9"
_CIPHERS: Final = {  # OID -> (name, key size, block size)
    "2.16.840.1.101.3.4.1.2": ("aes", 16, 16),
    "2.16.840.1.101.3.4.1.22": ("aes", 24, 16),
    "2.16.840.1.101.3.4.1.42": ("aes", 32, 16),
    "1.2.156.10197.1.104.2": ("sm4", 16, 16),  # GB/T 33560 sm4-cbc
    "1.2.840.113549.3.7": ("3des", 24, 8),
}
PbeCipher = Literal["aes-256-cbc", "sm4-cbc"]
_PBE_OUT: Final = {"aes-256-cbc": "2.16.840.1.101.3.4.1.42", "sm4-cbc": "1.2.156.10197.1.104.2"}
#: PBKDF2-HMAC-SHA256 rounds for keys we encrypt (OpenSSL uses 2048, which is weak for a key at rest).
DEFAULT_KDF_ITERATIONS: Final = 100_000
_MAX_KDF_ITERATIONS: Final = 10_000_000
_MAX_SCRYPT_MEMORY: Final = 64 << 20

PRIVATE_PEM_TYPES: Final = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY")


class _AlgId(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]  # noqa: RUF012


class _SPKI(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", _AlgId), ("public_key", core.OctetBitString)]  # noqa: RUF012


class _ECPrivateKey(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("private_key", core.OctetString),
        # a concrete CHOICE, not Any: an optional Any would swallow the [1] public key when [0] is absent
        ("parameters", keys.ECDomainParameters, {"explicit": 0, "optional": True}),
        ("public_key", core.OctetBitString, {"explicit": 1, "optional": True}),
    ]


class _Attributes(core.SetOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.Any


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("algorithm", _AlgId),
        ("private_key", core.OctetString),
        ("attributes", _Attributes, {"implicit": 0, "optional": True}),
        ("public_key", core.OctetBitString, {"implicit": 1, "optional": True}),
    ]


class _EncryptedPKI(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("algorithm", _AlgId), ("data", core.OctetString)]  # noqa: RUF012


class _PBES2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [("kdf", _AlgId), ("scheme", _AlgId)]  # noqa: RUF012


class _PBKDF2Params(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("salt", core.OctetString),
        ("iterations", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", _AlgId, {"optional": True}),
    ]


class _ScryptParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012
        ("salt", core.OctetString),
        ("n", core.Integer),
        ("r", core.Integer),
        ("p", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
    ]


_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def _absent(value: core.Asn1Value) -> bool:
    return isinstance(value, core.Void)


def _check_curve(params: core.Asn1Value) -> None:
    """Accept namedCurve sm2p256v1, or explicit parameters equal to it."""
    value = params.chosen if isinstance(params, core.Choice) else core.load(params.dump())
    if isinstance(value, core.ObjectIdentifier):
        if value.dotted != curve.SM2_CURVE_OID:
            raise CryptoError(f"not an SM2 key: curve {value.dotted}")
        return
    if isinstance(value, core.Sequence):
        spec = (
            value if isinstance(value, keys.SpecifiedECDomain) else keys.SpecifiedECDomain.load(value.dump())
        )
        explicit = (
            int(spec["field_id"]["parameters"].native),
            int.from_bytes(spec["curve"]["a"].native, "big"),
            int.from_bytes(spec["curve"]["b"].native, "big"),
            bytes(spec["base"].native),
            int(spec["order"].native),
        )
        if explicit != (curve.P, curve.A, curve.B, curve.encode_point(curve.GX, curve.GY), curve.N):
            raise CryptoError("not an SM2 key: explicit curve parameters differ from sm2p256v1")
        return
    raise CryptoError("not an SM2 key: unsupported curve parameters")


def _check_algorithm(alg: _AlgId) -> bool:
    """Check an AlgorithmIdentifier names an SM2 key; returns whether it fixes the curve."""
    oid = alg["algorithm"].dotted
    params = alg["parameters"]
    if oid == curve.SM2_CURVE_OID:  # some producers put the SM2 OID itself in the algorithm slot
        if not _absent(params) and not isinstance(core.load(params.dump()), core.Null):
            _check_curve(params)
        return True
    if oid != EC_PUBLIC_KEY_OID:
        raise CryptoError(f"not an SM2 key: algorithm {oid}")
    if _absent(params) or isinstance(core.load(params.dump()), core.Null):
        return False
    _check_curve(params)
    return True


def _algorithm() -> _AlgId:
    return _AlgId({"algorithm": EC_PUBLIC_KEY_OID, "parameters": core.ObjectIdentifier(curve.SM2_CURVE_OID)})


def dump_spki(point: bytes) -> bytes:
    """SubjectPublicKeyInfo DER for a 65-byte point."""
    return bytes(_SPKI({"algorithm": _algorithm(), "public_key": point}).dump())


def load_spki(der: bytes) -> bytes:
    """The encoded point inside an SM2 SubjectPublicKeyInfo (not yet validated)."""
    try:
        spki = _SPKI.load(bytes(der), strict=True)
        if not _check_algorithm(spki["algorithm"]):
            raise CryptoError("SM2 public key: curve parameters missing")
        return bytes(spki["public_key"].native)
    except CryptoError:
        raise
    except _ASN1_ERRORS as exc:
        raise CryptoError(f"not a SubjectPublicKeyInfo ({type(exc).__name__})") from None


def _sec1(d: int, point: bytes, *, with_params: bool) -> _ECPrivateKey:
    fields: dict[str, object] = {"version": 1, "private_key": d.to_bytes(32, "big"), "public_key": point}
    if with_params:
        fields["parameters"] = keys.ECDomainParameters(name="named", value=curve.SM2_CURVE_OID)
    return _ECPrivateKey(fields)


def dump_sec1(d: int, point: bytes) -> bytes:
    """SEC1 ECPrivateKey DER (with namedCurve and public key, as OpenSSL writes it)."""
    return bytes(_sec1(d, point, with_params=True).dump())


def dump_pkcs8(d: int, point: bytes) -> bytes:
    """PKCS#8 PrivateKeyInfo DER (curve in the AlgorithmIdentifier, public key inside the ECPrivateKey)."""
    inner = _sec1(d, point, with_params=False).dump()
    return bytes(_PrivateKeyInfo({"version": 0, "algorithm": _algorithm(), "private_key": inner}).dump())


@dataclass(frozen=True, slots=True)
class PrivateKeyData:
    """What a private key encoding holds: the scalar and, when present, the public point (not validated)."""

    d: int
    point: bytes | None


def _parse_sec1(der: bytes, *, curve_known: bool) -> PrivateKeyData:
    key = _ECPrivateKey.load(der, strict=True)
    if int(key["version"].native) != 1:
        raise CryptoError("SEC1 private key: version must be 1")
    scalar = bytes(key["private_key"].native)
    if not 0 < len(scalar) <= 32:
        raise CryptoError("SM2 private key: scalar must be at most 32 bytes")
    if not _absent(key["parameters"]):
        _check_curve(key["parameters"])
    elif not curve_known:
        raise CryptoError("SM2 private key: curve parameters missing")
    point = None if _absent(key["public_key"]) else bytes(key["public_key"].native)
    return PrivateKeyData(int.from_bytes(scalar, "big"), point)


def _parse_pkcs8(der: bytes) -> PrivateKeyData:
    info = _PrivateKeyInfo.load(der, strict=True)
    if int(info["version"].native) not in (0, 1):
        raise CryptoError("PKCS#8: unknown version")
    data = _parse_sec1(bytes(info["private_key"].native), curve_known=_check_algorithm(info["algorithm"]))
    if data.point is None and not _absent(info["public_key"]):  # RFC 5958 v2 keeps it outside
        return PrivateKeyData(data.d, bytes(info["public_key"].native))
    return data


def _sniff(der: bytes) -> str:
    """Tell encrypted PKCS#8 / PKCS#8 / SEC1 apart by the tags of the first two elements."""
    try:
        cls_, _method, tag, _header, body, _trailer = parser.parse(der, strict=True)
        if (cls_, tag) == (0, 16):
            first = parser.parse(body)[2]
            if first == 16:
                return "encrypted"
            second = parser.parse(body[parser.peek(body) :])[2]
            if (first, second) == (2, 16):
                return "pkcs8"
            if (first, second) == (2, 4):
                return "sec1"
    except ValueError:
        pass
    raise CryptoError("not a PKCS#8, encrypted PKCS#8 or SEC1 EC private key")


def load_private(der: bytes, password: bytes | None) -> PrivateKeyData:
    """Parse any supported private key DER; ``password`` must be given exactly when it is encrypted."""
    der = bytes(der)
    kind = _sniff(der)
    if kind == "encrypted":
        if password is None:
            raise CryptoError("the private key is encrypted: a password is needed")
        der = decrypt_pkcs8(der, password)
        kind = "pkcs8"
    elif password is not None:
        raise CryptoError("a password was given but the private key is not encrypted")
    try:
        return _parse_pkcs8(der) if kind == "pkcs8" else _parse_sec1(der, curve_known=False)
    except CryptoError:
        raise
    except _ASN1_ERRORS as exc:
        raise CryptoError(f"malformed SM2 private key ({type(exc).__name__})") from None


def _cipher(name: str, key: bytes) -> BlockCipherAlgorithm:
    if name == "aes":
        return algorithms.AES(key)
    if name == "sm4":
        return algorithms.SM4(key)
    return TripleDES(key)


def encrypt_pkcs8(
    pkcs8: bytes,
    password: bytes,
    *,
    cipher: PbeCipher = "aes-256-cbc",
    iterations: int = DEFAULT_KDF_ITERATIONS,
) -> bytes:
    """EncryptedPrivateKeyInfo DER: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC or SM4-CBC."""
    if not password:
        raise CryptoError("an empty password does not protect a key")
    if cipher not in _PBE_OUT:
        raise CryptoError(f"unsupported key encryption cipher {cipher!r}")
    if not 1000 <= iterations <= _MAX_KDF_ITERATIONS:
        raise CryptoError("PBKDF2 iterations must be in [1000, 10000000]")
    oid = _PBE_OUT[cipher]
    name, key_size, block = _CIPHERS[oid]
    salt, iv = secrets.token_bytes(16), secrets.token_bytes(block)
    key = hashlib.pbkdf2_hmac("sha256", password, salt, iterations, key_size)
    pad = block - len(pkcs8) % block
    enc = Cipher(_cipher(name, key), modes.CBC(iv)).encryptor()
    data = enc.update(pkcs8 + bytes([pad]) * pad) + enc.finalize()
    kdf = _PBKDF2Params(
        {
            "salt": salt,
            "iterations": iterations,
            "prf": _AlgId({"algorithm": _HMAC_SHA256, "parameters": core.Null()}),
        }
    )
    params = _PBES2Params(
        {
            "kdf": _AlgId({"algorithm": _PBKDF2, "parameters": kdf}),
            "scheme": _AlgId({"algorithm": oid, "parameters": core.OctetString(iv)}),
        }
    )
    return bytes(
        _EncryptedPKI({"algorithm": _AlgId({"algorithm": _PBES2, "parameters": params}), "data": data}).dump()
    )


def _derive(kdf: _AlgId, password: bytes, key_size: int) -> bytes:
    oid = kdf["algorithm"].dotted
    if oid == _PBKDF2:
        p = _PBKDF2Params.load(kdf["parameters"].dump())
        if not _absent(p["key_length"]) and int(p["key_length"].native) != key_size:
            raise CryptoError("encrypted key: PBKDF2 key length does not match the cipher")
        prf_oid = "1.2.840.113549.2.7" if _absent(p["prf"]) else p["prf"]["algorithm"].dotted
        if prf_oid not in _PRFS:
            raise CryptoError(f"encrypted key: unsupported PBKDF2 PRF {prf_oid}")
        iterations = int(p["iterations"].native)
        if not 1 <= iterations <= _MAX_KDF_ITERATIONS:
            raise CryptoError("encrypted key: PBKDF2 iteration count out of range")
        return hashlib.pbkdf2_hmac(_PRFS[prf_oid], password, bytes(p["salt"].native), iterations, key_size)
    if oid == _SCRYPT:
        s = _ScryptParams.load(kdf["parameters"].dump())
        n, r, par = int(s["n"].native), int(s["r"].native), int(s["p"].native)
        memory = 128 * n * r
        if n < 2 or n & (n - 1) or not 0 < r <= 32 or not 0 < par <= 16 or memory > _MAX_SCRYPT_MEMORY:
            raise CryptoError("encrypted key: scrypt parameters out of range")
        salt = bytes(s["salt"].native)
        return hashlib.scrypt(
            password, salt=salt, n=n, r=r, p=par, maxmem=2 * memory + (1 << 20), dklen=key_size
        )
    raise CryptoError(f"encrypted key: unsupported key derivation {oid}")


def decrypt_pkcs8(der: bytes, password: bytes) -> bytes:
    """The PrivateKeyInfo DER inside a PBES2 EncryptedPrivateKeyInfo."""
    try:
        epki = _EncryptedPKI.load(der, strict=True)
        scheme_oid = epki["algorithm"]["algorithm"].dotted
        if scheme_oid != _PBES2:
            raise CryptoError(
                f"encrypted key: unsupported scheme {scheme_oid} (only PBES2; "
                "re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)"
            )
        params = _PBES2Params.load(epki["algorithm"]["parameters"].dump())
        cipher_oid = params["scheme"]["algorithm"].dotted
        if cipher_oid not in _CIPHERS:
            raise CryptoError(f"encrypted key: unsupported cipher {cipher_oid}")
        name, key_size, block = _CIPHERS[cipher_oid]
        iv = bytes(core.OctetString.load(params["scheme"]["parameters"].dump()).native)
        data = bytes(epki["data"].native)
        key = _derive(params["kdf"], password, key_size)
    except CryptoError:
        raise
    except _ASN1_ERRORS as exc:
        raise CryptoError(f"malformed encrypted private key ({type(exc).__name__})") from None
    if len(iv) != block or not data or len(data) % block:
        raise CryptoError("malformed encrypted private key (IV or data length)")
    dec = Cipher(_cipher(name, key), modes.CBC(iv)).decryptor()
    out = dec.update(data) + dec.finalize()
    pad = out[-1]
    # Same error for bad padding and bad content: the password is wrong or the file is damaged.
    if not 0 < pad <= block or not hmac.compare_digest(out[-pad:], bytes([pad]) * pad):
        raise CryptoError("cannot decrypt the private key: wrong password or damaged file")
    inner = out[:-pad]
    try:
        ok = _sniff(inner) == "pkcs8"
    except CryptoError:
        ok = False
    if not ok:
        raise CryptoError("cannot decrypt the private key: wrong password or damaged file")
    return inner


def pem_blocks(data: bytes | str) -> list[tuple[str, bytes]]:
    """(type, DER) of every PEM block; refuses legacy "Proc-Type: 4,ENCRYPTED" blocks."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else bytes(data)
    try:
        blocks = list(pem.unarmor(raw, multiple=True))
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"not PEM ({exc})") from None
    out = []
    for kind, headers, der in blocks:
        if "ENCRYPTED" in headers.get("Proc-Type", ""):
            raise CryptoError(
                "legacy encrypted PEM (Proc-Type: 4,ENCRYPTED) is not supported; convert it with "
                "`openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            )
        out.append((str(kind), bytes(der)))
    if not out:
        raise CryptoError("no PEM block found")
    return out


def armor(kind: str, der: bytes) -> bytes:
    """PEM with 64-character lines."""
    return bytes(pem.armor(kind, der))
