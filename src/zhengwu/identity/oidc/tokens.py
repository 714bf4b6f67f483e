"""JWTs this provider signs and checks: access tokens (RFC 9068), ID tokens, logout tokens (BCL 1.0)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.errors import JoseError

from zhengwu.identity.oidc.keys import ALG, KeyMaterial
from zhengwu.identity.oidc.secrets import b64url, ordered_token

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_ALGS = [ALG]


class TokenRejected(ValueError):
    """A token failed verification (signature, type, issuer, audience or lifetime)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed JWT with the facts the audit record needs."""

    value: str
    jti: str
    issued_at: int
    expires_at: int


def new_jti() -> str:
    """A token identifier: 48 bits of time, 80 random bits (unique, and clustered in the jti index)."""
    return ordered_token()


@lru_cache(maxsize=64)
def _header_segment(kid: str, typ: str) -> bytes:
    header = json.dumps({"alg": ALG, "kid": kid, "typ": typ}, separators=(",", ":"))
    return base64.urlsafe_b64encode(header.encode()).rstrip(b"=")


def sign(material: KeyMaterial, claims: dict[str, Any], typ: str) -> str:
    """Sign claims with the active key (compact JWS, RFC 7515 §7.1); the header names the key (``kid``).

    ES256 (RFC 7518 §3.4): ECDSA P-256 over SHA-256, signature as the 64-byte R || S. The header segment
    is computed once per key; the payload is compact UTF-8 JSON (orjson, as ``json.dumps`` with
    ``separators=(",", ":"), ensure_ascii=False``); joserfc verifies these tokens in the tests and at every
    introspection.
    """
    payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=")
    signing_input = _header_segment(material.kid, typ) + b"." + payload
    r, s = decode_dss_signature(material.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=")
    return (signing_input + b"." + signature).decode("ascii")


def access_token(
    material: KeyMaterial,
    *,
    issuer: str,
    client_id: str,
    subject: str,
    audience: str,
    scope: str,
    ttl: int,
    extra: dict[str, Any] | None = None,
) -> IssuedToken:
    """An RFC 9068 JWT access token (``typ: at+jwt``)."""
    now = int(time.time())
    jti = new_jti()
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": jti,
        "scope": scope,
    }
    if extra:
        claims.update(extra)
    return IssuedToken(sign(material, claims, "at+jwt"), jti, now, now + ttl)


def half_hash(value: str) -> str:
    """``at_hash`` / ``c_hash`` for ES256: left half of SHA-256, base64url (OIDC Core §3.1.3.6)."""
    return b64url(hashlib.sha256(value.encode("ascii")).digest()[:16])


def id_token(
    material: KeyMaterial,
    *,
    issuer: str,
    client_id: str,
    subject: str,
    ttl: int,
    auth_time: int,
    acr: str,
    amr: list[str],
    sid: str,
    nonce: str | None,
    access_token_value: str | None,
    claims: dict[str, Any],
) -> str:
    """An OIDC ID token for ``client_id`` (its own pairwise ``sub``, ``sid`` for logout)."""
    now = int(time.time())
    body: dict[str, Any] = {
        **claims,
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + ttl,
        "auth_time": auth_time,
        "acr": acr,
        "amr": amr,
        "sid": sid,
    }
    if nonce:
        body["nonce"] = nonce
    if access_token_value:
        body["at_hash"] = half_hash(access_token_value)
    return sign(material, body, "JWT")


def logout_token(
    material: KeyMaterial, *, issuer: str, client_id: str, subject: str, sid: str, ttl: int
) -> str:
    """A back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4): ``events``, ``sid``, no nonce."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + ttl,
        "jti": new_jti(),
        "sub": subject,
        "sid": sid,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    return sign(material, claims, "logout+jwt")


def header_kid(value: str) -> str | None:
    """The ``kid`` in a compact JWS header, if readable (no verification)."""
    try:
        header = json.loads(base64.urlsafe_b64decode(value.split(".", 1)[0] + "=="))
    except (ValueError, IndexError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def verify(
    material: KeyMaterial,
    value: str,
    *,
    issuer: str,
    typ: str | None,
    audience: str | None = None,
    leeway: int = 30,
) -> dict[str, Any]:
    """Check signature, ``typ``, issuer, audience and lifetime of a token this node signed."""
    return verify_with(material.verify_set, value, issuer=issuer, typ=typ, audience=audience, leeway=leeway)


def verify_with(
    key_set: Any, value: str, *, issuer: str, typ: str | None, audience: str | None = None, leeway: int = 30
) -> dict[str, Any]:
    """Like :func:`verify` against any JWKS (used for tokens of federated providers)."""
    if not value or len(value) > 8192 or value.count(".") != 2:
        raise TokenRejected("malformed")
    try:
        token = jwt.decode(value, key_set, algorithms=_ALGS)
    except (JoseError, ValueError) as exc:
        raise TokenRejected("signature") from exc
    if typ is not None and str(token.header.get("typ", "")).lower() not in (typ, f"application/{typ}"):
        raise TokenRejected("typ")
    claims = dict(token.claims)
    now = time.time()
    if claims.get("iss") != issuer:
        raise TokenRejected("issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + leeway < now:
        raise TokenRejected("expired")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and iat - leeway > now:
        raise TokenRejected("issued in the future")
    if audience is not None:
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if audience not in auds:
            raise TokenRejected("audience")
    return claims
