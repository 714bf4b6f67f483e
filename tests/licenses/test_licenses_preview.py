"""The holder's PNG preview: the sealed file rasterised, only for the holder, and logged."""

from __future__ import annotations

import io
import shutil
from typing import Any

import pytest
from PIL import Image

from license_shares_kit import API, insurance, login, other_person, person
from licenses_kit import Issuing
from seals_kit import assert_envelope

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) not installed"
)


def test_the_holder_previews_the_face(client: Any, issuing: Issuing) -> None:
    holder = person(issuing.session)
    lic = insurance(issuing)
    login(client, issuing.session, None)
    assert_envelope(client.get(f"{API}/{lic.id}/preview"), 401)
    login(client, issuing.session, holder)
    shown = client.get(f"{API}/{lic.id}/preview")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(shown.content))
    width, height = image.size
    assert image.format == "PNG" and height > width > 500  # an A4 page, portrait
    # The seal stamp is red: some strongly red pixels are on the page.
    red, green, blue = (channel.tobytes() for channel in image.convert("RGB").split())
    reds = sum(1 for r, g, b in zip(red, green, blue, strict=True) if r > 180 and g < 90 and b < 90)
    assert reds > 100
    assert any(u["operation"] == "holder_preview" for u in client.get(f"{API}/usage").json())
    login(client, issuing.session, other_person(issuing.session))
    assert_envelope(client.get(f"{API}/{lic.id}/preview"), 404)
