"""The license's QR code drawn as OFD vector paths: the rectangles cover exactly the dark modules."""

from __future__ import annotations

import pytest
import segno

from zhengwu.licenses.render import QR_BORDER, QR_MASK, qr_shape

URL = "https://zw.example.gov.cn/licenses/verify#eyJpIjoiMTEwMDAwMDAwIn0.c2lnbmF0dXJl"


def _modules(path: str, size: int) -> set[tuple[int, int]]:
    tokens = path.split()
    dark: set[tuple[int, int]] = set()
    for start in range(0, len(tokens), 13):  # M x y L x y L x y L x y C
        rect = tokens[start : start + 13]
        assert rect[0] == "M" and rect[-1] == "C"
        xs = [float(rect[i]) for i in (1, 4, 7, 10)]
        ys = [float(rect[i]) for i in (2, 5, 8, 11)]
        left, right = int(min(xs)) - QR_BORDER, int(max(xs)) - QR_BORDER
        top, bottom = int(min(ys)) - QR_BORDER, int(max(ys)) - QR_BORDER
        assert bottom - top == 1 and 0 <= left < right <= size
        dark.update((top, x) for x in range(left, right))
    return dark


def test_vector_qr_matches_the_code_matrix() -> None:
    matrix = segno.make_qr(URL, error="m", mask=QR_MASK, boost_error=False).matrix
    shape = qr_shape(URL, size_mm=40.0)
    expected = {(y, x) for y, row in enumerate(matrix) for x, bit in enumerate(row) if bit}
    assert _modules(shape.path, len(matrix)) == expected
    assert shape.width_mm == shape.height_mm == 40.0
    assert shape.unit_mm * (len(matrix) + 2 * QR_BORDER) == pytest.approx(40.0)
