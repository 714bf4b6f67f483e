"""The provider as a third-party relying-party library sees it: Authlib's OAuth2Client against a started node.

Everything goes over HTTP to a ``python -m zhengwu serve`` process; the clients are configured from the
discovery document alone, and every ID token is checked with Authlib's own OIDC claim rules
(``authlib.oidc.core.CodeIDToken``: iss, aud, exp, iat, nonce, at_hash ...) against the published JWKS.
Every endpoint, authentication method, grant type and algorithm the discovery document advertises is used.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from oidc_browser import PASSWORD, api_login, authorization_response

from nodekit import Node, database_urls, register_person, start_node
from waf_kit import behind_the_waf  # noqa: F401 - fixture

with warnings.catch_warnings():
    # Authlib's httpx integration prefers the httpx2 fork and warns when it finds httpx, which we use.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

# Through nginx + ModSecurity + CRS wherever they are installed (tests/waf_kit.py): no false positive.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("behind_the_waf")]

REDIRECT = "http://127.0.0.1:9/callback"


def _stop(node: Node) -> None:
    node.proc.terminate()
    node.proc.wait(timeout=15)


def _metadata(node: Node) -> dict[str, Any]:
    response = httpx.get(f"{node.url}/.well-known/openid-configuration")
    assert response.status_code == 200
    return dict(response.json())


def _code_client(node: Node, *extra: str, scope: str = "openid profile") -> dict[str, Any]:
    return node.cli(
        "identity", "clients", "create", "--name", "省人社厅社保业务系统", "--grant", "authorization_code",
        "--redirect-uri", REDIRECT, "--scope", scope, *extra,
    )  # fmt: skip


def _machine_client(node: Node, *extra: str) -> dict[str, Any]:
    return node.cli(
        "identity", "clients", "create", "--name", "省市场监管局业务系统", "--grant", "client_credentials",
        "--scope", "exchange catalog.read", *extra,
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


def _id_token(
    meta: dict[str, Any], oauth: OAuth2Client, token: dict[str, Any], nonce: str | None
) -> CodeIDToken:
    """Validate an ID token as Authlib's OpenID integration does (parse_id_token), strictly."""
    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(
        token["id_token"],
        keys,
        registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"essential": True, "values": [meta["issuer"]]}},
        {"nonce": nonce, "client_id": oauth.client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=30)
    return claims


def _access_claims(meta: dict[str, Any], value: str) -> dict[str, Any]:
    """An RFC 9068 JWT access token, checked against the JWKS."""
    keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
    decoded = jwt.decode(value, keys, registry=JWSRegistry(algorithms=["ES256"]))
    assert decoded.header["typ"] == "at+jwt"
    return dict(decoded.claims)


# --- a node with one client per advertised authentication method ---------------------------------


