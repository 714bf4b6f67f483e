"""A person's browser against a started node, driven with httpx: log in, follow redirects, consent.

Shared by the tests that talk to real nodes over HTTP (the reference department system, Authlib's client).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

PASSWORD = "Zhengwu-Test-2026!"


def follow(
    browser: httpx.Client, response: httpx.Response, stop: Callable[[httpx.Response], bool] | None = None
) -> httpx.Response:
    """Follow redirects like a browser until ``stop`` says so (or a non-redirect)."""
    for _ in range(20):
        if stop is not None and stop(response):
            return response
        if response.status_code not in (301, 302, 303, 307):
            return response
        response = browser.get(response.url.join(response.headers["location"]))
    raise AssertionError("redirect loop")


def api_login(browser: httpx.Client, base_url: str, identifier: str, password: str = PASSWORD) -> None:
    """Log in through the node's JSON API (the session cookie lands in the browser's jar)."""
    response = browser.post(
        f"{base_url}/api/v1/identity/login", json={"identifier": identifier, "password": password}
    )
    assert response.status_code == 200, response.text


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field in {html[:300]}"
    return found.group(1).replace("&amp;", "&")


def _origin(page: httpx.Response) -> str:
    return f"{page.url.scheme}://{page.url.netloc.decode()}"


def page_login(
    browser: httpx.Client, page: httpx.Response, identifier: str, password: str = PASSWORD
) -> httpx.Response:
    """Fill the node's HTML login form like a person would."""
    return browser.post(
        f"{_origin(page)}/identity/login",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "identifier": identifier,
            "password": password,
            "next": _field(page.text, "next"),
        },
    )


def approve_consent(browser: httpx.Client, page: httpx.Response) -> httpx.Response:
    """Press "同意" on the node's consent page."""
    assert "授权确认" in page.text, page.text[:500]
    return browser.post(
        f"{_origin(page)}/oidc/authorize/decision",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "decision": "approve",
            "request_params": _field(page.text, "request_params"),
        },
    )


def authorization_response(browser: httpx.Client, authorization_url: str, redirect_uri: str) -> str:
    """Open the authorization URL in a logged-in browser, consent if asked, and return the URL the node
    finally redirects to (the client's ``redirect_uri`` with ``code`` and ``state``), without visiting it."""

    def arrived(response: httpx.Response) -> bool:
        return response.is_redirect and response.headers["location"].startswith(redirect_uri)

    response = follow(browser, browser.get(authorization_url), arrived)
    if not arrived(response) and response.status_code == 200 and "授权确认" in response.text:
        response = follow(browser, approve_consent(browser, response), arrived)
    assert arrived(response), f"{response.status_code} {response.text[:500]}"
    return str(response.headers["location"])
