"""RFC 3161 time-stamp requests, tokens and responses signed with SM2/SM3 (GB/T 20520 style)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from asn1crypto import cms, core, tsp, x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer, sm3
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import MAX_TOKEN_BYTES, as_datetime, aware, load_strict, parsing, single_der
from zhengwu.kernel.pki.certificates import EKU_TIME_STAMPING, Certificate, as_certificate
from zhengwu.kernel.pki.crl import Crl
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.signatures import STRICT_CONVENTIONS, ZConvention, verify_sm2
from zhengwu.kernel.pki.truststore import TrustStore
from zhengwu.kernel.pki.validation import RevocationMode, ValidationResult, validate_chain

oids.register_asn1crypto()

_ANY_PEM: Final = frozenset({"TIMESTAMP REQUEST", "TIMESTAMP RESPONSE", "TIMESTAMP TOKEN", "PKCS7", "CMS"})
_SHA1: Final = "1.3.14.3.2.26"
_SHA256: Final = "2.16.840.1.101.3.4.2.1"


class TimestampStatus(StrEnum):
    """Outcome of a time-stamp token check."""

    OK = "ok"
    IMPRINT_MISMATCH = "imprint_mismatch"  # the token is for other data
    NONCE_MISMATCH = "nonce_mismatch"
    BAD_SIGNATURE = "bad_signature"  # signature or messageDigest wrong
    SIGNER_NOT_FOUND = "signer_not_found"  # no certificate matching the signer identifier
    CERTIFICATE_MISMATCH = "certificate_mismatch"  # ESS signingCertificate does not name that certificate
    CHAIN_INVALID = "chain_invalid"  # see ``chain`` for the path validation result


@dataclass(frozen=True, slots=True)
class TimeStampRequest:
    """A parsed or built TimeStampReq (SM3 message imprint)."""

    der: bytes
    imprint: bytes
    nonce: int | None
    cert_req: bool
    policy: str | None


@dataclass(frozen=True, slots=True)
class TimestampResult:
    """What a time-stamp token check found; ``gen_time`` is the attested time when the token parsed."""

    status: TimestampStatus
    reason: str
    reason_zh: str
    gen_time: datetime
    serial_number: int
    policy: str
    imprint: bytes
    nonce: int | None
    tsa_certificate: Certificate | None = None
    chain: ValidationResult | None = None
    convention: ZConvention | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the token is valid for the data and its TSA is trusted."""
        return self.status is TimestampStatus.OK


def _sm3_algorithm() -> dict[str, str]:
    return {"algorithm": oids.SM3}


def build_timestamp_request(
    data: bytes | None = None,
    *,
    imprint: bytes | None = None,
    nonce: int | None = None,
    cert_req: bool = True,
    policy: str | None = None,
) -> TimeStampRequest:
    """A TimeStampReq for SM3(data) (or a given 32-byte SM3 imprint) with a random 64-bit nonce by default."""
    if (data is None) == (imprint is None):
        raise PkiError("give exactly one of data or imprint", "请只提供原文或摘要之一")
    digest = sm3(data) if data is not None else bytes(imprint or b"")
    if len(digest) != 32:
        raise PkiError("an SM3 imprint is 32 bytes", "SM3 摘要必须为 32 字节")
    nonce = secrets.randbits(64) if nonce is None else nonce
    with parsing("time-stamp request", "时间戳请求"):
        fields: dict[str, Any] = {
            "version": "v1",
            "message_imprint": {"hash_algorithm": _sm3_algorithm(), "hashed_message": digest},
            "nonce": nonce,
            "cert_req": cert_req,
        }
        if policy is not None:
            fields["req_policy"] = policy
        der = bytes(tsp.TimeStampReq(fields).dump())
    return TimeStampRequest(der=der, imprint=digest, nonce=nonce, cert_req=cert_req, policy=policy)


