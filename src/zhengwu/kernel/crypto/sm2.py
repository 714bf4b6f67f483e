"""SM2 public and private keys (GB/T 32918): sign/verify with Z over a user ID, encrypt/decrypt, PEM/DER.

ID conventions for ``uid``: ``DEFAULT_SM2_UID`` (GM/T 0009, the default), ``b""`` (empty ID, ENTL = 0 —
OpenSSL 3's default for X.509), ``None`` ("no Z": e = SM3(M), Tongsuo "noza" certificates).
"""

from __future__ import annotations

from typing import Literal, NoReturn

from zhengwu.kernel.crypto import keyformats
from zhengwu.kernel.crypto.backends import PrivateOps, PublicOps, SM2Backend, resolve_backend
from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext
from zhengwu.kernel.crypto.curve import DEFAULT_SM2_UID, N, encode_point, parse_point, za
from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.hashes import SM3_DIGEST_SIZE, sm3
from zhengwu.kernel.crypto.signature import candidates, encode_der, encode_raw

BackendArg = SM2Backend | str | None
_Z_CACHE_SIZE = 8


def _check_e(e: bytes) -> bytes:
    if len(e) != SM3_DIGEST_SIZE:
        raise CryptoError(f"SM2 digest e must be 32 bytes, got {len(e)}")
    return bytes(e)


