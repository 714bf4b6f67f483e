"""我的证照 sharing, 授权管理 and 我的数据使用记录 in a real browser, at desktop (1280×800) and phone
(390×844) sizes, with axe-core on every page (no serious or critical violation) and screenshots.

The holder shares a license from its page (link and QR code shown once), a verifier opens the link in
another browser and sees it, the holder revokes the share from 授权管理 after the on-page confirmation,
the verifier's link then shows the refusal, and 我的数据使用记录 lists both uses; the holder also makes
and downloads an annotated copy. No JavaScript of the portal's own is involved (the share view's script
is the licenses' page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from browserkit import VIEWPORTS, check_page, chromium, new_context  # noqa: F401 - fixture

from e2e.test_e2e_licenses import _issuer, _seed
from licenses_kit import INSURANCE_FACE
from nodekit import Node, database_urls, register_person, start_node
from zhengwu.kernel.clock import BEIJING

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "Holder-Privacy-2026!"


@dataclass
class Holder:
    node: Node
    number: str
    license_id: str


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holder]:
    tmp = tmp_path_factory.mktemp("privacy")
    node = start_node("province", "127.0.0.1", tmp, database_urls(tmp, ["province"])["province"], None, False)
    try:
        department = _seed(node)
        number, _ = register_person(node, 3402, "演示用户", PASSWORD)
        types = httpx.get(f"{node.url}/api/v1/licenses/types").json()
        type_code = next(t["code"] for t in types if t["name"] == "社会保险参保证明")
        staff = _issuer(node)
        lic = staff.post("/api/v1/licenses", json={
            "type_code": type_code, "department_credit_code": department, "holder_code": number,
            "holder_name": "演示用户", "face": INSURANCE_FACE}).json()  # fmt: skip
        staff.close()
        yield Holder(node, number, lic["id"])
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=30)


def _login(page: Any, holder: Holder, target: str) -> None:
    page.goto(f"{holder.node.url}/identity/login?next={target}")
    page.fill("#identifier", holder.number)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{target}")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_share_revoke_from_consents_and_see_the_uses(chromium: Any, holder: Holder, size: str) -> None:  # noqa: F811
    base = holder.node.url
    context = new_context(chromium, size)
    page = context.new_page()
    license_page = f"/me/licenses/{holder.license_id}"
    _login(page, holder, license_page)
    assert "亮证和共享" in page.inner_text("main")
    check_page(page, f"{size}-license-sharing")
    # Every mistake at once, what was chosen is kept.
    page.check("#kind_department")
    page.locator("form[action$='/shares'] button").click()
    summary = page.locator(".error-summary")
    assert summary.count() == 1 and "请选择要给哪个部门看" in summary.inner_text()
    assert "请填写共享事由" in summary.inner_text()
    assert page.is_checked("#kind_department")
    check_page(page, f"{size}-license-sharing-errors")
    page.check("#kind_anyone")
    page.fill("#share_purpose", f"租房{size}")
    page.check("#grants_face")
    page.check("#days_7")
    page.locator("form[action$='/shares'] button").click()
    assert page.locator("h1").inner_text() == "共享已生成"
    assert page.locator("img.qr").is_visible()
    url = page.input_value("#share_url")
    assert "/licenses/share#zls_" in url
    check_page(page, f"{size}-share-made")
    # A verifier opens the link in another browser.
    verifier = new_context(chromium, size)
    check = verifier.new_page()
    check.goto(url)
    check.get_by_text("证照类型：").wait_for()
    assert "社会保险参保证明" in check.inner_text("#result") and f"租房{size}" in check.inner_text("#result")
    # 授权管理: revoke after the confirmation on the page.
    page.locator("header nav.sections a", has_text="授权管理").click()
    page.wait_for_url("**/me/consents")
    assert f"租房{size}" in page.inner_text("main")
    check_page(page, f"{size}-consents")
    page.locator("li", has_text=f"租房{size}").locator("button", has_text="撤销共享").click()
    assert "确定撤销这项共享吗" in page.inner_text("h1")
    check_page(page, f"{size}-consents-confirm")
    page.locator("button", has_text="确认撤销").click()
    page.wait_for_url("**/me/consents?done=share")
    assert "共享已撤销" in page.inner_text("main")
    assert "已撤销" in page.locator("li", has_text=f"租房{size}").inner_text()
    check.goto("about:blank")
    check.goto(url)
    check.get_by_text("持证人已撤销该共享").wait_for()
    verifier.close()
    # 我的数据使用记录: the use and the refused one, in words.
    page.locator("header nav.sections a", has_text="数据使用记录").click()
    page.wait_for_url("**/me/data-use")
    text = page.inner_text("main")
    assert "共享链接持有人：使用共享您的社会保险参保证明" in text
    assert "结果：证照有效" in text and "结果：被拒绝：您已撤销共享" in text
    assert not re.search(r"share_|holder:|valid\b", text)
    check_page(page, f"{size}-data-use")
    # An annotated copy, made and downloaded.
    page.goto(f"{base}{license_page}")
    page.fill("#copy_purpose", "入学报名")
    page.locator("form[action$='/copies'] button").click()
    page.wait_for_url("**done=copied**")
    assert "加注件已制作" in page.inner_text("main")
    with page.expect_download() as download:
        page.locator("li.new a", has_text="下载加注件").click()
    copy = download.value.path()
    assert copy is not None and Path(copy).read_bytes()[:2] == b"PK"
    page.reload()
    assert "下载加注件" in page.inner_text("#uses ~ ol, main"), "the download is in the usage log"
    context.close()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_share_with_a_named_verifier_until_an_exact_time(chromium: Any, holder: Holder, size: str) -> None:  # noqa: F811
    """The holder picks a registered department system by its name and an exact end (北京时间); an end
    already past is refused in words with everything chosen kept; the share made is the one that system,
    and only it, redeems."""
    base = holder.node.url
    name = f"某银行开户核验系统{size}"
    system = holder.node.cli("identity", "clients", "create", "--name", name, "--grant", "client_credentials",
                             "--scope", "licenses.use")  # fmt: skip
    context = new_context(chromium, size)
    page = context.new_page()
    license_page = f"/me/licenses/{holder.license_id}"
    _login(page, holder, license_page)
    assert system["client_id"] not in page.inner_text("main"), "chosen by name, no id on the screen"
    page.check("#kind_client")
    page.select_option("#share_client", label=name)
    page.fill("#share_purpose", f"开户{size}")
    page.check("#days_until")
    now = datetime.now(BEIJING)
    past, end = now - timedelta(days=1), now + timedelta(days=20)
    page.fill("#share_until", f"{past:%Y-%m-%d}")
    page.fill("#share_until_time", "18:30")
    page.locator("form[action$='/shares'] button").click()
    summary = page.locator(".error-summary")
    assert summary.count() == 1 and "已经过去，请选一个以后的时间" in summary.inner_text()
    assert page.is_checked("#kind_client") and page.is_checked("#days_until")
    assert page.input_value("#share_client") == system["client_id"]
    assert page.input_value("#share_purpose") == f"开户{size}"
    assert (page.input_value("#share_until"), page.input_value("#share_until_time")) == (
        f"{past:%Y-%m-%d}",
        "18:30",
    )
    check_page(page, f"{size}-share-until-errors")
    summary.locator("a").first.click()
    assert page.evaluate("document.activeElement.id") == "share_until", "the summary leads to the field"
    page.fill("#share_until", f"{end:%Y-%m-%d}")
    page.locator("form[action$='/shares'] button").click()
    assert page.locator("h1").inner_text() == "共享已生成"
    shown = page.inner_text("main")
    assert f"{end.year}年{end.month}月{end.day}日 18:30" in shown and name in shown
    check_page(page, f"{size}-share-until-made")
    token = page.input_value("#share_url").split("#", 1)[1]
    redeem = f"{base}/api/v1/licenses/shares/redeem"
    assert httpx.post(redeem, json={"token": token}, timeout=10).status_code != 200, "nobody else"
    bearer = httpx.post(f"{base}/oidc/token", data={"grant_type": "client_credentials", "scope": "licenses.use"},
                        auth=(system["client_id"], system["client_secret"]), timeout=10).json()["access_token"]  # fmt: skip
    seen = httpx.post(
        redeem, json={"token": token}, headers={"Authorization": f"Bearer {bearer}"}, timeout=10
    )
    assert seen.status_code == 200, seen.text
    page.goto(f"{base}{license_page}")
    listed = page.locator("li", has_text=f"开户{size}")
    assert name in listed.inner_text() and f"{end.month}月{end.day}日 18:30" in listed.inner_text()
    context.close()


def test_privacy_pages_in_care_mode(chromium: Any, holder: Holder) -> None:  # noqa: F811
    context = new_context(chromium, "phone")
    page = context.new_page()
    _login(page, holder, "/me/consents")
    page.goto(f"{holder.node.url}/care?mode=on&next=/me/consents")
    page.locator("a", has_text="字号加大").click()
    assert page.locator("html").get_attribute("class") == "care care-2"
    check_page(page, "phone-care-consents")
    page.goto(f"{holder.node.url}/me/licenses/{holder.license_id}")
    check_page(page, "phone-care-license-sharing")
    page.goto(f"{holder.node.url}/me/data-use")
    check_page(page, "phone-care-data-use")
    # The narrowest phone the pages are made for: 360 px, standard mode.
    page.goto(f"{holder.node.url}/care?mode=off&next=/me/consents")
    page.set_viewport_size({"width": 360, "height": 740})
    for path, name in (("/me/consents", "consents"), (f"/me/licenses/{holder.license_id}", "license-sharing"),
                       ("/me/data-use", "data-use")):  # fmt: skip
        page.goto(f"{holder.node.url}{path}")
        assert page.locator("html").get_attribute("class") in ("", None)
        check_page(page, f"360-{name}")
    context.close()


def test_installable_app_with_an_offline_page_and_no_personal_cache(chromium: Any, holder: Holder) -> None:  # noqa: F811
    context = new_context(chromium, "phone")
    page = context.new_page()
    _login(page, holder, "/me/licenses")
    assert page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # the page is now controlled by the service worker
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone"
    page.goto(f"{holder.node.url}/me/licenses/{holder.license_id}")
    context.set_offline(True)
    page.goto(f"{holder.node.url}/me/licenses/{holder.license_id}")
    assert page.locator("h1").inner_text() == "暂时无法连接"
    assert "演示用户" not in page.inner_text("body"), "the offline page holds no session"
    check_page(page, "phone-offline")
    cached = page.evaluate(
        "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys()))))"
        ".then(lists => lists.flat().map(r => new URL(r.url).pathname))"
    )
    assert "/offline" in cached and "/portal/static/portal.css" in cached
    assert not [p for p in cached if p.startswith(("/me", "/api", "/identity"))], cached
    context.set_offline(False)
    page.goto(f"{holder.node.url}/me/licenses/{holder.license_id}")
    assert page.locator("h1").inner_text() == "社会保险参保证明"
    context.close()