def load_timestamp_request(data: bytes) -> TimeStampRequest:
    """Parse a DER TimeStampReq; only SM3 imprints are accepted (a TSA answers badAlg otherwise)."""
    der = single_der(
        data, pem_types=_ANY_PEM, what="time-stamp request", what_zh="时间戳请求", limit=MAX_TOKEN_BYTES
    )
    req = load_strict(tsp.TimeStampReq.load, der, "time-stamp request", "时间戳请求")
    with parsing("time-stamp request", "时间戳请求"):
        if req["version"].native != "v1":
            raise PkiError("unsupported time-stamp request version", "时间戳请求版本不受支持")
        imprint = req["message_imprint"]
        algorithm = str(imprint["hash_algorithm"]["algorithm"].dotted)
        digest = bytes(imprint["hashed_message"].native)
        if algorithm != oids.SM3 or len(digest) != 32:
            raise PkiError(f"unsupported imprint algorithm {algorithm}", f"不支持的摘要算法：{algorithm}")
        policy = req["req_policy"].native
        return TimeStampRequest(
            der=der,
            imprint=digest,
            nonce=req["nonce"].native,
            cert_req=bool(req["cert_req"].native),
            policy=str(req["req_policy"].dotted) if policy is not None else None,
        )


def issue_timestamp_token(
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
    moment = aware(gen_time, "gen_time").replace(microsecond=0)
    if not tsa_certificate.valid_at(moment):
        raise PkiError("the TSA certificate is not valid at genTime", "时间戳服务证书在签发时间无效")
    serial = serial_number if serial_number is not None else secrets.randbits(127) | 1
    with parsing("time-stamp token", "时间戳"):
        tst: dict[str, Any] = {
            "version": "v1",
            "policy": policy,
            "message_imprint": {"hash_algorithm": _sm3_algorithm(), "hashed_message": request.imprint},
            "serial_number": serial,
            "gen_time": core.GeneralizedTime(moment),
            "tsa": x509.GeneralName(name="directory_name", value=x509.Name.load(tsa_certificate.subject.der)),
        }
        if accuracy_seconds is not None:
            tst["accuracy"] = {"seconds": accuracy_seconds}
        if request.nonce is not None:
            tst["nonce"] = request.nonce
        tst_der = tsp.TSTInfo(tst).dump()
        issuer_serial = {
            "issuer": [
                x509.GeneralName(name="directory_name", value=x509.Name.load(tsa_certificate.issuer.der))
            ],
            "serial_number": tsa_certificate.serial_number,
        }
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [sm3(tst_der)]},
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "hash_algorithm": _sm3_algorithm(),
                                    "cert_hash": sm3(tsa_certificate.der),
                                    "issuer_serial": issuer_serial,
                                }
                            ]
                        }
                    ],
                },
            ]
        )
        to_sign = signed_attrs.dump()
    # RFC 5652 §5.4: the signature covers the DER SET OF signed attributes (tag 0x31), Z over the default ID.
    signature = signer.sign(to_sign, uid=DEFAULT_SM2_UID)
    certificates = [tsa_certificate, *chain] if request.cert_req else []
    with parsing("time-stamp token", "时间戳"):
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [_sm3_algorithm()],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": cms.ParsableOctetString(tst_der),
                },
                "certificates": [x509.Certificate.load(cert.der) for cert in certificates] or None,
                "signer_infos": [
                    {
                        "version": "v1",
                        "sid": cms.SignerIdentifier(
                            name="issuer_and_serial_number",
                            value={
                                "issuer": x509.Name.load(tsa_certificate.issuer.der),
                                "serial_number": tsa_certificate.serial_number,
                            },
                        ),
                        "digest_algorithm": _sm3_algorithm(),
                        "signed_attrs": signed_attrs,
                        "signature_algorithm": {"algorithm": oids.SM2_SM3},
                        "signature": signature,
                    }
                ],
            }
        )
        if not certificates:
            del signed_data["certificates"]
        return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def build_timestamp_response(
    token: bytes | None, *, status: str = "granted", fail_info: str | None = None, text: str | None = None
) -> bytes:
    """A TimeStampResp: ``granted`` with a token, or ``rejection`` with a PKIFailureInfo name (e.g. bad_alg)."""
    with parsing("time-stamp response", "时间戳响应"):
        status_info: dict[str, Any] = {"status": status}
        if text is not None:
            status_info["status_string"] = [text]
        if fail_info is not None:
            status_info["fail_info"] = tsp.PKIFailureInfo({fail_info})
        if token is None:
            # RFC 3161 §2.4.2: timeStampToken is OPTIONAL (asn1crypto's TimeStampResp wrongly requires it).
            return bytes(core.SequenceOf([tsp.PKIStatusInfo(status_info)], spec=tsp.PKIStatusInfo).dump())
        resp = tsp.TimeStampResp({"status": status_info, "time_stamp_token": cms.ContentInfo.load(token)})
        return bytes(resp.dump())


