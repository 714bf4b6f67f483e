"""扫码亮证 without a network, in a real browser at desktop (1280×800) and phone (390×844): the holder opens
the license's 2-D code page once, the network goes (``context.set_offline(True)``), and the page still opens
with its code; other personal pages give the offline page; the kept copy lasts as long as the session would
unused and is neither shown nor kept past that; another page of the session (我的办件) renews it, and it
opens offline after that; once the browser has no session (its cookies cleared, as when the session has
ended) the next portal page drops it; after logging out the kept code is gone.
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


def _left(page: Any, code_page: str) -> int:
    """Milliseconds the kept copy of ``code_page`` may still be shown."""
    return int(page.evaluate(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}'))"
        ".then(r => Number(r.headers.get('X-Kept-Until')) - Date.now())"
    ))  # fmt: skip


def _set_deadline(page: Any, code_page: str, until: str) -> None:
    """Give the kept copy of ``code_page`` another deadline (a JavaScript expression), as time would."""
    page.evaluate(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}').then(r => r.blob().then(b => {{"
        f" const h = new Headers(r.headers); h.set('X-Kept-Until', String({until}));"
        f" return c.put('{code_page}', new Response(b, {{headers: h}})); }})))"
    )


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
    left = _left(page, code_page)
    assert 29 * 60_000 < left <= 30 * 60_000, left
    _set_deadline(page, code_page, "Date.now() - 1000")
    page.goto(f"{base}{code_page}")
    assert page.locator("h1").inner_text() == "暂时无法连接", "an expired copy is not shown"
    assert not _code_shown(page)
    assert [p for p in page.evaluate(KEPT) if p.startswith("/me")] == [], "and it is gone"

    # Online again: the page is kept anew, and browsing other pages of the session renews it — its
    # deadline, brought near here, is moved back to the session's full idle time by 我的办件.
    context.set_offline(False)
    page.goto(f"{base}{code_page}")
    page.wait_for_function(
        f"caches.open('zw-license-codes-v1').then(c => c.match('{code_page}')).then(Boolean)"
    )
    _set_deadline(page, code_page, "Date.now() + 5000")
    assert 0 < _left(page, code_page) <= 5000
    page.goto(f"{base}/me/cases")
    assert page.locator("h1").inner_text() == "我的办件"
    assert 29 * 60_000 < _left(page, code_page) <= 30 * 60_000, "renewed by another page of the session"
    context.set_offline(True)
    page.goto(f"{base}{code_page}")
    assert _code_shown(page), "the renewed copy opens without a network"
    context.set_offline(False)

    # The session gone from this browser (as when it has ended): the next portal page drops the copies.
    context.clear_cookies()
    page.goto(f"{base}/")
    page.wait_for_function("caches.has('zw-license-codes-v1').then(has => !has)")

    # Logged in anew: the code is kept again; logging out forgets it.
    _login(page, holder, code_page)
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
