"""适老化 mode's read-aloud: the script is served (through the anti-tamper guard) and only pages in care
mode link it, with the button hidden until the script shows it (nothing without JavaScript)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.db
BUTTON = '<button type="button" id="read-aloud" class="link" aria-pressed="false" hidden>朗读本页</button>'


def test_only_care_mode_links_the_read_aloud_script(client: Any) -> None:
    plain = client.get("/")
    assert "readaloud.js" not in plain.text and 'id="read-aloud"' not in plain.text
    client.get("/care", params={"mode": "on", "next": "/"}, follow_redirects=False)
    care = client.get("/")
    assert '<script src="/portal/static/readaloud.js" defer></script>' in care.text
    assert BUTTON in care.text, "hidden until the script runs"
    assert "<script>" not in care.text, "no inline script (the Content-Security-Policy forbids it)"
    script = client.get("/portal/static/readaloud.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "speechSynthesis.speak" in script.text and "button.hidden = false" in script.text
