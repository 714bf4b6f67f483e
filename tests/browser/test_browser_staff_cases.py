"""工作台 in a real browser: a clerk logs in with password and TOTP → the queue → opens the case a citizen
submitted → accepts it → adds a step after the current one (a first try without its name keeps what was
typed) → concludes it, issuing the item's license (a first try without the outcome shows
the mistake on the page with the typed face kept).

One province node (a real ``zhengwu serve``) with the demo seed; the item, the citizen's license and
application and the clerk (with an authenticator) come from the CLI and the cases service against the
node's database (tests/browser/portal_casework.py, tests/browser/staff_casework.py). Desktop (1280×800)
and phone (390×844); axe-core on every page; screenshots ``var/screenshots/portal-staff-*.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import StaffWorld, check_page, chromium, cli, kit, province  # noqa: F401 - fixture
from test_browser_portal import FACE, PASSWORD

from nodekit import Node, register_person

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
SECRETS = {"desktop": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "phone": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"}
WORKER_FACE = {
    "category": "建筑电工",
    "sex": "男",
    "certificate_no": "冀A042026000888",
    "first_issued": "2026-12-05",
}


@dataclass
class World(StaffWorld):
    cases: dict[str, str]


def _script(node: Node, script: str, *args: str) -> dict[str, Any]:
    return kit(node, script.removesuffix(".py"), *args)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from staff_casework import PASSWORD as CLERK_PASSWORD

    tmp = tmp_path_factory.mktemp("staff-cases")
    with province(tmp, demo=True) as node:
        seal = cli(node, "seals", "list", "--json")[0]
        dept = seal["department_credit_code"]
        kinds = {t["name"]: t["code"] for t in cli(node, "licenses", "types", "list", "--json")[0]}
        made = _script(node, "portal_casework.py", "item", dept, kinds["社会保险参保证明"])
        cases, clerks = {}, {}
        for n, size in ((8921, "desktop"), (8922, "phone")):
            number, _ = register_person(node, n, "孙七", PASSWORD)
            face = tmp / f"face-{n}.json"
            face.write_text(json.dumps({**FACE, "name": "孙七"}, ensure_ascii=False), encoding="utf-8")
            cli(
                node, "licenses", "issue", "--type", kinds["社会保险参保证明"], "--holder-code", number,
                "--holder-name", "孙七", "--data", str(face), "--department", dept, "--json",
            )  # fmt: skip
            cases[size] = _script(node, "staff_casework.py", "submit", made["task_code"], number)["case_no"]
            clerks[size] = _script(node, "staff_casework.py", "clerk", dept, f"clerk-{size}", SECRETS[size])[
                "login"
            ]
        yield World(node, clerks, CLERK_PASSWORD, SECRETS, cases)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_clerk_logs_in_with_totp_accepts_and_concludes(
    chromium: Any,  # noqa: F811 - the fixture imported above
    world: World,
    size: str,
) -> None:
    page = world.signed_in(chromium, size, "/staff/cases")
    name = f"staff-{size}"
    case_no = world.cases[size]
    main = page.inner_text("main")
    assert "办件队列" in main and case_no in main and "已申报，待受理" in main
    check_page(page, f"{name}-queue")

    page.locator(f"main a[href='/staff/cases/{case_no}']").click()
    page.wait_for_url(f"**/staff/cases/{case_no}")
    main = page.inner_text("main")
    assert "孙七" in main and "138****5678" in main and "社会保险参保证明" in main
    check_page(page, f"{name}-case")
    page.fill("#accept-opinion", "材料齐全，予以受理")
    page.locator("form:has(input[name=action][value=accept]) button").click()
    page.wait_for_url("**?done=accept")
    assert "已受理。" in page.inner_text("main") and "材料齐全，予以受理" in page.inner_text(".timeline")

    # A step added after the current one: a first try without its name keeps the typed time limit.
    add_step = page.locator("form:has(input[name=action][value=add_step]) button[type=submit]")
    page.fill("#add_step-days", "3")
    add_step.click()
    assert "请填写新环节的名称" in page.inner_text(".error-summary")
    assert page.input_value("#add_step-days") == "3", "what was typed is kept"
    check_page(page, f"{name}-add-step-errors")
    page.fill("#add_step-name", "现场核查")
    add_step.click()
    page.wait_for_url("**?done=add_step")
    steps = page.inner_text("section[aria-labelledby=steps-title]")
    assert "已增加办理环节。" in page.inner_text("main") and "现场核查" in steps
    assert steps.index("审查") < steps.index("现场核查"), "after the current step"

    page.select_option("#conclude-type", label="建筑施工特种作业人员操作资格证书")
    page.locator("button", has_text="填写证照照面").click()
    page.wait_for_selector("#face_category")
    assert page.input_value("#face_name") == "孙七", "the holder's name prefilled"
    page.select_option("#face_category", WORKER_FACE["category"])
    page.select_option("#face_sex", WORKER_FACE["sex"])
    page.fill("#face_certificate_no", WORKER_FACE["certificate_no"])
    page.fill("#face_first_issued", WORKER_FACE["first_issued"])
    page.fill("#conclude-opinion", "准予许可")
    conclude = page.locator("form:has(input[name=action][value=conclude]) button[type=submit]")
    conclude.click()  # no outcome chosen yet
    assert "请选择办理结果" in page.inner_text(".error-summary")
    assert page.input_value("#face_certificate_no") == WORKER_FACE["certificate_no"], "what was typed is kept"
    check_page(page, f"{name}-conclude-errors")
    page.locator("label[for=outcome-approved]").click()
    conclude.click()
    page.wait_for_url("**?done=conclude**")
    result = page.inner_text("#result")
    assert "准予许可" in result and "建筑施工特种作业人员操作资格证书" in result
    assert WORKER_FACE["certificate_no"] in result and "北京时间" in page.inner_text("footer")
    check_page(page, f"{name}-concluded")
    page.context.close()
