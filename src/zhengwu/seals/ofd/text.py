"""Text positions on OFD pages (TextObject/TextCode with DeltaX, GB/T 33190 §11.3), for keyword placement."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zhengwu.seals.errors import OFDFormatError
from zhengwu.seals.ofd.container import OFDPackage, pages
from zhengwu.seals.ofd.xml import Element, children, descendants


@dataclass(frozen=True)
class Glyph:
    """One character with its box in page millimetres (origin top-left, y downward)."""

    char: str
    x: float
    y: float
    width: float
    height: float
    #: Rotation of the text's baseline, degrees counter-clockwise as the page is read (0: horizontal).
    angle: float = 0.0
    #: Where the glyph's baseline starts (page mm), for drawing rotated text; None: at ``height`` * 0.88
    #: below ``y`` (horizontal text).
    baseline: tuple[float, float] | None = None


@dataclass(frozen=True)
class Box:
    """A rectangle in page millimetres."""

    x: float
    y: float
    width: float
    height: float

    @property
    def center(self) -> tuple[float, float]:
        """Centre point."""
        return self.x + self.width / 2, self.y + self.height / 2


def _floats(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(v) for v in text.split()]
    except ValueError as exc:
        raise OFDFormatError("数值列表格式错误", detail_en=f"bad number list {text!r}") from exc


def expand_deltas(text: str | None) -> list[float]:
    """Expand a DeltaX/DeltaY list, including the `g N value` repetition form."""
    if not text:
        return []
    tokens = text.split()
    result: list[float] = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "g" and i + 2 < len(tokens):
            count = int(float(tokens[i + 1]))
            result.extend([float(tokens[i + 2])] * min(count, 100_000))
            i += 3
            continue
        try:
            result.append(float(tokens[i]))
        except ValueError as exc:
            raise OFDFormatError("DeltaX 格式错误", detail_en=f"bad delta list {text!r}") from exc
        i += 1
    return result


def glyphs_of_text_object(obj: Element) -> list[Glyph]:
    """Character boxes of one TextObject (the CTM honoured: a rotated glyph's box is where its
    unrotated box's corner lands, with its ``angle`` and ``baseline``)."""
    bx, by, _, _ = (_floats(obj.get("Boundary")) + [0.0] * 4)[:4]
    size = float(obj.get("Size") or 3.5)
    ctm = _floats(obj.get("CTM"))
    a, b, c, d, e, f = ctm if len(ctm) == 6 else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    rotated = b != 0.0 or c != 0.0
    angle = math.degrees(math.atan2(-b, a)) if rotated else 0.0
    scale_x, scale_y = (math.hypot(a, b), math.hypot(c, d)) if rotated else (abs(a), abs(d))
    out: list[Glyph] = []
    x_pos = y_pos = 0.0
    for code in children(obj, "TextCode"):
        text = code.text or ""
        if code.get("X") is not None:
            x_pos = float(code.get("X") or 0)
        if code.get("Y") is not None:
            y_pos = float(code.get("Y") or 0)
        deltas_x = expand_deltas(code.get("DeltaX"))
        deltas_y = expand_deltas(code.get("DeltaY"))
        for index, ch in enumerate(text):
            advance = deltas_x[index] if index < len(deltas_x) else size
            top = y_pos - size
            gx, gy = bx + e + a * x_pos + c * top, by + f + b * x_pos + d * top
            base = (bx + e + a * x_pos + c * y_pos, by + f + b * x_pos + d * y_pos) if rotated else None
            out.append(Glyph(ch, gx, gy, scale_x * size, scale_y * size, angle, base))
            x_pos += advance
            if index < len(deltas_y):
                y_pos += deltas_y[index]
    return out


def page_glyphs(content: Element) -> list[Glyph]:
    """Every glyph of a page content in document order."""
    result: list[Glyph] = []
    for obj in descendants(content, "TextObject"):
        result.extend(glyphs_of_text_object(obj))
    return result


def find_text(pkg: OFDPackage, doc_root: str, keyword: str) -> list[tuple[int, str, Box]]:
    """All occurrences of `keyword` as (page index, page ID, bounding box), searched page by page."""
    if not keyword:
        raise OFDFormatError("关键字为空", detail_en="empty keyword")
    hits: list[tuple[int, str, Box]] = []
    for number, (page_id, content_path) in enumerate(pages(pkg, doc_root)):
        glyphs = [g for g in page_glyphs(pkg.xml(content_path)) if not g.char.isspace()]
        text = "".join(g.char for g in glyphs)
        target = "".join(keyword.split())
        start = text.find(target)
        while start >= 0:
            span = glyphs[start : start + len(target)]
            x0, y0 = min(g.x for g in span), min(g.y for g in span)
            x1 = max(g.x + g.width for g in span)
            y1 = max(g.y + g.height for g in span)
            hits.append((number, page_id, Box(x0, y0, x1 - x0, y1 - y0)))
            start = text.find(target, start + 1)
    return hits