class SM2PublicKey:
    """An SM2 public key on the recommended curve (immutable; equal when the points are equal)."""

    __slots__ = ("_backend", "_fingerprint", "_ops", "_point", "_z")

    def __init__(self, point: bytes, *, backend: BackendArg = None) -> None:
        self._point = encode_point(*parse_point(point))
        self._backend = resolve_backend(backend)
        self._ops: PublicOps | None = None
        self._z: dict[bytes, bytes] = {}
        self._fingerprint: str | None = None

    @classmethod
    def from_point(cls, point: bytes, *, backend: BackendArg = None) -> SM2PublicKey:
        """From 04‖x‖y (65 bytes), x‖y (64) or a compressed point (33); validated on the curve."""
        return cls(point, backend=backend)

    @classmethod
    def from_der(cls, spki_der: bytes, *, backend: BackendArg = None) -> SM2PublicKey:
        """From SubjectPublicKeyInfo DER."""
        return cls(keyformats.load_spki(spki_der), backend=backend)

    @classmethod
    def from_pem(cls, pem: bytes | str, *, backend: BackendArg = None) -> SM2PublicKey:
        """From a "PUBLIC KEY" PEM block."""
        for kind, der in keyformats.pem_blocks(pem):
            if kind == "PUBLIC KEY":
                return cls.from_der(der, backend=backend)
        raise CryptoError("no PUBLIC KEY block in the PEM data")

    @property
    def point(self) -> bytes:
        """Uncompressed point 04 ‖ x ‖ y (65 bytes)."""
        return self._point

    @property
    def backend(self) -> str:
        """Name of the backend doing this key's operations."""
        return self._backend.name

    @property
    def fingerprint(self) -> str:
        """Hex SM3 of the SubjectPublicKeyInfo DER — how keys are named in logs and errors."""
        if self._fingerprint is None:
            self._fingerprint = sm3(self.to_der()).hex()
        return self._fingerprint

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER (id-ecPublicKey, namedCurve sm2p256v1)."""
        return keyformats.dump_spki(self._point)

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo as a "PUBLIC KEY" PEM block."""
        return keyformats.armor("PUBLIC KEY", self.to_der())

    def z(self, uid: bytes = DEFAULT_SM2_UID) -> bytes:
        """Z_A of GB/T 32918.2 for this key and ``uid`` (cached per ID)."""
        uid = bytes(uid)
        cached = self._z.get(uid)
        if cached is None:
            cached = za(self._point, uid)
            if len(self._z) >= _Z_CACHE_SIZE:
                self._z.clear()
            self._z[uid] = cached
        return cached

    def digest(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID) -> bytes:
        """The e that is signed: SM3(Z ‖ data), or SM3(data) when ``uid`` is None."""
        return sm3(data if uid is None else self.z(uid) + data)

    def _public_ops(self) -> PublicOps:
        if self._ops is None:
            self._ops = self._backend.load_public(self._point)
        return self._ops

    def verify(self, signature: bytes, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID) -> bool:
        """True when ``signature`` (DER or raw r‖s) signs ``data`` under ``uid``; never raises on a bad one."""
        return self._verify_e(signature, self.digest(data, uid=uid))

    def verify_digest(self, signature: bytes, e: bytes) -> bool:
        """True when ``signature`` (DER or raw r‖s) signs the 32-byte digest ``e`` as given."""
        return self._verify_e(signature, _check_e(e))

    def _verify_e(self, signature: bytes, e: bytes) -> bool:
        if not isinstance(signature, bytes | bytearray | memoryview):
            return False
        ops = self._public_ops()
        for r, s in candidates(bytes(signature)):
            try:
                if ops.verify_digest(e, r, s):
                    return True
            except CryptoError:
                return False
        return False

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2-encrypt a non-empty plaintext; returns the GM/T 0009 ASN.1 (C1, C3, C2) DER."""
        if not plaintext:
            raise CryptoError("SM2 encryption needs a non-empty plaintext")
        return self._public_ops().encrypt(bytes(plaintext)).to_der()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey(fingerprint={self.fingerprint[:16]})"


class SM2PrivateKey:
    """An SM2 private key; its scalar never appears in repr, str, errors or pickles."""

    __slots__ = ("_d", "_ops", "_public")

    def __init__(self, d: int, *, backend: BackendArg = None, expected_point: bytes | None = None) -> None:
        """Use the ``generate``/``from_*`` constructors; ``expected_point`` is checked against d·G."""
        if not 1 <= d <= N - 2:  # d = n-1 has no (1+d)^-1 mod n (GB/T 32918.1 §6.1)
            raise CryptoError("SM2 private key out of range [1, n-2]")
        be = resolve_backend(backend)
        ops, point = be.load_private(d)
        if expected_point is not None and encode_point(*parse_point(expected_point)) != point:
            raise CryptoError("SM2 private key does not match the public key stored with it")
        self._d = d
        self._ops: PrivateOps = ops
        self._public = SM2PublicKey(point, backend=be)

    @classmethod
    def generate(cls, *, backend: BackendArg = None) -> SM2PrivateKey:
        """A new random key (d uniform in [1, n-2] from the OS CSPRNG)."""
        import secrets

        return cls(secrets.randbelow(N - 2) + 1, backend=backend)

    @classmethod
    def from_int(cls, d: int, *, backend: BackendArg = None) -> SM2PrivateKey:
        """From the private scalar d."""
        return cls(d, backend=backend)

    @classmethod
    def from_der(
        cls, der: bytes, password: bytes | str | None = None, *, backend: BackendArg = None
    ) -> SM2PrivateKey:
        """From PKCS#8, encrypted PKCS#8 (give ``password``) or SEC1 DER."""
        data = keyformats.load_private(der, _password(password))
        return cls(data.d, backend=backend, expected_point=data.point)

    @classmethod
    def from_pem(
        cls, pem: bytes | str, password: bytes | str | None = None, *, backend: BackendArg = None
    ) -> SM2PrivateKey:
        """From a PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or SM2 PRIVATE KEY PEM block."""
        for kind, der in keyformats.pem_blocks(pem):
            if kind in keyformats.PRIVATE_PEM_TYPES:  # "EC PARAMETERS" blocks before the key are skipped
                return cls.from_der(der, password, backend=backend)
        raise CryptoError("no private key block in the PEM data")

    @property
    def public_key(self) -> SM2PublicKey:
        """The matching public key."""
        return self._public

    @property
    def fingerprint(self) -> str:
        """The public key's fingerprint (safe to log)."""
        return self._public.fingerprint

    def to_der(
        self,
        password: bytes | str | None = None,
        *,
        kind: Literal["pkcs8", "sec1"] = "pkcs8",
        cipher: keyformats.PbeCipher = "aes-256-cbc",
        iterations: int = keyformats.DEFAULT_KDF_ITERATIONS,
    ) -> bytes:
        """PKCS#8 DER (PBES2-encrypted when ``password`` is given) or, with ``kind="sec1"``, SEC1 DER."""
        point = self._public.point
        if kind == "sec1":
            if password is not None:
                raise CryptoError("SEC1 keys cannot be encrypted here; use PKCS#8")
            return keyformats.dump_sec1(self._d, point)
        der = keyformats.dump_pkcs8(self._d, point)
        pw = _password(password)
        if pw is None:
            return der
        return keyformats.encrypt_pkcs8(der, pw, cipher=cipher, iterations=iterations)

    def to_pem(
        self,
        password: bytes | str | None = None,
        *,
        kind: Literal["pkcs8", "sec1"] = "pkcs8",
        cipher: keyformats.PbeCipher = "aes-256-cbc",
        iterations: int = keyformats.DEFAULT_KDF_ITERATIONS,
    ) -> bytes:
        """PEM of ``to_der``: PRIVATE KEY, ENCRYPTED PRIVATE KEY or EC PRIVATE KEY."""
        der = self.to_der(password, kind=kind, cipher=cipher, iterations=iterations)
        label = (
            "EC PRIVATE KEY"
            if kind == "sec1"
            else "PRIVATE KEY"
            if password is None
            else "ENCRYPTED PRIVATE KEY"
        )
        return keyformats.armor(label, der)

    def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
        """Sign SM3(Z ‖ data) (SM3(data) when ``uid`` is None); DER by default, raw r‖s with ``raw=True``."""
        return self._sign_e(self._public.digest(data, uid=uid), raw)

    def sign_digest(self, e: bytes, *, raw: bool = False) -> bytes:
        """Sign the 32-byte digest ``e`` as given."""
        return self._sign_e(_check_e(e), raw)

    def _sign_e(self, e: bytes, raw: bool) -> bytes:
        r, s = self._ops.sign_digest(e)
        return encode_raw(r, s) if raw else encode_der(r, s)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a GM/T 0009 ASN.1 SM2 ciphertext (convert raw C1C3C2/C1C2C3 bytes first)."""
        return self._ops.decrypt(SM2Ciphertext.from_der(ciphertext))

    def __repr__(self) -> str:
        return f"SM2PrivateKey(fingerprint={self.fingerprint[:16]})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("SM2PrivateKey cannot be pickled or copied; export it with to_pem(password)")


def _password(password: bytes | str | None) -> bytes | None:
    return password.encode("utf-8") if isinstance(password, str) else password
