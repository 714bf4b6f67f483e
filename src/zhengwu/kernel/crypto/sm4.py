"""SM4 (GB/T 32907-2016) block cipher in ECB, CBC, CTR and GCM modes, through ``cryptography``.

ECB and CBC pad with PKCS#7 by default (what most Java/JS SM4 utilities do); pass ``padding=False`` for
block-aligned data. CBC without a MAC is malleable and leaks through padding errors: prefer GCM for new
formats and use ECB/CBC only where a peer's format demands them.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as _padding
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from zhengwu.kernel.crypto.errors import CryptoError

SM4_KEY_SIZE = 16
SM4_BLOCK_SIZE = 16
GCM_TAG_SIZE = 16
GCM_NONCE_SIZE = 12


def _key(key: bytes) -> algorithms.SM4:
    if len(key) != SM4_KEY_SIZE:
        raise CryptoError(f"SM4 key must be 16 bytes, got {len(key)}")
    return algorithms.SM4(bytes(key))


def _block_iv(iv: bytes, what: str) -> bytes:
    if len(iv) != SM4_BLOCK_SIZE:
        raise CryptoError(f"SM4 {what} must be 16 bytes, got {len(iv)}")
    return bytes(iv)


def _pad(data: bytes) -> bytes:
    p = _padding.PKCS7(SM4_BLOCK_SIZE * 8).padder()
    return p.update(data) + p.finalize()


def _unpad(data: bytes) -> bytes:
    u = _padding.PKCS7(SM4_BLOCK_SIZE * 8).unpadder()
    try:
        return u.update(data) + u.finalize()
    except ValueError:
        raise CryptoError("SM4: bad PKCS#7 padding (wrong key or corrupt data)") from None


def _aligned(data: bytes) -> None:
    if len(data) % SM4_BLOCK_SIZE:
        raise CryptoError(f"SM4: data length {len(data)} is not a multiple of 16 (use padding=True)")


def _run(ctx: CipherContext, data: bytes) -> bytes:
    return ctx.update(data) + ctx.finalize()


def sm4_ecb_encrypt(key: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """SM4-ECB encryption (PKCS#7 padded unless ``padding=False``)."""
    data = _pad(data) if padding else data
    _aligned(data)
    return _run(Cipher(_key(key), modes.ECB()).encryptor(), data)  # noqa: S305 - ECB is asked for by name


def sm4_ecb_decrypt(key: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """SM4-ECB decryption (PKCS#7 padding removed unless ``padding=False``)."""
    _aligned(data)
    out = _run(Cipher(_key(key), modes.ECB()).decryptor(), data)  # noqa: S305
    return _unpad(out) if padding else out


def sm4_cbc_encrypt(key: bytes, iv: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """SM4-CBC encryption with a 16-byte IV (PKCS#7 padded unless ``padding=False``)."""
    data = _pad(data) if padding else data
    _aligned(data)
    return _run(Cipher(_key(key), modes.CBC(_block_iv(iv, "IV"))).encryptor(), data)


def sm4_cbc_decrypt(key: bytes, iv: bytes, data: bytes, *, padding: bool = True) -> bytes:
    """SM4-CBC decryption with a 16-byte IV (PKCS#7 padding removed unless ``padding=False``)."""
    _aligned(data)
    out = _run(Cipher(_key(key), modes.CBC(_block_iv(iv, "IV"))).decryptor(), data)
    return _unpad(out) if padding else out


def sm4_ctr_encrypt(key: bytes, counter_block: bytes, data: bytes) -> bytes:
    """SM4-CTR keystream XOR; ``counter_block`` is the 16-byte initial counter (big-endian increment)."""
    return _run(Cipher(_key(key), modes.CTR(_block_iv(counter_block, "counter block"))).encryptor(), data)


#: CTR is its own inverse.
sm4_ctr_decrypt = sm4_ctr_encrypt


def sm4_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM (RFC 8998) encryption; returns ciphertext ‖ 16-byte tag. Never reuse a nonce under a key."""
    if not 8 <= len(nonce) <= 128:
        raise CryptoError(f"SM4-GCM nonce must be 8..128 bytes (12 recommended), got {len(nonce)}")
    enc = Cipher(_key(key), modes.GCM(bytes(nonce))).encryptor()
    if aad:
        enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return ct + enc.tag


def sm4_gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM decryption of ciphertext ‖ tag; raises CryptoError when the tag does not match."""
    if not 8 <= len(nonce) <= 128:
        raise CryptoError(f"SM4-GCM nonce must be 8..128 bytes (12 recommended), got {len(nonce)}")
    if len(data) < GCM_TAG_SIZE:
        raise CryptoError("SM4-GCM: data shorter than the 16-byte tag")
    ct, tag = data[:-GCM_TAG_SIZE], data[-GCM_TAG_SIZE:]
    dec = Cipher(_key(key), modes.GCM(bytes(nonce), tag)).decryptor()
    if aad:
        dec.authenticate_additional_data(aad)
    try:
        return dec.update(ct) + dec.finalize()
    except InvalidTag:
        raise CryptoError("SM4-GCM: authentication failed (wrong key, nonce, AAD or tampered data)") from None


class SM4BlockCipher:
    """The raw SM4 block permutation under one key, with reusable contexts (for block-level protocols)."""

    __slots__ = ("_dec", "_enc")

    def __init__(self, key: bytes) -> None:
        alg = _key(key)
        # One ECB context each way: with whole blocks, ECB update() is exactly the block function.
        self._enc = Cipher(alg, modes.ECB()).encryptor()  # noqa: S305
        self._dec = Cipher(alg, modes.ECB()).decryptor()  # noqa: S305

    def __repr__(self) -> str:
        return "SM4BlockCipher(<key hidden>)"

    def encrypt_block(self, block: bytes) -> bytes:
        """Encrypt exactly one 16-byte block."""
        if len(block) != SM4_BLOCK_SIZE:
            raise CryptoError("SM4 block must be 16 bytes")
        return self._enc.update(block)

    def decrypt_block(self, block: bytes) -> bytes:
        """Decrypt exactly one 16-byte block."""
        if len(block) != SM4_BLOCK_SIZE:
            raise CryptoError("SM4 block must be 16 bytes")
        return self._dec.update(block)
