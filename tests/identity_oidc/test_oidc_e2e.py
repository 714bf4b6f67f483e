"""End to end over HTTP: a national node, a province node and a reference department system.

Proves single sign-on through the province, back-channel logout of the department system, trust
transfer from the national node (account linking by blind index, auto-creation, lower of the two
levels) and logout propagated both ways. Nodes are real ``python -m zhengwu serve`` processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from oidc_browser import PASSWORD, api_login, approve_consent, follow, page_login
from oidc_reference_rp import RpServer, RpState, free_port, make_rp

from nodekit import Node, database_urls, eventually, register_department_system, register_person, start_node
from waf_kit import behind_the_waf  # noqa: F401 - fixture

# Through nginx + ModSecurity + CRS wherever they are installed (tests/waf_kit.py): no false positive.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("behind_the_waf")]


@dataclass
class World:
    """Two nodes and a department system."""

    national: Node
    province: Node
    rp_url: str
    rp: RpState
    federation_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """National node on localhost, province on 127.0.0.1, department system on 127.0.0.2 (separate cookies)."""
    tmp = tmp_path_factory.mktemp("e2e")
    urls = database_urls(tmp, ["national", "province"])
    national = start_node("national", "localhost", tmp, urls["national"], None, True)
    province_port_holder: list[Node] = []
    try:
        province = start_node("province", "127.0.0.1", tmp, urls["province"], national.url, False)
        province_port_holder.append(province)
        # The national administrator registers the province as a client (a node: no consent page, may
        # receive the ID number to link accounts); the province registers that client as its upstream.
        node_client = national.cli(
            "identity", "clients", "create", "--name", "河北省政务服务平台", "--kind", "node",
            "--grant", "authorization_code", "--redirect-uri", f"{province.url}/oidc/federation/callback",
            "--backchannel-logout-uri", f"{province.url}/oidc/federation/backchannel-logout",
            "--scope", "openid profile phone citizen_id", "--citizen-id",
        )  # fmt: skip
        registered = province.cli(
            "identity", "upstream", "register",
            "--client-id", node_client["client_id"], "--client-secret", node_client["client_secret"],
        )  # fmt: skip
        rp_port = free_port("127.0.0.2")
        rp_url = f"http://127.0.0.2:{rp_port}"
        rp_client = register_department_system(province, rp_url)
        app, state = make_rp(province.url, rp_client["client_id"], rp_client["client_secret"], rp_url)
        with RpServer(app, "127.0.0.2", rp_port):
            yield World(national, province, rp_url, state, registered["id"])
    finally:
        for node in [national, *province_port_holder]:
            node.proc.terminate()
            node.proc.wait(timeout=15)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """A browser-like client: one cookie jar, redirects followed by hand."""
    with httpx.Client(timeout=20, follow_redirects=False) as client:
        yield client


def _register(node: Node, n: int, name: str = "测试公民") -> tuple[str, dict[str, Any]]:
    return register_person(node, n, name, PASSWORD)


def _api_login(browser: httpx.Client, node: Node, identifier: str) -> None:
    api_login(browser, node.url, identifier)


def _rp_login(browser: httpx.Client, world: World) -> httpx.Response:
    response = follow(browser, browser.get(f"{world.rp_url}/login"))
    if response.status_code == 200 and "授权确认" in response.text:
        response = follow(browser, approve_consent(browser, response))
    return response


_eventually = eventually


def test_department_system_single_sign_on_and_back_channel_logout(
    world: World, browser: httpx.Client
) -> None:
    number, account = _register(world.province, 7001, "张三")
    _api_login(browser, world.province, number)
    done = _rp_login(browser, world)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["claims"]["name"] == "张三" and body["claims"]["real_name_level"] == 2
    assert body["acr"] == "urn:zhengwu:loa:2"
    assert body["claims"]["sub"] != account["id"] and number not in done.text
    assert browser.get(f"{world.rp_url}/me").status_code == 200
    # A second visit is seamless: no login, no consent page.
    again = _rp_login(browser, world)
    assert again.status_code == 200 and again.json()["claims"]["name"] == "张三"
    # The citizen logs out on the portal; the department system hears it by back-channel.
    assert browser.post(f"{world.province.url}/api/v1/identity/logout", json={}).status_code == 204
    assert _eventually(lambda: browser.get(f"{world.rp_url}/me").status_code == 401)
    assert world.rp.rejected == []
    assert any(claims["aud"] for claims in world.rp.logouts)


def test_trust_transfer_from_the_national_node_and_logout_both_ways(
    world: World, browser: httpx.Client
) -> None:
    number, _ = _register(world.national, 7002, "李四")
    options = httpx.get(f"{world.province.url}/api/v1/identity/login-options").json()
    assert options[0]["label"] == "使用国家政务服务平台账号登录"
    login_page = httpx.get(f"{world.province.url}/identity/login")
    assert "使用国家政务服务平台账号登录" in login_page.text
    start = browser.get(f"{world.province.url}{options[0]['url']}&next=/identity/account")
    page = follow(browser, start)
    assert page.status_code == 200 and page.url.host == "localhost" and "/identity/login" in page.url.path
    arrived = follow(browser, page_login(browser, page, number))
    assert arrived.url.host == "127.0.0.1" and arrived.url.path == "/identity/account", arrived.text[:300]
    me = browser.get(f"{world.province.url}/api/v1/identity/me").json()
    assert me["account"]["display_name"] == "李四" and me["session"]["auth_level"] == 2
    assert "fed" in me["session"]["amr"]
    # SSO onward to the department system with the transferred identity.
    done = _rp_login(browser, world)
    assert done.status_code == 200 and done.json()["claims"]["name"] == "李四"
    # Logout at the national node reaches the province, which tells the department system.
    assert browser.post(f"{world.national.url}/api/v1/identity/logout", json={}).status_code == 204
    assert _eventually(lambda: browser.get(f"{world.province.url}/api/v1/identity/me").status_code == 401)
    assert _eventually(lambda: browser.get(f"{world.rp_url}/me").status_code == 401)

    # The other way: log in again through the national node, then log out on the province.
    page = follow(browser, browser.get(f"{world.province.url}{options[0]['url']}&next=/identity/account"))
    arrived = follow(browser, page_login(browser, page, number))
    assert browser.get(f"{world.national.url}/api/v1/identity/me").status_code == 200
    assert browser.get(f"{world.province.url}/api/v1/identity/me").status_code == 200
    me2 = browser.get(f"{world.province.url}/api/v1/identity/me").json()
    assert me2["account"]["id"] == me["account"]["id"]  # the linked account, not a second one
    assert browser.post(f"{world.province.url}/api/v1/identity/logout", json={}).status_code == 204
    assert _eventually(lambda: browser.get(f"{world.national.url}/api/v1/identity/me").status_code == 401)


def test_existing_province_account_is_linked_by_blind_index_with_the_lower_level(
    world: World, browser: httpx.Client
) -> None:
    number, province_account = _register(world.province, 7003, "王五")
    _register(world.national, 7003, "王五")
    options = httpx.get(f"{world.province.url}/api/v1/identity/login-options").json()
    page = follow(browser, browser.get(f"{world.province.url}{options[0]['url']}&next=/identity/account"))
    follow(browser, page_login(browser, page, number))
    me = browser.get(f"{world.province.url}/api/v1/identity/me").json()
    assert me["account"]["id"] == province_account["id"]
    assert me["session"]["auth_level"] == min(province_account["real_name_level"], 2)


def test_bad_federated_callbacks_are_refused(world: World, browser: httpx.Client) -> None:
    forged = browser.get(f"{world.province.url}/oidc/federation/callback?state=forged&code=abc")
    assert forged.status_code == 403 and "登录请求已失效" in forged.text
    bad_token = httpx.post(
        f"{world.province.url}/oidc/federation/backchannel-logout", data={"logout_token": "a.b.c"}
    )
    assert bad_token.status_code == 400


def test_the_national_node_can_trust_province_logins_when_configured(
    world: World, browser: httpx.Client
) -> None:
    reverse = world.province.cli(
        "identity", "clients", "create", "--name", "国家政务服务平台", "--kind", "node",
        "--grant", "authorization_code", "--redirect-uri", f"{world.national.url}/oidc/federation/callback",
        "--backchannel-logout-uri", f"{world.national.url}/oidc/federation/backchannel-logout",
        "--scope", "openid profile phone citizen_id", "--citizen-id",
    )  # fmt: skip
    world.national.cli(
        "identity", "federation", "add", "--issuer", world.province.url, "--client-id", reverse["client_id"],
        "--client-secret", reverse["client_secret"], "--label", "使用河北省政务服务平台账号登录",
    )  # fmt: skip
    number, _ = _register(world.province, 7004, "赵六")
    options = httpx.get(f"{world.national.url}/api/v1/identity/login-options").json()
    assert [o["label"] for o in options] == ["使用河北省政务服务平台账号登录"]
    page = follow(browser, browser.get(f"{world.national.url}{options[0]['url']}&next=/identity/account"))
    assert page.url.host == "127.0.0.1"
    arrived = follow(browser, page_login(browser, page, number))
    assert arrived.url.host == "localhost", arrived.text[:300]
    assert browser.get(f"{world.national.url}/api/v1/identity/me").json()["account"]["display_name"] == "赵六"
