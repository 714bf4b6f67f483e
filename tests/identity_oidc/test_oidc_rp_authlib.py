"""The provider as a third-party relying-party library sees it: Authlib's OAuth2Client against a started node.

Everything goes over HTTP to a ``python -m zhengwu serve`` process; the client is configured from the
discovery document alone, and every ID token is checked with Authlib's own OIDC claim rules
(``authlib.oidc.core.CodeIDToken``) against the published JWKS.
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from oidc_browser import PASSWORD, api_login, authorization_response

from nodekit import Node, database_urls, register_person, start_node

with warnings.catch_warnings():
    # Authlib's httpx integration prefers the httpx2 fork and warns when it finds httpx, which we use.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.e2e

REDIRECT = "http://127.0.0.1:9/callback"


def _stop(node: Node) -> None:
    node.proc.terminate()
    node.proc.wait(timeout=15)


def _metadata(node: Node) -> dict[str, Any]:
    response = httpx.get(f"{node.url}/.well-known/openid-configuration")
    assert response.status_code == 200
    return dict(response.json())


def _code_client(node: Node, *extra: str) -> dict[str, Any]:
    return node.cli(
        "identity", "clients", "create", "--name", "省人社厅社保业务系统", "--grant", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", "openid profile", *extra,
    )  # fmt: skip


def _browser() -> httpx.Client:
    return httpx.Client(timeout=20, follow_redirects=False)


def _sign_in(node: Node, browser: httpx.Client, n: int) -> None:
    number, _ = register_person(node, n, "张三", PASSWORD)
    api_login(browser, node.url, number)


def _code_flow(
    node: Node, meta: dict[str, Any], oauth: OAuth2Client, browser: httpx.Client
) -> tuple[dict[str, Any], str]:
    """Authorization code + PKCE (S256) as Authlib runs it; returns the token response and the nonce."""
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    location = authorization_response(browser, url, REDIRECT)
    token = oauth.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    return dict(token), nonce


def test_the_first_code_exchange_on_a_brand_new_node_succeeds(tmp_path: Path) -> None:
    # Nothing has touched the signing key before the department system's first sign-in: no JWKS fetch,
    # no client-credentials token. The exchange needs the key while it holds the write transaction.
    node = start_node(
        "fresh", "127.0.0.1", tmp_path, database_urls(tmp_path, ["fresh"])["fresh"], None, False
    )
    try:
        meta = _metadata(node)
        client = _code_client(node)
        with (
            _browser() as browser,
            OAuth2Client(
                client["client_id"],
                client["client_secret"],
                scope="openid profile",
                redirect_uri=REDIRECT,
                code_challenge_method="S256",
            ) as oauth,
        ):
            _sign_in(node, browser, 8101)
            token, _ = _code_flow(node, meta, oauth, browser)
        assert token["token_type"] == "Bearer" and token["id_token"]
    finally:
        _stop(node)
