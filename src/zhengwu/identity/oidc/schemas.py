"""Request and response shapes of the OIDC management API (clients, consents, signing keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GrantType = Literal["authorization_code", "client_credentials", "refresh_token"]
# The token endpoint authentication methods this provider implements (discovery lists the same).
AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
SecretAuthMethod = Literal["client_secret_basic", "client_secret_post"]
AUTH_METHOD_HELP = (
    "令牌端点的客户端认证方式 / how the client authenticates at the token endpoint (RFC 6749 §2.3): "
    "client_secret_basic (HTTP Basic), client_secret_post (client_id and client_secret in the form "
    "body), none (public clients, PKCE required). Other methods are refused with invalid_client."
)
ClientKind = Literal["department", "node", "public"]
SCOPE_PATTERN = r"^[a-z][a-z0-9_.:-]{0,63}( [a-z][a-z0-9_.:-]{0,63})*$"


class ClientCreate(BaseModel):
    """Register a client (接入应用注册)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    grant_types: list[GrantType] = Field(min_length=1)
    kind: ClientKind = "department"
    token_endpoint_auth_method: AuthMethod = Field(
        default="client_secret_basic", description=AUTH_METHOD_HELP
    )
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    scope: str | None = Field(default=None, pattern=SCOPE_PATTERN, max_length=500)
    audience: str | None = Field(default=None, max_length=300)
    backchannel_logout_uri: str | None = Field(default=None, max_length=500)
    sector: str | None = Field(default=None, max_length=300)
    min_acr_level: int = Field(default=2, ge=2, le=5)
    default_max_age: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    may_receive_citizen_id: bool = False
    consent_required: bool = True
    department_id: str | None = Field(default=None, max_length=32)
    access_token_ttl: int = Field(default=600, ge=60, le=24 * 3600)
    refresh_token_ttl: int = Field(default=8 * 3600, ge=300, le=30 * 24 * 3600)


class ClientUpdate(BaseModel):
    """Change a client; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    redirect_uris: list[str] | None = Field(default=None, max_length=20)
    post_logout_redirect_uris: list[str] | None = Field(default=None, max_length=20)
    scope: str | None = Field(default=None, pattern=SCOPE_PATTERN, max_length=500)
    backchannel_logout_uri: str | None = Field(default=None, max_length=500)
    min_acr_level: int | None = Field(default=None, ge=2, le=5)
    default_max_age: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    may_receive_citizen_id: bool | None = None
    consent_required: bool | None = None
    access_token_ttl: int | None = Field(default=None, ge=60, le=24 * 3600)
    token_endpoint_auth_method: SecretAuthMethod | None = Field(
        default=None,
        description="Switch a confidential client between client_secret_basic and client_secret_post "
        "(a public client stays none).",
    )


class ClientStatusChange(BaseModel):
    """Suspend, reactivate or revoke a client, with a reason."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "suspended", "revoked"]
    reason: str = Field(min_length=1, max_length=500)


class ClientRead(BaseModel):
    """A registered client (the secret is never shown again)."""

    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    kind: str
    token_endpoint_auth_method: str
    grant_types: list[str]
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str
    audience: str | None
    backchannel_logout_uri: str | None
    sector: str
    min_acr_level: int
    default_max_age: int | None = None
    may_receive_citizen_id: bool
    consent_required: bool
    department_id: str | None
    access_token_ttl: int
    refresh_token_ttl: int
    status: str
    status_reason: str | None
    created_at: datetime


class ClientCreated(ClientRead):
    """The registration answer: carries the client secret exactly once."""

    client_secret: str | None = None


class ConsentRead(BaseModel):
    """One version of a consent record (授权同意)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str
    client_name: str | None = None
    version: int
    scopes: list[str]
    purpose: str
    status: str
    granted_at: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str | None


class ConsentWithdraw(BaseModel):
    """Withdraw a consent (撤回授权)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="本人撤回", min_length=1, max_length=300)


class ReleaseRead(BaseModel):
    """One release of a person's data to a client (信息使用记录)."""

    model_config = ConfigDict(from_attributes=True)

    client_id: str
    consent_id: str | None
    channel: str
    claims: list[str]
    released_at: datetime


class LogoutDeliveryRead(BaseModel):
    """Outcome of one back-channel logout delivery."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