@dataclass
class Provider:
    """A started node, its discovery document and its registered clients (CLI answers)."""

    node: Node
    meta: dict[str, Any]
    clients: dict[str, dict[str, Any]]

    def oauth(self, name: str, **options: Any) -> OAuth2Client:
        """Authlib's client for one of the registered clients, configured as its registration says."""
        registered = self.clients[name]
        return OAuth2Client(
            registered["client_id"],
            registered["client_secret"],
            token_endpoint_auth_method=registered["token_endpoint_auth_method"],
            revocation_endpoint_auth_method=registered["token_endpoint_auth_method"],
            redirect_uri=REDIRECT,
            code_challenge_method="S256",
            timeout=20,
            **options,
        )


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A province node with login clients (basic, post, public) and machine clients (basic, post)."""
    tmp = tmp_path_factory.mktemp("authlib-rp")
    node = start_node("rp", "127.0.0.1", tmp, database_urls(tmp, ["rp"])["rp"], None, False)
    try:
        clients = {
            "web_basic": _code_client(node, scope="openid profile phone"),
            "web_post": _code_client(node, "--auth-method", "client_secret_post"),
            "public": _code_client(node, "--kind", "public"),
            "machine_basic": _machine_client(node),
            "machine_post": _machine_client(node, "--auth-method", "client_secret_post"),
        }
        yield Provider(node, _metadata(node), clients)
    finally:
        _stop(node)


_people = iter(range(8200, 8300))


@pytest.fixture
def browser(provider: Provider) -> Iterator[httpx.Client]:
    """A browser in which a newly registered person is logged in on the node."""
    with _browser() as client:
        _sign_in(provider.node, client, next(_people))
        yield client


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


# --- the provider through Authlib's eyes ----------------------------------------------------------------


def test_the_discovery_document_is_consistent_and_every_endpoint_answers(provider: Provider) -> None:
    meta, url = provider.meta, provider.node.url
    assert meta["issuer"] == url
    assert httpx.get(f"{url}/.well-known/oauth-authorization-server").json() == meta
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        assert meta[name].startswith(f"{url}/oidc/"), name
    # Each endpoint answers its own protocol's error for an empty request (not 404/405/500).
    assert httpx.get(meta["authorization_endpoint"]).status_code == 400
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        empty = httpx.post(meta[name], data={})
        assert empty.status_code in (400, 401) and "error" in empty.json(), name
    unauthenticated = httpx.get(meta["userinfo_endpoint"])
    assert unauthenticated.status_code == 401 and unauthenticated.headers["www-authenticate"].startswith(
        "Bearer"
    )
    assert httpx.get(meta["end_session_endpoint"]).status_code == 200
    jwks = httpx.get(meta["jwks_uri"]).json()
    assert jwks["keys"] and all(k["use"] == "sig" and "d" not in k for k in jwks["keys"])
    assert {k["alg"] for k in jwks["keys"]} <= set(meta["id_token_signing_alg_values_supported"])
    assert meta["response_types_supported"] == ["code"] and meta["code_challenge_methods_supported"] == [
        "S256"
    ]
    # Every advertised client authentication method is registered in this module and used below.
    methods = {c["token_endpoint_auth_method"] for c in provider.clients.values()}
    assert set(meta["token_endpoint_auth_methods_supported"]) == methods
    assert set(meta["revocation_endpoint_auth_methods_supported"]) == methods
    assert set(meta["introspection_endpoint_auth_methods_supported"]) == methods - {"none"}
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}


@pytest.mark.parametrize("name", ["web_basic", "web_post"])
def test_code_flow_pkce_id_token_userinfo_refresh_and_revocation(
    provider: Provider, browser: httpx.Client, name: str
) -> None:
    meta = provider.meta
    with provider.oauth(name, scope="openid profile") as oauth:
        token, nonce = _code_flow(provider.node, meta, oauth, browser)
        assert token["token_type"] == "Bearer" and token["refresh_token"] and token["expires_in"] > 0
        claims = _id_token(meta, oauth, token, nonce)
        assert claims["acr"] == "urn:zhengwu:loa:2" and claims["auth_time"] <= claims["iat"]
        assert _access_claims(meta, token["access_token"])["sub"] == claims["sub"]

        info = oauth.get(meta["userinfo_endpoint"])
        assert (
            info.status_code == 200 and info.json()["sub"] == claims["sub"] and info.json()["name"] == "张三"
        )

        # Refresh (rotation): a new refresh token and an ID token about the same login (OIDC Core §12.2).
        renewed = dict(oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"]))
        assert renewed["refresh_token"] != token["refresh_token"]
        again = _id_token(meta, oauth, renewed, None)
        assert (again["sub"], again["aud"], again["auth_time"]) == (
            claims["sub"],
            claims["aud"],
            claims["auth_time"],
        )
        with pytest.raises(OAuthError) as reused:
            oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert reused.value.error == "invalid_grant"

    with provider.oauth(name, scope="openid profile") as oauth:
        token, _ = _code_flow(provider.node, meta, oauth, browser)
        access = token["access_token"]
        live = oauth.introspect_token(meta["introspection_endpoint"], token=access)
        assert live.status_code == 200 and live.json()["active"] is True
        assert live.json()["client_id"] == oauth.client_id
        revoked = oauth.revoke_token(
            meta["revocation_endpoint"], token=access, token_type_hint="access_token"
        )
        assert revoked.status_code == 200
        assert oauth.introspect_token(meta["introspection_endpoint"], token=access).json() == {
            "active": False
        }
        assert oauth.get(meta["userinfo_endpoint"]).status_code == 401
        gone = oauth.revoke_token(meta["revocation_endpoint"], token=token["refresh_token"])
        assert gone.status_code == 200
        with pytest.raises(OAuthError) as refused:
            oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refused.value.error == "invalid_grant"


def test_a_public_client_uses_pkce_without_a_secret(provider: Provider, browser: httpx.Client) -> None:
    meta = provider.meta
    assert provider.clients["public"]["client_secret"] is None
    with provider.oauth("public", scope="openid profile") as oauth:
        token, nonce = _code_flow(provider.node, meta, oauth, browser)
        _id_token(meta, oauth, token, nonce)
        renewed = dict(oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"]))
        assert (
            oauth.revoke_token(meta["revocation_endpoint"], token=renewed["refresh_token"]).status_code == 200
        )
        with pytest.raises(OAuthError):
            oauth.refresh_token(meta["token_endpoint"], refresh_token=renewed["refresh_token"])


@pytest.mark.parametrize("name", ["machine_basic", "machine_post"])
def test_client_credentials_introspection_and_revocation(provider: Provider, name: str) -> None:
    meta = provider.meta
    with provider.oauth(name) as oauth:
        token = dict(oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials"))
        assert token["scope"] == "catalog.read exchange" and "refresh_token" not in token
        claims = _access_claims(meta, token["access_token"])
        assert claims["sub"] == claims["client_id"] == oauth.client_id and claims["iss"] == meta["issuer"]
        narrow = dict(
            oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials", scope="exchange")
        )
        assert narrow["scope"] == "exchange"
        with pytest.raises(OAuthError) as person:
            oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials", scope="openid")
        assert person.value.error == "invalid_scope"
        info = oauth.introspect_token(meta["introspection_endpoint"], token=token["access_token"])
        assert info.json()["active"] is True and info.json()["scope"] == token["scope"]
        assert oauth.revoke_token(meta["revocation_endpoint"], token=token["access_token"]).status_code == 200
        assert oauth.introspect_token(meta["introspection_endpoint"], token=token["access_token"]).json() == {
            "active": False
        }


def test_a_client_using_the_other_secret_method_is_told_invalid_client(provider: Provider) -> None:
    meta = provider.meta
    registered = provider.clients["machine_post"]
    basic = OAuth2Client(registered["client_id"], registered["client_secret"], timeout=20)
    with basic, pytest.raises(OAuthError) as wrong_method:
        basic.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert wrong_method.value.error == "invalid_client"
    answer = httpx.post(
        meta["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(registered["client_id"], registered["client_secret"]),
    )
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic realm=")
