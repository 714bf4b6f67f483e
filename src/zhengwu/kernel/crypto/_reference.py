"""Pure-Python SM2 (GB/T 32918.2 signature, 32918.4 encryption) over arbitrary prime-field curves.

NOT FOR PRODUCTION. The arithmetic is variable-time (it leaks private keys and nonces through timing) and
~50x slower than the native backends. It exists to reproduce published vectors that need a fixed k or a
non-standard curve (the native backends accept neither), and as an independent cross-check in tests.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from zhengwu.kernel.crypto import curve as _sm2
from zhengwu.kernel.crypto.errors import CryptoError
from zhengwu.kernel.crypto.hashes import sm3

Affine = tuple[int, int]
_Jacobian = tuple[int, int, int]
_INF: _Jacobian = (1, 1, 0)


@dataclass(frozen=True, slots=True)
class Curve:
    """Short Weierstrass curve y^2 = x^3 + ax + b over GF(p) with base point G of prime order n (h = 1)."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    @property
    def size(self) -> int:
        """Byte length of a field element."""
        return (self.p.bit_length() + 7) // 8

    @property
    def g(self) -> Affine:
        """The base point."""
        return self.gx, self.gy


SM2P256V1 = Curve("sm2p256v1", _sm2.P, _sm2.A, _sm2.B, _sm2.GX, _sm2.GY, _sm2.N)

#: The "Fp-256" test curve of the GM/T 0003.2-2012 worked examples (draft-shen-sm2-ecdsa-02). Not for use.
TEST_FP256 = Curve(
    "test-fp256",
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
)


def _double(c: Curve, pt: _Jacobian) -> _Jacobian:
    x, y, z = pt
    if z == 0 or y == 0:
        return _INF
    p = c.p
    yy = y * y % p
    s = 4 * x * yy % p
    m = (3 * x * x + c.a * pow(z, 4, p)) % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p


def _add(c: Curve, p1: _Jacobian, p2: _Jacobian) -> _Jacobian:
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    p = c.p
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    if u1 == u2:
        return _double(c, p1) if s1 == s2 else _INF
    h, r = (u2 - u1) % p, (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    x3 = (r * r - hhh - 2 * u1 * hh) % p
    return x3, (r * (u1 * hh - x3) - s1 * hhh) % p, h * z1 * z2 % p


def _affine(c: Curve, pt: _Jacobian) -> Affine | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, c.p)
    zi2 = zi * zi % c.p
    return x * zi2 % c.p, y * zi2 * zi % c.p


def _mul2(c: Curve, k1: int, p1: Affine, k2: int, p2: Affine) -> Affine | None:
    """k1·P1 + k2·P2 by Shamir's trick (one shared double-and-add pass)."""
    j1, j2 = (p1[0], p1[1], 1), (p2[0], p2[1], 1)
    both = _add(c, j1, j2)
    acc = _INF
    for i in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        acc = _double(c, acc)
        b1, b2 = (k1 >> i) & 1, (k2 >> i) & 1
        if b1 and b2:
            acc = _add(c, acc, both)
        elif b1:
            acc = _add(c, acc, j1)
        elif b2:
            acc = _add(c, acc, j2)
    return _affine(c, acc)


def mul(c: Curve, k: int, pt: Affine) -> Affine | None:
    """k·P (None for the point at infinity)."""
    return _mul2(c, k, pt, 0, pt)


def on_curve(c: Curve, pt: Affine) -> bool:
    """True when pt is an affine point of the curve."""
    x, y = pt
    return 0 <= x < c.p and 0 <= y < c.p and (y * y - x * x * x - c.a * x - c.b) % c.p == 0


def public_point(c: Curve, d: int) -> Affine:
    """P = d·G for a private key d in [1, n-2]."""
    if not 1 <= d <= c.n - 2:
        raise CryptoError("SM2 private key out of range [1, n-2]")
    pt = mul(c, d, c.g)
    assert pt is not None  # d < n, so d·G is finite
    return pt


def _b(c: Curve, v: int) -> bytes:
    return v.to_bytes(c.size, "big")


