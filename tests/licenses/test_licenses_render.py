"""The license's QR code PNG, written from the code's matrix: the same picture segno draws."""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

from zhengwu.licenses.render import QR_BORDER, QR_MASK, qr_png

URL = "https://zw.example.gov.cn/licenses/verify#eyJpIjoiMTEwMDAwMDAwIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize("scale", [1, 2, 3, 5])
@pytest.mark.parametrize("url", [URL, URL + "x" * 10, URL * 5])  # versions 5, 6, 15: both widths mod 8
def test_qr_png_is_the_picture_segno_draws(scale: int, url: str) -> None:
    reference = io.BytesIO()
    segno.make_qr(url, error="m", mask=QR_MASK, boost_error=False).save(
        reference, kind="png", scale=scale, border=QR_BORDER
    )
    ours = Image.open(io.BytesIO(qr_png(url, scale=scale))).convert("L")
    theirs = Image.open(reference).convert("L")
    assert ours.size == theirs.size
    assert ours.tobytes() == theirs.tobytes()
    assert len(set(ours.tobytes())) == 2  # black modules on white
