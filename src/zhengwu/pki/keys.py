"""Private keys of the node PKI (CAs, TSA, seal signers, exchange): SM4-wrapped at rest, pluggable backends.

A key is named by a *key reference* whose scheme picks the backend that can sign with it:

* ``soft:<hex>`` — the software backend: the PKCS#8 key is stored SM4-GCM-encrypted (``wrap_key``) under a
  key-encryption key derived from ``settings.security.secret_key`` with an HMAC-SM3 KDF. It is decrypted
  only when a signature is needed and kept in memory for a bounded time (``cache_seconds``).
* ``pkcs11:…`` (RFC 7512), ``sdf:…`` — a hardware security module (密码机). Such an adapter implements
  ``SignerBackend`` (``generate`` returns a reference and the public key, no wrapped material) and is
  registered once at start-up with ``register_backend``; nothing else changes.

Keys never reach logs, reprs or errors: only references and public-key fingerprints do.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final, Protocol

from zhengwu.kernel.crypto import (
    DEFAULT_SM2_UID,
    CryptoError,
    SM2PrivateKey,
    SM2PublicKey,
    hmac_sm3,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)
from zhengwu.kernel.crypto.signer import DigestSigner
from zhengwu.pki.errors import KeyUnavailable

SOFTWARE_SCHEME: Final = "soft"
_WRAP_VERSION: Final = b"\x01"
_NONCE_BYTES: Final = 12
# The labels keep their historic "seals" wording: they are part of every wrapped key already stored.
_KDF_SALT: Final = b"zhengwu/seals/kek-salt/v1"


def short_id(value: str) -> str:
    """How keys and certificates appear in logs: 10 characters of a reference or fingerprint.

    Longer hex strings can contain 11 digits in a row, which log scanners rightly take for a phone number.
    """
    scheme, _, rest = value.rpartition(":")
    return f"{scheme}:{rest[:10]}" if scheme else rest[:10]


def derive_kek(secret: str | bytes, label: str = "key-wrap") -> bytes:
    """A 16-byte SM4 key-encryption key: HKDF (RFC 5869 structure) over HMAC-SM3 from the node secret."""
    ikm = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    prk = hmac_sm3(_KDF_SALT, ikm)  # extract
    return hmac_sm3(prk, f"zhengwu/seals/{label}/v1".encode() + b"\x01")[:16]  # expand, first block


def wrap_key(kek: bytes, key: SM2PrivateKey, *, key_ref: str) -> bytes:
    """SM4-GCM-encrypt the PKCS#8 DER of ``key``; the reference is authenticated data (no swapping rows)."""
    nonce = os.urandom(_NONCE_BYTES)
    return _WRAP_VERSION + nonce + sm4_gcm_encrypt(kek, nonce, key.to_der(), key_ref.encode("utf-8"))


def unwrap_key(kek: bytes, wrapped: bytes, *, key_ref: str) -> SM2PrivateKey:
    """Decrypt ``wrap_key`` output; KeyUnavailable when the secret is wrong or the data was altered."""
    if len(wrapped) < 1 + _NONCE_BYTES + 16 or wrapped[:1] != _WRAP_VERSION:
        raise KeyUnavailable("密钥数据格式错误", detail_en=f"malformed wrapped key {key_ref}")
    nonce, body = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]
    try:
        der = sm4_gcm_decrypt(kek, nonce, body, key_ref.encode("utf-8"))
        return SM2PrivateKey.from_der(der)
    except CryptoError as exc:
        raise KeyUnavailable(
            "无法解密签名密钥（节点密钥配置错误或数据被篡改）",
            detail_en=f"cannot unwrap key {key_ref}: wrong node secret or altered data",
        ) from exc


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the database keeps about a key: its reference, public key and (software keys) wrapped bytes."""

    key_ref: str
    public_key_der: bytes
    wrapped: bytes | None = field(default=None, repr=False)

    @property
    def scheme(self) -> str:
        """The backend scheme of the reference (``soft``, ``pkcs11``, ...)."""
        return self.key_ref.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A new key: its reference, public key and wrapped material (None when it lives in an HSM)."""

    key_ref: str
    public_key: SM2PublicKey
    wrapped: bytes | None = field(repr=False)


