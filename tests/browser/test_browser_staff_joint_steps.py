"""工作台 联办环节 in a real browser: a clerk of a department whose step another department's item names
logs in with password and TOTP → the queue links to 联办环节 → the list shows the case waiting at the
department's step (待…接收, with the parallel mark) → the case page → 接收本环节.

One province node (a real ``zhengwu serve``) with the demo seed; the item with its process (a parallel
group of the item's own review and the other department's step), the application and the clerk come from
the cases service against the node's database (tests/browser/staff_casework.py). Desktop (1280×800) and
phone (390×844); axe-core on every page; screenshots ``var/screenshots/portal-joint-*.png``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from browserkit import StaffWorld, check_page, chromium, cli, province  # noqa: F401 - fixture
from test_browser_portal import FACE, PASSWORD
from test_browser_staff_cases import _script

from nodekit import register_person

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

SECRETS = {"desktop": "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK", "phone": "NBSWY3DPO5XXE3DENBSWY3DPO5XXE3DE"}


@dataclass
class World(StaffWorld):
    cases: dict[str, str]
    other: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from staff_casework import PASSWORD as CLERK_PASSWORD

    tmp = tmp_path_factory.mktemp("staff-joint")
    with province(tmp, demo=True) as node:
        dept = cli(node, "seals", "list", "--json")[0]["department_credit_code"]
        departments = cli(node, "departments", "list", "--json")
        other = next(d for d in departments if d["credit_code"] != dept and d["division_code"] == "130000")
        kinds = {t["name"]: t["code"] for t in cli(node, "licenses", "types", "list", "--json")[0]}
        made = _script(node, "portal_casework.py", "item", dept, kinds["社会保险参保证明"])
        steps = {"steps": [
            {"code": "accept", "name": "受理", "role": "case_handler", "days": 1},
            {"code": "review", "name": "业务审查", "role": "case_handler", "days": 2, "parallel": "joint"},
            {"code": "joint", "name": "会同审查", "role": "case_handler", "days": 2,
             "department": other["credit_code"], "parallel": "joint"},
            {"code": "decide", "name": "决定", "role": "case_handler", "days": 1},
        ]}  # fmt: skip
        _script(
            node, "staff_casework.py", "process", made["task_code"], json.dumps(steps, ensure_ascii=False)
        )
        cases, clerks = {}, {}
        for n, size in ((8931, "desktop"), (8932, "phone")):
            number, _ = register_person(node, n, "周八", PASSWORD)
            face = tmp / f"face-{n}.json"
            face.write_text(json.dumps({**FACE, "name": "周八"}, ensure_ascii=False), encoding="utf-8")
            cli(
                node, "licenses", "issue", "--type", kinds["社会保险参保证明"], "--holder-code", number,
                "--holder-name", "周八", "--data", str(face), "--department", dept, "--json",
            )  # fmt: skip
            case_no = _script(node, "staff_casework.py", "submit", made["task_code"], number)["case_no"]
            _script(node, "portal_casework.py", "act", case_no, json.dumps({"action": "accept"}))
            cases[size] = case_no
            clerks[size] = _script(
                node,
                "staff_casework.py",
                "clerk",
                other["credit_code"],
                f"joint-{size}",
                SECRETS[size],
                "case_handler",
            )["login"]
        yield World(node, clerks, CLERK_PASSWORD, SECRETS, cases, other["name"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_step_department_finds_and_accepts_the_cases_at_its_step(
    chromium: Any,  # noqa: F811 - the fixture imported above
    world: World,
    size: str,
) -> None:
    page = world.signed_in(chromium, size, "/staff/cases")
    name = f"joint-{size}"
    case_no = world.cases[size]
    page.locator("main a[href='/staff/joint-steps']").click()
    page.wait_for_url("**/staff/joint-steps")
    main = page.inner_text("main")
    assert "联办环节" in main and case_no in main and "建筑电工操作资格认定" in main
    assert f"会同审查〔并行办理〕：待{world.other}接收" in main
    check_page(page, f"{name}-list")

    page.locator(f"main a[href='/staff/cases/{case_no}']").click()
    page.wait_for_url(f"**/staff/cases/{case_no}")
    assert "并行办理" in page.inner_text("main")
    check_page(page, f"{name}-case")
    page.locator("form:has(input[name=action][value=accept_step]) button").click()
    page.wait_for_url("**?done=accept_step")
    page.goto(f"{world.node.url}/staff/joint-steps")
    assert "会同审查〔并行办理〕：办理中" in page.inner_text("main")
    page.context.close()
