"""OFD writer, text positions and page previews."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from seals_kit import SealKit
from zhengwu.seals.ofd.container import OFDPackage, pages, read_layout
from zhengwu.seals.ofd.preview import render_pdf, render_preview
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.text import expand_deltas, find_text
from zhengwu.seals.ofd.writer import DocumentSpec, FontSpec, Image, Paragraph, Shape, Table, wrap, write_ofd


def _png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (40, 20), color).save(out, "PNG")
    return out.getvalue()


SPEC = DocumentSpec(
    title="河北省政务服务事项办理通知书",
    blocks=[
        Paragraph(
            "申请人：测试单位。经审查，你单位提交的申请材料齐全、符合法定形式，决定予以受理。", indent_chars=2
        ),
        Table([["事项名称", "办理时限"], ["企业开办", "1个工作日"]], col_widths_mm=[100, 60]),
        Image(_png((20, 60, 200)), 40, 20),
        Paragraph("河北省政务服务管理办公室", align="right"),
    ],
)


def test_written_document_is_a_readable_ofd() -> None:
    pkg = OFDPackage.from_bytes(write_ofd(SPEC))
    layout = read_layout(pkg)
    assert layout.doc_root == "Doc_0/Document.xml" and layout.signatures == ()
    assert len(pages(pkg, layout.doc_root)) == 1
    assert {
        "OFD.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/DocumentRes.xml",
        "Doc_0/Pages/Page_0/Content.xml",
    } <= set(pkg.files)
    assert (
        b'FontName="Noto Serif CJK SC"' in pkg.files["Doc_0/PublicRes.xml"]
    )  # referenced by name, not embedded
    assert any(name.startswith("Doc_0/Res/image_") for name in pkg.files)


def test_independent_reader_extracts_the_text() -> None:
    ofdkit = pytest.importorskip("ofdkit", reason="ofdkit (independent OFD reader) not installed")
    with ofdkit.open(write_ofd(SPEC)) as document:
        text = document.text()
    for expected in (
        "河北省政务服务事项办理通知书",
        "决定予以受理",
        "企业开办",
        "1个工作日",
        "河北省政务服务管理办公室",
    ):
        assert expected in text.replace("\n", "")


def test_long_text_flows_onto_more_pages() -> None:
    long = DocumentSpec(title="长文档", blocks=[Paragraph("政务服务" * 60) for _ in range(12)])
    pkg = OFDPackage.from_bytes(write_ofd(long))
    assert len(pages(pkg, read_layout(pkg).doc_root)) >= 2


def test_font_can_be_embedded(tmp_path: Path) -> None:
    font = tmp_path / "subset.ttf"
    font.write_bytes(b"\x00\x01\x00\x00fake font bytes")
    pkg = OFDPackage.from_bytes(
        write_ofd(DocumentSpec(title="嵌入字体", font=FontSpec(name="TestSong", embed=font)))
    )
    res = pkg.files["Doc_0/PublicRes.xml"]
    assert b"<ofd:FontFile>font_1.ttf</ofd:FontFile>" in res
    assert pkg.files["Doc_0/Res/font_1.ttf"] == font.read_bytes()


def test_wrap_respects_width() -> None:
    lines = wrap("一二三四五六七八九十abcdef", 20, 4)
    assert lines == ["一二三四五", "六七八九十", "abcdef"]


def test_delta_lists_with_g_repetition() -> None:
    assert expand_deltas("g 3 4.2 1 g 2 0.5") == [4.2, 4.2, 4.2, 1.0, 0.5, 0.5]


def test_keyword_box_lies_on_the_text() -> None:
    pkg = OFDPackage.from_bytes(write_ofd(SPEC))
    hits = find_text(pkg, read_layout(pkg).doc_root, "管理办公室")
    assert len(hits) == 1
    _, _, box = hits[0]
    assert 120 < box.x < 185 and box.width == pytest.approx(5 * 12 * 25.4 / 72, rel=0.01)


def test_pdf_rendering_needs_no_external_tool(kit: SealKit) -> None:
    signed = sign_ofd(
        write_ofd(SPEC), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=1, x=20, y=150
    )
    pdf = render_pdf(signed)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian poppler-utils) not installed")
def test_preview_png_shows_text_and_seal(kit: SealKit) -> None:
    signed = sign_ofd(
        write_ofd(SPEC), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=1, x=20, y=150
    )
    image = PILImage.open(io.BytesIO(render_preview(signed, dpi=72))).convert("RGB")
    assert abs(image.size[0] - 595) <= 1 and abs(image.size[1] - 842) <= 1  # A4 at 72 dpi
    scale = 72 / 25.4
    stamp = image.crop((int(20 * scale), int(150 * scale), int(60 * scale), int(190 * scale)))
    red = [p for p in stamp.get_flattened_data() if p[0] > 180 and p[1] < 90 and p[2] < 90]
    assert len(red) > 100  # the seal picture is drawn in its StampAnnot box
    title = image.crop((0, int(25 * scale), 595, int(36 * scale)))
    assert any(sum(p) < 200 for p in title.get_flattened_data())  # dark title glyphs
    blue = image.crop((int(25 * scale), 0, int(65 * scale), 842))
    assert any(p[2] > 150 and p[0] < 60 for p in blue.get_flattened_data())  # the embedded image


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (Debian poppler-utils) not installed")
def test_preview_fills_a_vector_shape_through_its_ctm() -> None:
    def dark_pixels(blocks: list[Any]) -> int:
        data = render_preview(write_ofd(DocumentSpec(title="图形", blocks=blocks)), dpi=72)
        image = PILImage.open(io.BytesIO(data)).convert("L")
        return sum(image.histogram()[:128])

    # Two squares of 1 x 1 units, the unit 10 mm: 2 x (10 mm)^2 at 72 dpi is about 2 x 28^2 pixels.
    path = "M 0 0 L 1 0 L 1 1 L 0 1 C M 2 1 L 3 1 L 3 2 L 2 2 C"
    shape = Shape(path, width_mm=30, height_mm=20, unit_mm=10.0)
    added = dark_pixels([shape]) - dark_pixels([])
    assert 2 * 26 * 26 <= added <= 2 * 30 * 30


def test_page_text_is_escaped_and_control_characters_are_refused() -> None:
    """The page content is written as text: markup characters in a face value come back as typed, and
    what XML cannot carry is refused as lxml refused it (never a file a reader cannot parse)."""
    typed = "经营范围：A&B <软件> \"开发\" '服务'"
    pkg = OFDPackage.from_bytes(write_ofd(DocumentSpec(title="营业执照", blocks=[Paragraph(typed)])))
    content = pkg.xml("Doc_0/Pages/Page_0/Content.xml")
    lines = "".join(code.text or "" for code in content.iter("{*}TextCode"))
    assert typed.replace(" ", "") in lines.replace(" ", "")
    assert len(find_text(pkg, "Doc_0/Document.xml", '<软件>"开发"')) == 1
    with pytest.raises(ValueError, match="XML compatible"):
        write_ofd(DocumentSpec(title="营业执照", blocks=[Paragraph("名称\x01")]))
