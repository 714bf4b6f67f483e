"""SM2 signature encodings: DER ``SEQUENCE { INTEGER r, INTEGER s }`` (GB/T 35276) and raw 64-byte r ‖ s."""

from __future__ import annotations

import contextlib

from zhengwu.kernel.crypto.curve import N
from zhengwu.kernel.crypto.errors import CryptoError

RAW_SIGNATURE_SIZE = 64


def _der_int(v: int) -> bytes:
    # Minimal two's-complement body: one extra bit keeps a positive value's top bit clear.
    body = v.to_bytes((v.bit_length() + 8) // 8, "big")
    return b"\x02" + bytes([len(body)]) + body


def encode_der(r: int, s: int) -> bytes:
    """DER of (r, s); both must be in [0, 2^256)."""
    if not (0 <= r < 1 << 256 and 0 <= s < 1 << 256):
        raise CryptoError("SM2 signature value out of range")
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


def _read_int(buf: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(buf) or buf[pos] != 0x02:
        raise CryptoError("SM2 signature: expected DER INTEGER")
    length = buf[pos + 1]
    # r, s < 2^256 fit in 33 content bytes, so only the short length form is valid DER here
    if length == 0 or length > 33 or pos + 2 + length > len(buf):
        raise CryptoError("SM2 signature: bad INTEGER length")
    body = buf[pos + 2 : pos + 2 + length]
    if body[0] & 0x80:
        raise CryptoError("SM2 signature: negative INTEGER")
    if length > 1 and body[0] == 0 and not body[1] & 0x80:
        raise CryptoError("SM2 signature: non-minimal INTEGER encoding")
    value = int.from_bytes(body, "big")
    if value >= 1 << 256:
        raise CryptoError("SM2 signature value out of range")
    return value, pos + 2 + length


def decode_der(der: bytes) -> tuple[int, int]:
    """Strict DER decode of an SM2 signature to (r, s); raises CryptoError on any deviation."""
    der = bytes(der)
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise CryptoError("SM2 signature: not a DER SEQUENCE of the expected length")
    r, pos = _read_int(der, 2)
    s, pos = _read_int(der, pos)
    if pos != len(der):
        raise CryptoError("SM2 signature: trailing data")
    return r, s


def encode_raw(r: int, s: int) -> bytes:
    """Raw 64-byte r ‖ s."""
    if not (0 <= r < 1 << 256 and 0 <= s < 1 << 256):
        raise CryptoError("SM2 signature value out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def decode_raw(raw: bytes) -> tuple[int, int]:
    """(r, s) of a raw 64-byte r ‖ s."""
    if len(raw) != RAW_SIGNATURE_SIZE:
        raise CryptoError(f"SM2 raw signature must be 64 bytes, got {len(raw)}")
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")


def candidates(signature: bytes) -> list[tuple[int, int]]:
    """Interpretations of a signature given as DER or raw r‖s; invalid ones are dropped, never raised."""
    out: list[tuple[int, int]] = []
    with contextlib.suppress(CryptoError):
        out.append(decode_der(signature))
    # A 64-byte DER signature is possible (r and s both < 2^232) but rare; try raw as well then.
    if len(signature) == RAW_SIGNATURE_SIZE:
        out.append(decode_raw(signature))
    return [(r, s) for r, s in out if 0 < r < N and 0 < s < N]


def sm2_sig_der_to_raw(der: bytes) -> bytes:
    """Convert a DER SM2 signature to raw 64-byte r ‖ s."""
    return encode_raw(*decode_der(der))


def sm2_sig_raw_to_der(raw: bytes) -> bytes:
    """Convert a raw 64-byte r ‖ s SM2 signature to DER."""
    return encode_der(*decode_raw(raw))