def za(c: Curve, uid: bytes, pub: Affine) -> bytes:
    """Z_A = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)."""
    if len(uid) > _sm2.MAX_UID_SIZE:
        raise CryptoError("SM2 user ID too long")
    fields = (c.a, c.b, c.gx, c.gy, pub[0], pub[1])
    return sm3((8 * len(uid)).to_bytes(2, "big") + uid + b"".join(_b(c, v) for v in fields))


def sign_digest(c: Curve, d: int, e: bytes, k: int | None = None) -> tuple[int, int]:
    """GB/T 32918.2 §6.1 steps A3–A7 on e; a fixed k is for test vectors only."""
    ei = int.from_bytes(e, "big")
    while True:
        kk = k if k is not None else secrets.randbelow(c.n - 1) + 1
        pt = mul(c, kk, c.g)
        assert pt is not None
        r = (ei + pt[0]) % c.n
        if r != 0 and r + kk != c.n:
            s = pow(1 + d, -1, c.n) * (kk - r * d) % c.n
            if s != 0:
                return r, s
        if k is not None:
            raise CryptoError("this fixed k gives a degenerate signature")


def verify_digest(c: Curve, pub: Affine, e: bytes, r: int, s: int) -> bool:
    """GB/T 32918.2 §7.1 steps B1–B7 on e."""
    if not (0 < r < c.n and 0 < s < c.n) or not on_curve(c, pub):
        return False
    t = (r + s) % c.n
    if t == 0:
        return False
    pt = _mul2(c, s, c.g, t, pub)
    return pt is not None and (int.from_bytes(e, "big") + pt[0]) % c.n == r


def sign(c: Curve, d: int, msg: bytes, uid: bytes | None, k: int | None = None) -> tuple[int, int]:
    """Sign SM3(Z ‖ M) (or SM3(M) when uid is None)."""
    z = b"" if uid is None else za(c, uid, public_point(c, d))
    return sign_digest(c, d, sm3(z + msg), k)


def kdf(z: bytes, klen: int) -> bytes:
    """GB/T 32918.4 §5.4.3 key derivation: SM3(Z ‖ ct) for ct = 1, 2, … (32-bit big-endian)."""
    out = b"".join(sm3(z + ct.to_bytes(4, "big")) for ct in range(1, (klen + 31) // 32 + 1))
    return out[:klen]


def encrypt(c: Curve, pub: Affine, msg: bytes, k: int | None = None) -> tuple[Affine, bytes, bytes]:
    """GB/T 32918.4 §6.1: returns (C1, C3, C2); a fixed k is for test vectors only."""
    if not msg:
        raise CryptoError("SM2 encryption needs a non-empty plaintext")
    while True:
        kk = k if k is not None else secrets.randbelow(c.n - 1) + 1
        c1 = mul(c, kk, c.g)
        shared = mul(c, kk, pub)
        assert c1 is not None and shared is not None
        x2, y2 = _b(c, shared[0]), _b(c, shared[1])
        t = kdf(x2 + y2, len(msg))
        if any(t):
            c2 = bytes(m ^ v for m, v in zip(msg, t, strict=True))
            return c1, sm3(x2 + msg + y2), c2
        if k is not None:
            raise CryptoError("this fixed k gives an all-zero key stream")


def decrypt(c: Curve, d: int, c1: Affine, c3: bytes, c2: bytes) -> bytes:
    """GB/T 32918.4 §7.1; raises CryptoError when C1 is invalid or C3 does not match."""
    if not on_curve(c, c1):
        raise CryptoError("SM2 decryption failed")
    shared = mul(c, d, c1)
    if shared is None:
        raise CryptoError("SM2 decryption failed")
    x2, y2 = _b(c, shared[0]), _b(c, shared[1])
    t = kdf(x2 + y2, len(c2))
    if not any(t):
        raise CryptoError("SM2 decryption failed")
    msg = bytes(m ^ v for m, v in zip(c2, t, strict=True))
    if not hmac.compare_digest(sm3(x2 + msg + y2), c3):
        raise CryptoError("SM2 decryption failed")
    return msg
