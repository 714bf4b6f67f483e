"""Annotated copies (加注件): the holder asks for one, it carries the type's annotation with purpose and
expiry, is sealed again, verifies as a copy of the license, and fails after its expiry or the original's
revocation."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

from clockkit import FakeClock
from license_shares_kit import API, insurance, login, other_person, person
from licenses_kit import Issuing
from seals_kit import assert_envelope
from zhengwu.kernel.clock import utcnow


def _text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))


def test_the_holder_gets_an_annotated_copy(client: Any, issuing: Issuing, clock: FakeClock) -> None:
    from zhengwu.licenses import service

    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    until = utcnow() + timedelta(days=2)
    made = client.post(
        f"{API}/{lic.id}/copies", json={"purpose": "申请公租房", "expires_at": until.isoformat()}
    )
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith("application/ofd") and made.headers["x-copy-id"]
    text = _text(made.content)
    assert "加注件" in text and "申请公租房" in text and "仅供办理政务服务事项时使用" in text
    assert made.content != service.license_file(issuing.settings, lic)
    login(client, issuing.session, None)
    checked = client.post(
        f"{API}/verify/file", content=made.content, headers={"Content-Type": "application/ofd"}
    )
    answer = checked.json()
    assert answer["valid"] is True and answer["annotated_copy"]["purpose"] == "申请公租房"
    assert answer["seal_verdict"] == "VALID"
    clock.advance(days=3)
    late = client.post(
        f"{API}/verify/file", content=made.content, headers={"Content-Type": "application/ofd"}
    )
    assert late.json()["valid"] is False and late.json()["reason"] == "加注件已超过有效期"
    login(client, issuing.session, holder)
    assert any(u["operation"] == "holder_copy" for u in client.get(f"{API}/usage").json())


def test_a_copy_of_a_revoked_license_fails(client: Any, issuing: Issuing) -> None:
    from zhengwu.licenses import copies, service

    lic = insurance(issuing)
    made = copies.make_copy(issuing.session, issuing.settings, lic, requested_by="test", requester_name="测试",
                            purpose="核对", expires_at=utcnow() + timedelta(days=1))  # fmt: skip
    service.change_status(issuing.session, lic.id, "revoke", reason="依法注销", actor="test")
    issuing.session.flush()
    answer = service.verify_file(issuing.session, issuing.settings, made.data, caller=service.Caller("test"))
    assert answer.valid is False and answer.status == "revoked" and answer.annotated_copy is not None


def test_bad_copy_requests(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    soon = (utcnow() + timedelta(days=1)).isoformat()
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x",
                    "expires_at": (utcnow() - timedelta(hours=1)).isoformat()}), 400, "licenses.copy_expiry")  # fmt: skip
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x",
                    "expires_at": (utcnow() + timedelta(days=91)).isoformat()}), 400)  # fmt: skip
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"expires_at": soon}), 422)
    login(client, issuing.session, other_person(issuing.session))
    assert_envelope(client.post(f"{API}/{lic.id}/copies", json={"purpose": "x", "expires_at": soon}), 404)


def _greys(png: bytes) -> tuple[int, int]:
    """Light grey pixels (the watermark's colour over white) in the left and the right half of the page."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    width = image.size[0]
    red, green, blue = (channel.tobytes() for channel in image.split())
    left = right = 0
    for index, (r, g, b) in enumerate(zip(red, green, blue, strict=True)):
        if 185 <= r <= 230 and abs(r - g) < 8 and abs(g - b) < 8:
            if index % width < width // 2:
                left += 1
            else:
                right += 1
    return left, right


def test_the_copy_carries_its_annotation_diagonally_across_the_face(client: Any, issuing: Issuing) -> None:
    import math
    import shutil

    from zhengwu.licenses import service
    from zhengwu.seals.ofd.container import OFDPackage
    from zhengwu.seals.ofd.preview import render_preview
    from zhengwu.seals.ofd.text import glyphs_of_text_object
    from zhengwu.seals.ofd.xml import descendants

    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, holder)
    until = utcnow() + timedelta(days=2)
    made = client.post(
        f"{API}/{lic.id}/copies", json={"purpose": "申请公租房", "expires_at": until.isoformat()}
    )
    assert made.status_code == 201, made.text
    page = OFDPackage.from_bytes(made.content).xml("Doc_0/Pages/Page_0/Content.xml")
    layers = {layer.get("Type") for layer in descendants(page, "Layer")}
    assert layers == {"Body", "Foreground"}  # the 加注 over the face, not in the flow of the text
    marks = [t for t in descendants(page, "TextObject") if t.get("CTM")]
    assert len(marks) >= 3 and all(
        "仅供办理政务服务事项时使用" in "".join(c.text or "" for c in t) for t in marks
    )
    glyphs = glyphs_of_text_object(marks[0])
    assert all(math.isclose(g.angle, 30.0, abs_tol=0.01) for g in glyphs)
    # The line climbs to the right across the page: its last glyph is right of and above its first.
    assert glyphs[-1].x - glyphs[0].x > 60 and glyphs[0].y - glyphs[-1].y > 30
    assert "有效期至" in "".join(g.char for g in glyphs)
    if shutil.which("pdftoppm") is None:
        return
    # The preview shows it: light grey across both halves of the face, which the license itself lacks.
    copy_left, copy_right = _greys(render_preview(made.content))
    plain_left, plain_right = _greys(render_preview(service.license_file(issuing.settings, lic)))
    assert copy_left > plain_left + 1500 and copy_right > plain_right + 1500, (copy_left, plain_left)
