"""The node's time-stamping authority (RFC 3161 over HTTP, GB/T 20520 style, SM2/SM3).

Tokens are signed by the TSA certificate (critical extendedKeyUsage id-kp-timeStamping) that ``pki init``
issued from the node's issuing CA; they carry the TSA certificate and the issuing CA so that a verifier
who trusts the node's root can build the path. The seal signer asks for a token over its signature value
and stores it in the SES_Signature ``timeStamp`` field.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.pki import (
    CertProfile,
    PkiError,
    TimeStampRequest,
    build_timestamp_response,
    load_certificate,
    load_timestamp_request,
)
from zhengwu.pki.authority import SigningIdentity, signing_identity
from zhengwu.pki.tstoken import issue_token, request_for

log = get_logger("zhengwu.pki.tsa")

#: The TSA policy (RFC 3161 §2.4.2 TSAPolicyId): an X.667 UUID OID (2.25.<uuid>), which needs no registration.
TSA_POLICY: Final = "2.25.181027226105316117337520306829016036219"
CONTENT_TYPE_QUERY: Final = "application/timestamp-query"
CONTENT_TYPE_REPLY: Final = "application/timestamp-reply"
MAX_QUERY_BYTES: Final = 16 * 1024


def _issue(
    session: Session,
    settings: Settings,
    request: TimeStampRequest,
    at: datetime | None,
    identity: SigningIdentity | None = None,
) -> bytes:
    tsa = identity or signing_identity(session, settings, CertProfile.TSA)
    if tsa.issuer is None:
        raise PkiError("TSA issuer certificate missing", "时间戳服务证书的签发者不存在")
    moment = (at or utcnow()).replace(microsecond=0)
    if request.policy is not None and request.policy != TSA_POLICY:
        raise PkiError(f"unaccepted policy {request.policy}", "不支持请求的时间戳策略")
    token = issue_token(
        request,
        tsa_certificate=tsa.certificate,
        signer=tsa.signer,
        gen_time=moment,
        policy=TSA_POLICY,
        chain=[tsa.issuer],
    )
    log.debug("timestamp_issued", gen_time=moment.isoformat())
    return token


def timestamp_token(
    session: Session,
    settings: Settings,
    data: bytes,
    *,
    at: datetime | None = None,
    identity: SigningIdentity | None = None,
) -> bytes:
    """A time-stamp token over SM3(``data``) issued in-process (what the seal signer embeds);
    ``identity``: the TSA's current identity where the caller read it in this transaction."""
    request = request_for(sm3(data), nonce=secrets.randbits(64))
    return _issue(session, settings, request, at, identity)


def respond(
    session: Session, settings: Settings, query: bytes, *, at: datetime | None = None
) -> tuple[int, bytes]:
    """Answer a DER TimeStampReq: (HTTP status, DER TimeStampResp) — refusals are replies too (RFC 3161 §2.4.2)."""
    if len(query) > MAX_QUERY_BYTES:
        return 413, build_timestamp_response(
            None, status="rejection", fail_info="bad_request", text="request too large"
        )
    try:
        request = load_timestamp_request(query)
    except PkiError as exc:
        fail = "bad_alg" if "algorithm" in exc.message else "bad_data_format"
        return 200, build_timestamp_response(None, status="rejection", fail_info=fail, text=exc.message)
    try:
        token = _issue(session, settings, request, at)
    except PkiError as exc:
        if "policy" in exc.message:
            return 200, build_timestamp_response(
                None, status="rejection", fail_info="unaccepted_policy", text=exc.message
            )
        raise
    return 200, build_timestamp_response(token)


def signature_check(session: Session) -> Callable[[str, bytes, bytes], bool]:
    """Checks a signature made with this node's TSA key: ``check(thumbprint, signature, data)``.

    Only a TSA certificate of this node with that thumbprint verifies (signed audit heads, the
    anti-tamper manifest); any other certificate, or none, is a failed check.
    """
    from zhengwu.pki.models import PkiCertificate

    def check(thumbprint: str, signature: bytes, data: bytes) -> bool:
        row = session.query(PkiCertificate).filter_by(fingerprint=thumbprint).one_or_none()
        if row is None or row.profile != CertProfile.TSA.value or row.key_id is None:
            return False
        return load_certificate(row.der).public_key.verify(signature, data)

    return check
