"""Persistence of the OIDC provider and relying party: clients, keys, codes, grants, consent, logout.

Account and session ids refer to the identity core's tables; they are plain indexed strings (not foreign
keys) so that this subpackage can be migrated and tested on its own and survives account soft deletion.
Secrets (client secrets, codes, refresh tokens) are stored only as keyed SM3 digests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime
from zhengwu.orgs.models import Department


class OidcClient(IdMixin, Base):
    """接入应用 — a relying party (department system, node) or a machine client of this provider."""

    __tablename__ = "identity_oidc_client"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # department | node | public: nodes are other zhengwu tiers, public clients have no secret.
    kind: Mapped[str] = mapped_column(String(16), default="department")
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    grant_types: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    scope: Mapped[str] = mapped_column(String(500), default="openid")
    audience: Mapped[str | None] = mapped_column(String(300))
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    # Sector of the pairwise subject (OIDC Core §8.1): clients of one sector share a ``sub``.
    sector: Mapped[str] = mapped_column(String(300))
    min_acr_level: Mapped[int] = mapped_column(Integer, default=2)
    # OIDC Dynamic Client Registration §2 default_max_age: the authentication age (seconds) this
    # client demands when its request carries no max_age.
    default_max_age: Mapped[int | None] = mapped_column(Integer)
    may_receive_citizen_id: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_required: Mapped[bool] = mapped_column(Boolean, default=True)
    department_id: Mapped[str | None] = mapped_column(ForeignKey(Department.id))
    access_token_ttl: Mapped[int] = mapped_column(Integer, default=600)
    refresh_token_ttl: Mapped[int] = mapped_column(Integer, default=8 * 3600)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OidcSigningKey(IdMixin, Base):
    """签名密钥 — an ES256 key of this node; the private half is SM4-GCM encrypted at rest."""

    __tablename__ = "identity_oidc_signing_key"

    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16), default="ES256")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # active signs; retired is still published in the JWKS for verification; revoked is gone.
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcAuthorizationCode(IdMixin, Base):
    """授权码 — one authorization code (stored as a digest), bound to client, redirect URI and PKCE."""

    __tablename__ = "identity_oidc_authorization_code"

    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    acting_for: Mapped[str | None] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(500))
    nonce: Mapped[str | None] = mapped_column(String(200))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr_level: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    consent_id: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # --- Authlib's AuthorizationCodeMixin ---

    def get_redirect_uri(self) -> str:
        """The redirect URI the token request must repeat."""
        return self.redirect_uri

    def get_scope(self) -> str:
        """The granted scope."""
        return self.scope

    def get_nonce(self) -> str | None:
        """The nonce of the authentication request."""
        return self.nonce

    def get_auth_time(self) -> int:
        """When the person authenticated (epoch seconds)."""
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str:
        """The authentication context class (real-name level)."""
        return f"urn:zhengwu:loa:{self.acr_level}"

    def get_amr(self) -> list[str]:
        """Authentication methods (RFC 8176)."""
        return list(self.amr or [])


class OidcGrant(IdMixin, Base):
    """令牌授予 — tokens issued for a person: the access token's ``jti`` and a rotating refresh token."""

    __tablename__ = "identity_oidc_grant"
    __table_args__ = (Index("ix_identity_oidc_grant_session_client", "session_id", "client_id"),)

    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    acting_for: Mapped[str | None] = mapped_column(String(32))
    code_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # All refresh tokens descended from one code share a family; replaying a rotated one revokes it.
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    access_jti: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr_level: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    consent_id: Mapped[str | None] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(64))

    def check_client(self, client: Any) -> bool:
        """Authlib's refresh grant: was this grant issued to ``client``."""
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        """Authlib's refresh grant: the scope originally granted."""
        return self.scope


