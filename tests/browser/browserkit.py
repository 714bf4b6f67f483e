"""The browser tests' kit: Chromium from the machine, the two viewports, a page's checks (screenshot,
axe-core, nothing wider than the viewport), the CLI against a node's database, one started node.

Chromium comes from the machine (Debian's ``chromium``; ZHENGWU_CHROMIUM names another binary): the
tests skip, saying why, where it or Playwright is missing. Screenshots go to ``var/screenshots/`` (or
``ZHENGWU_SCREENSHOTS``), the folder CI keeps as artefacts.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clikit import environment_of, invoke_in
from nodekit import Node, database_urls, demo_template, start_node

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SHOTS = Path(
    os.environ.get("ZHENGWU_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module (skips, saying why, where it cannot start)."""
    binary = (
        os.environ.get("ZHENGWU_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not binary:
        pytest.skip("no Chromium on this machine (apt-get install chromium, or set ZHENGWU_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=binary, headless=True, args=CHROMIUM_FLAGS)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {binary} did not start: {str(exc).splitlines()[0]}")
        yield browser
        browser.close()


def new_context(chromium: Any, size: str, **options: Any) -> Any:
    """A zh-CN browser context at the named viewport."""
    made = chromium.new_context(locale="zh-CN", viewport=VIEWPORTS[size], accept_downloads=True, **options)
    made.set_default_timeout(20_000)
    return made


def check_page(page: Any, name: str) -> None:
    """Save a screenshot and assert axe-core finds no serious or critical violation on the page."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"portal-{name}.png"), full_page=True)
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python missing")
    results = axe.Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"
    # Nothing wider than the viewport: the layout holds from 360 px up.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name


def login_with_totp(page: Any, url: str, login: str, password: str, secret: str) -> None:
    """Open a staff page, sign in with password and the authenticator's current code, and come back to it."""
    import pyotp

    page.goto(url)
    page.wait_for_url("**/identity/login?next=**")
    page.fill("#identifier", login)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url("**/identity/login/mfa**")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url(url)


@dataclass
class StaffWorld:
    """A started node with, per viewport, a staff member who signs in with a password and an authenticator
    (the 工作台 journeys); a module's world adds what its journey works on."""

    node: Node
    logins: dict[str, str]
    password: str
    secrets: dict[str, str]

    def signed_in(self, chromium: Any, size: str, path: str) -> Any:
        """A new page at ``size``, that size's staff member signed in, on ``path`` (the caller closes
        ``page.context``)."""
        page = new_context(chromium, size).new_page()
        login_with_totp(page, f"{self.node.url}{path}", self.logins[size], self.password, self.secrets[size])
        return page


def cli(node: Node, *args: str) -> list[Any]:
    """A CLI command against the node's database, run in this process with the node's environment (an
    interpreter start per command cost the set-ups seconds each; ``python -m zhengwu`` has tests of its
    own); its JSON lines."""
    out = invoke_in(node.env, *args)
    assert out.exit_code == 0, (out.output + repr(out.exception))[-2000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith(("{", "["))]


def kit(node: Node, script: str, command: str, *args: str) -> dict[str, Any]:
    """One of this folder's set-up scripts (``staff_casework``, ``portal_casework``, ``received_rows``)
    against the node's database: its function ``command``, run in this process with the node's
    environment; the answer as the script prints it (a JSON object)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment_of(node.env).items():
            if value is None:
                patch.delenv(key)
            else:
                patch.setenv(key, value)
        answer = getattr(importlib.import_module(script), command)(*args)
    decoded: dict[str, Any] = json.loads(json.dumps(answer, ensure_ascii=False))
    return decoded


@contextmanager
def province(tmp: Path, *, demo: bool = False) -> Iterator[Node]:
    """A started province node (``zhengwu serve``) on its own database, the demo seed loaded if asked
    (on SQLite a copy of the per-process seeded template; the node's name, and so its keys' secret, is
    the template's)."""
    url = database_urls(tmp, ["province"])["province"]
    seeded = demo and url.startswith("sqlite:///")
    if seeded:
        demo_template().copy_to(Path(url.removeprefix("sqlite:///")))
    node = start_node("province", "127.0.0.1", tmp, url, None, False, {})
    try:
        if demo and not seeded:
            subprocess.run([sys.executable, "-m", "zhengwu", "seed", "--demo"], env=node.env, check=True,
                           capture_output=True)  # fmt: skip
        yield node
    finally:
        node.proc.terminate()
        node.proc.wait(timeout=15)
