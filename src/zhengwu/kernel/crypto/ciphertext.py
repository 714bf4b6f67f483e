"""SM2 ciphertext encodings: GM/T 0009 / GB/T 35276 ASN.1 and the raw C1C3C2 / C1C2C3 byte orders.

The ASN.1 form ``SEQUENCE { INTEGER x, INTEGER y, OCTET STRING C3, OCTET STRING C2 }`` is what OpenSSL,
Tongsuo and GM/T 0009 peers use. Raw forms are 04 ‖ x ‖ y ‖ C3 ‖ C2 (GB/T 32918.4-2016) or
04 ‖ x ‖ y ‖ C2 ‖ C3 (the older order, still the default of some libraries): agree on it with each peer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asn1crypto import core

from zhengwu.kernel.crypto.curve import encode_point, is_on_curve
from zhengwu.kernel.crypto.errors import CryptoError

Order = Literal["C1C3C2", "C1C2C3"]
C3_SIZE = 32


class _SM2CipherASN1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto's declarative schema
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("cipher_text", core.OctetString),
    ]


def _unsigned(value: core.Integer) -> int:
    # Some producers emit a 32-byte coordinate with its top bit set and no 00 pad (a "negative" INTEGER).
    v = int(value.native)
    return v + (1 << (8 * len(value.contents))) if v < 0 else v


@dataclass(frozen=True, slots=True)
class SM2Ciphertext:
    """A parsed SM2 ciphertext: C1 = (x, y), C3 = SM3(x2 ‖ M ‖ y2), C2 = M xor KDF(x2 ‖ y2)."""

    x: int
    y: int
    c3: bytes
    c2: bytes

    def __post_init__(self) -> None:
        if not is_on_curve(self.x, self.y):
            raise CryptoError("SM2 ciphertext: C1 is not a point of the SM2 curve")
        if len(self.c3) != C3_SIZE:
            raise CryptoError("SM2 ciphertext: C3 must be 32 bytes")
        if not self.c2:
            raise CryptoError("SM2 ciphertext: empty C2")

    @property
    def c1(self) -> bytes:
        """C1 as uncompressed point 04 ‖ x ‖ y."""
        return encode_point(self.x, self.y)

    def to_der(self) -> bytes:
        """The GM/T 0009 ASN.1 DER form."""
        return bytes(
            _SM2CipherASN1({"x": self.x, "y": self.y, "hash": self.c3, "cipher_text": self.c2}).dump()
        )

    @classmethod
    def from_der(cls, der: bytes) -> SM2Ciphertext:
        """Parse the GM/T 0009 ASN.1 form (DER; non-minimal INTEGERs from lenient peers are accepted)."""
        try:
            seq = _SM2CipherASN1.load(bytes(der), strict=True)
            x, y = _unsigned(seq["x"]), _unsigned(seq["y"])
            c3, c2 = bytes(seq["hash"].native), bytes(seq["cipher_text"].native)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise CryptoError(
                f"SM2 ciphertext: not a GM/T 0009 ASN.1 structure ({type(exc).__name__})"
            ) from None
        return cls(x, y, c3, c2)

    def to_raw(self, order: Order = "C1C3C2", *, prefix: bool = True) -> bytes:
        """Raw bytes in the given order; ``prefix=False`` drops the leading 04 of C1."""
        c1 = self.c1 if prefix else self.c1[1:]
        if order == "C1C3C2":
            return c1 + self.c3 + self.c2
        if order == "C1C2C3":
            return c1 + self.c2 + self.c3
        raise CryptoError(f"unknown SM2 ciphertext order {order!r}")

    @classmethod
    def from_raw(cls, raw: bytes, order: Order = "C1C3C2", *, prefix: bool = True) -> SM2Ciphertext:
        """Parse raw bytes in the given order (with or without the 04 prefix of C1)."""
        raw = bytes(raw)
        c1_size = 65 if prefix else 64
        if len(raw) <= c1_size + C3_SIZE:
            raise CryptoError("SM2 ciphertext: too short")
        if prefix and raw[0] != 0x04:
            raise CryptoError("SM2 ciphertext: C1 must start with 04 (uncompressed point)")
        x = int.from_bytes(raw[c1_size - 64 : c1_size - 32], "big")
        y = int.from_bytes(raw[c1_size - 32 : c1_size], "big")
        rest = raw[c1_size:]
        if order == "C1C3C2":
            return cls(x, y, rest[:C3_SIZE], rest[C3_SIZE:])
        if order == "C1C2C3":
            return cls(x, y, rest[-C3_SIZE:], rest[:-C3_SIZE])
        raise CryptoError(f"unknown SM2 ciphertext order {order!r}")


def sm2_ciphertext_to_raw(asn1: bytes, order: Order = "C1C3C2", *, prefix: bool = True) -> bytes:
    """Convert a GM/T 0009 ASN.1 SM2 ciphertext to raw bytes in ``order``."""
    return SM2Ciphertext.from_der(asn1).to_raw(order, prefix=prefix)


def sm2_ciphertext_from_raw(raw: bytes, order: Order = "C1C3C2", *, prefix: bool = True) -> bytes:
    """Convert raw SM2 ciphertext bytes in ``order`` to the GM/T 0009 ASN.1 DER form."""
    return SM2Ciphertext.from_raw(raw, order, prefix=prefix).to_der()
