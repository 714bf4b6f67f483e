"""下级上报的电子证照 in a real browser: a platform administrator logs in with password and TOTP → the 工作台
header's link → the list of license rows lower nodes reported → opens one → tries to refuse it without a
reason (the mistake is on the page) → refuses it with a reason → the list marks it 已退回 → from the row,
sends a status change down (a first try without a status keeps the reason typed) and reads the confirmation
in 北京时间.

One province node (a real ``zhengwu serve``) with the demo seed; the administrator and the reported rows
come from tests/browser/received_rows.py against the node's database. Desktop (1280×800) and phone
(390×844); axe-core on every page; screenshots ``var/screenshots/portal-received-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import StaffWorld, check_page, chromium, kit, province  # noqa: F401 - fixture

from nodekit import Node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SECRETS = {"desktop": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "phone": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"}


@dataclass
class World(StaffWorld):
    rows: dict[str, dict[str, Any]]


def _script(node: Node, command: str, *args: str) -> dict[str, Any]:
    return kit(node, "received_rows", command, *args)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from received_rows import PASSWORD

    with province(tmp_path_factory.mktemp("received"), demo=True) as node:
        rows = {"desktop": _script(node, "row", "hebei-shijiazhuang", "20260000101"),
                "phone": _script(node, "row", "hebei-tangshan", "20260000102")}  # fmt: skip
        admins = {
            size: _script(node, "admin", f"operator-{size}", SECRETS[size])["login"] for size in SECRETS
        }
        yield World(node, admins, PASSWORD, SECRETS, rows)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_operator_refuses_a_reported_license_row(
    chromium: Any,  # noqa: F811 - the fixture imported above
    world: World,
    size: str,
) -> None:
    # From the case queue, through the 工作台 header (shown to staff who hold the section's right).
    page = world.signed_in(chromium, size, "/staff/cases")
    page.locator("header a[href='/staff/licenses/received']").click()
    page.wait_for_url("**/staff/licenses/received")
    name = f"received-{size}"
    mine = world.rows[size]
    main = page.inner_text("main")
    assert "下级上报的电子证照" in main and mine["identifier"] in main and "营业执照" in main
    assert "91130100MA0000000X" not in page.content(), "the holder's code is never shown"
    check_page(page, f"{name}-list")

    page.fill("#identifier", mine["identifier"])
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**identifier=**")
    assert "共 1 条" in page.inner_text("main")
    page.locator(f"main a[href='/staff/licenses/received/{mine['id']}']").click()
    page.wait_for_url(f"**/staff/licenses/received/{mine['id']}")
    main = page.inner_text("main")
    assert "2026年12月5日" in main and "石家庄市行政审批局" in main
    check_page(page, f"{name}-row")
    page.locator("main form button[type=submit]").click()  # no reason yet
    assert "请填写退回原因" in page.inner_text("main")
    check_page(page, f"{name}-errors")
    page.fill("#reason", "证照类型代码未在国家证照目录中登记")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**/staff/licenses/received/{mine['id']}/refuse")
    main = page.inner_text("main")
    assert "已退回" in main and "证照类型代码未在国家证照目录中登记" in main
    check_page(page, f"{name}-done")
    page.goto(f"{world.node.url}/staff/licenses/received?identifier={mine['identifier']}")
    assert "已退回" in page.inner_text("main") and "北京时间" in page.inner_text("footer")

    page.goto(f"{world.node.url}/staff/licenses/received/{mine['id']}")
    page.locator("main a[href^='/staff/licenses/status-push']").click()
    page.wait_for_url("**/staff/licenses/status-push?identifier=**")
    assert page.input_value("#identifier") == mine["identifier"]
    check_page(page, f"{name}-push")
    page.fill("#reason", "经核查，该证照所载经营场所不实")
    page.locator("main form button[type=submit]").click()  # no status chosen yet
    assert "请选择要下发的状态" in page.inner_text("main")
    assert page.input_value("#reason") == "经核查，该证照所载经营场所不实", "what was typed is kept"
    check_page(page, f"{name}-push-errors")
    page.locator("#status-suspended").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("main [role=status]")
    main = page.inner_text("main")
    assert "已下发" in main and "挂起" in main and "石家庄市（130100）" in main and "北京时间" in main
    check_page(page, f"{name}-pushed")
    page.context.close()