def load_timestamp_response(data: bytes) -> bytes:
    """The token of a granted TimeStampResp (PkiError with the TSA's status otherwise)."""
    der = single_der(
        data, pem_types=_ANY_PEM, what="time-stamp response", what_zh="时间戳响应", limit=MAX_TOKEN_BYTES
    )
    generic = load_strict(core.Sequence.load, der, "time-stamp response", "时间戳响应")
    with parsing("time-stamp response", "时间戳响应"):
        if len(generic) not in (1, 2):
            raise PkiError("malformed time-stamp response", "时间戳响应格式错误")
        status_info = tsp.PKIStatusInfo.load(bytes(generic[0].dump()), strict=True)
        status = status_info["status"].native
        if status not in ("granted", "granted_with_mods") or len(generic) != 2:
            fail = status_info["fail_info"].native
            detail = f" {sorted(fail)}" if fail else ""
            raise PkiError(f"time-stamp refused: {status}{detail}", "时间戳服务拒绝请求")
        return bytes(generic[1].dump())


@dataclass(frozen=True, slots=True)
class _Token:
    tst_der: bytes
    gen_time: datetime
    serial_number: int
    policy: str
    imprint: bytes
    nonce: int | None
    certificates: tuple[Certificate, ...]
    signer_info: Any


