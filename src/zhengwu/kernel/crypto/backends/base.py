"""The SM2 backend interface: what a native library must provide to the crypto kernel.

Backends work on the recommended curve only, on pre-computed digests e (Z and SM3 are done by the kernel,
so every backend applies the same ID convention) and on parsed values, never on encodings.
"""

from __future__ import annotations

from typing import Protocol

from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext


class PrivateOps(Protocol):
    """Operations bound to one loaded private key."""

    def sign_digest(self, e: bytes) -> tuple[int, int]:
        """Sign the 32-byte digest e with a fresh random k; returns (r, s)."""
        ...

    def decrypt(self, ciphertext: SM2Ciphertext) -> bytes:
        """Decrypt; raises CryptoError when C3 does not match."""
        ...


class PublicOps(Protocol):
    """Operations bound to one loaded public key."""

    def verify_digest(self, e: bytes, r: int, s: int) -> bool:
        """True when (r, s) in [1, n-1]^2 is a valid signature of digest e."""
        ...

    def encrypt(self, plaintext: bytes) -> SM2Ciphertext:
        """Encrypt a non-empty plaintext with a fresh random k."""
        ...


class SM2Backend(Protocol):
    """A source of SM2 key operations (tongsuopy, gmalglib, the pure-Python reference, …)."""

    @property
    def name(self) -> str:
        """Registry name of the backend."""
        ...

    def load_private(self, d: int) -> tuple[PrivateOps, bytes]:
        """Load private scalar d (already range-checked); returns its ops and the 65-byte public point."""
        ...

    def load_public(self, point: bytes) -> PublicOps:
        """Load a validated 65-byte uncompressed public point."""
        ...
