"""Who signs: the ``Signer`` protocol (what an HSM — SDF/SKF/PKCS#11 — adapter implements) and a software one."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from zhengwu.kernel.crypto.curve import DEFAULT_SM2_UID
from zhengwu.kernel.crypto.sm2 import SM2PrivateKey, SM2PublicKey


@runtime_checkable
class Signer(Protocol):
    """Produces SM2 signatures for ``public_key``; the private key may live anywhere (process, HSM)."""

    @property
    def public_key(self) -> SM2PublicKey:
        """The key that verifies this signer's signatures."""
        ...

    def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
        """Sign SM3(Z ‖ data) (SM3(data) when ``uid`` is None); DER, or raw r‖s with ``raw=True``."""
        ...


@runtime_checkable
class DigestSigner(Signer, Protocol):
    """A signer that also signs a caller-computed e (what SDF_InternalSign_ECC and most HSMs expose)."""

    def sign_digest(self, e: bytes, *, raw: bool = False) -> bytes:
        """Sign the 32-byte digest ``e`` as given."""
        ...


class SoftwareSigner:
    """A ``DigestSigner`` over an in-process ``SM2PrivateKey`` (development, tests, hosts without an HSM)."""

    __slots__ = ("_key", "key_id", "public_key")

    def __init__(self, key: SM2PrivateKey, *, key_id: str | None = None) -> None:
        self._key = key
        self.public_key: SM2PublicKey = key.public_key
        #: A name for logs and audit records; defaults to the start of the key fingerprint.
        self.key_id = key_id or key.fingerprint[:16]

    @classmethod
    def from_pem_file(
        cls, path: Path, password: bytes | str | None = None, *, key_id: str | None = None
    ) -> SoftwareSigner:
        """Load a PEM private key file (PKCS#8, encrypted PKCS#8 or SEC1)."""
        return cls(SM2PrivateKey.from_pem(path.read_bytes(), password), key_id=key_id)

    def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
        """Sign SM3(Z ‖ data) (SM3(data) when ``uid`` is None)."""
        return self._key.sign(data, uid=uid, raw=raw)

    def sign_digest(self, e: bytes, *, raw: bool = False) -> bytes:
        """Sign the 32-byte digest ``e`` as given."""
        return self._key.sign_digest(e, raw=raw)

    def __repr__(self) -> str:
        return f"SoftwareSigner(key_id={self.key_id!r}, fingerprint={self.public_key.fingerprint[:16]})"
