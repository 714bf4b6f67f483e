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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import VIEWPORTS, check_page, chromium, cli, new_context, province  # noqa: F401 - fixture

from nodekit import Node, register_person

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "Zhengwu-Portal-2026!"
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("portal")
    with province(tmp, demo=True) as node:
        number, _ = register_person(node, 8901, "王五", PASSWORD)
        seal = cli(node, "seals", "list", "--json")[0]
        kind = next(
            t for t in cli(node, "licenses", "types", "list", "--json")[0] if t["name"] == "社会保险参保证明"
        )
        face = tmp / "face.json"
        face.write_text(json.dumps(FACE, ensure_ascii=False), encoding="utf-8")
        issued = cli(
            node, "licenses", "issue", "--type", kind["code"], "--holder-code", number, "--holder-name", "王五",
            "--data", str(face), "--department", seal["department_credit_code"], "--json",
        )[-1]  # fmt: skip
        yield World(node, number, issued["identifier"])


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_search_guide_login_licenses_verify(
    chromium: Any,  # noqa: F811 - the kit's fixture
    world: World,
    size: str,
) -> None:
    context = new_context(chromium, size)
    page = context.new_page()
    base = world.node.url
    page.goto(f"{base}/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    check_page(page, f"{size}-home")
    page.fill("#q", "办护照")
    page.press("#q", "Enter")
    page.wait_for_url("**/search?**")
    first = page.locator("ol.groups h3 a").first
    assert first.inner_text() == "普通护照签发"
    assert "个地方可办" in page.locator("ol.groups li").first.inner_text()
    check_page(page, f"{size}-search")
    first.click()
    page.wait_for_url("**/items/**")
    assert page.locator("h1").inner_text() == "普通护照签发"
    assert "工作日" in page.inner_text("main")
    check_page(page, f"{size}-guide")
    page.locator("header a", has_text="登录").click()
    page.wait_for_url("**/identity/login?next=**")
    page.fill("#identifier", world.number)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/items/**")  # back where the person was
    page.locator("header nav.sections a", has_text="我的证照").click()
    page.wait_for_url("**/me/licenses")
    assert "社会保险参保证明" in page.inner_text("main")
    check_page(page, f"{size}-my-licenses")
    page.locator("main a", has_text="社会保险参保证明").first.click()
    assert world.identifier in page.inner_text("main")
    check_page(page, f"{size}-my-license")
    with page.expect_download() as download:
        page.locator("a", has_text="下载证照文件").click()
    ofd = download.value.path()
    assert ofd is not None and Path(ofd).read_bytes()[:2] == b"PK"
    # A verifier (another browser, not logged in) checks it on the public page: by identifier, then by file.
    verifier = new_context(chromium, size)
    check = verifier.new_page()
    check.goto(f"{base}/licenses/verify")
    check.fill("#identifier", world.identifier)
    check.fill("#holder_code", world.number)
    check.locator("form[action='/licenses/verify'] button").click()
    assert "核验通过" in check.inner_text(".answer")
    assert "王五" not in check.inner_text(".answer"), "the answer never names the holder"
    check_page(check, f"{size}-verify-answer")
    check.set_input_files("#file", ofd)
    check.locator("form[action='/licenses/verify/file'] button").click()
    assert "签章有效" in check.inner_text(".answer")
    check.fill("#identifier", "")
    check.fill("#holder_code", "")
    check.locator("form[action='/licenses/verify'] button").click()
    assert check.locator(".error-summary li").count() == 2, "every error at once"
    check_page(check, f"{size}-verify-errors")
    verifier.close()
    context.close()


def test_care_mode_in_the_browser(chromium: Any, world: World) -> None:  # noqa: F811 - the kit's fixture
    context = new_context(chromium, "phone")
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
    check_page(page, "phone-care-search")
    # Keyboard only: the skip link is the first stop and takes focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "跳到主要内容"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.locator("a", has_text="退出适老化模式").click()
    assert page.locator("html").get_attribute("class") in ("", None)
    context.close()
