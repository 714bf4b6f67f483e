"""Write simple OFD documents (GB/T 33190): title, CJK paragraphs, tables and images on A4 pages."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from zhengwu.seals.errors import SealError
from zhengwu.seals.ofd.container import OFDPackage
from zhengwu.seals.ofd.xml import OFD_NS, Element, new_root, serialize, sub

PT_TO_MM = 25.4 / 72
DEFAULT_FONT = "Noto Serif CJK SC"


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text; size is the font size in points (12 pt = 小四)."""

    text: str
    size_pt: float = 12.0
    align: str = "left"  # "left" | "center" | "right"
    indent_chars: int = 0


@dataclass(frozen=True)
class Table:
    """A grid of text cells with borders; the first row may be a header."""

    rows: Sequence[Sequence[str]]
    col_widths_mm: Sequence[float] | None = None
    size_pt: float = 10.5


@dataclass(frozen=True)
class Image:
    """A raster image placed at its own width and height (mm)."""

    data: bytes
    width_mm: float
    height_mm: float
    format: str = "PNG"  # "PNG" | "JPEG"
    align: str = "left"


@dataclass(frozen=True)
class Shape:
    """A filled vector drawing (OFD AbbreviatedData, in ``unit_mm`` from the shape's top-left) in a box of its own
    width and height: e.g. a QR code as rectangles, which costs neither a PNG encoder nor a resource file
    and stays sharp at any zoom."""

    path: str
    width_mm: float
    height_mm: float
    align: str = "left"
    #: Path units per mm-box: the path is drawn in a ``scale``-times-larger grid (e.g. QR modules, whose
    #: integer coordinates keep the content short), mapped into the box by the object's CTM.
    unit_mm: float = 1.0


Block = Paragraph | Table | Image | Shape


@dataclass(frozen=True)
class Watermark:
    """Text repeated diagonally across every page, over the content, in a light colour (an annotated
    copy's 加注 across the face): rotated TextObjects in a Foreground layer of their own."""

    text: str
    size_pt: float = 16.0
    angle_deg: float = 30.0  # counter-clockwise as the page is read: the text climbs to the right
    color: str = "160 160 160"
    alpha: int = 128  # 0–255 (GB/T 33190 GraphicUnit Alpha)
    rows: int = 4


@dataclass(frozen=True)
class FontSpec:
    """The font the document uses: referenced by name, or embedded from a file."""

    name: str = DEFAULT_FONT
    family: str | None = None
    embed: Path | None = None  # a font file to embed (a subset keeps the document small)


@dataclass(frozen=True)
class DocumentSpec:
    """What to write: title, blocks and page geometry (mm)."""

    title: str
    blocks: Sequence[Block] = ()
    title_size_pt: float = 22.0  # 二号
    page_width: float = 210.0
    page_height: float = 297.0
    margin: float = 25.0
    font: FontSpec = field(default_factory=FontSpec)
    author: str = "zhengwu"
    doc_id: str | None = None
    watermark: Watermark | None = None


@functools.lru_cache(maxsize=8192)
def char_advance(ch: str, size_mm: float) -> float:
    """Advance width used for layout: full-width (CJK) characters one em, others half an em."""
    return size_mm if unicodedata.east_asian_width(ch) in ("W", "F", "A") else size_mm * 0.5


def wrap(text: str, width: float, size_mm: float, *, indent: float = 0.0) -> list[str]:
    """Break text into lines that fit `width` (character-level, as CJK typesetting allows)."""
    lines: list[str] = []
    for raw in text.split("\n"):
        current, used, limit = "", 0.0, width - indent
        for ch in raw:
            adv = char_advance(ch, size_mm)
            if current and used + adv > limit + 1e-6:
                lines.append(current)
                current, used, limit = "", 0.0, width
            current += ch
            used += adv
        lines.append(current)
    return lines


@functools.lru_cache(maxsize=8192)  # a page repeats few distinct numbers (advances, sizes, margins)
def _fmt(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


#: What XML 1.0 cannot carry at all (lxml refused these with ValueError; so does the page writer).
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTR_ESCAPES: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
_DECLARATION: Final = "<?xml version='1.0' encoding='UTF-8'?>\n"


def _xml_safe(text: str) -> str:
    if _NOT_XML.search(text):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
        )
    return text