class SignerBackend(Protocol):
    """Where keys live and sign: the software backend here, or an HSM adapter (SDF / PKCS#11)."""

    scheme: str

    def generate(self, label: str) -> GeneratedKey:
        """Create a new SM2 key pair; ``label`` names it for operators (no secret)."""
        ...

    def signer(self, record: KeyRecord) -> DigestSigner:
        """A signer for a stored key; must not need the private key before the first signature."""
        ...


class _CachedKey:
    __slots__ = ("expires", "key")

    def __init__(self, key: SM2PrivateKey, expires: float) -> None:
        self.key = key
        self.expires = expires


class SoftwareBackend:
    """Keys wrapped with SM4 under the node's key-encryption key; unwrapped on demand, cached briefly."""

    scheme = SOFTWARE_SCHEME

    def __init__(self, kek: bytes, *, cache_seconds: float = 300.0, max_cached: int = 64) -> None:
        if len(kek) != 16:
            raise ValueError("the key-encryption key is 16 bytes (SM4)")
        self._kek = kek
        self.cache_seconds = cache_seconds
        self.max_cached = max_cached
        self._cache: OrderedDict[str, _CachedKey] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SoftwareBackend(cached={len(self._cache)})"

    def generate(self, label: str) -> GeneratedKey:
        """A fresh key from the OS CSPRNG, wrapped at once; the plain key is not kept."""
        key = SM2PrivateKey.generate()
        key_ref = f"{SOFTWARE_SCHEME}:{os.urandom(16).hex()}"
        return GeneratedKey(key_ref, key.public_key, wrap_key(self._kek, key, key_ref=key_ref))

    def import_key(self, key: SM2PrivateKey) -> GeneratedKey:
        """Wrap an existing key (migration from files or another node)."""
        key_ref = f"{SOFTWARE_SCHEME}:{os.urandom(16).hex()}"
        return GeneratedKey(key_ref, key.public_key, wrap_key(self._kek, key, key_ref=key_ref))

    def signer(self, record: KeyRecord) -> WrappedKeySigner:
        """A signer that unwraps the key on its first signature (and again after the cache expires)."""
        if record.wrapped is None:
            raise KeyUnavailable(
                "软件密钥缺少加密的密钥数据", detail_en=f"no wrapped key for {record.key_ref}"
            )
        return WrappedKeySigner(self, record)

    def private_key(self, record: KeyRecord) -> SM2PrivateKey:
        """The unwrapped key, from the bounded-time cache or freshly decrypted."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(record.key_ref)
            if cached is not None and cached.expires > now:
                self._cache.move_to_end(record.key_ref)
                return cached.key
        assert record.wrapped is not None
        key = unwrap_key(self._kek, record.wrapped, key_ref=record.key_ref)
        if key.public_key.to_der() != record.public_key_der:
            raise KeyUnavailable(
                "签名密钥与登记的公钥不符", detail_en=f"key {record.key_ref} does not match its public key"
            )
        with self._lock:
            self._cache[record.key_ref] = _CachedKey(key, now + self.cache_seconds)
            self._cache.move_to_end(record.key_ref)
            for ref in [r for r, c in self._cache.items() if c.expires <= now]:
                del self._cache[ref]
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return key

    def forget(self, key_ref: str | None = None) -> None:
        """Drop one unwrapped key (or all) from memory."""
        with self._lock:
            if key_ref is None:
                self._cache.clear()
            else:
                self._cache.pop(key_ref, None)

    @property
    def cached_refs(self) -> tuple[str, ...]:
        """References whose plain key is in memory now (for tests and the status page)."""
        now = time.monotonic()
        with self._lock:
            return tuple(ref for ref, c in self._cache.items() if c.expires > now)


class WrappedKeySigner:
    """A ``DigestSigner`` for a software key that is decrypted only while signing is going on."""

    __slots__ = ("_backend", "_record", "key_id", "public_key")

    def __init__(self, backend: SoftwareBackend, record: KeyRecord) -> None:
        self._backend = backend
        self._record = record
        self.public_key: SM2PublicKey = SM2PublicKey.from_der(record.public_key_der)
        self.key_id = record.key_ref

    def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
        """Sign SM3(Z ‖ data) (SM3(data) when ``uid`` is None)."""
        # Z depends only on the public key: computing e here keeps the Z cache of the long-lived public key.
        return self._backend.private_key(self._record).sign_digest(
            self.public_key.digest(data, uid=uid), raw=raw
        )

    def sign_digest(self, e: bytes, *, raw: bool = False) -> bytes:
        """Sign the 32-byte digest ``e`` as given."""
        return self._backend.private_key(self._record).sign_digest(e, raw=raw)

    def __repr__(self) -> str:
        return f"WrappedKeySigner(key_ref={short_id(self.key_id)!r}, key={short_id(self.public_key.fingerprint)})"


class KeyRing:
    """The backends of one node: the software backend (from its secret) plus registered HSM adapters."""

    def __init__(self, secret: str | bytes, *, cache_seconds: float = 300.0) -> None:
        self.software = SoftwareBackend(derive_kek(secret), cache_seconds=cache_seconds)
        self._signers: dict[str, DigestSigner] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyRing(backends={sorted({SOFTWARE_SCHEME, *_BACKENDS})})"

    def backend(self, scheme: str) -> SignerBackend:
        """The backend for a scheme; KeyUnavailable when none is registered."""
        if scheme == SOFTWARE_SCHEME:
            return self.software
        found = _BACKENDS.get(scheme)
        if found is None:
            raise KeyUnavailable(
                f"未配置签名设备：{scheme}", detail_en=f"no signer backend registered for {scheme!r}"
            )
        return found

    def generate(self, label: str, *, scheme: str = SOFTWARE_SCHEME) -> GeneratedKey:
        """A new key in the named backend."""
        return self.backend(scheme).generate(label)

    def signer(self, record: KeyRecord) -> DigestSigner:
        """The (cached) signer for a stored key reference."""
        with self._lock:
            found = self._signers.get(record.key_ref)
        if found is not None:
            return found
        created = self.backend(record.scheme).signer(record)
        if created.public_key.to_der() != record.public_key_der:
            raise KeyUnavailable(
                "签名设备中的密钥与登记的公钥不符",
                detail_en=f"backend key {record.key_ref} does not match its public key",
            )
        with self._lock:
            if len(self._signers) > 4096:
                self._signers.clear()
            self._signers[record.key_ref] = created
        return created


_BACKENDS: dict[str, SignerBackend] = {}
_RINGS: dict[bytes, KeyRing] = {}
_RINGS_LOCK = threading.Lock()


def register_backend(backend: SignerBackend) -> None:
    """Make an HSM adapter available for its scheme (call once at start-up, e.g. from main.py)."""
    if backend.scheme == SOFTWARE_SCHEME or not backend.scheme.isidentifier():
        raise ValueError(f"invalid backend scheme {backend.scheme!r}")
    _BACKENDS[backend.scheme] = backend


def unregister_backend(scheme: str) -> None:
    """Remove an adapter (tests)."""
    _BACKENDS.pop(scheme, None)


def keyring(secret: str) -> KeyRing:
    """The process-wide key ring for a node secret (one software cache per secret)."""
    # Index by a digest, never by the secret itself.
    index = hmac_sm3(b"zhengwu/seals/keyring-index", secret.encode("utf-8"))
    with _RINGS_LOCK:
        ring = _RINGS.get(index)
        if ring is None:
            ring = _RINGS[index] = KeyRing(secret)
        return ring
