"""Tunables of the OIDC provider, read from ``ZHENGWU_OIDC_*`` (kept here to leave kernel config alone)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OidcSettings(BaseSettings):
    """Lifetimes, caches and delivery policy of the provider."""

    model_config = SettingsConfigDict(env_prefix="ZHENGWU_OIDC_", extra="ignore")

    # RFC 6749 §4.1.2 recommends at most 10 minutes; codes are redeemed within seconds.
    code_ttl_seconds: int = Field(default=120, ge=10, le=600)
    id_token_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    logout_token_ttl_seconds: int = Field(default=120, ge=30, le=600)
    client_cache_seconds: float = Field(default=30.0, ge=0, le=600)
    key_refresh_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Group commit of issuance audit rows: the token response waits until its row is committed.
    issuance_batch: bool = True
    issuance_batch_max: int = Field(default=256, ge=1, le=10_000)
    backchannel_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    backchannel_max_attempts: int = Field(default=6, ge=1, le=50)
    backchannel_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    # Display name of the upstream provider on the login page (国家政务服务平台 for a province).
    upstream_label: str = "使用国家政务服务平台账号登录"
    federation_http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
