"""Revoking issued tokens: the one way a grant dies, whoever ends it (logout, a withdrawn consent, a
replayed code or refresh token, an enterprise withdrawing its agent)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from zhengwu.identity.oidc.models import OidcGrant, OidcRevokedToken
from zhengwu.kernel.clock import utcnow


def revoke_grants(db: Session, rows: Iterable[OidcGrant], reason: str) -> int:
    """Mark the grants revoked (their refresh tokens die) and put their access tokens that have not
    expired on the deny list until they would; returns how many were still alive."""
    now = utcnow()
    count = 0
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = now
            row.revoked_reason = reason
            count += 1
        if row.access_expires_at > now and db.get(OidcRevokedToken, row.access_jti) is None:
            db.add(
                OidcRevokedToken(
                    jti=row.access_jti,
                    client_id=row.client_id,
                    expires_at=row.access_expires_at,
                    reason=reason,
                )
            )
    db.flush()
    return count
