"""How the protocol endpoints appear in ``/api/openapi.json``: the forms they read and what they answer.

The endpoints parse their form bodies themselves (OAuth answers a malformed request with an RFC 6749
error object, not with the API's 422 envelope), so FastAPI cannot infer the request body: it is declared
here as ``openapi_extra``. The answers are TypedDicts with ``additionalProperties: false``; the tests
validate real answers against these very types, so the document cannot drift from the behaviour.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from zhengwu.kernel.openapi import errors

_STRICT = ConfigDict(extra="forbid")

OAuthErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "invalid_token",
    "insufficient_scope",
    "server_error",
]

# --- answers ------------------------------------------------------------------------------------------


@with_config(_STRICT)
class OAuthErrorBody(TypedDict):
    """RFC 6749 §5.2 error object (RFC 6750 §3.1 at userinfo), with the Chinese ``detail`` and ``trace_id``."""

    error: OAuthErrorCode
    error_description: NotRequired[Annotated[str, Field(description="English, ASCII (RFC 6749 §5.2).")]]
    detail: Annotated[str, Field(description="中文说明 / the same in Chinese.")]
    trace_id: NotRequired[Annotated[str, Field(description="Correlation id of the request (logs).")]]


@with_config(_STRICT)
class TokenResponse(TypedDict):
    """RFC 6749 §5.1 token answer; access tokens are ES256 JWTs (RFC 9068, ``typ`` ``at+jwt``)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, Field(description="Seconds until the access token expires.")]
    scope: Annotated[str, Field(description="Granted scopes, space-separated (may be fewer than asked).")]
    refresh_token: NotRequired[
        Annotated[str, Field(description="Code and refresh grants only; each use returns a new one.")]
    ]
    id_token: NotRequired[
        Annotated[str, Field(description="With scope openid, code and refresh grants (OIDC Core §3.1.3.3).")]
    ]


@with_config(_STRICT)
class IntrospectionResponse(TypedDict):
    """RFC 7662 §2.2: ``{"active": false}`` alone for tokens that are unknown, expired, revoked or not the
    caller's to see."""

    active: bool
    token_type: NotRequired[Literal["Bearer", "refresh_token"]]
    scope: NotRequired[str]
    client_id: NotRequired[str]
    sub: NotRequired[str]
    aud: NotRequired[str | list[str]]
    iss: NotRequired[str]
    exp: NotRequired[int]
    iat: NotRequired[int]
    jti: NotRequired[str]
    acr: NotRequired[str]
    auth_time: NotRequired[int]


@with_config(_STRICT)
class RevocationResponse(TypedDict):
    """RFC 7009 §2.2: an empty object, also for tokens that were unknown or already invalid."""


@with_config(_STRICT)
class ActingFor(TypedDict):
    """The enterprise an agent acts for (scope ``enterprise``)."""

    name: str
    credit_code: str
    corp_type: str | None
    role: str


@with_config(_STRICT)
class UserInfoResponse(TypedDict):
    """OIDC Core §5.3.2: claims of the scopes the person consented to; ``sub`` is pairwise per sector."""

    sub: str
    name: NotRequired[str]
    real_name_level: NotRequired[int]
    account_type: NotRequired[str]
    email: NotRequired[str]
    phone_number: NotRequired[str]
    phone_number_verified: NotRequired[bool]
    citizen_id: NotRequired[Annotated[str, Field(description="Only to clients entitled to it (audited).")]]
    cert_type: NotRequired[str]
    acting_for: NotRequired[ActingFor]


@with_config(_STRICT)
class PublicJwk(TypedDict):
    """One public ES256 signing key (RFC 7517, RFC 7518 §6.2)."""

    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str
    y: str
    kid: str
    use: Literal["sig"]
    alg: Literal["ES256"]


@with_config(_STRICT)
class JwksResponse(TypedDict):
    """The active key and the retired keys still valid for verification."""

    keys: list[PublicJwk]


@with_config(_STRICT)
class DiscoveryDocument(TypedDict):
    """OpenID Provider Metadata (OIDC Discovery 1.0 §3, RFC 8414 §2)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str
    revocation_endpoint: str
    introspection_endpoint: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    userinfo_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    code_challenge_methods_supported: list[str]
    acr_values_supported: list[str]
    claims_supported: list[str]
    claims_parameter_supported: bool
    request_parameter_supported: bool
    request_uri_parameter_supported: bool
    prompt_values_supported: list[str]
    backchannel_logout_supported: bool
    backchannel_logout_session_supported: bool
    frontchannel_logout_supported: bool
    ui_locales_supported: list[str]
    authorization_response_iss_parameter_supported: bool


# --- forms --------------------------------------------------------------------------------------------
# Open (no additionalProperties: false): RFC 6749 §3.2 has servers ignore parameters they do not know.
# A parameter given twice is refused with invalid_request.

_POST_ID = (
    "client_secret_post only (with client_id); client_secret_basic sends both in the Authorization header."
)
_PUBLIC_ID = "Public clients (none) and client_secret_post."


class _ClientAuthFields(TypedDict):
    client_id: NotRequired[Annotated[str, Field(description=_PUBLIC_ID)]]
    client_secret: NotRequired[Annotated[str, Field(description=_POST_ID)]]


class AuthorizationCodeForm(_ClientAuthFields):
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5, S256)."""

    grant_type: Literal["authorization_code"]
    code: str
    redirect_uri: Annotated[str, Field(description="Exactly the redirect_uri of the authorization request.")]
    code_verifier: NotRequired[Annotated[str, Field(description="Required of public clients.")]]


