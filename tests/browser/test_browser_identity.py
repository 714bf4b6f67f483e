"""The identity pages in a real browser (headless Chromium driven by Playwright).

One province node (a real ``zhengwu serve``), the reference department system and a stand-in for the
UKey agent (证书助手) that signs with a test key. A person signs in to the department system through
the province's login and consent pages and is logged out of it by back-channel when they log out on
the portal; another logs in with a UKey certificate through the certificate login page's script.

Chromium comes from the machine (Debian's ``chromium`` package; ZHENGWU_CHROMIUM names another
binary): the tests skip, saying why, where it or Playwright is missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from catalog_kit import PASSPORT, credit_code, guide
from cert_kit import IDENTIFY_CODE, identify_code, make_ca
from identity_oidc.oidc_reference_rp import RpServer, RpState, make_rp
from nodekit import (
    Node,
    database_urls,
    eventually,
    free_port,
    register_department_system,
    register_person,
    start_node,
)
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import Certificate
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "Zhengwu-Browser-2026!"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MiB /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    binary = (
        os.environ.get("ZHENGWU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not binary:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set ZHENGWU_CHROMIUM)")
    return binary


@dataclass
class Agent:
    """The stand-in UKey agent: signs what the page sends with one person's key."""

    key: SM2PrivateKey
    cert: Certificate
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def sign(request: Request) -> Response:
            origin = request.headers.get("origin", "")
            cors = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Allow-Private-Network": "true",
                "Vary": "Origin",
            }
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=cors)
            body = await request.json()
            self.requests.append(body)
            signature = self.key.sign(base64.b64decode(body["message"]))
            return JSONResponse(
                {
                    "certificate": base64.b64encode(self.cert.der).decode(),
                    "chain": [],
                    "signature": base64.b64encode(signature).decode(),
                },
                headers=cors,
            )

        return Starlette(routes=[Route("/zhengwu/v1/sign", sign, methods=["POST", "OPTIONS"])])


@dataclass
class World:
    """The province node, the department system and the UKey agent."""

    province: Node
    rp_url: str
    rp: RpState
    agent: Agent
    item_code: str  # a published item demanding real-name level 4


def _publish_item(node: Node, tmp: Path) -> str:
    """Publish 普通护照签发 for a city body, demanding level 4 at most ten minutes after login."""
    dept = credit_code("130100", 41)
    node.cli("departments", "add", "--credit-code", dept, "--name", "石家庄市公安局", "--division", "130100")
    lines = [
        {"_table": "up_task_directory", "catalog_code": PASSPORT, "task_name": "普通护照签发",
         "task_type": "01", "use_level": "2^3^4", "by_law": "《中华人民共和国护照法》"},
        guide(dept, auth_level=4, auth_max_age=600),
    ]  # fmt: skip
    path = tmp / "items.jsonl"
    path.write_text(
        "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8"
    )
    report = node.cli("catalog", "import", str(path), "--publish")
    assert report["inserted"] == 1, report
    return make_task_code(dept, 3, PASSPORT)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The province on 127.0.0.1 trusting a login CA, the department system on 127.0.0.2, the agent."""
    tmp = tmp_path_factory.mktemp("browser")
    agent_port = free_port("127.0.0.1")
    ca = make_ca()
    holder = nth_citizen_id(8801)
    key, cert = ca.issue("证书用户", extensions={IDENTIFY_CODE: identify_code(holder)})
    agent = Agent(key, cert)
    province = start_node(
        "province",
        "127.0.0.1",
        tmp,
        database_urls(tmp, ["province"])["province"],
        None,
        False,
        {"ZHENGWU_IDENTITY__UKEY_AGENT_URL": f"http://127.0.0.1:{agent_port}/zhengwu/v1/sign"},
    )
    try:
        (tmp / "ca.pem").write_bytes(ca.cert.to_pem())
        (tmp / "ca.crl").write_bytes(ca.crl())
        province.cli(
            "pki", "trust", "add", str(tmp / "ca.pem"), "--for", "login", "--crl", str(tmp / "ca.crl")
        )
        item_code = _publish_item(province, tmp)
        rp_port = free_port("127.0.0.2")
        rp_url = f"http://127.0.0.2:{rp_port}"
        rp_client = register_department_system(province, rp_url)
        app, state = make_rp(province.url, rp_client["client_id"], rp_client["client_secret"], rp_url)
        with RpServer(app, "127.0.0.2", rp_port), RpServer(agent.app(), "127.0.0.1", agent_port):
            yield World(province, rp_url, state, agent, item_code)
    finally:
        province.proc.terminate()
        province.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    binary = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_FLAGS)
        except sync_api.Error as exc:  # the machine's browser cannot start here (not a product failure)
            pytest.skip(f"Chromium at {binary} did not start: {str(exc).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test."""
    context = chromium.new_context(locale="zh-CN")
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def _register(node: Node, n: int, name: str) -> str:
    return register_person(node, n, name, PASSWORD)[0]


