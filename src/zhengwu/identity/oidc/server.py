"""The Authlib authorization server, adapted to Starlette requests (Authlib has no FastAPI server).

``OAuthRequest`` is the request adapter; the grants below persist codes and grants through SQLAlchemy
sessions handed over in a context variable, so that the client-credentials path can run without one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.identity.oidc.clients import NO_AUTH, SECRET_METHODS, RegisteredClient
from zhengwu.identity.oidc.fastlane import machine_token
from zhengwu.identity.oidc.models import OidcAuthorizationCode, OidcGrant
from zhengwu.identity.oidc.tokens import TokenRejected, access_token
from zhengwu.kernel.clock import utcnow

if TYPE_CHECKING:
    from zhengwu.identity.oidc.runtime import OidcRuntime

# Authlib logs issued tokens at DEBUG ("Issue token %r"); tokens must never reach a log line.
logging.getLogger("authlib").setLevel(logging.INFO)

_db: ContextVar[Session | None] = ContextVar("zhengwu_oidc_db", default=None)


def bind_session(session: Session | None) -> object:
    """Hand the request's session to the grants (returns a token for :func:`unbind_session`)."""
    return _db.set(session)


def unbind_session(token: object) -> None:
    """Undo :func:`bind_session`."""
    _db.reset(token)  # type: ignore[arg-type]


def bound_session() -> Session | None:
    """The session of the request being served, if a route bound one."""
    return _db.get()


def current_db() -> Session:
    """The session of the request being served (grants that persist need one)."""
    session = _db.get()
    if session is None:
        raise RuntimeError("no database session bound to this OAuth request")
    return session


class _Payload(BasicOAuth2Payload):  # type: ignore[misc]  # Authlib is untyped
    def __init__(self, datalist: dict[str, list[str]]) -> None:
        super().__init__({k: v[0] for k, v in datalist.items() if v})
        self._datalist = datalist


class OAuthRequest(OAuth2Request):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's view of one HTTP request: query and form already parsed by the route."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: dict[str, list[str]],
        form: dict[str, list[str]],
    ) -> None:
        # Authlib's constructor re-checks the transport of ``uri`` on every request (URL parsing,
        # environment lookup); the runtime checks its own issuer URL once, so set the fields here.
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body: Any = None
        self.client: Any = None
        self.auth_method: str | None = None
        self.user: Any = None
        self.authorization_code: Any = None
        self.refresh_token: Any = None
        self.credential: Any = None
        self._scope: str | None = None
        self._args = {k: v[0] for k, v in query.items() if v}
        self._form = {k: v[0] for k, v in form.items() if v}
        merged: dict[str, list[str]] = {k: list(v) for k, v in query.items()}
        for key, values in form.items():
            merged.setdefault(key, []).extend(values)
        self.payload = _Payload(merged)
        self.issued: list[dict[str, Any]] = []
        self.subject: Subject | None = None
        # How the client tried to authenticate and, if it failed, why (for the audit trail only).
        self.auth_attempt: str | None = None
        self.auth_failure: str | None = None

    @property
    def args(self) -> dict[str, str]:
        """Query parameters (first value of each)."""
        return self._args

    @property
    def form(self) -> dict[str, str]:
        """Form parameters (first value of each)."""
        return self._form


@dataclass(slots=True)
class Subject:
    """The person a code or grant is about, with the authentication facts tokens report."""

    account_id: str
    session_id: str | None
    auth_time: datetime
    acr_level: int
    amr: list[str] = field(default_factory=list)
    acting_for: str | None = None
    consent_id: str | None = None
    nonce: str | None = None
    code_id: str | None = None
    family_id: str | None = None
    grant_id: str | None = None


# --- client authentication (RFC 6749 §2.3, §5.2) -----------------------------------------------------

CLIENT_AUTH_FAILED = (
    "Client authentication failed: unknown or inactive client, wrong secret, or not the authentication "
    "method registered for this client (client_secret_basic, client_secret_post or none)."
)


