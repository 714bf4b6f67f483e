"""The SM2 recommended curve (GB/T 32918.5, sm2p256v1) and point encoding helpers."""

from __future__ import annotations

from typing import Final

from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.hashes import sm3

# GB/T 32918.5-2017 / GM/T 0003.5-2012 recommended parameters
P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX: Final = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY: Final = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

#: OID of the curve (GB/T 33560 / GM/T 0006); keys use id-ecPublicKey with this as namedCurve.
SM2_CURVE_OID: Final = "1.2.156.10197.1.301"
#: GM/T 0009 default signer ID; ENTL = 0x0080.
DEFAULT_SM2_UID: Final = b"1234567812345678"

COORD_SIZE: Final = 32
POINT_SIZE: Final = 65
#: ENTL is a 16-bit bit count, so an ID may have at most 8191 bytes.
MAX_UID_SIZE: Final = 0xFFFF // 8

_CURVE_BYTES: Final = b"".join(v.to_bytes(COORD_SIZE, "big") for v in (A, B, GX, GY))


def is_on_curve(x: int, y: int) -> bool:
    """True when (x, y) is an affine point of sm2p256v1 with coordinates in [0, p)."""
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def encode_point(x: int, y: int) -> bytes:
    """The uncompressed SEC1 encoding 04 ‖ x ‖ y (65 bytes)."""
    return b"\x04" + x.to_bytes(COORD_SIZE, "big") + y.to_bytes(COORD_SIZE, "big")


def parse_point(data: bytes) -> tuple[int, int]:
    """Decode and validate a public point: 04‖x‖y (65 bytes), bare x‖y (64) or compressed 02/03‖x (33)."""
    data = bytes(data)
    if len(data) == POINT_SIZE and data[0] == 0x04:
        x, y = int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big")
    elif len(data) == 2 * COORD_SIZE:
        x, y = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big")
    elif len(data) == COORD_SIZE + 1 and data[0] in (2, 3):
        x = int.from_bytes(data[1:], "big")
        if x >= P:
            raise CryptoError("SM2 public key: x coordinate out of range")
        # p ≡ 3 (mod 4), so a square root of c is c^((p+1)/4)
        c = (x * x * x + A * x + B) % P
        y = pow(c, (P + 1) // 4, P)
        if y * y % P != c:
            raise CryptoError("SM2 public key: compressed point is not on the curve")
        if y & 1 != data[0] & 1:
            y = P - y
    else:
        raise CryptoError(
            f"SM2 public key: expected 65-byte 04‖x‖y, 64-byte x‖y or 33-byte point, got {len(data)}"
        )
    if not is_on_curve(x, y):
        raise CryptoError("SM2 public key: point is not on the SM2 curve")
    return x, y


def za(point: bytes, uid: bytes) -> bytes:
    """Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA) of GB/T 32918.2 for a 65-byte uncompressed point."""
    if len(uid) > MAX_UID_SIZE:
        raise CryptoError(f"SM2 user ID too long ({len(uid)} bytes, at most {MAX_UID_SIZE})")
    return sm3((len(uid) * 8).to_bytes(2, "big") + uid + _CURVE_BYTES + point[1:])
