"""The citizen's case journey in a real browser: search → guide → 在线办理 → log in → attach a held license
and upload the form → submit → (the clerk asks for a supplement) → answer it on the page → (the clerk
concludes with a license) → see the result and the new license → 好差评; then the lookup without login.

One province node (a real ``zhengwu serve``) with the demo seed; the item, the license and the clerk's
actions come from the CLI and the cases service (tests/browser/portal_casework.py) against the node's
database. Desktop (1280×800) and phone (390×844); axe-core on every page; screenshots beside the portal
test's (``var/screenshots/portal-cases-*.png``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browserkit import check_page, chromium, cli, kit, new_context, province  # noqa: F401 - fixture
from test_browser_portal import FACE, PASSWORD

from nodekit import Node, register_person

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
# Records what the upload-progress line says while a form's files are sent (kept across the page the
# answer is written into).
WATCH_UPLOADS = """
(function () {
  var send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    function note() {
      var line = document.querySelector(".upload-progress-text");
      var seen = JSON.parse(sessionStorage.getItem("zwUploads") || "[]");
      if (line && line.textContent) { seen.push(line.textContent); }
      sessionStorage.setItem("zwUploads", JSON.stringify(seen));
    }
    // Synchronously: these listeners come after the page's own handlers (set before send), so the line
    // already says what they wrote; a deferred read could run after the answer replaced the page.
    this.upload.addEventListener("progress", note);
    this.upload.addEventListener("load", note);
    return send.call(this, body);
  };
})();
"""

CLERK = Path(__file__).resolve().parent / "portal_casework.py"
WORKER_FACE = {
    "name": "赵六",
    "sex": "男",
    "category": "建筑电工",
    "certificate_no": "冀A042026000777",
    "first_issued": "2026-12-05",
}


@dataclass
class World:
    node: Node
    numbers: dict[str, str]
    task_code: str
    worker_type: str


def _clerk(node: Node, command: str, *args: str) -> dict[str, Any]:
    return kit(node, "portal_casework", command, *args)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("portal-cases")
    with province(tmp, demo=True) as node:
        seal = cli(node, "seals", "list", "--json")[0]
        kinds = {t["name"]: t["code"] for t in cli(node, "licenses", "types", "list", "--json")[0]}
        made = _clerk(node, "item", seal["department_credit_code"], kinds["社会保险参保证明"])
        numbers = {}
        for n, size in ((8911, "desktop"), (8912, "phone")):
            number, _ = register_person(node, n, "赵六", PASSWORD)
            face = tmp / f"face-{n}.json"
            face.write_text(json.dumps({**FACE, "name": "赵六"}, ensure_ascii=False), encoding="utf-8")
            cli(
                node, "licenses", "issue", "--type", kinds["社会保险参保证明"], "--holder-code", number,
                "--holder-name", "赵六", "--data", str(face), "--department", seal["department_credit_code"],
                "--json",
            )  # fmt: skip
            numbers[size] = number
        yield World(node, numbers, made["task_code"], kinds["建筑施工特种作业人员操作资格证书"])


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_apply_supplement_result_evaluation(
    chromium: Any,  # noqa: F811 - the fixture imported above
    world: World,
    size: str,
    tmp_path: Path,
) -> None:
    context = new_context(chromium, size)
    context.add_init_script(WATCH_UPLOADS)
    page = context.new_page()
    base = world.node.url
    name = f"cases-{size}"
    page.goto(f"{base}/")
    page.fill("#q", "建筑电工")
    page.press("#q", "Enter")
    page.wait_for_url("**/search?**")
    page.locator("ol.groups h3 a", has_text="建筑电工操作资格认定").first.click()
    page.wait_for_url("**/items/**")
    page.locator("a", has_text="在线办理").click()
    page.wait_for_url("**/identity/login?next=**")
    page.fill("#identifier", world.numbers[size])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/apply")
    assert "赵六" in page.inner_text("main")
    # First a submit with nothing chosen: every mistake at once.
    page.locator("button", has_text="提交申请").click()
    assert page.locator(".error-summary li").count() == 3, "the phone and both required materials"
    check_page(page, f"{name}-apply-errors")
    page.fill("#phone", "13812345678")
    page.locator("label", has_text="使用我的电子证照").first.click()
    form = tmp_path / "申请表.pdf"
    form.write_bytes(b"%PDF-1.7 the application form")
    page.locator("input[type=file]").nth(1).set_input_files(str(form))
    check_page(page, f"{name}-apply")
    page.locator("button", has_text="提交申请").click()
    page.wait_for_selector(".case-no")  # sent by the upload script, its answer written into the page
    shown = page.evaluate("JSON.parse(sessionStorage.getItem('zwUploads') || '[]')")
    assert shown and all(t.startswith(("正在上传：", "上传完成")) for t in shown), shown
    assert "申请已提交" in page.inner_text("main")
    case_no = page.inner_text(".case-no")
    password = page.inner_text(".password")
    assert "北京时间" in page.inner_text("main") and len(password) == 6
    check_page(page, f"{name}-applied")

    _clerk(world.node, "act", case_no, json.dumps({"action": "accept", "opinion": "材料齐全"}))
    materials = {"申请表"}
    guide = _clerk_materials(page, base, world.task_code)
    _clerk(world.node, "act", case_no, json.dumps({"action": "request_supplement", "opinion": "申请表未签名",
           "materials": [guide[m] for m in materials]}, ensure_ascii=False))  # fmt: skip
    page.locator("header nav.sections a", has_text="我的办件").click()
    page.wait_for_url("**/me/cases")
    assert "待补正" in page.inner_text("main")
    check_page(page, f"{name}-my-cases")
    page.locator("main a", has_text="建筑电工操作资格认定").first.click()
    assert "需要您补正" in page.inner_text("main") and "申请表未签名" in page.inner_text("main")
    check_page(page, f"{name}-supplement")
    signed = tmp_path / "申请表（已签名）.pdf"
    signed.write_bytes(b"%PDF-1.7 signed")
    page.locator("#supplement input[type=file]").set_input_files(str(signed))
    page.locator("button", has_text="提交补正").click()
    page.get_by_text("您已补正").first.wait_for()  # the script follows the answer's redirect
    assert "您已补正" in page.inner_text("main") and "已受理" in page.inner_text("main")

    _clerk(world.node, "act", case_no, json.dumps({"action": "conclude", "outcome": "approved",
           "result_kind": "license", "opinion": "准予许可", "license_type_code": world.worker_type,
           "license_face": WORKER_FACE}, ensure_ascii=False))  # fmt: skip
    page.reload()
    assert "准予许可" in page.inner_text("#result")
    check_page(page, f"{name}-result")
    page.locator("#result a").click()
    page.wait_for_url("**/me/licenses/**")
    assert "建筑施工特种作业人员操作资格证书" in page.inner_text("main")
    page.go_back()
    page.locator("label", has_text="5 分：非常满意").click()
    page.fill("#text", "办得很快")
    page.locator("button", has_text="提交评价").click()
    assert "5 分：非常满意" in page.inner_text("#evaluation")
    check_page(page, f"{name}-evaluated")

    # Anyone with the number and the password sees the status, without logging in.
    other = new_context(chromium, size)
    look = other.new_page()
    look.goto(f"{base}/cases/lookup")
    look.fill("#case_no", case_no)
    look.fill("#password", password)
    look.locator("main button", has_text="查询").click()
    assert "已办结" in look.inner_text(".answer")
    check_page(look, f"{name}-lookup")
    other.close()
    context.close()


def _clerk_materials(page: Any, base: str, task_code: str) -> dict[str, str]:
    """The material ids of the item, as the apply form names them (the clerk names what to send back)."""
    html = page.context.request.get(f"{base}/items/{task_code}/apply").text()
    ids: dict[str, str] = {}
    for name in ("社会保险参保证明", "申请表"):
        marker = f". {name}</strong>"
        before = html.split(marker, 1)[0]
        ids[name] = before.rsplit('id="material_', 1)[1].split('"', 1)[0]
    return ids
