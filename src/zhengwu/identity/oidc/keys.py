"""ES256 signing keys of this node: generation, encryption at rest, rotation and the published JWKS.

The first key is made before any request needs it — by ``zhengwu migrate`` and again when a node starts
(:func:`ensure_signing_key`) — never by a request: a code exchange holds the database's write lock, and a
key written from a second session meanwhile would wait for that very lock. The key ring keeps the
decrypted active key in memory (imported once, so that signing costs one ECDSA operation) and re-reads the
table periodically so that a rotation on one worker reaches the others; it only ever reads.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from zhengwu.identity.oidc.models import OidcSigningKey
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.kernel.clock import utcnow

ALG = "ES256"


def _aad(kid: str) -> bytes:
    # The kid is bound to the ciphertext so that a key row cannot be swapped with another.
    return f"zhengwu/oidc/signing-key/{kid}".encode()


def generate_signing_key(session: Session, node_keys: NodeKeys, node_id: str) -> OidcSigningKey:
    """Create a new active ES256 key (P-256), its private half sealed with SM4-GCM."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"{node_id}-{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = ECKey.import_key(private.public_key()).as_dict(private=False)
    public.update({"kid": kid, "use": "sig", "alg": ALG})
    row = OidcSigningKey(
        kid=kid, alg=ALG, public_jwk=dict(public), private_key_enc=node_keys.seal(der, _aad(kid))
    )
    session.add(row)
    session.flush()
    return row


class SigningKeyMissing(RuntimeError):
    """The node has no active signing key (the start-up or ``zhengwu migrate`` did not make one)."""

    def __init__(self) -> None:
        super().__init__(
            "no active OIDC signing key: run `zhengwu migrate` or restart the node "
            "(无可用的签名密钥：请执行 zhengwu migrate 或重启节点)"
        )


def _lock_key_table(session: Session) -> None:
    # Two workers starting at once must not both make a "first" key: take the table's write lock before
    # looking. PostgreSQL: a self-conflicting table lock (readers go on). SQLite: a no-op UPDATE as the
    # transaction's first statement takes the database write lock (waited for with busy_timeout).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE identity_oidc_signing_key IN SHARE ROW EXCLUSIVE MODE"))
    else:
        session.execute(
            update(OidcSigningKey)
            .where(OidcSigningKey.id.is_(None))
            .values(status=OidcSigningKey.status)
            .execution_options(synchronize_session=False)
        )


def ensure_signing_key(session: Session, node_keys: NodeKeys, node_id: str) -> OidcSigningKey | None:
    """Make the node's first active key if it has none; the new row, or ``None`` when one exists.

    Run it at the start of its own transaction (it locks the key table until that transaction ends)."""
    _lock_key_table(session)
    active = session.scalar(select(OidcSigningKey.id).where(OidcSigningKey.status == "active").limit(1))
    if active is not None:
        return None
    return generate_signing_key(session, node_keys, node_id)


def rotate_signing_key(session: Session, node_keys: NodeKeys, node_id: str) -> OidcSigningKey:
    """Make a new key active; the previous active keys stay published (retired) for verification."""
    now = utcnow()
    for row in session.scalars(select(OidcSigningKey).where(OidcSigningKey.status == "active")):
        row.status = "retired"
        row.retired_at = now
    return generate_signing_key(session, node_keys, node_id)


def revoke_signing_key(session: Session, kid: str) -> bool:
    """Withdraw a retired key from the JWKS (tokens signed with it stop verifying)."""
    row = session.scalar(select(OidcSigningKey).where(OidcSigningKey.kid == kid))
    if row is None or row.status == "active":
        return False
    row.status = "revoked"
    return True


def list_signing_keys(session: Session) -> list[OidcSigningKey]:
    """All keys, newest first."""
    return list(session.scalars(select(OidcSigningKey).order_by(OidcSigningKey.created_at.desc())))


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """One consistent view of the ring: the signing key and the verification set."""

    kid: str
    signing_key: ECKey
    verify_set: KeySet
    jwks: dict[str, Any]
    private_key: ec.EllipticCurvePrivateKey


class KeyRing:
    """Cached signing and verification keys, loaded from the database."""

    def __init__(self, node_keys: NodeKeys, refresh_seconds: float = 60.0) -> None:
        self._node_keys = node_keys
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._material: KeyMaterial | None = None
        self._loaded_at = 0.0

    def current(self, session_factory: Callable[[], Session], session: Session | None = None) -> KeyMaterial:
        """The cached material, reloaded when older than the refresh interval.

        A reload reads with ``session`` when the caller has one open (a request: no second connection),
        else in a short session of its own. It never writes: see :class:`SigningKeyMissing`."""
        material = self._material
        if material is not None and time.monotonic() - self._loaded_at < self._refresh:
            return material
        with self._lock:
            if self._material is not None and time.monotonic() - self._loaded_at < self._refresh:
                return self._material
            if session is not None:
                loaded = self._load(session)
            else:
                with session_factory() as own:
                    loaded = self._load(own)
                    own.rollback()
            self._material = loaded
            self._loaded_at = time.monotonic()
            return loaded

    def fresh(self) -> KeyMaterial | None:
        """The material if loaded and not due for a reload (never touches the database)."""
        material = self._material
        if material is not None and time.monotonic() - self._loaded_at < self._refresh:
            return material
        return None

    def invalidate(self) -> None:
        """Force a reload on next use (after a rotation on this worker)."""
        self._loaded_at = 0.0

    def _load(self, session: Session) -> KeyMaterial:
        rows = [r for r in list_signing_keys(session) if r.status in ("active", "retired")]
        active = [r for r in rows if r.status == "active"]
        if not active:
            raise SigningKeyMissing()
        signer_row = active[0]  # newest active key signs
        der = self._node_keys.open(signer_row.private_key_enc, _aad(signer_row.kid))
        private = serialization.load_der_private_key(der, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError("signing key is not an EC key")
        signing = ECKey.import_key(private, {"kid": signer_row.kid, "alg": ALG, "use": "sig"})
        public = [ECKey.import_key(dict(r.public_jwk)) for r in rows]
        jwks = {"keys": [dict(r.public_jwk) for r in rows]}
        return KeyMaterial(signer_row.kid, signing, KeySet(public), jwks, private)  # type: ignore[arg-type]
