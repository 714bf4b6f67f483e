"""The node's trust store answers identity's certificate-login checks (数字证书登录).

Operators trust the CAs that issue people's and enterprises' certificates with
``zhengwu pki trust add CA.pem --for login [--crl FILE | --crl-url URL]``; identity (above pki) asks
:class:`LoginCertificateTrust` about each login certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.kernel.config import Settings
from zhengwu.kernel.pki import PkiError, ValidationStatus
from zhengwu.pki.authority import trust_store

PURPOSE: Final = "login"


@dataclass(frozen=True, slots=True)
class CertificateVerdict:
    """What the node's trust store says about a certificate now (messages are shown to people)."""

    ok: bool
    reason: str  # "ok", a kernel.pki ValidationStatus value, "malformed" or "not_configured"
    message_zh: str
    anchor: str | None = None  # the trusted CA the chain ends in, for the audit trail


#: What a citizen is told; the kernel's reason (English and Chinese) goes to the audit trail.
_MESSAGES: Final[dict[ValidationStatus, str]] = {
    ValidationStatus.REVOKED: "该证书已被吊销",
    ValidationStatus.EXPIRED: "该证书已过期或签发机构证书已过期",
    ValidationStatus.NOT_YET_VALID: "该证书尚未生效",
    ValidationStatus.UNTRUSTED_ROOT: "该证书的签发机构不受本平台信任",
    ValidationStatus.ISSUER_NOT_FOUND: "该证书的签发机构不受本平台信任",
    ValidationStatus.CRL_NOT_FOUND: "暂时无法确认该证书是否已被吊销，请稍后再试",
    ValidationStatus.CRL_EXPIRED: "暂时无法确认该证书是否已被吊销，请稍后再试",
    ValidationStatus.KEY_USAGE_MISMATCH: "该证书不能用于身份认证",
}


class LoginCertificateTrust:
    """The node's trust store for login certificates: anchors trusted ``--for login``, CRLs checked.

    It works in the caller's session: a second connection could wait on the first's write lock (SQLite)
    while the request holds it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(
        self, db: Session, certificate: bytes, chain: Sequence[bytes], *, at: datetime
    ) -> CertificateVerdict:
        """Validate the chain to a login anchor at ``at``; the leaf must not be revoked (fail closed)."""
        trust = trust_store(db, self._settings, at=at)
        if not trust.store.anchors(PURPOSE):
            return CertificateVerdict(False, "not_configured", "本平台尚未开通数字证书登录")
        try:
            result = trust.store.validate(
                certificate,
                chain,
                purpose=PURPOSE,
                at=at,
                check_revocation="leaf",
                key_usage=["digital_signature"],
                crl_source=trust.crl_source,
            )
        except PkiError as exc:
            return CertificateVerdict(False, "malformed", f"证书无法解析：{exc.message_zh}")
        if result.ok:
            anchor = result.trust_anchor
            return CertificateVerdict(True, "ok", "", anchor.subject.common_name if anchor else None)
        message = _MESSAGES.get(result.status, f"证书验证未通过：{result.reason_zh}")
        return CertificateVerdict(False, result.status.value, message)
