"""The pure-Python reference as a backend — for tests and cross-checks only, never selected by default."""

from __future__ import annotations

from zhengwu.kernel.crypto import _reference as _ref
from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext
from zhengwu.kernel.crypto.curve import encode_point, parse_point

_C = _ref.SM2P256V1


class _RefPublic:
    __slots__ = ("_pt",)

    def __init__(self, point: bytes) -> None:
        self._pt = parse_point(point)

    def verify_digest(self, e: bytes, r: int, s: int) -> bool:
        return _ref.verify_digest(_C, self._pt, e, r, s)

    def encrypt(self, plaintext: bytes) -> SM2Ciphertext:
        (x, y), c3, c2 = _ref.encrypt(_C, self._pt, plaintext)
        return SM2Ciphertext(x, y, c3, c2)


class _RefPrivate:
    __slots__ = ("_d",)

    def __init__(self, d: int) -> None:
        self._d = d

    def sign_digest(self, e: bytes) -> tuple[int, int]:
        return _ref.sign_digest(_C, self._d, e)

    def decrypt(self, ciphertext: SM2Ciphertext) -> bytes:
        return _ref.decrypt(_C, self._d, (ciphertext.x, ciphertext.y), ciphertext.c3, ciphertext.c2)


class ReferenceBackend:
    """Variable-time pure Python: NOT FOR PRODUCTION (see ``_reference``)."""

    name = "reference"

    def load_private(self, d: int) -> tuple[_RefPrivate, bytes]:
        """Load scalar d."""
        return _RefPrivate(d), encode_point(*_ref.public_point(_C, d))

    def load_public(self, point: bytes) -> _RefPublic:
        """Load a 65-byte uncompressed point."""
        return _RefPublic(point)
