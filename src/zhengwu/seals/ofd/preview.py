"""Page previews: draw an OFD page (text, paths, images, seal stamps) to PDF with reportlab, PNG via pdftoppm."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from zhengwu.seals.errors import SealError
from zhengwu.seals.ofd.container import DocumentLayout, OFDPackage, pages, read_layout
from zhengwu.seals.ofd.text import glyphs_of_text_object
from zhengwu.seals.ofd.verifier import read_signature_xml
from zhengwu.seals.ofd.xml import Element, child, child_text, children, descendants, local
from zhengwu.seals.ses import parse_signature

MM = 72 / 25.4
# A CID font every PDF reader (and poppler via fontconfig, e.g. Noto CJK) substitutes; nothing is embedded.
CJK_FONT = "STSong-Light"


class PreviewUnavailable(SealError):
    """The preview tool (pdftoppm from poppler-utils) is not installed."""

    status_code = 503
    code = "seals.preview_unavailable"
    default_detail = "预览工具（pdftoppm）未安装"


def _numbers(text: str | None, count: int) -> list[float]:
    values = [float(v) for v in (text or "").split()]
    return (values + [0.0] * count)[:count]


def _media_paths(pkg: OFDPackage, doc_root: str) -> dict[str, str]:
    """ResourceID -> container path of each MultiMedia file (PublicRes and DocumentRes)."""
    result: dict[str, str] = {}
    droot = pkg.xml(doc_root)
    common = child(droot, "CommonData")
    if common is None:
        return result
    for kind in ("PublicRes", "DocumentRes"):
        for el in children(common, kind):
            res_path = pkg.resolve((el.text or "").strip(), doc_root)
            if pkg.get(res_path) is None:
                continue
            res = pkg.xml(res_path)
            base = res.get("BaseLoc") or ""
            for media in descendants(res, "MultiMedia"):
                file_ref = child_text(media, "MediaFile")
                if file_ref:
                    # MediaFile is relative to the resource file's BaseLoc folder (GB/T 33190 §7.9).
                    ref = (
                        file_ref if file_ref.startswith("/") or not base else f"{base.rstrip('/')}/{file_ref}"
                    )
                    result[media.get("ID", "")] = pkg.resolve(ref, res_path)
    return result


def _draw_path(pdf: canvas.Canvas, el: Element, height: float) -> None:
    bx, by, _, _ = _numbers(el.get("Boundary"), 4)
    a, b, c, d, e, f = _numbers(el.get("CTM"), 6) if el.get("CTM") else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    data = child_text(el, "AbbreviatedData") or ""
    tokens = data.split()
    path = pdf.beginPath()
    i = 0

    def pt(ix: int) -> tuple[float, float]:
        # The path's coordinates pass through the object's CTM into its boundary (GB/T 33190 §9.1).
        x, y = float(tokens[ix]), float(tokens[ix + 1])
        return (bx + a * x + c * y + e) * MM, height - (by + b * x + d * y + f) * MM

    while i < len(tokens):
        op = tokens[i]
        if op in ("M", "S") and i + 2 < len(tokens) + 1:
            path.moveTo(*pt(i + 1))
            i += 3
        elif op == "L":
            path.lineTo(*pt(i + 1))
            i += 3
        elif op == "B":
            (x1, y1), (x2, y2), (x3, y3) = pt(i + 1), pt(i + 3), pt(i + 5)
            path.curveTo(x1, y1, x2, y2, x3, y3)
            i += 7
        elif op == "C":
            path.close()
            i += 1
        else:  # Q and A segments are rare in generated documents; skip their operands
            i += {"Q": 5, "A": 8}.get(op, 1)
    line_width = float(el.get("LineWidth") or 0.353)
    pdf.setLineWidth(line_width * MM)
    fill = el.get("Fill") == "true"
    stroke = el.get("Stroke") != "false"
    pdf.drawPath(path, stroke=1 if stroke else 0, fill=1 if fill else 0)


def _draw_text(pdf: canvas.Canvas, el: Element, height: float) -> None:
    size = float(el.get("Size") or 3.5)
    color = _numbers(_fill(el), 3)
    pdf.saveState()
    pdf.setFillColorRGB(*(max(0.0, min(255.0, v)) / 255 for v in color))
    alpha = el.get("Alpha")
    if alpha:
        pdf.setFillAlpha(max(0.0, min(255.0, float(alpha))) / 255)
    for glyph in glyphs_of_text_object(el):
        pdf.setFont(CJK_FONT, glyph.height * MM or size * MM)
        if glyph.baseline is None:
            pdf.drawString(glyph.x * MM, height - (glyph.y + glyph.height * 0.88) * MM, glyph.char)
            continue
        # Rotated text (a watermark): draw at the baseline point, turned by the glyph's angle.
        pdf.saveState()
        pdf.translate(glyph.baseline[0] * MM, height - glyph.baseline[1] * MM)
        pdf.rotate(glyph.angle)
        pdf.drawString(0, 0, glyph.char)
        pdf.restoreState()
    pdf.restoreState()


def _fill(el: Element) -> str:
    """The TextObject's FillColor value (black when none is given)."""
    for item in children(el, "FillColor"):
        return item.get("Value") or "0 0 0"
    return "0 0 0"


