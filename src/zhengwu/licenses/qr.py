"""A QR encoder for the license's 2-D code: byte mode, error correction M, a fixed mask.

segno encodes any content in any mode, and does it module by module in Python: a version-17 code took
about 16 ms, the largest single cost of an issuance. The license's code is always the same kind — an
ASCII URL in byte mode — so everything that depends only on the version (the function patterns with
the format and version information, which modules carry data and in which order, the mask over them,
how the blocks interleave) is worked out once per version and kept; encoding a content is then the
Reed–Solomon remainders (one table lookup and two integer operations a data byte) and a handful of
whole-symbol operations on strings and integers. The symbol is the one segno makes for the same
content, version, level and mask, module for module (tests/licenses/test_licenses_qr.py compares them
for every version and mask); content segno would put in another mode or encoding goes to segno.

The capacities and block structure come from segno's tables (ISO/IEC 18004 Table 9).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import segno
from segno import consts

LEVEL_M: Final = consts.ERROR_LEVEL_M
_ALPHANUMERIC: Final = frozenset(consts.ALPHANUMERIC_CHARS.decode("ascii"))
_MASKS: Final[tuple[Callable[[int, int], bool], ...]] = (
    lambda y, x: (y + x) % 2 == 0,
    lambda y, x: y % 2 == 0,
    lambda y, x: x % 3 == 0,
    lambda y, x: (y + x) % 3 == 0,
    lambda y, x: (y // 2 + x // 3) % 2 == 0,
    lambda y, x: (y * x) % 2 + (y * x) % 3 == 0,
    lambda y, x: ((y * x) % 2 + (y * x) % 3) % 2 == 0,
    lambda y, x: ((y + x) % 2 + (y * x) % 3) % 2 == 0,
)


def _gf_tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 512, [0] * 256
    value = 1
    for i in range(255):
        exp[i], log[value] = value, i
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


@functools.cache
def _rs_table(degree: int) -> tuple[int, ...]:
    """For every leading byte f: f times the generator polynomial's lower coefficients, as one integer."""
    poly = [1]  # product of (x - α^i), highest coefficient first
    for i in range(degree):
        nxt = [*poly, 0]
        for j, c in enumerate(poly):
            if c:
                nxt[j + 1] ^= _EXP[_LOG[c] + i]
        poly = nxt
    lower = poly[1:]
    rows = [0]
    for f in range(1, 256):
        product = bytes(_EXP[_LOG[f] + _LOG[c]] if c else 0 for c in lower)
        rows.append(int.from_bytes(product, "big"))
    return tuple(rows)


def _rs_remainder(data: bytes, degree: int) -> bytes:
    table = _rs_table(degree)
    shift, keep = 8 * (degree - 1), (1 << (8 * degree)) - 1
    rem = 0
    for byte in data:
        rem = ((rem << 8) & keep) ^ table[(rem >> shift) ^ byte]
    return rem.to_bytes(degree, "big")


