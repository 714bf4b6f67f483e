"""The license file: an OFD with the face fields, the metadata, the 2-D code and the issuer's name.

The 2-D code is a QR code made with ``segno`` (GB/T 36905 names 汉信码 for the face; QR is what every
phone reads). It leads to the node's verification page and carries the signed offline payload in the
URL fragment. The OFD is sealed afterwards by the seals service.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

import segno

from zhengwu.licenses.face import FaceField
from zhengwu.seals.ofd.writer import DocumentSpec, Image, Paragraph, Shape, Table, write_ofd

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


def qr_png(content: str) -> bytes:
    """A QR code (error correction M) as PNG."""
    out = io.BytesIO()
    _qr(content).save(out, kind="png", scale=2, border=QR_BORDER)
    return out.getvalue()


def _qr(content: str) -> segno.QRCode:
    # A fixed mask: choosing the "best" of the eight (ISO/IEC 18004 §7.8.3 penalty scores) took 85% of
    # an issuance in pure Python, and any mask is a valid, readable code.
    return segno.make_qr(content, error="m", mask=QR_MASK, boost_error=False)


def qr_shape(content: str, size_mm: float = QR_SIZE_MM) -> Shape:
    """The same QR code as an OFD vector drawing: one rectangle per run of dark modules in a row, in
    module units (short integers; the CTM scales them to the box). Encoding a PNG (and zipping it as a
    resource) was a third of an issuance; the path is cheaper and stays sharp at any zoom."""
    matrix = _qr(content).matrix
    parts: list[str] = []
    for y, row in enumerate(matrix, start=QR_BORDER):
        top, bottom = y, y + 1
        x, width = 0, len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < width and row[x]:
                x += 1
            left, right = start + QR_BORDER, x + QR_BORDER
            parts.append(f"M {left} {top} L {right} {top} L {right} {bottom} L {left} {bottom} C")
    unit = size_mm / (len(matrix) + 2 * QR_BORDER)
    return Shape(" ".join(parts), width_mm=size_mm, height_mm=size_mm, align="left", unit_mm=unit)


def render_license(face: Face, annotation: Sequence[str] = ()) -> bytes:
    """The unsigned OFD of a license; an annotated copy (加注件) carries its annotation lines above the face."""
    rows: list[list[str]] = [["证照编号", face.number], ["持证主体", face.holder_name]]
    rows.append([face.holder_code_label, face.holder_code_masked])
    rows.extend([f.label, face.values[f.name]] for f in face.fields if f.name in face.values)
    until = face.valid_until.isoformat() if face.valid_until else "长期"
    rows.append(["有效期", f"{face.valid_from.isoformat()} 至 {until}"])
    blocks: list[Paragraph | Table | Image | Shape] = [
        Paragraph(line, size_pt=12, align="center") for line in annotation
    ]
    blocks += [
        Table(rows, col_widths_mm=[45, 115], size_pt=11),
        Paragraph(f"电子证照标识：{face.identifier}", size_pt=8),
        qr_shape(face.verify_url),
        Paragraph("扫描二维码核验本证照", size_pt=9),
        Paragraph(f"颁发机构：{face.issuer_name}", size_pt=12, align="right"),
        Paragraph(f"颁发日期：{face.issued_on.isoformat()}", size_pt=12, align="right"),
    ]
    return write_ofd(
        DocumentSpec(title=face.type_name, blocks=blocks, author=face.issuer_name, doc_id=_doc_id(face))
    )


def _doc_id(face: Face) -> str:
    # DocID names the license, so a reader of the file finds its registry entry.
    return face.identifier