@dataclass(frozen=True, slots=True)
class Presented:
    """The client credentials one request carries, before anything is looked up."""

    method: str | None  # client_secret_basic, client_secret_post, none; None when unusable
    client_id: str | None = None
    secret: str | None = None
    header_scheme: str | None = None  # the Authorization scheme the client used, if any
    problem: str | None = None


def presented_credentials(request: OAuthRequest) -> Presented:
    """Read the credentials of a token, revocation or introspection request (RFC 6749 §2.3)."""
    header = (request.headers.get("Authorization") or "").strip()
    form_id = request.form.get("client_id")
    form_secret = request.form.get("client_secret")
    if header:
        scheme = header.split(None, 1)[0]
        if form_secret is not None:
            # §2.3: "The client MUST NOT use more than one authentication method in each request."
            return Presented(None, header_scheme=scheme, problem="several_methods")
        if scheme.lower() != "basic":
            return Presented(None, header_scheme=scheme, problem="unsupported_scheme")
        try:
            basic_id, basic_secret = extract_basic_authorization({"Authorization": header})
        except ValueError:  # not UTF-8 after base64
            basic_id = basic_secret = None
        if not basic_id or not basic_secret:
            return Presented(None, header_scheme=scheme, problem="malformed_basic")
        if form_id is not None and form_id != basic_id:
            return Presented(None, header_scheme=scheme, problem="client_id_mismatch")
        return Presented("client_secret_basic", basic_id, basic_secret, header_scheme=scheme)
    if form_secret is not None:
        if not form_id or not form_secret:
            return Presented(None, problem="malformed_post")
        return Presented("client_secret_post", form_id, form_secret)
    if form_id:
        return Presented(NO_AUTH, form_id)
    return Presented(None, problem="no_credentials")


class ClientAuthenticationFailed(InvalidClientError):  # type: ignore[misc]  # Authlib is untyped
    """``invalid_client`` with one body for every cause (unknown client, wrong secret, wrong method) and,
    when the client used the Authorization header (or sent nothing), 401 with a challenge for the scheme
    this server takes there; credentials in the form body get 400 (RFC 6749 §5.2)."""

    def __init__(self, *, challenge: bool, realm: str) -> None:
        super().__init__(description=CLIENT_AUTH_FAILED, status_code=401 if challenge else 400)
        self.realm = realm

    def get_headers(self) -> list[tuple[str, str]]:
        """The JSON headers, plus ``WWW-Authenticate: Basic`` on a 401 (RFC 7617 parameters only)."""
        headers: list[tuple[str, str]] = OAuth2Error.get_headers(self)
        if self.status_code == 401:
            headers.append(("WWW-Authenticate", f'Basic realm="{self.realm}", charset="UTF-8"'))
        return headers


def acr_value(level: int) -> str:
    """The ``acr`` of a real-name level (standards §4.2; our own URN, published in discovery)."""
    return f"urn:zhengwu:loa:{level}"


def acr_level(value: str) -> int | None:
    """Parse an ``acr`` value of ours (``urn:zhengwu:loa:N``, N in 2..5)."""
    prefix = "urn:zhengwu:loa:"
    if value.startswith(prefix) and value[len(prefix) :] in ("2", "3", "4", "5"):
        return int(value[len(prefix) :])
    return None


