"""Per-node identity configuration: derived keys, timeouts, lockout policy and the notifier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto.hashes import hmac_sm3


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """Keys derived from the node secret (HMAC-SM3 KDF with distinct labels) and the federation key."""

    data_key: bytes  # SM4 key for personal fields at rest
    index_key: bytes  # keyed SM3 blind indexes (node-local)
    federation_key: bytes  # cert_key shared across tiers (standards §4.1)
    token_key: bytes  # CSRF tokens, recovery codes, reset codes

    def __repr__(self) -> str:
        return "IdentityKeys(<hidden>)"

    @classmethod
    def derive(cls, secret: str, federation: str) -> IdentityKeys:
        """Derive every key from the two configured secrets."""
        root = secret.encode()
        return cls(
            data_key=hmac_sm3(root, b"zhengwu/identity/sm4-data-key/v1")[:16],
            index_key=hmac_sm3(root, b"zhengwu/identity/blind-index/v1"),
            federation_key=hmac_sm3(federation.encode(), b"zhengwu/identity/cert-key/v1"),
            token_key=hmac_sm3(root, b"zhengwu/identity/tokens/v1"),
        )


@dataclass(frozen=True, slots=True)
class IdentityContext:
    """Everything identity services need from the node settings."""

    keys: IdentityKeys
    division_code: str
    data_dir: Path
    idle_timeout: timedelta
    absolute_timeout: timedelta
    secure_cookies: bool
    lockout_threshold: int
    lockout_duration: timedelta
    ip_failure_limit: int
    ip_failure_window: timedelta
    registration_ip_limit: int
    registration_ip_window: timedelta
    argon2_memory_kib: int
    argon2_time_cost: int
    argon2_parallelism: int
    notifier: str
    staff_factor_max_age: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityContext:
        """Build the context of a node."""
        ident = settings.identity
        return cls(
            keys=IdentityKeys.derive(
                settings.security.secret_key.get_secret_value(), ident.federation_key.get_secret_value()
            ),
            division_code=settings.division_code,
            data_dir=settings.data_dir,
            idle_timeout=timedelta(minutes=settings.security.session_idle_minutes),
            absolute_timeout=timedelta(hours=settings.security.session_absolute_hours),
            secure_cookies=settings.security.secure_cookies,
            lockout_threshold=ident.lockout_threshold,
            lockout_duration=timedelta(minutes=ident.lockout_minutes),
            ip_failure_limit=ident.ip_failure_limit,
            ip_failure_window=timedelta(minutes=ident.ip_failure_window_minutes),
            registration_ip_limit=ident.registration_ip_limit,
            registration_ip_window=timedelta(minutes=ident.registration_ip_window_minutes),
            argon2_memory_kib=ident.argon2_memory_kib,
            argon2_time_cost=ident.argon2_time_cost,
            argon2_parallelism=ident.argon2_parallelism,
            notifier=ident.notifier,
            staff_factor_max_age=timedelta(minutes=ident.staff_factor_max_age_minutes),
        )


_current: IdentityContext | None = None


def configure(settings: Settings) -> IdentityContext:
    """Make ``settings`` the node's identity configuration (called by the app factory and the CLI)."""
    global _current
    _current = IdentityContext.from_settings(settings)
    from zhengwu.identity import passwords  # the hasher depends on the configured parameters

    passwords.reset_hasher()
    return _current


def current() -> IdentityContext:
    """The context of this process's node (``identity.wiring.install`` configures it from the node's
    settings); there is no fallback to the environment, which would be a second settings object."""
    if _current is None:
        raise RuntimeError("identity is not installed on a node in this process (zhengwu.main.install)")
    return _current
