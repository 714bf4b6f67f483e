"""The share view in a real browser: a holder shares a license with anyone holding the link, the page the
link leads to shows it (the token travels only in the URL fragment and the POST body), and after the
holder revokes the share the same link shows the refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_browser_identity import chromium, page  # noqa: F401 - fixtures

from e2e.test_e2e_licenses import _issuer, _seed
from licenses_kit import INSURANCE_FACE
from nodekit import database_urls, register_person, start_node

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
PASSWORD = "Holder-Passw0rd-2026"


def test_the_share_link_shows_the_license_until_revoked(tmp_path: Path, page: Any) -> None:  # noqa: F811
    urls = database_urls(tmp_path, ["province"])
    node = start_node("province", "127.0.0.1", tmp_path, urls["province"], None, national=False)
    try:
        department = _seed(node)
        number, _ = register_person(node, 3301, "演示用户", PASSWORD)
        types = httpx.get(f"{node.url}/api/v1/licenses/types").json()
        type_code = next(t["code"] for t in types if t["name"] == "社会保险参保证明")
        staff = _issuer(node)
        lic = staff.post("/api/v1/licenses", json={
            "type_code": type_code, "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE}).json()  # fmt: skip
        staff.close()
        with httpx.Client(base_url=node.url) as holder:
            holder.post("/api/v1/identity/login", json={"identifier": number, "password": PASSWORD})
            share = holder.post(f"/api/v1/licenses/{lic['id']}/shares", json={
                "audience_kind": "anyone", "purpose": "租房", "grants": ["face"],
                "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}).json()  # fmt: skip
            page.goto(share["url"])
            page.get_by_text("证照类型：").wait_for()
            text = page.inner_text("#result")
            assert "有效" in text and "社会保险参保证明" in text and "演示用户" in text and "租房" in text
            assert number not in text
            holder.delete(f"/api/v1/licenses/{lic['id']}/shares/{share['id']}")
        page.goto("about:blank")
        page.goto(share["url"])
        page.get_by_text("持证人已撤销该共享").wait_for()
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)
