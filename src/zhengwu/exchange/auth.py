"""Who may call the verification services and the operator API: clients of this node's OIDC provider
holding a client-credentials access token (RFC 9068 JWT) that carries the required scope."""

from __future__ import annotations

from typing import Any

from zhengwu.exchange.errors import VerificationDenied, VerificationUnauthenticated
from zhengwu.exchange.verification import Caller, CallerAuthorizer
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import unit_of_work

log = get_logger("zhengwu.exchange.auth")


def oidc_authorizer(oidc: Any) -> CallerAuthorizer:
    """Check bearer access tokens issued by this node's provider (signature, issuer, lifetime,
    audience, revocation) and the scope; the provider is the node's ``identity.servicekeys.OIDC``."""
    from zhengwu.identity.oidc.tokens import TokenRejected, verify

    audiences = {oidc.issuer, f"{oidc.issuer}/api/v1/verify", f"{oidc.issuer}/api/v1/exchange"}

    def authorize(authorization: str | None, scope: str) -> Caller:
        if not authorization or not authorization[:7].lower() == "bearer ":
            raise VerificationUnauthenticated(detail_en="a bearer access token is required")
        try:
            claims = verify(
                oidc.key_material(), authorization[7:].strip(), issuer=oidc.issuer, typ="at+jwt", leeway=0
            )
        except TokenRejected as exc:
            log.info("exchange_token_rejected", reason=str(exc))
            raise VerificationUnauthenticated(detail_en="the access token is not valid") from exc
        aud = claims.get("aud")
        if not (set(aud) if isinstance(aud, list) else {aud}) & audiences:
            raise VerificationUnauthenticated(detail_en="the access token is for another audience")
        with unit_of_work(oidc.session_factory) as session:
            if oidc.is_jti_revoked(session, str(claims.get("jti", ""))):
                raise VerificationUnauthenticated(detail_en="the access token was revoked")
        scopes = frozenset(str(claims.get("scope", "")).split())
        client_id = str(claims.get("client_id") or claims.get("sub") or "")
        if scope not in scopes:
            log.warning("exchange_scope_denied", client_id=client_id, scope=scope)
            raise VerificationDenied(f"调用方缺少授权范围 {scope}", detail_en=f"scope {scope} is required")
        return Caller(client_id=client_id, scopes=scopes)

    return authorize