def _element(name: str, attrs: dict[str, str], inner: str | None = None) -> str:
    """One ``ofd:`` element as text: attributes in the order given, ``inner`` already escaped."""
    head = (
        "<ofd:" + name + "".join(f' {k}="{_xml_safe(v).translate(_ATTR_ESCAPES)}"' for k, v in attrs.items())
    )
    return head + "/>" if inner is None else f"{head}>{inner}</ofd:{name}>"


def _text(text: str) -> str:
    return _xml_safe(text).translate(_TEXT_ESCAPES)


class _Writer:
    """Lays the blocks out onto pages. A page's content is written as text, element by element: a face
    of a few dozen text and path objects took lxml a microsecond or ten per element, most of a document's
    writing; the other parts are few and stay lxml trees."""

    def __init__(self, spec: DocumentSpec) -> None:
        self.spec = spec
        self.next_id = 1
        self.font_id = self._id()
        self.pages: list[tuple[str, list[str], list[str]]] = []  # (body layer id, body, foreground)
        self.layer: list[str] = []  # the current page's body layer
        self.y = spec.margin
        self.media: list[tuple[str, str, bytes]] = []  # (resource id, file name, data)
        self._new_page()

    def _id(self) -> str:
        value = str(self.next_id)
        self.next_id += 1
        return value

    def _new_page(self) -> None:
        self.layer = []
        self.pages.append((self._id(), self.layer, []))
        self.y = self.spec.margin

    def page_xml(self, number: int) -> bytes:
        """Content.xml of one page, as lxml wrote it: the body layer, then any foreground layer."""
        layer_id, body, foreground = self.pages[number]
        return (
            f'{_DECLARATION}<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content>'
            f"{_element('Layer', {'ID': layer_id, 'Type': 'Body'}, ''.join(body))}{''.join(foreground)}"
            "</ofd:Content></ofd:Page>"
        ).encode()

    def _ensure(self, height: float) -> None:
        if self.y + height > self.spec.page_height - self.spec.margin and self.y > self.spec.margin:
            self._new_page()

    @property
    def width(self) -> float:
        return self.spec.page_width - 2 * self.spec.margin

    def text_line(self, line: str, x: float, y: float, size_mm: float) -> None:
        advances = [char_advance(ch, size_mm) for ch in line]
        width = sum(advances) or size_mm
        size = _fmt(size_mm)
        # The numbers are _fmt's digits: only the line itself needs escaping.
        delta = f' DeltaX="{" ".join(_fmt(a) for a in advances[:-1])}"' if len(line) > 1 else ""
        self.layer.append(
            f'<ofd:TextObject ID="{self._id()}" Boundary="{_fmt(x)} {_fmt(y)} {_fmt(width)} {_fmt(size_mm * 1.2)}"'
            f' Font="{self.font_id}" Size="{size}">{_FILL_BLACK}<ofd:TextCode X="0" Y="{size}"{delta}>'
            f"{_text(line)}</ofd:TextCode></ofd:TextObject>"
        )

    def paragraph(self, para: Paragraph) -> None:
        size = para.size_pt * PT_TO_MM
        indent = para.indent_chars * size
        lead = size * 1.6
        for number, line in enumerate(wrap(para.text, self.width, size, indent=indent)):
            self._ensure(lead)
            used = sum(char_advance(ch, size) for ch in line)
            x = self.spec.margin + (indent if number == 0 else 0.0)
            if para.align == "center":
                x = self.spec.margin + (self.width - used) / 2
            elif para.align == "right":
                x = self.spec.margin + self.width - used
            if line:
                self.text_line(line, x, self.y, size)
            self.y += lead
        self.y += size * 0.4

    def table(self, table: Table) -> None:
        if not table.rows:
            return
        columns = max(len(r) for r in table.rows)
        widths = list(table.col_widths_mm or [self.width / columns] * columns)
        if len(widths) != columns:
            raise SealError(
                "表格列宽数量与列数不符", detail_en="col_widths_mm does not match the column count"
            )
        size = table.size_pt * PT_TO_MM
        pad = 1.5
        for row in table.rows:
            cells = [
                wrap(str(cell), w - 2 * pad, size)
                for cell, w in zip(list(row) + [""] * columns, widths, strict=False)
            ]
            height = max(len(c) for c in cells) * size * 1.4 + 2 * pad
            self._ensure(height)
            x = self.spec.margin
            for lines, w in zip(cells, widths, strict=False):
                self.box(x, self.y, w, height)
                for number, line in enumerate(lines):
                    if line:
                        self.text_line(line, x + pad, self.y + pad + number * size * 1.4, size)
                x += w
            self.y += height
        self.y += size

    def box(self, x: float, y: float, w: float, h: float) -> None:
        w_, h_ = _fmt(w), _fmt(h)
        self.layer.append(
            f'<ofd:PathObject ID="{self._id()}" Boundary="{_fmt(x)} {_fmt(y)} {w_} {h_}" LineWidth="0.25">'
            f"{_STROKE_BLACK}<ofd:AbbreviatedData>M 0 0 L {w_} 0 L {w_} {h_} L 0 {h_} C</ofd:AbbreviatedData>"
            "</ofd:PathObject>"
        )

    def shape(self, shape: Shape) -> None:
        self._ensure(shape.height_mm + 2)
        x = self.spec.margin
        if shape.align == "center":
            x += (self.width - shape.width_mm) / 2
        attrs = {"ID": self._id(),
                 "Boundary": f"{_fmt(x)} {_fmt(self.y)} {_fmt(shape.width_mm)} {_fmt(shape.height_mm)}",
                 "Stroke": "false", "Fill": "true"}  # fmt: skip
        if shape.unit_mm != 1.0:
            attrs["CTM"] = f"{_fmt(shape.unit_mm)} 0 0 {_fmt(shape.unit_mm)} 0 0"
        self.layer.append(
            _element("PathObject", attrs, _FILL_BLACK + _element("AbbreviatedData", {}, _text(shape.path)))
        )
        self.y += shape.height_mm + 2

    def watermark(self, number: int, mark: Watermark) -> None:
        """``mark`` in ``rows`` diagonal lines across the page, each a rotated TextObject: the CTM turns
        the text's x axis up to the right (y points down on an OFD page), its Boundary is the page."""
        layer_id = self._id()
        objects: list[str] = []
        cos, sin = math.cos(math.radians(mark.angle_deg)), math.sin(math.radians(mark.angle_deg))
        width, height = self.spec.page_width, self.spec.page_height
        size = mark.size_pt * PT_TO_MM
        natural = sum(char_advance(ch, size) for ch in mark.text) or size
        # A long 加注 is set smaller, so that each line stays whole on the page.
        size = min(size, size * 0.9 * width / (natural * cos))
        advances = [char_advance(ch, size) for ch in mark.text]
        length = sum(advances) or size
        rise = sin * length / 2 + size  # how far a line reaches above and below its centre
        step = (height - 2 * rise) / max(1, mark.rows - 1)
        for row in range(mark.rows):
            # Each line centred on the page's vertical middle line, spread from top to bottom, whole.
            cx, cy = width / 2, rise + step * row if mark.rows > 1 else height / 2
            ex, ey = cx - cos * length / 2, cy + sin * length / 2
            attrs = {"X": "0", "Y": "0"}
            if len(mark.text) > 1:
                attrs["DeltaX"] = " ".join(_fmt(a) for a in advances[:-1])
            objects.append(_element(
                "TextObject",
                {"ID": self._id(), "Boundary": f"0 0 {_fmt(width)} {_fmt(height)}", "Font": self.font_id,
                 "Size": _fmt(size), "Alpha": str(mark.alpha), "CTM": " ".join(_fmt(v) for v in (cos, -sin, sin, cos, ex, ey))},
                _element("FillColor", {"Value": mark.color}) + _element("TextCode", attrs, _text(mark.text)),
            ))  # fmt: skip
        self.pages[number][2].append(
            _element("Layer", {"ID": layer_id, "Type": "Foreground"}, "".join(objects))
        )

    def image(self, image: Image) -> None:
        fmt = image.format.upper()
        if fmt not in ("PNG", "JPEG", "JPG"):
            raise SealError("图片格式仅支持 PNG/JPEG", detail_en="image format must be PNG or JPEG")
        self._ensure(image.height_mm + 2)
        res_id = self._id()
        ext = "png" if fmt == "PNG" else "jpg"
        self.media.append((res_id, f"image_{res_id}.{ext}", image.data))
        x = self.spec.margin
        if image.align == "center":
            x += (self.width - image.width_mm) / 2
        w, h = image.width_mm, image.height_mm
        self.layer.append(_element("ImageObject", {
            "ID": self._id(), "Boundary": f"{_fmt(x)} {_fmt(self.y)} {_fmt(w)} {_fmt(h)}",
            "CTM": f"{_fmt(w)} 0 0 {_fmt(h)} 0 0", "ResourceID": res_id,
        }))  # fmt: skip
        self.y += h + 2