def _bch(value: int, generator: int, width: int) -> int:
    """``value`` followed by its BCH remainder under ``generator`` (of degree ``width``)."""
    rem = value << width
    top = generator.bit_length()
    while rem.bit_length() >= top:
        rem ^= generator << (rem.bit_length() - top)
    return (value << width) | rem


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a version fixes: capacity, blocks, module roles and placement."""

    size: int
    capacity: int  # data codewords
    blocks: tuple[tuple[int, int], ...]  # (data codewords, ecc codewords) per block, in order
    interleave: Callable[[bytes], tuple[int, ...]]  # data + all ecc, block after block → symbol order
    place: Callable[[str], tuple[str, ...]]  # codeword bits (+ one trailing "0") → modules, row-major
    function: tuple[int, ...]  # per mask: function patterns with format/version info (dark = 1)
    masks: tuple[int, ...]  # per mask: the mask over data modules


@functools.cache
def _layout(version: int) -> _Layout:
    size = 17 + 4 * version
    dark = [[False] * size for _ in range(size)]
    fixed = [[False] * size for _ in range(size)]

    def put(y: int, x: int, on: bool) -> None:
        dark[y][x], fixed[y][x] = on, True

    for i in range(size):
        put(6, i, i % 2 == 0)
        put(i, 6, i % 2 == 0)
    for cy, cx in ((3, 3), (3, size - 4), (size - 4, 3)):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                y, x = cy + dy, cx + dx
                if 0 <= y < size and 0 <= x < size:
                    put(y, x, max(abs(dy), abs(dx)) not in (2, 4))
    centres = consts.ALIGNMENT_POS[version - 2] if version > 1 else ()
    last = len(centres) - 1
    for a, cy in enumerate(centres):
        for b, cx in enumerate(centres):
            if (a, b) in ((0, 0), (0, last), (last, 0)):
                continue
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    put(cy + dy, cx + dx, max(abs(dy), abs(dx)) != 1)
    # Format information areas (written per mask below) and the dark module.
    for i in range(9):
        fixed[8][i] = fixed[i][8] = True
    for i in range(8):
        fixed[8][size - 1 - i] = fixed[size - 1 - i][8] = True
    put(size - 8, 8, True)
    if version >= 7:
        info = _bch(version, 0x1F25, 12)
        for i in range(18):
            a, b = size - 11 + i % 3, i // 3
            put(a, b, bool(info >> i & 1))
            put(b, a, bool(info >> i & 1))

    order: list[int] = []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        upward = (right + 1) & 2 == 0
        for step in range(size):
            y = size - 1 - step if upward else step
            for x in (right, right - 1):
                if not fixed[y][x]:
                    order.append(y * size + x)
        right -= 2

    blocks = tuple(
        (g.num_data, g.num_total - g.num_data) for g in _groups(version) for _ in range(g.num_blocks)
    )
    capacity = sum(d for d, _ in blocks)
    starts, offset = [], 0
    for d, _ in blocks:
        starts.append(offset)
        offset += d
    sequence = [
        starts[k] + i for i in range(max(d for d, _ in blocks)) for k, (d, _) in enumerate(blocks) if i < d
    ]
    ecc = blocks[0][1]
    sequence += [capacity + k * ecc + i for i in range(ecc) for k in range(len(blocks))]

    bits = 8 * (capacity + len(blocks) * ecc)
    source = [bits] * (size * size)  # every module not fed by a codeword bit reads the trailing "0"
    for k, index in enumerate(order[:bits]):
        source[index] = k

    def row_major(cells: list[list[bool]]) -> int:
        return int("".join("1" if c else "0" for row in cells for c in row), 2)

    functions, masks = [], []
    for m, rule in enumerate(_MASKS):
        with_format = [row[:] for row in dark]
        info = _bch(m, 0x537, 10) ^ 0x5412  # level M's two bits are 00
        for i in range(15):
            on = bool(info >> i & 1)
            # Around the top-left finder: up column 8, then leftwards along row 8 (skipping timing).
            if i < 6:
                with_format[i][8] = on
            elif i < 8:
                with_format[i + 1][8] = on
            elif i == 8:
                with_format[8][7] = on
            else:
                with_format[8][14 - i] = on
            # The copy: along row 8 by the top-right finder, then down column 8 by the bottom-left one.
            if i < 8:
                with_format[8][size - 1 - i] = on
            else:
                with_format[size - 15 + i][8] = on
        functions.append(row_major(with_format))
        masks.append(row_major([[not fixed[y][x] and rule(y, x) for x in range(size)] for y in range(size)]))
    return _Layout(
        size=size,
        capacity=capacity,
        blocks=blocks,
        interleave=operator.itemgetter(*sequence),
        place=operator.itemgetter(*source),
        function=tuple(functions),
        masks=tuple(masks),
    )


def _version_for(length: int) -> int | None:
    for version in range(1, 41):
        header = 4 + (8 if version < 10 else 16)
        if header + 8 * length <= 8 * _capacity(version):
            return version
    return None


def _groups(version: int) -> tuple[Any, ...]:
    """segno's block groups of a version at level M: (num_blocks, num_total, num_data) each."""
    table: Any = consts.ECC  # typed as a plain dict of objects in segno
    return tuple(table[version][LEVEL_M])


@functools.cache
def _capacity(version: int) -> int:
    return sum(g.num_blocks * g.num_data for g in _groups(version))


def _fast(content: str) -> bool:
    # segno's choice for such content is one byte-mode segment, the bytes being the ASCII ones.
    return content.isascii() and not set(content) <= _ALPHANUMERIC


def rows(content: str, mask: int) -> list[str]:
    """The symbol's rows, "1" for a dark module (no quiet zone), level M, the given mask."""
    data = content.encode("ascii") if _fast(content) else b""
    version = _version_for(len(data)) if data else None
    if version is None:
        code = segno.make_qr(content, error="m", mask=mask, boost_error=False)
        return ["".join("1" if m else "0" for m in row) for row in code.matrix]
    lay = _layout(version)
    count_bits = 8 if version < 10 else 16
    value = (0b0100 << count_bits | len(data)) << 8 * len(data) | int.from_bytes(data, "big")
    length = 4 + count_bits + 8 * len(data)
    room = 8 * lay.capacity
    terminator = min(4, room - length)
    length += terminator
    # To the byte boundary; like segno, a whole zero byte when the stream is already on one (readers
    # stop at the terminator, so it is padding like any other, and the symbol stays segno's).
    fill = 8 - length % 8
    value <<= terminator + fill
    length += fill
    body = value.to_bytes(length // 8, "big")[: lay.capacity]
    pad = lay.capacity - len(body)
    body += (b"\xec\x11" * (pad // 2 + 1))[:pad]
    eccs, offset = [], 0
    for size, degree in lay.blocks:
        eccs.append(_rs_remainder(body[offset : offset + size], degree))
        offset += size
    codewords = bytes(lay.interleave(body + b"".join(eccs)))
    stream = format(int.from_bytes(codewords, "big"), f"0{8 * len(codewords)}b") + "0"
    modules = int("".join(lay.place(stream)), 2) ^ lay.masks[mask] | lay.function[mask]
    flat = format(modules, f"0{lay.size * lay.size}b")
    return [flat[i : i + lay.size] for i in range(0, len(flat), lay.size)]