def test_single_sign_on_through_the_pages_and_logout_everywhere(page: Any, world: World) -> None:
    number = _register(world.province, 8802, "李四")
    page.goto(f"{world.rp_url}/login")
    # The department system sent the browser to the province's login page.
    assert page.url.startswith(f"{world.province.url}/identity/login?")
    assert page.locator("h1").inner_text() == "登录"
    page.get_by_label("账号").fill(number)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{world.province.url}/oidc/authorize**")
    assert "授权确认" in page.content() and "省人社厅社保业务系统" in page.content()
    page.get_by_role("button", name="同意并继续").click()
    page.wait_for_url(f"{world.rp_url}/callback**")
    signed_in = page.locator("body").inner_text()
    assert '"name":"李四"' in signed_in.replace(" ", "") and number not in signed_in
    assert page.request.get(f"{world.rp_url}/me").status == 200
    # Log out on the portal: the department system's session ends by back-channel.
    page.goto(f"{world.province.url}/identity/account")
    page.get_by_role("button", name="退出").click()
    page.wait_for_url(f"{world.province.url}/identity/login**")
    assert eventually(lambda: page.request.get(f"{world.rp_url}/me").status == 401)
    assert world.rp.rejected == []


def test_certificate_login_page_signs_with_the_ukey_agent(page: Any, world: World) -> None:
    _register(world.province, 8801, "王五")
    page.goto(f"{world.province.url}/identity/login")
    page.get_by_role("link", name="使用数字证书（UKey）登录").click()
    page.wait_for_url(f"{world.province.url}/identity/login/certificate**")
    page.get_by_role("button", name="使用数字证书登录").click()
    page.wait_for_url(f"{world.province.url}/identity/account**")
    assert "五级" in page.locator("main").inner_text()
    asked = world.agent.requests[-1]
    assert asked["purpose"] == "login" and asked["origin"] == world.province.url
    assert world.province.url.encode() in base64.b64decode(asked["message"])
    me = page.request.get(f"{world.province.url}/api/v1/identity/me").json()
    assert me["session"]["auth_level"] == 5 and me["session"]["amr"] == ["hwk"]


def test_the_certificate_page_says_so_when_the_agent_is_not_running(page: Any, world: World) -> None:
    page.route("**/zhengwu/v1/sign", lambda route: route.abort("connectionrefused"))
    page.goto(f"{world.province.url}/identity/login/certificate")
    page.get_by_role("button", name="使用数字证书登录").click()
    status = page.locator("#certificate-status")
    status.filter(has_text="未能连接证书助手").wait_for()
    assert page.get_by_role("button", name="使用数字证书登录").is_enabled()
    assert page.url.startswith(f"{world.province.url}/identity/login/certificate")


def test_an_item_above_the_account_level_is_explained_and_the_system_told(page: Any, world: World) -> None:
    number = _register(world.province, 8803, "赵六")  # self-registered: level 2
    page.goto(f"{world.rp_url}/login?item_code={world.item_code}")
    page.get_by_label("账号").fill(number)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{world.province.url}/oidc/authorize**")
    if "授权确认" in page.content():
        page.get_by_role("button", name="同意并继续").click()
    main = page.locator("main")
    main.filter(has_text="实名等级不足").wait_for()
    assert "办理「普通护照签发」需要四级（实人认证/窗口核验）及以上的实名认证" in main.inner_text()
    assert "您的账号目前为二级（自主注册）" in main.inner_text()
    page.get_by_role("link", name="返回「省人社厅社保业务系统」").click()
    page.wait_for_url(f"{world.rp_url}/callback**")
    assert "unmet_authentication_requirements" in page.locator("body").inner_text()


def test_the_api_docs_render_offline_under_the_content_security_policy(page: Any, world: World) -> None:
    """Swagger UI comes from the node (no CDN) and starts without inline script (the node's CSP)."""
    node = world.province.url
    outside: list[str] = []
    refused: list[str] = []

    def only_the_node(route: Any) -> None:
        if route.request.url.startswith(node):
            route.continue_()
        else:  # as on a node without internet
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_the_node)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    response = page.goto(f"{node}/api/docs")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 50
    page.get_by_text("/api/v1/catalog/search").first.click()
    opened = page.locator(".opblock.is-open").first
    opened.locator(".responses-table").first.wait_for()
    assert "422" in opened.inner_text() and "503" in opened.inner_text()
    assert outside == [] and refused == []
