"""RFC 3161 time-stamp tokens written directly in DER — the same bytes as ``kernel.pki.issue_timestamp_token``.

The kernel builds tokens with asn1crypto, which re-encodes the embedded certificates on every call (~9 ms a
token). A seal signature needs one token each, so the node TSA writes them from a per-certificate template
instead; tests compare both writers byte for byte.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from asn1crypto import core

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer, sm3
from zhengwu.kernel.pki import EKU_TIME_STAMPING, Certificate, PkiError, TimeStampRequest


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    if value < 0:
        raise PkiError("negative INTEGER", "整数不能为负")
    # DER: minimal two's complement; one spare bit keeps a positive value positive.
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


_SM3_ALG: Final = _seq(_oid("1.2.156.10197.1.401"))
_SM2_SM3_ALG: Final = _seq(_oid("1.2.156.10197.1.501"))
_SIGNED_DATA: Final = _oid("1.2.840.113549.1.7.2")
_TST_INFO: Final = _oid("1.2.840.113549.1.9.16.1.4")
_CONTENT_TYPE: Final = _oid("1.2.840.113549.1.9.3")
_MESSAGE_DIGEST: Final = _oid("1.2.840.113549.1.9.4")
_SIGNING_CERTIFICATE_V2: Final = _oid("1.2.840.113549.1.9.16.2.47")
_CONTENT_TYPE_ATTR: Final = _seq(_CONTENT_TYPE, _tlv(0x31, _TST_INFO))


@dataclass(frozen=True, slots=True)
class _Template:
    """The parts of a token that depend only on the TSA certificate, its chain and the policy."""

    policy: bytes
    tsa_name: bytes  # tsa [0] EXPLICIT GeneralName directoryName [4] EXPLICIT Name
    certificates: bytes  # [0] IMPLICIT SET OF Certificate
    signer_id: bytes  # IssuerAndSerialNumber
    signing_certificate: bytes  # the signingCertificateV2 attribute


def _template(tsa: Certificate, chain: Sequence[Certificate], policy: str) -> _Template:
    issuer_serial = _seq(_seq(_tlv(0xA4, tsa.issuer.der)), _int(tsa.serial_number))
    ess_cert_id = _seq(_SM3_ALG, _tlv(0x04, sm3(tsa.der)), issuer_serial)
    return _Template(
        policy=_oid(policy),
        tsa_name=_tlv(0xA0, _tlv(0xA4, tsa.subject.der)),
        # DER SET OF (X.690 §11.6): elements in ascending order of their encodings.
        certificates=_tlv(0xA0, b"".join(sorted(c.der for c in (tsa, *chain)))),
        signer_id=_seq(tsa.issuer.der, _int(tsa.serial_number)),
        signing_certificate=_seq(_SIGNING_CERTIFICATE_V2, _tlv(0x31, _seq(_seq(ess_cert_id)))),
    )


def request_for(imprint: bytes, *, nonce: int, cert_req: bool = True) -> TimeStampRequest:
    """The TimeStampReq the node's own signer would send for an SM3 ``imprint`` (v1, no policy), written
    directly: the same DER as ``kernel.pki.build_timestamp_request``, which builds it with asn1crypto
    at about 0.2 ms a request, once per seal signature (tests compare both)."""
    if len(imprint) != 32:
        raise PkiError("an SM3 imprint is 32 bytes", "SM3 摘要必须为 32 字节")
    der = _seq(
        _int(1),
        _seq(_SM3_ALG, _tlv(0x04, imprint)),
        _int(nonce),
        b"\x01\x01\xff" if cert_req else b"",  # certReq DEFAULT FALSE: DER leaves the default out
    )
    return TimeStampRequest(der=der, imprint=imprint, nonce=nonce, cert_req=cert_req, policy=None)


_templates: dict[tuple[str, tuple[str, ...], str], _Template] = {}
_lock = threading.Lock()


def issue_token(
    request: TimeStampRequest,
    *,
    tsa_certificate: Certificate,
    signer: Signer,
    gen_time: datetime,
    policy: str,
    serial_number: int | None = None,
    accuracy_seconds: int | None = 1,
    chain: Sequence[Certificate] = (),
) -> bytes:
    """A TimeStampToken (CMS SignedData over TSTInfo, SM2-with-SM3, ESS signingCertificateV2 with SM3)."""
    if (
        tsa_certificate.extended_key_usage is None
        or EKU_TIME_STAMPING not in tsa_certificate.extended_key_usage
    ):
        raise PkiError("the TSA certificate lacks id-kp-timeStamping", "时间戳服务证书缺少时间戳用途")
    if signer.public_key.point != tsa_certificate.public_key.point:
        raise PkiError("signer key does not match the TSA certificate", "签名密钥与时间戳服务证书不匹配")
    if gen_time.tzinfo is None:
        raise PkiError("gen_time must be timezone-aware", "时间必须带时区")
    moment = gen_time.astimezone(UTC).replace(microsecond=0)
    if not tsa_certificate.valid_at(moment):
        raise PkiError("the TSA certificate is not valid at genTime", "时间戳服务证书在签发时间无效")
    key = (tsa_certificate.fingerprint, tuple(c.fingerprint for c in chain), policy)
    with _lock:
        template = _templates.get(key)
    if template is None:
        template = _template(tsa_certificate, chain, policy)
        with _lock:
            if len(_templates) > 16:
                _templates.clear()
            _templates[key] = template
    serial = serial_number if serial_number is not None else secrets.randbits(127) | 1
    tst = _seq(
        _int(1),
        template.policy,
        _seq(_SM3_ALG, _tlv(0x04, request.imprint)),
        _int(serial),
        _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii")),
        _seq(_int(accuracy_seconds)) if accuracy_seconds is not None else b"",
        _int(request.nonce) if request.nonce is not None else b"",
        template.tsa_name,
    )
    # DER SET OF: the three attributes sorted by encoding, which is this order (0x1A, 0x2F, long form).
    attributes = (
        _CONTENT_TYPE_ATTR
        + _seq(_MESSAGE_DIGEST, _tlv(0x31, _tlv(0x04, sm3(tst))))
        + template.signing_certificate
    )
    # RFC 5652 §5.4: the signature covers the DER SET OF signed attributes (tag 0x31), Z over the default ID.
    signature = signer.sign(_tlv(0x31, attributes), uid=DEFAULT_SM2_UID)
    signer_info = _seq(
        _int(1),
        template.signer_id,
        _SM3_ALG,
        _tlv(0xA0, attributes),
        _SM2_SM3_ALG,
        _tlv(0x04, signature),
    )
    signed_data = _seq(
        _int(3),
        _tlv(0x31, _SM3_ALG),
        _seq(_TST_INFO, _tlv(0xA0, _tlv(0x04, tst))),
        template.certificates if request.cert_req else b"",
        _tlv(0x31, signer_info),
    )
    return _seq(_SIGNED_DATA, _tlv(0xA0, signed_data))