def _epoch(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


_DUMMY_DIGEST = "0" * 64


class ZhengwuServer(AuthorizationServer):  # type: ignore[misc]  # Authlib is untyped
    """Authorization server bound to one node's runtime (keys, clients, settings)."""

    def __init__(self, runtime: OidcRuntime) -> None:
        super().__init__(scopes_supported=None)
        self.runtime = runtime
        self.register_token_generator("default", self._generate_token)
        self.register_grant(AuthorizationCode, [PkceS256(required=True), OpenIdCode(require_nonce=False)])
        self.register_grant(RefreshToken)
        self.register_grant(ClientCredentials)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # --- Authlib hooks -----------------------------------------------------------------------------

    def query_client(self, client_id: str) -> RegisteredClient | None:
        """The active client (cached; a miss reads the database)."""
        session = _db.get()
        if session is not None:
            return self.runtime.clients.get(session, client_id)
        return self.runtime.clients.loader(self.runtime.session_factory)(client_id)

    def authenticate_client(
        self, request: OAuthRequest, methods: list[str], endpoint: str = "token"
    ) -> RegisteredClient:
        """Authenticate the client with one of ``methods``; every failure answers alike (see
        :class:`ClientAuthenticationFailed`) and leaves its cause in ``request.auth_failure``."""
        presented = presented_credentials(request)
        request.auth_attempt = presented.method or presented.header_scheme
        if presented.problem == "several_methods":
            request.auth_failure = presented.problem
            raise InvalidRequestError("The client used more than one authentication method.")
        failure = presented.problem
        client = None
        if failure is None:
            client = self.query_client(presented.client_id or "")
            failure = self._auth_failure(client, presented, methods, endpoint)
        if failure is not None or client is None:
            request.auth_failure = failure or "unknown_client"
            challenge = presented.header_scheme is not None or presented.problem == "no_credentials"
            raise ClientAuthenticationFailed(challenge=challenge, realm=self.runtime.issuer)
        request.auth_method = presented.method
        return client

    def _auth_failure(
        self, client: RegisteredClient | None, presented: Presented, methods: list[str], endpoint: str
    ) -> str | None:
        if client is None:
            # Spend the time a secret check takes, so that timing does not tell unknown ids apart.
            self.runtime.node_keys.check_digest(presented.secret or "", _DUMMY_DIGEST)
            return "unknown_client"
        if presented.method == NO_AUTH:
            if not client.is_public:
                return "secret_missing"
        elif not client.check_client_secret(presented.secret or ""):
            return "wrong_secret"
        if presented.method not in methods or not client.check_endpoint_auth_method(
            str(presented.method), endpoint
        ):
            return "method_not_registered"
        return None

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        """Requests arrive already adapted."""
        if not isinstance(request, OAuthRequest):
            raise TypeError("expected an OAuthRequest")
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[Any]]:
        """Return the triple; the route renders it."""
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system: audit happens in the grants."""

    def save_token(self, token: dict[str, Any], request: OAuthRequest) -> None:
        """Persist what a token issuance must leave behind (grant row for people, audit for all)."""
        client: RegisteredClient = request.client
        subject = request.subject
        if subject is None:
            return  # client credentials: the route writes the issuance record (batched)
        self.runtime.record_person_grant(current_db(), client, subject, token, request)

    # --- token minting ------------------------------------------------------------------------------

    def _generate_token(
        self,
        grant_type: str,
        client: RegisteredClient,
        user: Subject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        runtime = self.runtime
        material = runtime.key_material()
        scope = scope or ""
        ttl = expires_in or client.access_token_ttl
        if user is None:
            raise ValueError("client tokens are made by fastlane.machine_token")
        sub = runtime.node_keys.pairwise_sub(user.account_id, client.sector)
        extra: dict[str, Any] = {"auth_time": _epoch(user.auth_time), "acr": acr_value(user.acr_level)}
        if user.session_id:
            extra["sid"] = runtime.node_keys.sid(user.session_id, client.client_id)
        issued = access_token(
            material,
            issuer=runtime.issuer,
            client_id=client.client_id,
            subject=sub,
            audience=client.audience or runtime.userinfo_audience,
            scope=scope,
            ttl=ttl,
            extra=extra,
        )
        token: dict[str, Any] = {
            "access_token": issued.value,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": scope,
            "_jti": issued.jti,
            "_iat": issued.issued_at,
            "_exp": issued.expires_at,
            "_aud": client.audience or runtime.userinfo_audience,
        }
        if include_refresh_token:
            token["refresh_token"] = runtime.new_secret()
        return token


def public_token(token: dict[str, Any]) -> dict[str, Any]:
    """The token response without the private bookkeeping keys (``_jti`` ...)."""
    return {k: v for k, v in token.items() if not k.startswith("_")}


# --- grants ---------------------------------------------------------------------------------------


_MACHINE_SCOPE_ONLY = (
    "A client-credentials token carries only API scopes the client is registered for, never a person "
    "scope such as openid, profile or phone; without scope it gets all of them, if the client has any."
)


class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]  # Authlib is untyped
    """RFC 6749 §4.4 for department systems and nodes; no database access when the client is cached."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = list(SECRET_METHODS)

    def validate_token_request(self) -> None:
        """Authenticate the client, then check the grant type and the scope against the client's own."""
        client: RegisteredClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                "The client is not authorized to use 'grant_type=client_credentials'"
            )
        self.request.client = client
        scope = client.client_credentials_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError(_MACHINE_SCOPE_ONLY)
        self.request.scope = scope

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Sign an ES256 JWT access token (RFC 9068) and queue its audit record."""
        server: ZhengwuServer = self.server
        runtime = server.runtime
        body, record = machine_token(runtime, self.request.client, self.request.scope, runtime.key_material())
        self.request.issued.append(record)
        return 200, body, self.TOKEN_RESPONSE_HEADER


class AuthorizationCode(grants.AuthorizationCodeGrant):  # type: ignore[misc]  # Authlib is untyped
    """The code flow; codes are single use, and a replayed code revokes what it produced (RFC 6749 §4.1.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [*SECRET_METHODS, NO_AUTH]

    def save_authorization_code(self, code: str, request: OAuthRequest) -> None:
        """Store the code's digest with everything the token request must match."""
        server: ZhengwuServer = self.server
        subject: Subject = request.user
        data = request.payload.data
        row = OidcAuthorizationCode(
            code_digest=server.runtime.node_keys.digest(code),
            client_id=request.client.client_id,
            account_id=subject.account_id,
            session_id=subject.session_id,
            acting_for=subject.acting_for,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=subject.auth_time,
            acr_level=subject.acr_level,
            amr=list(subject.amr),
            consent_id=subject.consent_id,
            expires_at=utcnow() + timedelta(seconds=server.runtime.settings.code_ttl_seconds),
        )
        current_db().add(row)
        current_db().flush()

    def query_authorization_code(self, code: str, client: RegisteredClient) -> OidcAuthorizationCode | None:
        """Consume the code atomically; a second use revokes every token issued from it."""
        server: ZhengwuServer = self.server
        db = current_db()
        digest = server.runtime.node_keys.digest(code)
        row = db.scalar(select(OidcAuthorizationCode).where(OidcAuthorizationCode.code_digest == digest))
        if row is None or row.client_id != client.client_id:
            return None
        now = utcnow()
        consumed = db.execute(
            update(OidcAuthorizationCode)
            .where(OidcAuthorizationCode.id == row.id, OidcAuthorizationCode.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if consumed.rowcount != 1:  # type: ignore[attr-defined]
            server.runtime.revoke_code_descendants(db, row.id, reason="code_replayed")
            server.runtime.audit(
                db, "code_replayed", success=False, client_id=client.client_id, account_id=row.account_id
            )
            raise InvalidGrantError("Authorization code was already used; tokens issued from it are revoked.")
        if row.expires_at < now:
            raise InvalidGrantError("Authorization code expired.")
        return row

    def delete_authorization_code(self, authorization_code: OidcAuthorizationCode) -> None:
        """Codes are consumed in :meth:`query_authorization_code` and kept for replay detection."""

    def authenticate_user(self, authorization_code: OidcAuthorizationCode) -> Subject | None:
        """The person the code was issued for."""
        subject = Subject(
            account_id=authorization_code.account_id,
            session_id=authorization_code.session_id,
            auth_time=authorization_code.auth_time,
            acr_level=authorization_code.acr_level,
            amr=list(authorization_code.amr or []),
            acting_for=authorization_code.acting_for,
            consent_id=authorization_code.consent_id,
            nonce=authorization_code.nonce,
            code_id=authorization_code.id,
        )
        self.request.subject = subject
        return subject


class PkceS256(CodeChallenge):  # type: ignore[misc]  # Authlib is untyped
    """RFC 7636 with S256 only; public clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """Public clients must send an S256 challenge; nobody may use ``plain``."""
        request = grant.request
        data = request.payload.data
        client: RegisteredClient = request.client
        if client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (code_challenge with S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)


class OpenIdCode(OpenIDCode):  # type: ignore[misc]  # Authlib is untyped
    """OIDC code flow extension: nonce replay check and our own ID token (pairwise sub, sid, acr)."""

    def exists_nonce(self, nonce: str, request: OAuthRequest) -> bool:
        """A nonce used in an earlier code of the same client is a replay."""
        db = current_db()
        found = db.scalar(
            select(OidcAuthorizationCode.id).where(
                OidcAuthorizationCode.client_id == request.payload.client_id,
                OidcAuthorizationCode.nonce == nonce,
            )
        )
        return found is not None

    def process_token(self, grant: Any, response: tuple[int, dict[str, Any], Any]) -> dict[str, Any]:
        """Add the ID token when ``openid`` was granted."""
        _, token, _ = response
        scope = token.get("scope") or ""
        if "openid" not in scope.split():
            return token
        request: OAuthRequest = grant.request
        server: ZhengwuServer = grant.server
        subject = request.subject
        if subject is None:
            return token
        token["id_token"] = server.runtime.make_id_token(
            request.client, subject, scope, token.get("access_token")
        )
        return token


class RefreshToken(grants.RefreshTokenGrant):  # type: ignore[misc]  # Authlib is untyped
    """Refresh with rotation: each use returns a new refresh token; reusing an old one revokes the family."""

    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [*SECRET_METHODS, NO_AUTH]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> OidcGrant | None:
        """The live grant holding this refresh token; a rotated one means theft: revoke the family."""
        server: ZhengwuServer = self.server
        db = current_db()
        digest = server.runtime.node_keys.digest(refresh_token)
        row = db.scalar(select(OidcGrant).where(OidcGrant.refresh_digest == digest))
        if row is None:
            return None
        now = utcnow()
        if row.revoked_at is not None:
            return None
        rotated = db.execute(
            update(OidcGrant)
            .where(OidcGrant.id == row.id, OidcGrant.rotated_at.is_(None))
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        if rotated.rowcount != 1:  # type: ignore[attr-defined]
            server.runtime.revoke_family(db, row.family_id, reason="refresh_replayed")
            server.runtime.audit(
                db, "refresh_replayed", success=False, client_id=row.client_id, account_id=row.account_id
            )
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at < now:
            return None
        if not server.runtime.grant_still_allowed(db, row):
            return None
        return row

    def authenticate_user(self, refresh_token: OidcGrant) -> Subject:
        """The person of the grant, keeping the original authentication facts."""
        subject = Subject(
            account_id=refresh_token.account_id,
            session_id=refresh_token.session_id,
            auth_time=refresh_token.auth_time,
            acr_level=refresh_token.acr_level,
            amr=list(refresh_token.amr or []),
            acting_for=refresh_token.acting_for,
            consent_id=refresh_token.consent_id,
            code_id=refresh_token.code_id,
            family_id=refresh_token.family_id,
        )
        self.request.subject = subject
        return subject

    def revoke_old_credential(self, refresh_token: OidcGrant) -> None:
        """Already marked rotated in :meth:`authenticate_refresh_token`."""

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Rotate, and with ``openid`` also a new ID token (OIDC Core §12.2: same ``iss``, ``sub``,
        ``aud``, ``auth_time`` and ``acr`` as at login, no ``nonce``) so the RP can renew its session."""
        status, token, headers = super().create_token_response()
        subject: Subject | None = self.request.subject
        scope = token.get("scope") or ""
        if status == 200 and subject is not None and "openid" in scope.split():
            subject.nonce = None
            server: ZhengwuServer = self.server
            token["id_token"] = server.runtime.make_id_token(
                self.request.client, subject, scope, token.get("access_token")
            )
        return status, token, headers


# --- revocation and introspection (RFC 7009, RFC 7662) ----------------------------------------------


@dataclass(slots=True)
class TokenRecord:
    """A token found by its value: a JWT access token (claims) or a refresh token (grant row)."""

    kind: str
    client_id: str
    claims: dict[str, Any] = field(default_factory=dict)
    grant: OidcGrant | None = None
    revoked: bool = False

    def check_client(self, client: RegisteredClient) -> bool:
        """RFC 7009 §2.1: a client may revoke only its own tokens."""
        return self.client_id == client.client_id

    def is_expired(self) -> bool:
        """Past the access token's ``exp`` or the refresh token's expiry."""
        if self.kind == "refresh_token":
            return (
                self.grant is None
                or self.grant.refresh_expires_at is None
                or self.grant.refresh_expires_at < utcnow()
            )
        return float(self.claims.get("exp", 0)) < utcnow().timestamp()

    def is_revoked(self) -> bool:
        """Revoked explicitly, by logout, or (refresh tokens) already rotated."""
        return self.revoked


def _find_token(runtime: OidcRuntime, value: str, hint: str | None) -> TokenRecord | None:
    db = current_db()
    if hint != "refresh_token" and value.count(".") == 2:
        try:
            claims = runtime.verify_own(value, typ="at+jwt", leeway=0)
        except TokenRejected:
            claims = None
        if claims is not None:
            revoked = runtime.is_jti_revoked(db, str(claims.get("jti", "")))
            return TokenRecord(
                "access_token", str(claims.get("client_id", "")), claims=claims, revoked=revoked
            )
    if hint != "access_token":
        row = db.scalar(select(OidcGrant).where(OidcGrant.refresh_digest == runtime.node_keys.digest(value)))
        if row is not None:
            revoked = row.revoked_at is not None or row.rotated_at is not None
            return TokenRecord("refresh_token", row.client_id, grant=row, revoked=revoked)
    return None


class Revocation(RevocationEndpoint):  # type: ignore[misc]  # Authlib is untyped
    """RFC 7009: revoking a refresh token revokes its grant; an access token goes on the deny list."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*SECRET_METHODS, NO_AUTH]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        """Find the token (unknown tokens are not an error, RFC 7009 §2.2)."""
        return _find_token(self.server.runtime, token_string, token_type_hint)

    def revoke_token(self, token: TokenRecord, request: OAuthRequest) -> None:
        """Revoke and audit."""
        runtime: OidcRuntime = self.server.runtime
        db = current_db()
        if token.kind == "refresh_token" and token.grant is not None:
            runtime.revoke_family(db, token.grant.family_id, reason="revoked_by_client")
        else:
            runtime.revoke_jti(db, token.claims, reason="revoked_by_client")
        runtime.audit(db, "token_revoked", success=True, client_id=token.client_id)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]  # Authlib is untyped
    """RFC 7662 for resource servers: a client may introspect tokens meant for it or issued to it."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = list(SECRET_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        """Find the token."""
        return _find_token(self.server.runtime, token_string, token_type_hint)

    def check_permission(self, token: TokenRecord, client: RegisteredClient, request: OAuthRequest) -> bool:
        """Issued to the caller, or addressed to the caller's audience."""
        if token.client_id == client.client_id:
            return True
        aud = token.claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        return any(a and a in (client.audience, client.client_id) for a in auds)

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer."""
        if token.kind == "refresh_token" and token.grant is not None:
            grant = token.grant
            body: dict[str, Any] = {
                "active": True,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "scope": grant.scope,
                "iat": _epoch(grant.issued_at),
                "iss": self.server.runtime.issuer,
            }
            if grant.refresh_expires_at is not None:
                body["exp"] = _epoch(grant.refresh_expires_at)
            return body
        claims = token.claims
        keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "acr", "auth_time")
        body = {k: claims[k] for k in keep if k in claims}
        body.update({"active": True, "token_type": "Bearer"})
        return body
