"""SM2 through ``tongsuopy`` (Tongsuo's libcrypto, bundled in an abi3 wheel) — the production backend.

tongsuopy's public API signs only with the default ID; the backend calls ``EVP_PKEY_sign``/``verify`` on the
digest e through tongsuopy's cffi binding instead, so all three Z conventions work. The binding's ``_lib``
and the key objects' ``_evp_pkey`` are private attributes of tongsuopy: pin its version.
"""

from __future__ import annotations

from typing import Any

from tongsuopy.backends.tongsuo import backend as _tongsuo
from tongsuopy.crypto.asymciphers import ec as _ec

from zhengwu.kernel.crypto.ciphertext import SM2Ciphertext
from zhengwu.kernel.crypto.curve import encode_point
from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.signature import decode_der, encode_der

_ffi: Any = _tongsuo._ffi
_lib: Any = _tongsuo._lib
_NULL: Any = _ffi.NULL
#: Draws of k before giving up on a non-zero key stream (each fails with p = 2^-8 for one byte).
_ENCRYPT_ATTEMPTS = 16
_SIG_MAX = 80  # DER of two 33-byte INTEGERs is at most 72 bytes


def _clear_errors() -> None:
    # OpenSSL keeps failures on a per-thread queue; drop them so they cannot leak into a later call.
    _tongsuo._consume_errors()


class _Ctx:
    """An ``EVP_PKEY_CTX`` for one operation, freed on exit."""

    __slots__ = ("ptr",)

    def __init__(self, pkey: Any) -> None:
        self.ptr: Any = _lib.EVP_PKEY_CTX_new(pkey, _NULL)
        if self.ptr == _NULL:
            _clear_errors()
            raise MemoryError("EVP_PKEY_CTX_new failed")

    def __enter__(self) -> Any:
        return self.ptr

    def __exit__(self, *exc: object) -> None:
        _lib.EVP_PKEY_CTX_free(self.ptr)


class _TongsuoPublic:
    __slots__ = ("_key", "_pkey")

    def __init__(self, key: Any) -> None:
        self._key = key  # keeps the EVP_PKEY alive
        self._pkey: Any = key._evp_pkey

    def verify_digest(self, e: bytes, r: int, s: int) -> bool:
        sig = encode_der(r, s)
        with _Ctx(self._pkey) as ctx:
            ok = (
                _lib.EVP_PKEY_verify_init(ctx) == 1
                and _lib.EVP_PKEY_verify(ctx, sig, len(sig), e, len(e)) == 1
            )
        if not ok:
            _clear_errors()
        return bool(ok)

    def encrypt(self, plaintext: bytes) -> SM2Ciphertext:
        # GB/T 32918.4 step A5: an all-zero KDF output t needs a new k, and a conforming decrypter
        # refuses such a ciphertext (step B4). Tongsuo does not redraw, so about 1 in 256 one-byte
        # messages came out with t = 0 — visible as C2 equal to the message, since C2 = M xor t.
        for _ in range(_ENCRYPT_ATTEMPTS):
            ciphertext = self._encrypt_once(plaintext)
            if ciphertext.c2 != plaintext or not plaintext:
                return ciphertext
        raise CryptoError("SM2 encryption failed: Tongsuo kept giving an all-zero key stream")

    def _encrypt_once(self, plaintext: bytes) -> SM2Ciphertext:
        size = _ffi.new("size_t *", 0)
        with _Ctx(self._pkey) as ctx:
            if (
                _lib.EVP_PKEY_encrypt_init(ctx) != 1
                or _lib.EVP_PKEY_encrypt(ctx, _NULL, size, plaintext, len(plaintext)) != 1
            ):
                _clear_errors()
                raise CryptoError("SM2 encryption failed")
            buf = _ffi.new("unsigned char[]", size[0])
            if _lib.EVP_PKEY_encrypt(ctx, buf, size, plaintext, len(plaintext)) != 1:
                _clear_errors()
                raise CryptoError("SM2 encryption failed")
        return SM2Ciphertext.from_der(bytes(_ffi.buffer(buf, size[0])))


class _TongsuoPrivate:
    __slots__ = ("_key", "_pkey")

    def __init__(self, key: Any) -> None:
        self._key = key
        self._pkey: Any = key._evp_pkey

    def sign_digest(self, e: bytes) -> tuple[int, int]:
        size = _ffi.new("size_t *", _SIG_MAX)
        buf = _ffi.new("unsigned char[]", _SIG_MAX)
        with _Ctx(self._pkey) as ctx:
            if _lib.EVP_PKEY_sign_init(ctx) != 1 or _lib.EVP_PKEY_sign(ctx, buf, size, e, len(e)) != 1:
                _clear_errors()
                raise CryptoError("SM2 signing failed")
        return decode_der(bytes(_ffi.buffer(buf, size[0])))

    def decrypt(self, ciphertext: SM2Ciphertext) -> bytes:
        der = ciphertext.to_der()
        size = _ffi.new("size_t *", len(der))
        buf = _ffi.new("unsigned char[]", len(der))
        with _Ctx(self._pkey) as ctx:
            ok = (
                _lib.EVP_PKEY_decrypt_init(ctx) == 1
                and _lib.EVP_PKEY_decrypt(ctx, buf, size, der, len(der)) == 1
            )
        if not ok:
            _clear_errors()
            raise CryptoError("SM2 decryption failed")
        return bytes(_ffi.buffer(buf, size[0]))


class TongsuoBackend:
    """SM2 on Tongsuo's libcrypto through tongsuopy."""

    name = "tongsuopy"

    def load_private(self, d: int) -> tuple[_TongsuoPrivate, bytes]:
        """Load scalar d; the public point is computed by Tongsuo."""
        try:
            key = _ec.derive_private_key(d, _ec.SM2())
        except ValueError:
            _clear_errors()
            raise CryptoError("SM2 private key rejected by tongsuopy") from None
        nums = key.public_key().public_numbers()
        return _TongsuoPrivate(key), encode_point(int(nums.x), int(nums.y))

    def load_public(self, point: bytes) -> _TongsuoPublic:
        """Load a 65-byte uncompressed point (Tongsuo re-checks that it is on the curve)."""
        try:
            key = _ec.EllipticCurvePublicKey.from_encoded_point(_ec.SM2(), point)
        except ValueError:
            _clear_errors()
            raise CryptoError("SM2 public key rejected by tongsuopy") from None
        return _TongsuoPublic(key)