_FILL_BLACK: Final = _element("FillColor", {"Value": "0 0 0"})
_STROKE_BLACK: Final = _element("StrokeColor", {"Value": "0 0 0"})


def write_ofd(spec: DocumentSpec) -> bytes:
    """Lay out and write the document; returns the OFD (zip) bytes."""
    writer = _Writer(spec)
    writer.paragraph(Paragraph(spec.title, size_pt=spec.title_size_pt, align="center"))
    for block in spec.blocks:
        if isinstance(block, Paragraph):
            writer.paragraph(block)
        elif isinstance(block, Table):
            writer.table(block)
        elif isinstance(block, Shape):
            writer.shape(block)
        else:
            writer.image(block)
    if spec.watermark is not None:
        for number in range(len(writer.pages)):
            writer.watermark(number, spec.watermark)
    files: dict[str, bytes] = {}
    files["OFD.xml"] = serialize(_ofd_xml(spec))
    page_ids = [writer._id() for _ in writer.pages]
    document = new_root("Document")
    common = sub(document, "CommonData")
    sub(common, "MaxUnitID", str(writer.next_id - 1))
    area = sub(common, "PageArea")
    sub(area, "PhysicalBox", f"0 0 {_fmt(spec.page_width)} {_fmt(spec.page_height)}")
    sub(common, "PublicRes", "PublicRes.xml")
    if writer.media:
        sub(common, "DocumentRes", "DocumentRes.xml")
    pages = sub(document, "Pages")
    for number, page_id in enumerate(page_ids):
        sub(pages, "Page", ID=page_id, BaseLoc=f"Pages/Page_{number}/Content.xml")
    files["Doc_0/Document.xml"] = serialize(document)
    files["Doc_0/PublicRes.xml"] = serialize(_public_res(spec.font, writer.font_id, files))
    if writer.media:
        res = new_root("Res")
        res.set("BaseLoc", "Res")
        medias = sub(res, "MultiMedias")
        for res_id, name, data in writer.media:
            media = sub(
                medias,
                "MultiMedia",
                ID=res_id,
                Type="Image",
                Format="PNG" if name.endswith("png") else "JPEG",
            )
            sub(media, "MediaFile", name)
            files[f"Doc_0/Res/{name}"] = data
        files["Doc_0/DocumentRes.xml"] = serialize(res)
    for number in range(len(writer.pages)):
        files[f"Doc_0/Pages/Page_{number}/Content.xml"] = writer.page_xml(number)
    return OFDPackage(files).to_bytes()


def _ofd_xml(spec: DocumentSpec) -> Element:
    root = new_root("OFD")
    root.set("Version", "1.0")
    root.set("DocType", "OFD")
    body = sub(root, "DocBody")
    info = sub(body, "DocInfo")
    sub(info, "DocID", spec.doc_id or uuid.uuid4().hex)
    sub(info, "Title", spec.title)
    sub(info, "Author", spec.author)
    sub(info, "CreationDate", datetime.now(UTC).date().isoformat())
    sub(info, "Creator", "zhengwu")
    sub(body, "DocRoot", "Doc_0/Document.xml")
    return root


def _public_res(font: FontSpec, font_id: str, files: dict[str, bytes]) -> Element:
    res = new_root("Res")
    res.set("BaseLoc", "Res")
    fonts = sub(res, "Fonts")
    el = sub(fonts, "Font", ID=font_id, FontName=font.name, FamilyName=font.family or font.name)
    if font.embed is not None:
        # GB/T 33190 §11.1: an embedded font file makes rendering independent of installed fonts.
        name = f"font_{font_id}{font.embed.suffix.lower()}"
        files[f"Doc_0/Res/{name}"] = font.embed.read_bytes()
        sub(el, "FontFile", name)
    return res
