"""ES256 signing keys of this node: generation, encryption at rest, rotation and the published JWKS.

The key ring keeps the decrypted active key in memory (imported once, so that signing costs one ECDSA
operation) and re-reads the table periodically so that a rotation on one worker reaches the others.
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
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
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
    """Cached signing and verification keys; loads (and on first use creates) keys from the database."""

    def __init__(self, node_keys: NodeKeys, node_id: str, refresh_seconds: float = 60.0) -> None:
        self._node_keys = node_keys
        self._node_id = node_id
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._material: KeyMaterial | None = None
        self._loaded_at = 0.0

    def current(self, session_factory: Callable[[], Session]) -> KeyMaterial:
        """The cached material, reloaded when older than the refresh interval."""
        material = self._material
        if material is not None and time.monotonic() - self._loaded_at < self._refresh:
            return material
        with self._lock:
            if self._material is not None and time.monotonic() - self._loaded_at < self._refresh:
                return self._material
            for attempt in range(3):
                session = session_factory()
                try:
                    self._material = self._load(session)
                    session.commit()
                    break
                except OperationalError:
                    # Two workers creating the first key at once: SQLite refuses the later writer
                    # (its read snapshot is stale); on retry it finds the other worker's key.
                    session.rollback()
                    if attempt == 2:
                        raise
                except BaseException:
                    session.rollback()
                    raise
                finally:
                    session.close()
            self._loaded_at = time.monotonic()
            assert self._material is not None
            return self._material

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
            active = [generate_signing_key(session, self._node_keys, self._node_id)]
            rows.insert(0, active[0])
        signer_row = active[0]  # newest active key signs
        der = self._node_keys.open(signer_row.private_key_enc, _aad(signer_row.kid))
        private = serialization.load_der_private_key(der, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError("signing key is not an EC key")
        signing = ECKey.import_key(private, {"kid": signer_row.kid, "alg": ALG, "use": "sig"})
        public = [ECKey.import_key(dict(r.public_jwk)) for r in rows]
        jwks = {"keys": [dict(r.public_jwk) for r in rows]}
        return KeyMaterial(signer_row.kid, signing, KeySet(public), jwks, private)  # type: ignore[arg-type]
