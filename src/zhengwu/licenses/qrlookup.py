"""Lookups by the content of a license's 2-D code (QueryCertInfoByQrCode, standards §5.5).

The code printed on a license holds the verification address with the signed offline payload in its
fragment (``licenses.offline``). Given that content — the whole address or the payload alone — the node
checks the signature with its own license certificate, then the registry:

* anyone (``POST /api/v1/licenses/qr-lookup``, rate-limited): the verification answer and the *public
  face* the code itself shows — identifier, type, issuer, the holder's masked name, issue date and end of
  validity — never more than a person holding the paper already reads;
* a department system (``POST /api/v1/licenses/services/query-by-qr``, a grant for ``query``): the
  license as ``QueryCertInfo`` answers it.

A share's code (``…/licenses/share#…``) is not a license's: it is answered with what to do instead. Every
lookup is in the usage log (``qr_lookup`` / ``service_query_qr``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.licenses import offline, service
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.repository import LicenseRepository

OPERATION: Final = "qr_lookup"
SHARE_MARK: Final = "/licenses/share#"


class NotALicenseCode(LicenseError):
    """The content is not a license's 2-D code of this node (or was altered)."""

    status_code = 422
    code = "licenses.qr_invalid"
    default_detail = "二维码内容不是本平台电子证照的二维码"


@dataclass(frozen=True, slots=True)
class QrAnswer:
    """The verification answer and the public face the code shows."""

    answer: service.Answer
    face: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape."""
        return {**self.answer.as_json(), "face": self.face}


def _public_face(claims: dict[str, Any]) -> dict[str, Any]:
    return {
        "identifier": str(claims.get("id", "")),
        "type_name": str(claims.get("tn", "")),
        "issuer_name": str(claims.get("in", "")),
        "holder_name_masked": str(claims.get("hn", "")),
        "issued_on": str(claims.get("ia", "")) or None,
        "valid_until": str(claims.get("vu", "")) or None,
    }


def _checked(session: Session, settings: Settings, content: str) -> offline.OfflineCheck:
    if SHARE_MARK in content:
        raise NotALicenseCode("这是持证人分享的二维码，请直接打开其中的链接查看",
                              detail_en="a share's code: open its link", code="licenses.qr_share")  # fmt: skip
    signer = offline.offline_authority(session, settings, at=utcnow())
    return offline.check_token(content, signer.certificate.der)


def lookup(session: Session, settings: Settings, content: str, *, caller: service.Caller) -> QrAnswer:
    """Anyone's lookup: the answer, and the code's public face when its signature holds."""
    check = _checked(session, settings, content)
    if not check.valid:
        service.record_usage(session, caller, OPERATION, "bad_signature")
        return QrAnswer(service.Answer(False, reason=check.reason), None)
    lic = LicenseRepository(session).by_identifier(str(check.claims.get("id", "")))
    if lic is None:
        service.record_usage(session, caller, OPERATION, "not_found")
        return QrAnswer(service.Answer(False, reason="二维码签名有效，但本节点没有这个电子证照"), None)
    answer = service.answer_of(lic, "二维码有效，证照有效")
    service.record_usage(
        session, caller, OPERATION, "valid" if answer.valid else answer.status or "invalid", lic
    )
    return QrAnswer(answer, _public_face(check.claims))


def identifier_of(session: Session, settings: Settings, content: str) -> str:
    """The identifier a genuine license code names (NotALicenseCode otherwise): the department
    service then answers as for that identifier, under the client's grant."""
    check = _checked(session, settings, content)
    if not check.valid:
        raise NotALicenseCode(
            f"二维码无法核验：{check.reason}", detail_en="the code's signature does not hold"
        )
    return str(check.claims.get("id", ""))
