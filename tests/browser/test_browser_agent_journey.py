"""An agent applies for an enterprise in a real browser: log in → the enterprise's item (for 法人 only) →
choose the enterprise as the applicant → the item's own fields (事项信息), checked on the page → the
enterprise's business license by reference and an upload → submit → 我的办件; then, as the enterprise's
administrator, 经办人管理: withdraw a colleague's authorisation (asked first on its own page).

One province node (a real ``zhengwu serve``) with the demo seed; the enterprise, its license and the item
come from tests/browser/portal_casework.py against the node's database. Desktop (1280×800) and phone
(390×844); axe-core and the no-sideways-scroll check on every page (``check_page`` of the browser kit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import check_page, chromium, cli, new_context, province  # noqa: F401 - fixture
from test_browser_portal import PASSWORD
from test_browser_portal_cases import _clerk

from nodekit import Node, register_person

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

ENTERPRISE = "石家庄演示科技有限公司"


@dataclass
class World:
    node: Node
    admin: str  # the enterprise's administrator's ID number (its agent who applies)
    colleagues: dict[str, str]  # size → the name of the agent that size withdraws
    task_code: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with province(tmp_path_factory.mktemp("agent-journey"), demo=True) as node:
        seal = cli(node, "seals", "list", "--json")[0]
        kinds = {t["name"]: t["code"] for t in cli(node, "licenses", "types", "list", "--json")[0]}
        admin, _ = register_person(node, 8921, "钱七", PASSWORD)
        colleagues = {"desktop": "周九", "phone": "吴十"}
        agents = [register_person(node, n, name, PASSWORD)[0] for n, name in ((8923, "周九"), (8924, "吴十"))]
        made = _clerk(node, "enterprise", seal["department_credit_code"], kinds["营业执照"], admin, *agents)
        yield World(node, admin, colleagues, str(made["task_code"]))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_agent_applies_for_the_enterprise_and_manages_its_agents(
    chromium: Any,  # noqa: F811 - the fixture imported above
    world: World,
    size: str,
    tmp_path: Path,
) -> None:
    context = new_context(chromium, size)
    page = context.new_page()
    base = world.node.url
    name = f"agent-{size}"
    page.goto(f"{base}/items/{world.task_code}/apply")
    page.wait_for_url("**/identity/login?next=**")
    page.fill("#identifier", world.admin)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/apply**")
    main = page.inner_text("main")
    assert "以谁的名义申请" in main and "本事项仅面向法人和其他组织" in main
    page.locator("label", has_text=f"为企业申请：{ENTERPRISE}").click()
    page.locator("button", has_text="确定申请人").click()
    page.wait_for_url("**/apply?applicant=**")
    main = page.inner_text("main")
    assert "申请单位" in main and ENTERPRISE in main and "经办人" in main and "钱七" in main
    assert "申请资质等级" in main and "技术人员人数" in main, "the item's own fields"
    check_page(page, f"{name}-apply")
    # A wrong number and nothing chosen: every mistake at once, what was typed kept.
    page.fill("#item_staff_count", "很多")
    page.locator("button", has_text="提交申请").click()
    summary = page.inner_text(".error-summary")
    assert "“技术人员人数”应填写数字" in summary and "请选择“申请资质等级”" in summary
    assert page.input_value("#item_staff_count") == "很多"
    check_page(page, f"{name}-apply-errors")
    page.fill("#phone", "13812345678")
    page.select_option("#item_grade", "二级")
    page.fill("#item_staff_count", "12")
    page.locator("label", has_text="使用本企业的电子证照").first.click()
    form = tmp_path / "资质申请表.pdf"
    form.write_bytes(b"%PDF-1.7 the enterprise's application form")
    page.locator("input[type=file]").nth(1).set_input_files(str(form))
    page.locator("button", has_text="提交申请").click()
    page.locator(".case-no").wait_for()  # a chosen file: the form goes by XMLHttpRequest (upload progress)
    assert "申请已提交" in page.inner_text("main")
    case_no = page.inner_text(".case-no")
    check_page(page, f"{name}-applied")

    page.goto(f"{base}/me/cases")
    assert case_no in page.inner_text("main") or "建筑业企业资质认定" in page.inner_text("main")
    page.goto(f"{base}/me/cases/{case_no}")
    main = page.inner_text("main")
    assert "申请资质等级" in main and "二级" in main and "技术人员人数" in main
    check_page(page, f"{name}-my-case")

    # 经办人管理: the administrator withdraws a colleague, after a page that asks.
    page.goto(f"{base}/me/consents")
    page.locator("main a", has_text="经办人管理").click()
    page.wait_for_url("**/me/enterprises")
    colleague = world.colleagues[size]
    assert ENTERPRISE in page.inner_text("main") and colleague in page.inner_text("main")
    check_page(page, f"{name}-agents")
    page.locator("li", has_text=colleague).locator("button", has_text="撤销授权").click()
    assert f"确定撤销“{colleague}”的经办授权吗" in page.inner_text("main")
    check_page(page, f"{name}-withdraw-agent")
    page.fill("#reason", "项目结束")
    page.locator("button", has_text="确认撤销").click()
    page.wait_for_url("**/me/enterprises?done=1")
    main = page.inner_text("main")
    assert "经办授权已撤销" in main and colleague not in main
    context.close()