def _parse_token(data: bytes) -> _Token:
    der = single_der(
        data, pem_types=_ANY_PEM, what="time-stamp token", what_zh="时间戳", limit=MAX_TOKEN_BYTES
    )
    info = load_strict(cms.ContentInfo.load, der, "time-stamp token", "时间戳")
    with parsing("time-stamp token", "时间戳"):
        if str(info["content_type"].dotted) != oids.SIGNED_DATA:
            raise PkiError("a time-stamp token is CMS SignedData", "时间戳必须是 CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if str(encap["content_type"].dotted) != oids.TST_INFO or encap["content"].native is None:
            raise PkiError("the token does not encapsulate a TSTInfo", "时间戳不含 TSTInfo")
        tst_der = bytes(encap["content"].contents)
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        if tst["version"].native != "v1":
            raise PkiError("unsupported TSTInfo version", "TSTInfo 版本不受支持")
        algorithm = str(tst["message_imprint"]["hash_algorithm"]["algorithm"].dotted)
        if algorithm != oids.SM3:
            raise PkiError(f"unsupported imprint algorithm {algorithm}", f"不支持的摘要算法：{algorithm}")
        signer_infos = list(signed["signer_infos"])
        if len(signer_infos) != 1:
            raise PkiError("a time-stamp token has exactly one signer", "时间戳必须只有一个签名者")
        certificates = tuple(
            as_certificate(bytes(choice.chosen.dump()))
            for choice in signed["certificates"]
            if choice.name == "certificate"
        )
        return _Token(
            tst_der=tst_der,
            gen_time=as_datetime(tst["gen_time"].native, "genTime"),
            serial_number=int(tst["serial_number"].native),
            policy=str(tst["policy"].dotted),
            imprint=bytes(tst["message_imprint"]["hashed_message"].native),
            nonce=tst["nonce"].native,
            certificates=certificates,
            signer_info=signer_infos[0],
        )


def _find_signer(sid: Any, candidates: Iterable[Certificate]) -> Certificate | None:
    for cert in candidates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.serial_number == int(wanted["serial_number"].native) and cert.issuer.der == bytes(
                wanted["issuer"].dump()
            ):
                return cert
            if cert.serial_number == int(wanted["serial_number"].native) and cert.issuer.key == str(
                wanted["issuer"].hashable
            ):
                return cert
        elif cert.subject_key_id is not None and cert.subject_key_id == bytes(sid.chosen.native):
            return cert
    return None


def _attribute(attrs: Any, oid: str) -> Any:
    values = [attr["values"] for attr in attrs if str(attr["type"].dotted) == oid]
    if len(values) > 1 or (values and len(values[0]) != 1):
        raise PkiError(f"attribute {oid} must occur once with one value", f"属性 {oid} 必须且只能出现一次")
    return values[0][0] if values else None


def _signing_certificate_matches(attrs: Any, cert: Certificate) -> bool | None:
    """True/False if an ESS signingCertificate(V2) attribute names/doesn't name ``cert``; None if absent."""
    v2 = _attribute(attrs, oids.SIGNING_CERTIFICATE_V2_ATTR)
    if v2 is not None:
        first = v2["certs"][0]
        algorithm = str(first["hash_algorithm"]["algorithm"].dotted)
        if algorithm == oids.SM3:
            expected = sm3(cert.der)
        elif algorithm == _SHA256:
            expected = hashlib.sha256(cert.der).digest()
        else:
            raise PkiError(
                f"unsupported ESS certificate hash {algorithm}", f"不支持的证书摘要算法：{algorithm}"
            )
        return bytes(first["cert_hash"].native) == expected
    v1 = _attribute(attrs, oids.SIGNING_CERTIFICATE_ATTR)
    if v1 is not None:
        # RFC 2634 ESSCertID is SHA-1 by definition; used here only as an identifier match.
        return (
            bytes(v1["certs"][0]["cert_hash"].native)
            == hashlib.sha1(cert.der, usedforsecurity=False).digest()
        )
    return None


def verify_timestamp_token(
    token: bytes,
    *,
    trust: TrustStore | Iterable[Certificate | bytes],
    data: bytes | None = None,
    imprint: bytes | None = None,
    nonce: int | None = None,
    intermediates: Iterable[Certificate | bytes] = (),
    tsa_certificates: Iterable[Certificate | bytes] = (),
    crls: Iterable[Crl | bytes] = (),
    check_revocation: RevocationMode = "leaf",
    conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
    purpose: str = "timestamping",
) -> TimestampResult:
    """Check a token against SM3(data) (or an imprint): signature, ESS cert id, TSA chain at genTime, EKU.

    ``trust`` is a TrustStore (anchors for ``purpose``) or a list of anchor certificates. Malformed or
    unsupported tokens raise PkiError; every other failure is reported in the result.
    """
    if (data is None) == (imprint is None):
        raise PkiError("give exactly one of data or imprint", "请只提供原文或摘要之一")
    expected = sm3(data) if data is not None else bytes(imprint or b"")
    parsed = _parse_token(token)

    def result(status: TimestampStatus, reason: str, reason_zh: str, **extra: Any) -> TimestampResult:
        return TimestampResult(
            status=status,
            reason=reason,
            reason_zh=reason_zh,
            gen_time=parsed.gen_time,
            serial_number=parsed.serial_number,
            policy=parsed.policy,
            imprint=parsed.imprint,
            nonce=parsed.nonce,
            **extra,
        )

    if parsed.imprint != expected:
        return result(TimestampStatus.IMPRINT_MISMATCH, "the token is for other data", "时间戳与原文摘要不符")
    if nonce is not None and parsed.nonce != nonce:
        return result(
            TimestampStatus.NONCE_MISMATCH, "nonce differs from the request", "时间戳随机数与请求不符"
        )
    signer_info = parsed.signer_info
    with parsing("time-stamp token", "时间戳"):
        digest_algorithm = str(signer_info["digest_algorithm"]["algorithm"].dotted)
        signature_algorithm = str(signer_info["signature_algorithm"]["algorithm"].dotted)
        if digest_algorithm != oids.SM3 or signature_algorithm not in oids.SM2_SIGNATURE_ALGORITHMS:
            raise PkiError(
                f"unsupported token algorithms {digest_algorithm}/{signature_algorithm}",
                f"不支持的时间戳算法：{digest_algorithm}/{signature_algorithm}",
            )
        attrs = signer_info["signed_attrs"]
        if attrs.native is None:
            raise PkiError("a time-stamp token must carry signed attributes", "时间戳缺少签名属性")
        content_type = _attribute(attrs, oids.CONTENT_TYPE_ATTR)
        digest = _attribute(attrs, oids.MESSAGE_DIGEST_ATTR)
        signed_bytes = b"\x31" + bytes(attrs.dump())[1:]
        signature = bytes(signer_info["signature"].native)
        sid = signer_info["sid"]
        extra_certs = [as_certificate(item) for item in tsa_certificates]
        tsa_cert = _find_signer(sid, [*parsed.certificates, *extra_certs])
    if content_type is None or str(content_type.dotted) != oids.TST_INFO or digest is None:
        return result(
            TimestampStatus.BAD_SIGNATURE,
            "contentType/messageDigest attribute missing or wrong",
            "签名属性缺失或错误",
        )
    if bytes(digest.native) != sm3(parsed.tst_der):
        return result(
            TimestampStatus.BAD_SIGNATURE, "messageDigest does not match TSTInfo", "消息摘要与 TSTInfo 不符"
        )
    if tsa_cert is None:
        return result(TimestampStatus.SIGNER_NOT_FOUND, "TSA certificate not found", "找不到时间戳服务证书")
    with parsing("time-stamp token", "时间戳"):
        ess_match = _signing_certificate_matches(attrs, tsa_cert)
    matched = verify_sm2(tsa_cert.public_key, signature, signed_bytes, conventions)
    if matched is None:
        return result(
            TimestampStatus.BAD_SIGNATURE,
            "token signature does not verify",
            "时间戳签名验证失败",
            tsa_certificate=tsa_cert,
        )
    warnings: list[str] = []
    if ess_match is False:
        return result(
            TimestampStatus.CERTIFICATE_MISMATCH,
            "signingCertificate attribute names another certificate",
            "签名证书属性与时间戳服务证书不符",
            tsa_certificate=tsa_cert,
            convention=matched,
        )
    if ess_match is None:
        warnings.append("no ESS signingCertificate attribute (RFC 3161 §2.4.2 requires one)")
    if not tsa_cert.extended_key_usage_critical:
        warnings.append("TSA extendedKeyUsage is not critical (RFC 3161 §2.3)")
    pool = [*intermediates, *parsed.certificates, *extra_certs]
    if isinstance(trust, TrustStore):
        chain = trust.validate(
            tsa_cert,
            pool,
            purpose=purpose,
            at=parsed.gen_time,
            check_revocation=check_revocation,
            conventions=conventions,
            extended_key_usage=EKU_TIME_STAMPING,
            crls=crls,
        )
    else:
        chain = validate_chain(
            tsa_cert,
            pool,
            trust,
            at=parsed.gen_time,
            crls=crls,
            check_revocation=check_revocation,
            conventions=conventions,
            extended_key_usage=EKU_TIME_STAMPING,
        )
    if not chain.ok:
        return result(
            TimestampStatus.CHAIN_INVALID,
            f"TSA certificate not trusted: {chain.reason}",
            f"时间戳服务证书不可信：{chain.reason_zh}",
            tsa_certificate=tsa_cert,
            chain=chain,
            convention=matched,
            warnings=(*warnings, *chain.warnings),
        )
    return result(
        TimestampStatus.OK,
        "time-stamp token is valid",
        "时间戳验证通过",
        tsa_certificate=tsa_cert,
        chain=chain,
        convention=matched,
        warnings=(*warnings, *chain.warnings),
    )
