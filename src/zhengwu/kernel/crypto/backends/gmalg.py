"""SM2 through ``gmalglib`` (a C extension built from source) — the independent cross-check backend."""

from __future__ import annotations

from typing import Any

from gmalglib.sm2 import SM2 as _SM2

from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext
from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.signature import decode_raw, encode_raw

# gmalglib raises these for malformed input; map them, let anything else surface as a bug.
_GM_ERRORS = (ValueError, RuntimeError, OverflowError)
_ZERO_DIGEST = bytes(32)
_ENCRYPT_ATTEMPTS = 16


class _GmPublic:
    __slots__ = ("_sm2",)

    def __init__(self, point: bytes) -> None:
        self._sm2: Any = _SM2(pk=point)

    def verify_digest(self, e: bytes, r: int, s: int) -> bool:
        try:
            return bool(self._sm2.verify_digest(e, encode_raw(r, s)))
        except _GM_ERRORS:
            return False

    def encrypt(self, plaintext: bytes) -> SM2Ciphertext:
        # GB/T 32918.4 step A5: when the KDF output t is all zero a new k must be drawn.
        # gmalglib 0.5.9 instead returns C1 with C3 and C2 zero-filled (about 1 in 256
        # one-byte messages). A real C3 is an SM3 digest, never 32 zero bytes, so retry.
        for _ in range(_ENCRYPT_ATTEMPTS):
            try:
                raw = bytes(self._sm2.encrypt(plaintext))
            except _GM_ERRORS:
                raise CryptoError("SM2 encryption failed") from None
            # gmalglib emits 04 ‖ x ‖ y ‖ C3 ‖ C2
            if raw[65:97] != _ZERO_DIGEST:
                return SM2Ciphertext.from_raw(raw, "C1C3C2")
        raise CryptoError("SM2 encryption failed: gmalglib kept returning an empty C3")


class _GmPrivate:
    __slots__ = ("_sm2",)

    def __init__(self, sk: bytes) -> None:
        self._sm2: Any = _SM2(sk=sk)

    def sign_digest(self, e: bytes) -> tuple[int, int]:
        return decode_raw(bytes(self._sm2.sign_digest(e)))

    def decrypt(self, ciphertext: SM2Ciphertext) -> bytes:
        try:
            return bytes(self._sm2.decrypt(ciphertext.to_raw("C1C3C2")))
        except _GM_ERRORS:
            raise CryptoError("SM2 decryption failed") from None


class GmalglibBackend:
    """SM2 on gmalglib's C implementation."""

    name = "gmalglib"

    def load_private(self, d: int) -> tuple[_GmPrivate, bytes]:
        """Load scalar d; the public point is computed by gmalglib."""
        sk = d.to_bytes(32, "big")
        if not _SM2.is_sk_valid(sk):
            raise CryptoError("SM2 private key rejected by gmalglib")
        return _GmPrivate(sk), bytes(_SM2.get_pk(sk))

    def load_public(self, point: bytes) -> _GmPublic:
        """Load a 65-byte uncompressed point."""
        if not _SM2.is_pk_valid(point):
            raise CryptoError("SM2 public key rejected by gmalglib")
        return _GmPublic(point)
