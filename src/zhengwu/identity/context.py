"""Per-node identity configuration: derived keys, timeouts, lockout policy, password hasher, notifier.

The context lives on the node (``servicekeys.CONTEXT``); a service reaches it through the session it
was given (:func:`of`), a route without one through its node (:func:`for_node`). Two nodes in one process
keep two configurations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from zhengwu.identity.passwords import Passwords
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto.hashes import hmac_sm3
from zhengwu.kernel.node import Node, node_in


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
    """Everything identity services need from the node settings; one per node (ADR 0012)."""

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
    passwords: Passwords  # the argon2id hasher built from the three parameters above

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
            passwords=Passwords(
                memory_kib=ident.argon2_memory_kib,
                time_cost=ident.argon2_time_cost,
                parallelism=ident.argon2_parallelism,
            ),
        )


def of(session: Session) -> IdentityContext:
    """The identity context of the node whose session factory opened ``session``."""
    return for_node(node_in(session))


def for_node(node: Node) -> IdentityContext:
    """The identity context ``identity.wiring.install`` put on ``node`` (routes without a session)."""
    from zhengwu.identity.servicekeys import CONTEXT

    return node.services.provide(CONTEXT)