class RefreshTokenForm(_ClientAuthFields):
    """RFC 6749 §6; the refresh token rotates, and a reused one revokes its family."""

    grant_type: Literal["refresh_token"]
    refresh_token: str
    scope: NotRequired[Annotated[str, Field(description="At most the originally granted scope.")]]


class ClientCredentialsForm(_ClientAuthFields):
    """RFC 6749 §4.4: a token of the client itself, carrying API scopes only."""

    grant_type: Literal["client_credentials"]
    scope: NotRequired[
        Annotated[
            str,
            Field(
                description="API scopes the client is registered for; without it, all of them. Person "
                "scopes (openid, profile, phone ...) are refused with invalid_scope."
            ),
        ]
    ]


TOKEN_FORMS = (AuthorizationCodeForm, RefreshTokenForm, ClientCredentialsForm)


class IntrospectionForm(_ClientAuthFields):
    """RFC 7662 §2.1 (confidential clients: client_secret_basic or client_secret_post)."""

    token: str
    token_type_hint: NotRequired[Literal["access_token", "refresh_token"]]


class RevocationForm(_ClientAuthFields):
    """RFC 7009 §2.1 (a client revokes only its own tokens)."""

    token: str
    token_type_hint: NotRequired[Literal["access_token", "refresh_token"]]


class UserInfoForm(TypedDict):
    """RFC 6750 §2.2: the access token in the form body instead of the Authorization header."""

    access_token: NotRequired[str]


class BackchannelLogoutForm(TypedDict):
    """OIDC Back-Channel Logout 1.0 §2.5."""

    logout_token: str


# --- what the routes declare -----------------------------------------------------------------------------

_FORM = "application/x-www-form-urlencoded"


def _schema(model: Any) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(model).json_schema()
    if "$defs" in schema:  # inline schemas cannot carry definitions: keep the forms flat
        raise TypeError(f"{model.__name__} must not nest other types")
    return schema


def form_body(*models: Any, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring a form request body (one model, or one of several)."""
    schema = _schema(models[0]) if len(models) == 1 else {"oneOf": [_schema(m) for m in models]}
    return {"requestBody": {"required": required, "content": {_FORM: {"schema": schema}}}}


def _error(description: str, challenge: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": OAuthErrorBody, "description": description}
    if challenge is not None:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": challenge}}
    return answer


_BASIC_CHALLENGE = (
    'Basic realm="<issuer>", charset="UTF-8" (RFC 6749 §5.2: the scheme the client used, '
    "or the one this server takes when it sent no credentials)."
)
_CLIENT_401 = _error(
    "invalid_client: the client used HTTP Basic (or sent no credentials) and authentication failed. "
    "An unknown client, a wrong secret and a method the client is not registered for answer alike.",
    _BASIC_CHALLENGE,
)

# Everything but the token endpoint passes the node's body limit (kernel.limits), which answers with the
# node's error envelope; the token endpoint reads at most MAX_FORM itself and answers invalid_request.
_TOO_LARGE = errors(413)

TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": TokenResponse, "description": "Tokens (Cache-Control: no-store)."},
    400: _error(
        "invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope; "
        "invalid_client when the credentials were in the form body (client_secret_post, none)."
    ),
    401: _CLIENT_401,
    500: _error("server_error (with trace_id)."),
}

INTROSPECTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": IntrospectionResponse, "description": "Whether the token is active, and its claims."},
    400: _error("invalid_request; invalid_client with credentials in the form body."),
    401: _CLIENT_401,
    **_TOO_LARGE,
}

REVOCATION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": RevocationResponse, "description": "Revoked (or was not valid anyway)."},
    400: _error(
        "invalid_request, unsupported_token_type, invalid_grant (another client's token); "
        "invalid_client with credentials in the form body."
    ),
    401: _CLIENT_401,
    **_TOO_LARGE,
}

USERINFO_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": UserInfoResponse, "description": "Claims of the granted, consented scopes."},
    401: _error(
        "invalid_token: missing, expired, revoked, not a person's token, or its consent was withdrawn.",
        'Bearer, with error="invalid_token" when a token was presented (RFC 6750 §3).',
    ),
    403: _error("insufficient_scope: the token lacks the openid scope."),
}
USERINFO_POST_RESPONSES: dict[int | str, dict[str, Any]] = {**USERINFO_GET_RESPONSES, **_TOO_LARGE}

JWKS_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": JwksResponse, "description": "JWK Set."}}
DISCOVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": DiscoveryDocument, "description": "Provider metadata."}
}
BACKCHANNEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Logout applied (empty body)."},
    400: _error("invalid_request: missing or rejected logout_token."),
    **_TOO_LARGE,
}
