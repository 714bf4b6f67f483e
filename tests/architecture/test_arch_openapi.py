"""The OpenAPI document is true: every error it declares is the envelope, and every guarded route says so.

Guards are found here from the routes' dependency trees, independently of how ``kernel.openapi`` marks
them: a route that depends (at any depth) on identity's ``require_session`` needs the session cookie, one
whose dependency yields exchange's ``Caller`` needs a client-credentials token with the scope it names.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from zhengwu.exchange.verification import Caller
from zhengwu.identity.deps import require_session
from zhengwu.identity.oidc.bearer import PersonGuard

# OAuth 2.0 endpoints answer errors in RFC 6749's own format, which clients expect.
OAUTH_FORMAT = ("/oidc/", "/.well-known/")


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


def _operations(app: Any) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    document = app.openapi()
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            for method in context.methods:
                yield context, method, document["paths"][context.path_format][method.lower()]


def test_every_error_answer_is_the_envelope(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert "ErrorEnvelope" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    wrong = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("2", "3")) or path.startswith(OAUTH_FORMAT):
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref") != "#/components/schemas/ErrorEnvelope":
                    wrong.append(f"{method.upper()} {path} {status}")
    assert wrong == []


def test_guarded_routes_declare_their_security_and_refusals(app: Any) -> None:
    missing = []
    for context, method, operation in _operations(app):
        where = f"{method} {context.path_format}"
        calls = [d.call for d in _walk(context.dependant)]
        declared = {
            name: scopes
            for requirement in operation.get("security", [])
            for name, scopes in requirement.items()
        }
        if require_session in calls:
            if "sessionCookie" not in declared:
                missing.append(f"{where}: session cookie")
            if "401" not in operation["responses"]:
                missing.append(f"{where}: 401")
        for call in calls:
            if inspect.signature(call).return_annotation in (Caller, "Caller"):
                if "clientCredentials" not in declared or not declared["clientCredentials"]:
                    missing.append(f"{where}: client-credentials scope")
                if not {"401", "403"} <= set(operation["responses"]):
                    missing.append(f"{where}: 401/403")
        # A person's guard (identity.oidc.bearer): the token with its scope, or the cookie; 401 and 403.
        for call in calls:
            if isinstance(call, PersonGuard):
                if declared.get("personToken") != [call.scope] or "sessionCookie" not in declared:
                    missing.append(f"{where}: person token scope and session cookie")
                if not {"401", "403"} <= set(operation["responses"]):
                    missing.append(f"{where}: 401/403")
        # Staff rights, real-name levels: guards built on the session can refuse with 403.
        layered = [
            d for d in _walk(context.dependant) if any(s.call is require_session for s in d.dependencies)
        ]
        if any(d.call is not require_session for d in layered) and "403" not in operation["responses"]:
            missing.append(f"{where}: 403")
    assert missing == []


def test_security_schemes_are_described(client: TestClient) -> None:
    schemes = client.get("/api/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "type": "apiKey", "in": "cookie"}
    flow = schemes["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oidc/token" and "verify:person" in flow["scopes"]
    assert schemes["signedEnvelope"]["type"] == "http"
    person = schemes["personToken"]["flows"]["authorizationCode"]
    assert person["authorizationUrl"] == "/oidc/authorize" and "mobile" in person["scopes"]


def test_bodies_and_parameters_declare_what_the_edge_answers(app: Any) -> None:
    missing = []
    for context, method, operation in _operations(app):
        responses = set(operation["responses"])
        where = f"{method} {context.path_format}"
        body = operation.get("requestBody", {}).get("content", {})
        # The token endpoint is served ahead of the middleware and refuses an oversized form as an OAuth
        # invalid_request (identity.oidc.routes.MAX_FORM), so it has no 413.
        if body and "413" not in responses and context.path_format != "/oidc/token":
            missing.append(f"{where}: 413")
        if "application/json" in body and not {"415", "422"} <= responses:
            missing.append(f"{where}: 415/422")
        if (
            any(p["in"] == "path" for p in operation.get("parameters", []))
            and not {"404", "422"} <= responses
        ):
            missing.append(f"{where}: 404/422")
    assert missing == []


def test_the_docs_page_needs_no_cdn_and_no_inline_script(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "http://" not in html and "https://" not in html, "every asset comes from the node"
    assert html.count("<script") == html.count("<script src=") == 2
    for asset, media in (
        ("swagger-ui-bundle.js", "javascript"),
        ("swagger-ui.css", "css"),
        ("init.js", "javascript"),
    ):
        answer = client.get(f"/api/docs/{asset}")
        assert answer.status_code == 200 and media in answer.headers["content-type"], asset
    assert '"/api/openapi.json"' in client.get("/api/docs/init.js").text
