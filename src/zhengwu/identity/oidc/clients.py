"""Registered clients as Authlib sees them, and the cache that keeps the token endpoint off the database.

A :class:`RegisteredClient` is an immutable snapshot of a client row; the :class:`ClientRegistry` keeps
snapshots for a short time (``ZHENGWU_OIDC__CLIENT_CACHE_SECONDS``) and drops one at once when this worker
changes the client, so that a suspension takes effect within the cache lifetime on every worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import scope_to_list
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity.oidc.models import OidcClient
from zhengwu.identity.oidc.secrets import NodeKeys

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
# "none" is the RFC 7591 method name of public clients (not a secret).
NO_AUTH = "none"
# Scopes about a person (OIDC Core §5.4 and ours): they mean nothing in a client-credentials token, which
# has no person, so such a token never carries them; every other scope is an API (machine) scope.
# ``mobile`` lets a person's token call the mobile API (identity.oidc.bearer): a person scope too.
PERSON_SCOPES = frozenset(
    {"openid", "profile", "phone", "email", "address", "citizen_id", "enterprise", "offline_access", "mobile"}
)


@dataclass(frozen=True, slots=True, eq=False)
class RegisteredClient(ClientMixin):  # type: ignore[misc]  # Authlib is untyped
    """Snapshot of an active client, implementing Authlib's ``ClientMixin``."""

    id: str
    client_id: str
    name: str
    kind: str
    secret_digest: str | None
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    audience: str | None
    backchannel_logout_uri: str | None
    sector: str
    min_acr_level: int
    default_max_age: int | None
    may_receive_citizen_id: bool
    consent_required: bool
    access_token_ttl: int
    refresh_token_ttl: int
    node_keys: NodeKeys

    @classmethod
    def from_row(cls, row: OidcClient, node_keys: NodeKeys) -> RegisteredClient:
        """Snapshot a database row."""
        return cls(
            id=row.id,
            client_id=row.client_id,
            name=row.name,
            kind=row.kind,
            secret_digest=row.secret_digest,
            token_endpoint_auth_method=row.token_endpoint_auth_method,
            grant_types=tuple(row.grant_types or ()),
            redirect_uris=tuple(row.redirect_uris or ()),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
            scopes=frozenset(scope_to_list(row.scope) or ()),
            audience=row.audience,
            backchannel_logout_uri=row.backchannel_logout_uri,
            sector=row.sector,
            min_acr_level=row.min_acr_level,
            default_max_age=row.default_max_age,
            may_receive_citizen_id=row.may_receive_citizen_id,
            consent_required=row.consent_required,
            access_token_ttl=row.access_token_ttl,
            refresh_token_ttl=row.refresh_token_ttl,
            node_keys=node_keys,
        )

    @property
    def is_public(self) -> bool:
        """A public client (no secret) must use PKCE (RFC 7636, OAuth 2.0 for native apps)."""
        return self.token_endpoint_auth_method == NO_AUTH

    # --- Authlib ClientMixin -------------------------------------------------------------------------

    def get_client_id(self) -> str:
        """The public client identifier."""
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """OIDC requires ``redirect_uri`` in every request, so there is no default."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if every part of it is allowed to this client, else ``None``."""
        requested = scope_to_list(scope) or []
        if not requested:
            return "openid" if "openid" in self.scopes else None
        if not set(requested) <= self.scopes:
            return None
        return " ".join(dict.fromkeys(requested))

    @property
    def machine_scopes(self) -> frozenset[str]:
        """The client's API scopes: what a client-credentials token may carry."""
        return self.scopes - PERSON_SCOPES

    def client_credentials_scope(self, requested: str | None) -> str | None:
        """The scope of a client-credentials token, or ``None`` to refuse it (``invalid_scope``).

        Without ``scope`` (RFC 6749 §3.3: a pre-defined default) the client gets its machine scopes;
        a request naming a person scope or one it was not registered for is refused. The Authlib grant
        and the fast lane both decide with this."""
        wanted = scope_to_list(requested) or []
        if not wanted:
            return " ".join(sorted(self.machine_scopes)) or None
        if not set(wanted) <= self.machine_scopes:
            return None
        return " ".join(dict.fromkeys(wanted))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against a registered URI (no prefix or wildcard matching)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """Compare with the stored keyed digest in constant time."""
        if self.secret_digest is None:
            return False
        return self.node_keys.check_digest(client_secret, self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """The token endpoint takes the registered method; revocation and introspection any method of
        the client's kind (either secret method for a confidential client, ``none`` for a public one)."""
        if endpoint == "token":
            return method == self.token_endpoint_auth_method
        if self.is_public:
            return method == NO_AUTH
        return method in SECRET_METHODS and self.secret_digest is not None

    def check_response_type(self, response_type: str) -> bool:
        """Only the code flow is offered (no implicit or hybrid flows)."""
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        """Whether the client registered this grant type."""
        return grant_type in self.grant_types


class ClientRegistry:
    """A time-bounded cache of active client snapshots."""

    def __init__(self, node_keys: NodeKeys, ttl_seconds: float) -> None:
        self._node_keys = node_keys
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, RegisteredClient]] = {}
        self._lock = threading.Lock()

    def cached(self, client_id: str) -> RegisteredClient | None:
        """A fresh cached snapshot, or ``None`` (never touches the database)."""
        hit = self._cache.get(client_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        return None

    def get(self, session: Session, client_id: str) -> RegisteredClient | None:
        """The active client with this id (cached), or ``None``."""
        hit = self.cached(client_id)
        if hit is not None:
            return hit
        if not client_id or len(client_id) > 64:
            return None
        row = session.scalar(select(OidcClient).where(OidcClient.client_id == client_id))
        if row is None or row.status != "active":
            self.invalidate(client_id)
            return None
        snapshot = RegisteredClient.from_row(row, self._node_keys)
        with self._lock:
            if len(self._cache) > 10_000:  # bound memory: drop the whole cache rather than grow
                self._cache.clear()
            self._cache[client_id] = (time.monotonic(), snapshot)
        return snapshot

    def loader(self, session_factory: Callable[[], Session]) -> Callable[[str], RegisteredClient | None]:
        """A ``query_client`` that opens its own short session on a cache miss."""

        def query(client_id: str) -> RegisteredClient | None:
            hit = self.cached(client_id)
            if hit is not None:
                return hit
            session = session_factory()
            try:
                return self.get(session, client_id)
            finally:
                session.close()

        return query

    def invalidate(self, client_id: str | None = None) -> None:
        """Forget one client (or all)."""
        with self._lock:
            if client_id is None:
                self._cache.clear()
            else:
                self._cache.pop(client_id, None)
