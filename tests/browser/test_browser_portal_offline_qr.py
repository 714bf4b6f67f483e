"""扫码亮证 without a network, in a real browser at desktop (1280×800) and phone (390×844): the holder opens
the license's 2-D code page once, the network goes (``context.set_offline(True)``), and the page still opens
with its code; other personal pages give the offline page; the kept copy lasts as long as the session would
unused and is neither shown nor kept past that; after logging out the kept code is gone.
axe-core on the code page online and offline; screenshots ``var/screenshots/portal-qr-*.png``.
"""

from __future__ import annotations

from typing import Any

import pytest
from browserkit import VIEWPORTS, check_page, chromium, new_context  # noqa: F401 - fixture
from test_browser_portal_privacy import Holder, _login, holder  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

KEPT = (
    "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys()))))"
    ".then(lists => lists.flat().map(r => new URL(r.url).pathname))"
)


def _code_shown(page: Any) -> bool:
    return bool(page.evaluate(
        "() => { const img = document.getElementById('license-qr');"
        " return !!img && img.complete && img.naturalWidth > 100 && img.src.startsWith('data:image/png'); }"
    ))  # fmt: skip


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_license_code_opens_offline(chromium: Any, holder: Holder, size: str) -> None:  # noqa: F811
    base = holder.node.url
    context = new_context(chromium, size)
    page = context.new_page()
    code_page = f"/me/licenses/{holder.license_id}/qr"
    _login(page, holder, f"/me/licenses/{holder.license_id}")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.locator("main a", has_text="扫码亮证").click()
    page.wait_for_url(f"**{code_page}")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()  # the first load came before the worker took control
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    assert _code_shown(page) and page.locator("h1").inner_text() == "亮证：社会保险参保证明"
    check_page(page, f"qr-{size}-online")
    if size == "phone":  # the narrowest phone the pages are made for
        page.set_viewport_size({"width": 360, "height": 740})
        check_page(page, "qr-360-online")
    page.wait_for_function(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}')).then(Boolean)"
    )

    context.set_offline(True)
    page.goto(f"{base}{code_page}")
    assert page.locator("h1").inner_text() == "亮证：社会保险参保证明"
    assert _code_shown(page), "the code itself shows without a network"
    check_page(page, f"qr-{size}-offline")
    page.goto(f"{base}/me/licenses/{holder.license_id}")
    assert page.locator("h1").inner_text() == "暂时无法连接", "only the code page is kept"
    kept = page.evaluate(KEPT)
    assert [p for p in kept if p.startswith("/me")] == [code_page], kept

    # The copy lasts as long as the session would unused (30 minutes idle): past that it is not shown.
    left = page.evaluate(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}'))"
        ".then(r => Number(r.headers.get('X-Kept-Until')) - Date.now())"
    )
    assert 29 * 60_000 < left <= 30 * 60_000, left
    page.evaluate(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}').then(r => r.blob().then(b => {{"
        " const h = new Headers(r.headers); h.set('X-Kept-Until', String(Date.now() - 1000));"
        f" return c.put('{code_page}', new Response(b, {{headers: h}})); }})))"
    )
    page.goto(f"{base}{code_page}")
    assert page.locator("h1").inner_text() == "暂时无法连接", "an expired copy is not shown"
    assert not _code_shown(page)
    assert [p for p in page.evaluate(KEPT) if p.startswith("/me")] == [], "and it is gone"

    # Online again: the page is kept anew; logging out forgets it.
    context.set_offline(False)
    page.goto(f"{base}{code_page}")
    page.wait_for_function(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}')).then(Boolean)"
    )
    page.locator("header button", has_text="退出").click()
    page.wait_for_load_state()
    page.wait_for_function("caches.has('zw-license-codes-v1').then(has => !has)")
    context.set_offline(True)
    page.goto(f"{base}{code_page}")
    assert page.locator("h1").inner_text() == "暂时无法连接"
    assert not _code_shown(page)
    context.close()
