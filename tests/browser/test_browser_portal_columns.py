"""栏目 (办事资源) in a real browser, at desktop (1280×800) and phone (390×844): from home to the columns
page, an external link marked, axe-core on the page, nothing wider than the viewport; screenshots
``var/screenshots/portal-columns-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import VIEWPORTS, check_page, chromium, cli, new_context, province  # noqa: F401 - fixture

from nodekit import Node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with province(tmp_path_factory.mktemp("columns")) as started:
        cli(started, "portal", "notices", "publish", "--column", "--title", "国家政务服务平台",
            "--url", "https://gjzwfw.www.gov.cn/", "--body", "全国通办事项入口", "--json")  # fmt: skip
        cli(started, "portal", "notices", "publish", "--column", "--title", "办件查询",
            "--url", "/cases/lookup", "--body", "凭办件编号和查询密码查询进度", "--json")  # fmt: skip
        yield started


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_columns_page(chromium: Any, node: Node, size: str) -> None:  # noqa: F811 - the kit's fixture
    page = new_context(chromium, size).new_page()
    page.goto(f"{node.url}/")
    page.locator("main a", has_text="全部办事资源").click()
    page.wait_for_url("**/columns")
    main = page.inner_text("main")
    assert "国家政务服务平台" in main and "外部网站" in main and "凭办件编号和查询密码查询进度" in main
    assert "来源：本平台" in main and "北京时间" in main
    check_page(page, f"columns-{size}")


def test_columns_at_360_and_in_care_mode(chromium: Any, node: Node) -> None:  # noqa: F811 - the kit's fixture
    page = new_context(chromium, "phone").new_page()
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{node.url}/columns")
    check_page(page, "columns-360")
    page.goto(f"{node.url}/care?mode=on&next=/columns")
    assert page.locator("html").get_attribute("class") == "care care-1"
    check_page(page, "columns-360-care")
