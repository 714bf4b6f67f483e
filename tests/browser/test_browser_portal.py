"""The portal in a real browser: search → guide → log in → 我的证照 → public verification, 适老化 mode.

One province node (a real ``zhengwu serve``) with the demo seed; a person registered over the API and a
license issued to them with the CLI. The journey runs at desktop (1280×800) and phone (390×844) sizes;
axe-core (the ``axe-playwright-python`` package) checks every page for serious or critical violations.
Screenshots go to ``var/screenshots/portal-*.png`` (``ZHENGWU_SCREENSHOTS`` names another folder), the
folder for CI to keep as artefacts.

Chromium comes from the machine (Debian's ``chromium``; ZHENGWU_CHROMIUM names another binary): the
tests skip, saying why, where it or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nodekit import Node, database_urls, register_person, start_node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "Zhengwu-Portal-2026!"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = Path(
    os.environ.get("ZHENGWU_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)
FACE = {
    "name": "王五",
    "insurance": "企业职工基本养老保险",
    "place": "石家庄市",
    "since": "2015-07",
    "months": 120,
}


@dataclass
class World:
    """The node, the person's ID number and the license issued to them."""

    node: Node
    number: str
    identifier: str


def _run(node: Node, *args: str) -> list[Any]:
    """A CLI command against the node's database; its JSON lines."""
    out = subprocess.run(
        [sys.executable, "-m", "zhengwu", *args], env=node.env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith(("{", "["))]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("portal")
    node = start_node(
        "province", "127.0.0.1", tmp, database_urls(tmp, ["province"])["province"], None, False, {}
    )
    try:
        subprocess.run([sys.executable, "-m", "zhengwu", "seed", "--demo"], env=node.env, check=True,
                       capture_output=True)  # fmt: skip
        number, _ = register_person(node, 8901, "王五", PASSWORD)
        seal = _run(node, "seals", "list", "--json")[0]
        kind = next(
            t for t in _run(node, "licenses", "types", "list", "--json")[0] if t["name"] == "社会保险参保证明"
        )
        face = tmp / "face.json"
        face.write_text(json.dumps(FACE, ensure_ascii=False), encoding="utf-8")
        issued = _run(
            node, "licenses", "issue", "--type", kind["code"], "--holder-code", number, "--holder-name", "王五",
            "--data", str(face), "--department", seal["department_credit_code"], "--json",
        )[-1]  # fmt: skip
        yield World(node, number, issued["identifier"])
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    binary = (
        os.environ.get("ZHENGWU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not binary:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set ZHENGWU_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_FLAGS)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {binary} did not start: {str(exc).splitlines()[0]}")
        yield browser
        browser.close()


def _context(chromium: Any, size: str) -> Any:
    context = chromium.new_context(locale="zh-CN", viewport=VIEWPORTS[size], accept_downloads=True)
    context.set_default_timeout(20_000)
    return context


def _check(page: Any, name: str) -> None:
    """Save a screenshot and assert axe-core finds no serious or critical violation on the page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"portal-{name}.png"), full_page=True)
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python missing")
    results = axe.Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"
    # Nothing wider than the viewport: the layout holds from 360 px up.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_search_guide_login_licenses_verify(chromium: Any, world: World, size: str) -> None:
    context = _context(chromium, size)
    page = context.new_page()
    base = world.node.url
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    _check(page, f"{size}-home")
    page.fill("#q", "办护照")
    page.press("#q", "Enter")
    page.wait_for_url("**/search?**")
    first = page.locator("ol.groups h3 a").first
    assert first.inner_text() == "普通护照签发"
    assert "个地方可办" in page.locator("ol.groups li").first.inner_text()
    _check(page, f"{size}-search")
    first.click()
    page.wait_for_url("**/items/**")
    assert page.locator("h1").inner_text() == "普通护照签发"
    assert "工作日" in page.inner_text("main")
    _check(page, f"{size}-guide")
    page.locator("header a", has_text="登录").click()
    page.wait_for_url("**/identity/login?next=**")
    page.fill("#identifier", world.number)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/items/**")  # back where the person was
    page.locator("header nav.sections a", has_text="我的证照").click()
    page.wait_for_url("**/me/licenses")
    assert "社会保险参保证明" in page.inner_text("main")
    _check(page, f"{size}-my-licenses")
    page.locator("main a", has_text="社会保险参保证明").first.click()
    assert world.identifier in page.inner_text("main")
    _check(page, f"{size}-my-license")
    with page.expect_download() as download:
        page.locator("a", has_text="下载证照文件").click()
    ofd = download.value.path()
    assert ofd is not None and Path(ofd).read_bytes()[:2] == b"PK"
    # A verifier (another browser, not logged in) checks it on the public page: by identifier, then by file.
    verifier = _context(chromium, size)
    check = verifier.new_page()
    check.goto(f"{base}/licenses/verify")
    check.fill("#identifier", world.identifier)
    check.fill("#holder_code", world.number)
    check.locator("form[action='/licenses/verify'] button").click()
    assert "核验通过" in check.inner_text(".answer")
    assert "王五" not in check.inner_text(".answer"), "the answer never names the holder"
    _check(check, f"{size}-verify-answer")
    check.set_input_files("#file", ofd)
    check.locator("form[action='/licenses/verify/file'] button").click()
    assert "签章有效" in check.inner_text(".answer")
    check.fill("#identifier", "")
    check.fill("#holder_code", "")
    check.locator("form[action='/licenses/verify'] button").click()
    assert check.locator(".error-summary li").count() == 2, "every error at once"
    _check(check, f"{size}-verify-errors")
    verifier.close()
    context.close()


def test_care_mode_in_the_browser(chromium: Any, world: World) -> None:
    context = _context(chromium, "phone")
    page = context.new_page()
    page.goto(f"{world.node.url}/search?q=社保卡")
    normal = page.evaluate("parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    page.locator("a", has_text="适老化模式").click()
    assert page.locator("html").get_attribute("class") == "care care-1"
    assert "社会保障卡申领" in page.inner_text("main"), "the page and query are kept"
    page.locator("a", has_text="字号加大").click()
    assert page.locator("html").get_attribute("class") == "care care-2"
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)")
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('main p, main li')).lineHeight)")
    main_size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('main p, main li')).fontSize)"
    )
    assert size >= normal * 1.5 and line >= 1.5 * main_size
    _check(page, "phone-care-search")
    # Keyboard only: the skip link is the first stop and takes focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "跳到主要内容"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.locator("a", has_text="退出适老化模式").click()
    assert page.locator("html").get_attribute("class") in ("", None)
    context.close()