def _draw_image(pdf: canvas.Canvas, data: bytes, box: list[float], height: float) -> None:
    x, y, w, h = box
    try:
        reader = ImageReader(io.BytesIO(data))
    except (OSError, ValueError):
        return  # not a raster image (SVG/OFD seal pictures): nothing to draw in a preview
    pdf.drawImage(reader, x * MM, height - (y + h) * MM, w * MM, h * MM, mask="auto")


def _stamps(pkg: OFDPackage, layout: DocumentLayout, page_id: str) -> list[tuple[list[float], bytes]]:
    result: list[tuple[list[float], bytes]] = []
    for entry in layout.signatures:
        try:
            sx = read_signature_xml(pkg, entry.base_loc)
            picture = parse_signature(pkg.read(sx.signed_value_path)).seal.info.picture
        except SealError:
            continue
        for annot in descendants(sx.root, "StampAnnot"):
            if annot.get("PageRef") == page_id:
                result.append((_numbers(annot.get("Boundary"), 4), picture))
    return result


def render_pdf(data: bytes, *, page: int = 1) -> bytes:
    """Draw one page (1-based) of an OFD, with its seal stamps, as a one-page PDF."""
    pkg = OFDPackage.from_bytes(data)
    layout = read_layout(pkg)
    page_list = pages(pkg, layout.doc_root)
    if not 1 <= page <= len(page_list):
        raise SealError(f"页码超出范围：{page}", detail_en=f"page {page} out of range")
    page_id, content_path = page_list[page - 1]
    droot = pkg.xml(layout.doc_root)
    box = [0.0, 0.0, 210.0, 297.0]
    common = child(droot, "CommonData")
    area = child(common, "PageArea") if common is not None else None
    if area is not None and child_text(area, "PhysicalBox"):
        box = _numbers(child_text(area, "PhysicalBox"), 4)
    width, height = box[2] * MM, box[3] * MM
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(width, height))
    media = _media_paths(pkg, layout.doc_root)
    for el in pkg.xml(content_path).iter():
        if not isinstance(el.tag, str):
            continue
        name = local(el)
        if name == "TextObject":
            _draw_text(pdf, el, height)
        elif name == "PathObject":
            _draw_path(pdf, el, height)
        elif name == "ImageObject":
            path = media.get(el.get("ResourceID", ""))
            content = pkg.get(path) if path else None
            if content is not None:
                _draw_image(pdf, content, _numbers(el.get("Boundary"), 4), height)
    for stamp_box, picture in _stamps(pkg, layout, page_id):
        _draw_image(pdf, picture, stamp_box, height)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def render_preview(data: bytes, *, page: int = 1, dpi: int = 96) -> bytes:
    """PNG of one page (1-based); raises PreviewUnavailable when pdftoppm is not installed."""
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise PreviewUnavailable(detail_en="pdftoppm (poppler-utils) is not installed")
    pdf = render_pdf(data, page=page)
    with tempfile.TemporaryDirectory(prefix="zhengwu-preview-") as folder:
        source = Path(folder) / "page.pdf"
        source.write_bytes(pdf)
        subprocess.run(  # noqa: S603 - fixed tool, arguments built here
            [tool, "-png", "-r", str(dpi), "-singlefile", str(source), str(Path(folder) / "page")],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return (Path(folder) / "page.png").read_bytes()
