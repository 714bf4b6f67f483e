"""The portal as an installable web app: manifest, icons, the service worker (shell only, never a page),
the offline page (no session in it), and pages that link them without depending on script."""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone


def test_manifest_and_icons(client: Any) -> None:
    got = client.get("/manifest.webmanifest")
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/manifest+json")
    manifest = got.json()
    assert manifest["lang"] == "zh-CN" and manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["start_url"].startswith("/") and manifest["theme_color"].startswith("#")
    sizes = {(i["sizes"], i["purpose"]) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"), ("512x512", "maskable")} <= sizes
    for entry in manifest["icons"]:
        png = client.get(entry["src"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png.content[16:24])
        assert f"{width}x{height}" == entry["sizes"], entry["src"]
    assert client.get("/portal/static/other.png").status_code == 404
    assert client.get("/portal/static/..%2Fpwa.png").status_code == 404


def test_service_worker_keeps_the_shell_and_the_license_codes_only(client: Any) -> None:
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.headers["content-type"].startswith("text/javascript")
    assert sw.headers["cache-control"] == "no-cache" and sw.headers["service-worker-allowed"] == "/"
    files = re.search(r"var FILES = \[(.*?)\];", sw.text, re.S)
    assert files is not None
    kept = [*re.findall(r'"(/[^"]*)"', files.group(1)), "/offline"]
    assert not [path for path in kept if path.startswith(("/me", "/api", "/items", "/identity", "/cases"))]
    assert 'credentials: "omit"' in sw.text, "the shell is fetched without the person's cookies"
    # Pages go to the network; the install's addAll keeps the shell, one cache.put keeps the 扫码亮证
    # page, whose address pattern matches nothing else of the person's, and the other puts a renewed copy
    # back under the address it was kept at (the keys of that same cache).
    assert sw.text.count("cache.put") == 2 and sw.text.count("addAll") == 1
    assert "cache.put(path, copy)" in sw.text and "cache.put(request, renewed)" in sw.text
    pattern = re.search(r"var CODE_PAGE = /(.*?)/;", sw.text)
    assert pattern is not None
    code_page = re.compile(pattern.group(1).replace("\\/", "/"))
    assert code_page.match("/me/licenses/6a1b2c/qr")
    for other in (
        "/me/licenses/6a1b2c",
        "/me/licenses",
        "/me/cases/1/qr",
        "/me/licenses/a/qr/x",
        "/me/consents",
    ):
        assert not code_page.match(other), other
    assert "caches.delete(CODES)" in sw.text and '"/identity/logout"' in sw.text
    for path in kept:
        assert client.get(path).status_code == 200, path
    script = client.get("/portal/static/pwa.js")
    assert script.status_code == 200 and 'register("/sw.js"' in script.text


@pytest.mark.db
def test_pages_link_the_app_and_the_offline_page_holds_no_session(client: Any, session: Session) -> None:
    home = client.get("/")
    assert '<link rel="manifest" href="/manifest.webmanifest">' in home.text
    assert '<script src="/portal/static/pwa.js" defer></script>' in home.text
    assert "<script>" not in home.text, "no inline script (the Content-Security-Policy forbids it)"
    account = identity.register_natural_person(
        session, name="离线用户", id_number=nth_citizen_id(6161), phone=nth_phone(6161), password=None,
        limit_rate=False,
    )  # fmt: skip
    client.cookies.set("zw_session", str(identity.start_session(session, account, amr=["pwd"]).token))
    session.flush()
    assert "离线用户" in client.get("/").text
    offline = client.get("/offline")
    assert offline.status_code == 200 and "暂时无法连接" in offline.text
    assert (
        "离线用户" not in offline.text
        and "退出" not in offline.text
        and "csrf" not in offline.headers.get("set-cookie", "")
    )
    assert offline.headers["cache-control"].startswith("public")