class OidcRevokedToken(Base):
    """已撤销令牌 — the ``jti`` of a revoked JWT access token, kept until the token would have expired."""

    __tablename__ = "identity_oidc_revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OidcIssuance(IdMixin, Base):
    """令牌签发记录 — every token issued to a client, for audit (who, what, when, why)."""

    __tablename__ = "identity_oidc_issuance"
    __table_args__ = (Index("ix_identity_oidc_issuance_client_issued", "client_id", "issued_at"),)

    jti: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    grant_type: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str | None] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(String(500))
    audience: Mapped[str | None] = mapped_column(String(300))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    trace_id: Mapped[str | None] = mapped_column(String(64))


class OidcConsent(IdMixin, Base):
    """授权同意 — one version of a person's consent to release claims to a client; revocable."""

    __tablename__ = "identity_oidc_consent"
    __table_args__ = (UniqueConstraint("account_id", "client_id", "version"),)

    account_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    scopes: Mapped[list[str]] = mapped_column(PortableJSON)
    purpose: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="granted")
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(String(300))
    superseded_by: Mapped[str | None] = mapped_column(String(32))


class OidcClaimRelease(IdMixin, Base):
    """信息发放记录 — each release of a person's claims to a client (userinfo / ID token) and its consent."""

    __tablename__ = "identity_oidc_claim_release"

    account_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    claims: Mapped[list[str]] = mapped_column(PortableJSON)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    trace_id: Mapped[str | None] = mapped_column(String(64))


class OidcRpSession(IdMixin, Base):
    """应用会话 — a client that received tokens within a user's session (the target of single logout)."""

    __tablename__ = "identity_oidc_rp_session"
    __table_args__ = (UniqueConstraint("session_id", "client_id"),)

    session_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    sub: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcLogoutDelivery(IdMixin, Base):
    """注销通知 — one back-channel logout token to POST to a client, with its delivery outcome."""

    __tablename__ = "identity_oidc_logout_delivery"
    __table_args__ = (Index("ix_identity_oidc_logout_delivery_status_due", "status", "next_attempt_at"),)

    # backchannel: a logout token to a client; upstream: end our session at a federated provider.
    kind: Mapped[str] = mapped_column(String(16), default="backchannel")
    rp_session_id: Mapped[str | None] = mapped_column(ForeignKey("identity_oidc_rp_session.id"))
    federated_login_id: Mapped[str | None] = mapped_column(ForeignKey("identity_oidc_federated_login.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(500))
    sid: Mapped[str] = mapped_column(String(64))
    sub: Mapped[str] = mapped_column(String(64))
    # pending → delivered | dead (after the last retry)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcFederation(IdMixin, Base):
    """信任的身份提供方 — an upstream (or configured downstream) node this node logs people in with."""

    __tablename__ = "identity_oidc_federation"

    issuer: Mapped[str] = mapped_column(String(300), unique=True)
    direction: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(64))
    client_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    metadata_doc: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    jwks: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OidcFederatedLogin(IdMixin, Base):
    """跨级登录 — a local session that was opened by a login at a federated provider (for both-way logout)."""

    __tablename__ = "identity_oidc_federated_login"

    federation_id: Mapped[str] = mapped_column(ForeignKey("identity_oidc_federation.id"))
    # pending (state/nonce/PKCE waiting for the callback) → active → ended
    status: Mapped[str] = mapped_column(String(16), default="pending")
    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier_enc: Mapped[bytes] = mapped_column(LargeBinary)
    return_to: Mapped[str] = mapped_column(String(1000))
    remote_sub: Mapped[str | None] = mapped_column(String(64))
    remote_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    id_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    account_id: Mapped[str | None] = mapped_column(String(32), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(16))


class OidcAccountLink(IdMixin, Base):
    """账号关联 — a local account linked to a person's subject at a federated provider."""

    __tablename__ = "identity_oidc_account_link"
    __table_args__ = (UniqueConstraint("federation_id", "remote_sub"),)

    federation_id: Mapped[str] = mapped_column(ForeignKey("identity_oidc_federation.id"))
    remote_sub: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(32), index=True)
    remote_acr_level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
