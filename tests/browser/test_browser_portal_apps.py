"""接入应用 in a real browser, at desktop (1280×800) and phone (390×844): the 应用 page lists a department's
H5 app (registered with the CLI, icon included); a person logs in on the portal, presses 打开, and lands in
the app logged in — a small real app here, an HTTP server beside the node that starts its own
authorization-code request (state, nonce, PKCE) and redeems the code server to server — with no login page
on the way; and the native app, holding only a token, opens it in a fresh web view through a one-time
launch address (refused the second time). axe-core on the page, nothing wider than the viewport; screenshots
``var/screenshots/portal-apps-*.png``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from browserkit import VIEWPORTS, check_page, chromium, cli, new_context  # noqa: F401 - fixture

from nodekit import Node, database_urls, register_person, start_node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]
PASSWORD = "Apps-Portal-2026!"
ICON = Path(__file__).resolve().parents[2] / "src/zhengwu/portal/static/icon-192.png"


class H5App:
    """A department's H5 app: OIDC third-party-initiated login in, the authorization-code flow out."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client_id = ""
        self.secret = ""
        self.pending: dict[str, tuple[str, str]] = {}  # state → (verifier, issuer)
        self.logged_in: list[str] = []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/sso/start":
                    self._start(query["iss"])
                elif parts.path == "/cb":
                    self._callback(query)
                else:
                    self.send_error(404)

            def _start(self, issuer: str) -> None:
                state, verifier = secrets.token_urlsafe(12), secrets.token_urlsafe(48)
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
                app.pending[state] = (verifier, issuer)
                target = f"{issuer}/oidc/authorize?" + urlencode({
                    "response_type": "code", "client_id": app.client_id, "redirect_uri": f"{app.url}/cb",
                    "scope": "openid", "state": state, "nonce": secrets.token_urlsafe(8),
                    "code_challenge": challenge.decode(), "code_challenge_method": "S256"})  # fmt: skip
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()

            def _callback(self, query: dict[str, str]) -> None:
                verifier, issuer = app.pending.pop(query.get("state", ""), ("", ""))
                tokens = httpx.post(f"{issuer}/oidc/token", auth=(app.client_id, app.secret), data={
                    "grant_type": "authorization_code", "code": query.get("code", ""),
                    "redirect_uri": f"{app.url}/cb", "code_verifier": verifier})  # fmt: skip
                who = httpx.get(f"{issuer}/oidc/userinfo",
                                headers={"Authorization": f"Bearer {tokens.json().get('access_token')}"})  # fmt: skip
                sub = str(who.json().get("sub", "")) if who.status_code == 200 else ""
                if sub:
                    app.logged_in.append(sub)
                text = "已登录人社应用" if sub else f"登录失败 {html.escape(tokens.text[:200])}"
                body = f'<!doctype html><html lang="zh-CN"><title>人社</title><main><h1>{text}</h1></main></html>'
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())

        return Handler


