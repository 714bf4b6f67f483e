"""The protocol endpoints in /api/openapi.json: their real request forms and answers, checked against traffic.

Every answer below is validated against the type the document was generated from, and its status must be
one the document lists for that operation; every documented status (but 500) must be seen here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from oidc_helpers import (
    RP,
    Citizen,
    citizen_fixture,  # noqa: F401 - fixture
    code_for,
    exchange_code,
    make_client,
    oidc_fixture,  # noqa: F401 - fixture
)
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from zhengwu.identity.oidc import openapi as doc
from zhengwu.identity.oidc.runtime import OidcRuntime

FORM = "application/x-www-form-urlencoded"
OPERATIONS: dict[tuple[str, str], dict[int | str, dict[str, Any]]] = {
    ("post", "/oidc/token"): doc.TOKEN_RESPONSES,
    ("post", "/oidc/introspect"): doc.INTROSPECTION_RESPONSES,
    ("post", "/oidc/revoke"): doc.REVOCATION_RESPONSES,
    ("get", "/oidc/userinfo"): doc.USERINFO_GET_RESPONSES,
    ("post", "/oidc/userinfo"): doc.USERINFO_POST_RESPONSES,
    ("get", "/oidc/jwks"): doc.JWKS_RESPONSES,
    ("get", "/.well-known/openid-configuration"): doc.DISCOVERY_RESPONSES,
    ("get", "/.well-known/oauth-authorization-server"): doc.DISCOVERY_RESPONSES,
    ("post", "/oidc/federation/backchannel-logout"): doc.BACKCHANNEL_RESPONSES,
}


class Traffic:
    """Checks answers against the document and remembers which statuses were seen per operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.document = client.get("/api/openapi.json").json()
        self.seen: dict[tuple[str, str], set[int]] = defaultdict(set)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method.upper(), path, **kwargs)
        documented = self.document["paths"][path][method]["responses"]
        assert str(response.status_code) in documented, (path, response.status_code, response.text)
        model = OPERATIONS[(method, path)][response.status_code].get("model")
        if model is not None:
            TypeAdapter(model).validate_python(response.json())
            ref = documented[str(response.status_code)]["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{model.__name__}"
        else:
            assert response.content == b""
        self.seen[(method, path)].add(response.status_code)
        return response


@pytest.fixture
def traffic(client: Any) -> Traffic:
    return Traffic(client)


def test_the_token_endpoint_documents_its_forms_statuses_and_challenge(traffic: Traffic) -> None:
    operation = traffic.document["paths"]["/oidc/token"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True and list(body["content"]) == [FORM]
    forms = body["content"][FORM]["schema"]["oneOf"]
    grants = {form["properties"]["grant_type"]["const"] for form in forms}
    discovery = traffic.client.get("/.well-known/openid-configuration").json()
    assert grants == set(discovery["grant_types_supported"])
    assert all({"client_id", "client_secret"} <= set(form["properties"]) for form in forms)
    assert set(operation["responses"]) == {"200", "400", "401", "500"}
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    for (method, path), responses in OPERATIONS.items():
        documented = traffic.document["paths"][path][method]
        declared = {str(s) for s in responses}
        # kernel.openapi adds 503 (database busy) to every route that opens a database session.
        assert declared <= set(documented["responses"]) <= declared | {"503"}, path
        if method == "post":
            assert list(documented["requestBody"]["content"]) == [FORM], path


def test_real_answers_are_what_the_document_says(
    traffic: Traffic, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    client = traffic.client
    web = make_client(session, oidc, scope="openid profile phone", consent_required=False)
    post = make_client(session, oidc, token_endpoint_auth_method="client_secret_post", consent_required=False)
    machine = make_client(session, oidc, grant_types=["client_credentials"], scope="exchange")
    assert web.secret and post.secret and machine.secret
    basic = (web.client_id, web.secret)

    def token(form: dict[str, str], auth: tuple[str, str] | None = basic) -> Any:
        return traffic.call("post", "/oidc/token", data=form, auth=auth)

    code, verifier = code_for(client, web, citizen, scope="openid profile phone")
    redeem = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP, "code_verifier": verifier}
    tokens = token(redeem)
    assert tokens.status_code == 200 and {"id_token", "refresh_token"} <= set(tokens.json())
    refreshed = token({"grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"]})
    assert refreshed.status_code == 200 and "id_token" in refreshed.json()
    machine_token = token({"grant_type": "client_credentials"}, (machine.client_id, machine.secret))
    assert machine_token.status_code == 200 and "refresh_token" not in machine_token.json()
    assert token({"grant_type": "client_credentials"}, (machine.client_id, "wrong")).status_code == 401
    form_auth = {"grant_type": "client_credentials", "client_id": post.client_id, "client_secret": "wrong"}
    assert token(form_auth, None).status_code == 400
    assert token({"grant_type": "password"}).json()["error"] == "unsupported_grant_type"
    other_code, other_verifier = code_for(client, web, citizen, scope="openid")
    once = {**redeem, "code": other_code, "code_verifier": other_verifier}
    assert token(once).status_code == 200
    replay = token(once)  # a replayed code (and what it produced is revoked: RFC 6749 §4.1.2)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    not_form = traffic.call("post", "/oidc/token", json={"grant_type": "client_credentials"}, auth=basic)
    assert not_form.status_code == 400 and not_form.json()["error"] == "invalid_request"

    access = refreshed.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    info = traffic.call("get", "/oidc/userinfo", headers=bearer)
    assert info.status_code == 200 and info.json()["phone_number_verified"] is True
    assert traffic.call("post", "/oidc/userinfo", data={"access_token": access}).status_code == 200
    assert traffic.call("get", "/oidc/userinfo").status_code == 401
    assert traffic.call("post", "/oidc/userinfo", data={"access_token": "a.b.c"}).status_code == 401
    no_openid_code, no_openid_verifier = code_for(client, web, citizen, scope="profile")
    no_openid = exchange_code(client, web, no_openid_code, no_openid_verifier).json()["access_token"]
    scoped = traffic.call("get", "/oidc/userinfo", headers={"Authorization": f"Bearer {no_openid}"})
    assert scoped.status_code == 403 and scoped.json()["error"] == "insufficient_scope"
    assert traffic.call("post", "/oidc/userinfo", data={"access_token": no_openid}).status_code == 403

    def introspect(value: str, auth: tuple[str, str] = basic) -> Any:
        return traffic.call("post", "/oidc/introspect", data={"token": value}, auth=auth)

    assert introspect(access).json()["active"] is True
    assert introspect(refreshed.json()["refresh_token"]).json()["token_type"] == "refresh_token"
    assert introspect("garbage").json() == {"active": False}
    assert introspect(access, (web.client_id, "wrong")).status_code == 401
    assert traffic.call("post", "/oidc/introspect", json={"token": access}, auth=basic).status_code == 400

    def revoke(value: str, auth: tuple[str, str] = basic) -> Any:
        return traffic.call("post", "/oidc/revoke", data={"token": value}, auth=auth)

    assert revoke(access).status_code == 200
    assert revoke(machine_token.json()["access_token"]).status_code == 400  # another client's token
    assert revoke(access, (web.client_id, "wrong")).status_code == 401

    keys = traffic.call("get", "/oidc/jwks")
    assert keys.json()["keys"][0]["kid"] == oidc.key_material().kid
    traffic.call("get", "/.well-known/openid-configuration")
    traffic.call("get", "/.well-known/oauth-authorization-server")
    bcl = traffic.call("post", "/oidc/federation/backchannel-logout", data={"logout_token": "a.b.c"})
    assert bcl.status_code == 400 and bcl.json()["error"] == "invalid_request"
    assert traffic.call("post", "/oidc/federation/backchannel-logout", data={}).status_code == 400

    # Beyond the token endpoint's own form limit, the node's body limit answers with its error envelope.
    oversized = {"content": b"token=" + b"x" * (1024 * 1024), "headers": {"content-type": FORM}}
    for method, path in OPERATIONS:
        if method == "post" and path != "/oidc/token":
            assert traffic.call(method, path, **oversized).status_code == 413, path

    for operation, responses in OPERATIONS.items():
        expected = {int(s) for s in responses} - {500}
        if operation == ("post", "/oidc/federation/backchannel-logout"):
            expected -= {200}  # a valid logout token needs a federation: test_oidc_e2e.py
        assert traffic.seen[operation] >= expected, operation
