"""Notices and the operators' pages in a real browser, at desktop (1280×800) and phone (390×844): the
通知公告 list and a notice (published with the CLI, shown on home too); the public exchange overview (北京时间,
no raw codes); 运行监控 (``/ops``) and 接入进度 (``/exchange/progress``) after a platform administrator's
password + TOTP login. axe-core on every page, nothing wider than the viewport; screenshots
``var/screenshots/portal-ops-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from browserkit import VIEWPORTS, check_page, chromium, cli, kit, new_context, province  # noqa: F401 - fixture

from nodekit import Node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
# One administrator per size: a TOTP code is taken once (replay refused), both runs fall in one period.
SECRETS = {"desktop": "KRSXG5CTMVRXEZLUJBSWY3DPEHPK3PXP", "phone": "JBSWY3DPEHPK3PXPKRSXG5CTMVRXEZLU"}


@dataclass
class World:
    node: Node
    admins: dict[str, str]
    password: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from staff_casework import PASSWORD

    with province(tmp_path_factory.mktemp("operator-pages"), demo=True) as node:
        dept = cli(node, "seals", "list", "--json")[0]["department_credit_code"]
        admins = {}
        for size, secret in SECRETS.items():
            admins[size] = kit(
                node, "staff_casework", "clerk", dept, f"ops-{size}", secret, "platform_admin"
            )["login"]
        cli(node, "portal", "notices", "publish", "--title", "关于元旦假期窗口办理时间的通知",
            "--body", "1月1日窗口暂停办理。\n网上办理照常受理。", "--json")  # fmt: skip
        cli(node, "portal", "notices", "publish", "--column", "--title", "国家政务服务平台",
            "--url", "https://gjzwfw.www.gov.cn/", "--body", "全国通办事项入口", "--json")  # fmt: skip
        yield World(node, admins, PASSWORD)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_notices_pages(chromium: Any, world: World, size: str) -> None:  # noqa: F811 - the kit's fixture
    page = new_context(chromium, size).new_page()
    base = world.node.url
    page.goto(f"{base}/")
    home = page.inner_text("main")
    assert "关于元旦假期窗口办理时间的通知" in home and "国家政务服务平台" in home
    page.locator("header a", has_text="通知公告").click()
    page.wait_for_url("**/notices")
    assert "本平台" in page.inner_text("main")
    check_page(page, f"ops-{size}-notices")
    page.locator("main a", has_text="关于元旦假期窗口办理时间的通知").click()
    page.wait_for_url("**/notices/*")
    main = page.inner_text("main")
    assert "网上办理照常受理。" in main and "北京时间" in main
    check_page(page, f"ops-{size}-notice")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_overview_ops_and_progress(chromium: Any, world: World, size: str) -> None:  # noqa: F811 - the kit's fixture
    page = new_context(chromium, size).new_page()
    base = world.node.url
    page.goto(f"{base}/exchange/overview")
    text = page.inner_text("body")
    assert "生成时间（北京时间）" in text and "UTC" not in text and "province" not in text
    check_page(page, f"ops-{size}-overview")

    page.goto(f"{base}/identity/login?next=/ops")
    page.fill("#identifier", world.admins[size])
    page.fill("#password", world.password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/identity/login/mfa**")
    page.fill("#code", pyotp.TOTP(SECRETS[size]).now())
    page.click("main button[type=submit]")
    page.wait_for_url("**/ops")
    text = page.inner_text("body")
    assert "运行监控" in text and "北京时间" in text
    check_page(page, f"ops-{size}-ops")
    page.goto(f"{base}/exchange/progress")
    text = page.inner_text("body")
    assert "接入进度" in text and "生成时间（北京时间）" in text
    check_page(page, f"ops-{size}-progress")
