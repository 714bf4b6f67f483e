"""The signed offline payload of a license's 2-D code (MOSIP Inji-style offline verification).

The payload is compact JSON of the minimum a verifier needs — identifier, type, issuer, masked holder
name, dates — signed with SM2 by the node's license key, whose certificate the node's issuing CA
issued (``GET /api/v1/licenses/offline-certificate``). A verifier holding that certificate checks the
payload without calling the node; the registry status (revoked since?) needs the online check.

Token: ``base64url(payload) "." base64url(SM2 signature r‖s)`` (kept short: the QR code's size, and the
time to draw it, grow with it), carried in the fragment of the
verification URL so that it never reaches a server log.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PublicKey
from zhengwu.kernel.pki import CertProfile, PkiError, load_certificate
from zhengwu.pki import authority
from zhengwu.pki.errors import PkiNotInitialized

PROFILE: Final = "licenses-offline"
VERSION: Final = 1
MAX_TOKEN_CHARS: Final = 2000
KEY_YEARS: Final = 5
KEY_ID_CHARS: Final = 8


@dataclass(frozen=True, slots=True)
class OfflineCheck:
    """The outcome of checking a token: signature valid or not, and what it claims."""

    valid: bool
    reason: str
    claims: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def offline_authority(session: Session, settings: Settings, *, at: datetime) -> authority.SigningIdentity:
    """The node's license key and certificate, made on first use from the issuing CA."""
    try:
        return authority.signing_identity(session, settings, PROFILE)
    except PkiNotInitialized:
        if not authority.is_initialized(session):
            raise
    key = authority.new_key(session, settings, purpose=PROFILE, label=PROFILE)
    authority.issue_end_entity(
        session,
        settings,
        profile=CertProfile.SEAL_SIGNER,
        subject=[("C", "CN"), ("O", settings.node_name[:60]), ("OU", "电子证照"), ("CN", "电子证照离线核验")],
        public_key=SM2PublicKey.from_der(key.public_key),
        not_after=at.replace(year=at.year + KEY_YEARS, day=min(at.day, 28)),
        key_id=key.id,
        stored_as=PROFILE,
        at=at,
    )
    return authority.signing_identity(session, settings, PROFILE)


def make_token(
    session: Session,
    settings: Settings,
    claims: dict[str, Any],
    *,
    at: datetime,
    identity: authority.SigningIdentity | None = None,
) -> str:
    """Sign ``claims`` (plus the version and key id) into a token (``identity``: the license key's
    current identity where the caller read it in this transaction)."""
    signer = identity or offline_authority(session, settings, at=at)
    body = dict(claims, v=VERSION, k=signer.certificate.fingerprint[:KEY_ID_CHARS])
    data = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(data)}.{_b64(signer.signer.sign(data, raw=True))}"


def check_token(token: str, certificate: bytes) -> OfflineCheck:
    """Check a token against the node's license certificate (DER or PEM) — no database, no network."""
    text = token.strip()
    if "#" in text:
        text = text.rsplit("#", 1)[1]
    if not text or len(text) > MAX_TOKEN_CHARS or text.count(".") != 1:
        return OfflineCheck(False, "二维码内容不是电子证照离线核验数据", {})
    head, sig = text.split(".")
    try:
        data, signature = _unb64(head), _unb64(sig)
        claims = json.loads(data)
    except (binascii.Error, ValueError):
        return OfflineCheck(False, "二维码内容无法解析", {})
    if not isinstance(claims, dict) or claims.get("v") != VERSION:
        return OfflineCheck(False, "二维码数据版本不受支持", {})
    try:
        cert = load_certificate(certificate)
    except PkiError:
        return OfflineCheck(False, "核验证书无效", {})
    if claims.get("k") != cert.fingerprint[:KEY_ID_CHARS]:
        return OfflineCheck(False, "二维码不是由该证书签名的", claims)
    if not cert.public_key.verify(signature, data):
        return OfflineCheck(False, "二维码签名无效（数据被篡改或伪造）", {})
    return OfflineCheck(True, "二维码签名有效", claims)


def mask_name(name: str) -> str:
    """李志国 → 李*国, 王五 → 王*: enough for a verifier to compare with the person in front of them."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
