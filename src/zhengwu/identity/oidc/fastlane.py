"""The client-credentials token request that department systems send thousands of times a second.

A machine client asks for a token with one request shape: HTTP Basic authentication and a form of
``grant_type=client_credentials`` with an optional ``scope`` (RFC 6749 §4.4.2). When everything that
request needs is already in memory (the client snapshot, the signing key) and every check passes, the
token is issued here, without building Authlib's request, grant and payload objects, which cost more
than the signature itself. Anything else returns ``None`` and goes to the Authlib grant: an error of
any kind, another parameter, another authentication method, a cache miss. So every error response and
its audit record come from one place, and this module only ever answers 200 — with exactly the body
the Authlib grant gives (tests/identity_oidc compare the two on the same requests).
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_plus

import orjson

from zhengwu.identity.oidc.tokens import access_token

if TYPE_CHECKING:
    from zhengwu.identity.oidc.clients import RegisteredClient
    from zhengwu.identity.oidc.keys import KeyMaterial
    from zhengwu.identity.oidc.runtime import OidcRuntime

GRANT = "client_credentials"
_BASIC_METHOD = "client_secret_basic"
_MAX_BODY = 2048


@dataclass(frozen=True, slots=True)
class FastIssue:
    """A token ready to send once its issuance record is committed."""

    body: bytes
    record: dict[str, Any]


def _basic(authorization: bytes) -> tuple[str, str] | None:
    # RFC 6749 §2.3.1: id and secret are form-encoded, then joined by ":" and base64-encoded (RFC 7617).
    # Authlib's reading is the reference: percent-decoding (not "+"), the first ":" splits.
    if authorization[:6].lower() != b"basic ":
        return None
    try:
        decoded = binascii.a2b_base64(authorization[6:].strip(), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        return None
    if "%" in decoded:
        client_id, secret = unquote(client_id), unquote(secret)
    return client_id, secret


def _form(body: bytes) -> tuple[str, str | None] | None:
    # The two parameters this request may carry, each once; anything else is left to the full grant.
    if len(body) > _MAX_BODY:
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    grant: str | None = None
    scope: str | None = None
    for pair in text.split("&"):
        name, sep, value = pair.partition("=")
        if not sep:
            return None
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if name == "grant_type" and grant is None:
            grant = value
        elif name == "scope" and scope is None:
            scope = value
        else:
            return None
    if grant != GRANT:
        return None
    return grant, scope


def prepare(runtime: OidcRuntime, authorization: bytes | None, body: bytes) -> FastIssue | None:
    """Issue a client-credentials token from memory alone, or ``None`` to use the Authlib grant."""
    if authorization is None:
        return None
    form = _form(body)
    if form is None:
        return None
    credentials = _basic(authorization)
    if credentials is None:
        return None
    client_id, secret = credentials
    client = runtime.clients.cached(client_id)
    if (
        client is None
        or client.token_endpoint_auth_method != _BASIC_METHOD
        or GRANT not in client.grant_types
        or not client.check_client_secret(secret)
    ):
        return None
    material = runtime.fresh_key_material()
    if material is None:
        return None
    scope = client.client_credentials_scope(form[1])
    if scope is None:
        return None
    answer, record = machine_token(runtime, client, scope, material)
    return FastIssue(orjson.dumps(answer), record)


def machine_token(
    runtime: OidcRuntime, client: RegisteredClient, scope: str, material: KeyMaterial
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A client's own access token (RFC 9068, ``sub`` = ``client_id``): the response body and the
    issuance record. The Authlib grant answers with this too, so the two paths cannot drift apart."""
    ttl = client.access_token_ttl
    audience = client.audience or runtime.issuer
    issued = access_token(
        material,
        issuer=runtime.issuer,
        client_id=client.client_id,
        subject=client.client_id,
        audience=audience,
        scope=scope,
        ttl=ttl,
    )
    body = {"access_token": issued.value, "token_type": "Bearer", "expires_in": ttl, "scope": scope}
    record = {
        "jti": issued.jti,
        "client_id": client.client_id,
        "grant_type": GRANT,
        "account_id": None,
        "scope": scope,
        "audience": audience,
        "issued_at": datetime.fromtimestamp(issued.issued_at, UTC),
        "expires_at": datetime.fromtimestamp(issued.expires_at, UTC),
    }
    return body, record
