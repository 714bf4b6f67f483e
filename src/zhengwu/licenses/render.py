"""The license file: an OFD with the face fields, the metadata, the 2-D code and the issuer's name.

The 2-D code is a QR code (``qr``, segno's symbol made faster) (GB/T 36905 names 汉信码 for the face; QR is what every
phone reads). It leads to the node's verification page and carries the signed offline payload in the
URL fragment. The OFD is sealed afterwards by the seals service.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from zhengwu.licenses import qr
from zhengwu.licenses.face import FaceField
from zhengwu.seals.ofd.writer import DocumentSpec, Image, Paragraph, Table, Watermark, write_ofd

QR_SIZE_MM: Final = 40.0
QR_MASK: Final = 2
QR_BORDER: Final = 2  # quiet zone, in modules
#: Where the seal goes (mm from the page's top-left): over the issuer line near the bottom.
SEAL_X_MM: Final = 120.0
SEAL_Y_MM: Final = 215.0


@dataclass(frozen=True, slots=True)
class Face:
    """What the rendered license shows."""

    identifier: str
    type_name: str
    number: str
    holder_name: str
    holder_code_label: str
    holder_code_masked: str
    fields: Sequence[FaceField]
    values: dict[str, str]
    issuer_name: str
    issued_on: date
    valid_from: date
    valid_until: date | None
    verify_url: str


def qr_png(content: str, scale: int = 2) -> bytes:
    """A QR code (error correction M, mask 2) as a 1-bit greyscale PNG, ``scale`` pixels a module.

    The mask is fixed: choosing the "best" of the eight (ISO/IEC 18004 §7.8.3 penalty scores) took 85%
    of an issuance in pure Python, and any mask is a valid, readable code. The symbol comes from
    ``qr.rows`` (segno's symbol, module for module, made per version from cached layouts). A scanline
    is looked up eight modules at a time (``_octets``: eight modules are ``scale`` whole bytes of
    pixels), the quiet zone being whole modules; a string translation and an integer conversion of
    the whole line cost three times as much on a version-15 code."""
    symbol = qr.rows(content, QR_MASK)
    modules = len(symbol) + 2 * QR_BORDER
    size = modules * scale
    width = (size + 7) // 8
    octets = _octets(scale)
    quiet = "0" * QR_BORDER
    # Light modules after the symbol fill the last octet: white pixels, as the PNG's row padding is.
    tail = quiet + "0" * (-modules % 8)
    blank = b"\x00" + b"\xff" * width
    lines = [blank] * (QR_BORDER * scale)
    for row in symbol:
        text = quiet + row + tail
        line = b"\x00" + b"".join([octets[text[i : i + 8]] for i in range(0, len(text), 8)])[:width]
        lines += [line] * scale
    lines += [blank] * (QR_BORDER * scale)
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    return b"".join((b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header),
                     _chunk(b"IDAT", zlib.compress(b"".join(lines), 9)), _chunk(b"IEND", b"")))  # fmt: skip


@functools.cache
def _octets(scale: int) -> dict[str, bytes]:
    """Eight modules ("1" dark) → their ``scale`` bytes of pixels, each module ``scale`` pixels wide
    (a dark module is a black, 0, pixel)."""
    table = {}
    for value in range(256):
        text = f"{value:08b}"
        bits = "".join(("0" if module == "1" else "1") * scale for module in text)
        table[text] = int(bits, 2).to_bytes(scale, "big")
    return table


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def render_license(face: Face, annotation: Sequence[str] = (), watermark: str | None = None) -> bytes:
    """The unsigned OFD of a license; an annotated copy (加注件) carries its annotation lines above the face
    and its 加注 text (``watermark``) diagonally across it, as the 加注 of 国办函〔2016〕108号 is laid over the
    license's face."""
    rows: list[list[str]] = [["证照编号", face.number], ["持证主体", face.holder_name]]
    rows.append([face.holder_code_label, face.holder_code_masked])
    rows.extend([f.label, face.values[f.name]] for f in face.fields if f.name in face.values)
    until = face.valid_until.isoformat() if face.valid_until else "长期"
    rows.append(["有效期", f"{face.valid_from.isoformat()} 至 {until}"])
    blocks: list[Paragraph | Table | Image] = [
        Paragraph(line, size_pt=12, align="center") for line in annotation
    ]
    blocks += [
        Table(rows, col_widths_mm=[45, 115], size_pt=11),
        Paragraph(f"电子证照标识：{face.identifier}", size_pt=8),
        Image(qr_png(face.verify_url), width_mm=QR_SIZE_MM, height_mm=QR_SIZE_MM, align="left"),
        Paragraph("扫描二维码核验本证照", size_pt=9),
        Paragraph(f"颁发机构：{face.issuer_name}", size_pt=12, align="right"),
        Paragraph(f"颁发日期：{face.issued_on.isoformat()}", size_pt=12, align="right"),
    ]
    return write_ofd(
        DocumentSpec(
            title=face.type_name,
            blocks=blocks,
            author=face.issuer_name,
            doc_id=_doc_id(face),
            watermark=Watermark(watermark) if watermark else None,
        )
    )


def _doc_id(face: Face) -> str:
    # DocID names the license, so a reader of the file finds its registry entry.
    return face.identifier