@dataclass
class World:
    node: Node
    number: str
    app: H5App
    app_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("apps")
    node = start_node("province", "127.0.0.1", tmp, database_urls(tmp, ["province"])["province"], None, False)
    h5 = H5App()
    try:
        number, _ = register_person(node, 3505, "演示用户", PASSWORD)
        made = cli(node, "identity", "clients", "create", "--name", "河北人社", "--grant", "authorization_code",
                   "--redirect-uri", f"{h5.url}/cb", "--json")[-1]  # fmt: skip
        h5.client_id, h5.secret = made["client_id"], made["client_secret"]
        app = cli(node, "portal", "apps", "add", "--name", "河北人社", "--description", "社保查询、参保证明打印",
                  "--entry-url", f"{h5.url}/sso/start", "--client-id", h5.client_id, "--icon", str(ICON),
                  "--json")[-1]  # fmt: skip
        yield World(node, number, h5, app["id"])
    finally:
        h5.server.shutdown()
        h5.server.server_close()
        node.proc.terminate()
        node.proc.wait(timeout=30)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_open_an_app_logged_in(chromium: Any, world: World, size: str) -> None:  # noqa: F811 - the kit's fixture
    base = world.node.url
    page = new_context(chromium, size).new_page()
    page.goto(f"{base}/")
    page.locator("header a", has_text="应用").click()
    page.wait_for_url("**/apps")
    main = page.inner_text("main")
    assert "河北人社" in main and "社保查询、参保证明打印" in main and "需要先登录" in main
    icon = page.locator("main img").first
    assert icon.evaluate("img => img.complete && img.naturalWidth > 0")
    check_page(page, f"apps-{size}-list")
    # Log in once on the portal, from the app's own link: back to the app after the login.
    page.locator("main a", has_text="打开河北人社").click()
    page.wait_for_url("**/identity/login*")
    page.fill("#identifier", world.number)
    page.fill("#password", PASSWORD)
    before = len(world.app.logged_in)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{world.app.url}/cb*")
    assert page.inner_text("h1") == "已登录人社应用" and len(world.app.logged_in) == before + 1
    # Again from the 应用 page, the session held: straight into the app, no login page on the way.
    seen: list[str] = []
    page.on("framenavigated", lambda frame: seen.append(frame.url))
    page.goto(f"{base}/apps")
    assert "需要先登录" not in page.inner_text("main")
    check_page(page, f"apps-{size}-list-logged-in")
    if size == "phone":  # the narrowest phone the pages are made for, and 适老化 mode
        page.set_viewport_size({"width": 360, "height": 740})
        check_page(page, "apps-360-list")
        page.goto(f"{base}/care?mode=on&next=/apps")
        check_page(page, "apps-360-care-list")
        page.goto(f"{base}/care?mode=off&next=/apps")
    page.locator("main a", has_text="打开河北人社").click()
    page.wait_for_url(f"{world.app.url}/cb*")
    assert page.inner_text("h1") == "已登录人社应用"
    # Every page the browser committed to is recorded (a login page would be one): none was.
    assert seen and seen[-1].startswith(f"{world.app.url}/cb")
    assert not [u for u in seen if "/identity/login" in u], seen
    assert world.app.logged_in[-1] == world.app.logged_in[-2]  # the same person, by the app's own sub


def _mobile_token(world: World) -> str:
    """The native app's token: a public client with PKCE for ``openid mobile``, the person's login."""
    made = cli(world.node, "identity", "clients", "create", "--name", "掌上办事", "--kind", "public",
               "--grant", "authorization_code", "--redirect-uri", "https://app.example.gov.cn/cb",
               "--scope", "openid mobile", "--no-consent", "--json")[-1]  # fmt: skip
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with httpx.Client(base_url=world.node.url) as browser:
        login = browser.post(
            "/api/v1/identity/login", json={"identifier": world.number, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        asked = browser.get("/oidc/authorize", params={
            "response_type": "code", "client_id": made["client_id"], "redirect_uri": "https://app.example.gov.cn/cb",
            "scope": "openid mobile", "state": "s", "nonce": "n", "code_challenge": challenge,
            "code_challenge_method": "S256"})  # fmt: skip
        assert asked.status_code == 302, asked.text
        code = parse_qs(urlsplit(asked.headers["location"]).query)["code"][0]
    tokens = httpx.post(f"{world.node.url}/oidc/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example.gov.cn/cb",
        "client_id": made["client_id"], "code_verifier": verifier})  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


def test_the_native_app_opens_an_app_in_its_web_view(chromium: Any, world: World) -> None:  # noqa: F811
    """The native app holds a token, never a session: it asks for a one-time address and its web view (a
    fresh browser context, no cookies) lands in the department app logged in, with no login page; the same
    address in another web view is refused in words."""
    token = _mobile_token(world)
    launch = httpx.post(f"{world.node.url}/api/v1/mobile/me/apps/{world.app_id}/launch",
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert launch.status_code == 201, launch.text
    url = launch.json()["url"]
    assert token not in url
    web_view = new_context(chromium, "phone")
    page = web_view.new_page()
    seen: list[str] = []
    page.on("framenavigated", lambda frame: seen.append(frame.url))
    before = len(world.app.logged_in)
    page.goto(url)
    page.wait_for_url(f"{world.app.url}/cb*")
    assert page.inner_text("h1") == "已登录人社应用" and len(world.app.logged_in) == before + 1
    assert not [u for u in seen if "/identity/login" in u], seen
    if before:  # the same person the tests above logged in on the portal, by the app's own sub
        assert world.app.logged_in[-1] == world.app.logged_in[0]
    web_view.close()

    again = new_context(chromium, "phone")
    page = again.new_page()
    answer = page.goto(url)
    assert answer is not None and answer.status == 410
    assert "已经用过" in page.inner_text("main")
    check_page(page, "apps-launch-used")
    again.close()
