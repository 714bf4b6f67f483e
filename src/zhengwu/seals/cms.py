"""GB/T 35275 SM2 SignedData (the SignedValue of an OFD Type="Sign" signature) and bare SM2 signatures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, core

from zhengwu.kernel.crypto import sm3
from zhengwu.seals.errors import SESFormatError
from zhengwu.seals.ses import (
    MAX_SES_BYTES,
    SM2_SIGN_OID,
    SM3_OID,
    SM3_WITH_SM2_OID,
    _tlv_bounds,
    _top_children,
)
from zhengwu.seals.sigcheck import Convention, verify_sm2_any

# GB/T 35275 (GM/T 0010 OIDs): SM2 signedData and data content types.
SM2_SIGNED_DATA_OID = "1.2.156.10197.6.1.4.2.2"
SM2_DATA_OID = "1.2.156.10197.6.1.4.2.1"
PKCS7_SIGNED_DATA_OID = "1.2.840.113549.1.7.2"
MESSAGE_DIGEST_OID = "1.2.840.113549.1.9.4"
SIGNING_TIME_OID = "1.2.840.113549.1.9.5"
_SIGNATURE_ALGORITHMS = frozenset({SM2_SIGN_OID, SM3_WITH_SM2_OID})


@dataclass(frozen=True)
class SignedDataResult:
    """Outcome of checking one SignedData against the bytes it protects."""

    valid: bool
    cert: bytes | None
    certificates: tuple[bytes, ...]
    digest_matches: bool
    signature_valid: bool
    convention: Convention | None
    signing_time: Any
    problems: tuple[str, ...]


def is_signed_data(data: bytes) -> bool:
    """True when the bytes look like a ContentInfo carrying SignedData (SM2 or PKCS#7 OID)."""
    try:
        kids = _top_children(data, "ContentInfo")
        return len(kids) == 2 and core.ObjectIdentifier.load(kids[0]).dotted in (
            SM2_SIGNED_DATA_OID,
            PKCS7_SIGNED_DATA_OID,
        )
    except (SESFormatError, ValueError, TypeError):
        return False


def _load_signed_data(data: bytes) -> Any:
    if len(data) > MAX_SES_BYTES:
        raise SESFormatError("签名数据过大", detail_en="SignedData too large")
    kids = _top_children(data, "ContentInfo")
    if len(kids) != 2 or kids[1][:1] != b"\xa0":
        raise SESFormatError("签名数据不是 ContentInfo", detail_en="not a ContentInfo")
    start, end = _tlv_bounds(kids[1], 0)
    try:
        signed = cms.SignedData.load(kids[1][start:end], strict=True)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise SESFormatError(
            "签名数据 SignedData 格式错误", detail_en=f"malformed SignedData: {exc}"
        ) from exc
    return signed


def verify_signed_data(data: bytes, content: bytes) -> SignedDataResult:
    """Check a GB/T 35275 SignedData over `content` (OFD: the Signature.xml bytes); raises SESFormatError."""
    signed = _load_signed_data(data)
    # asn1crypto parses lazily (and some real certificates do not fit its name types): parse on use.
    try:
        return _verify(signed, content)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        if isinstance(exc, SESFormatError):
            raise
        raise SESFormatError(
            "签名数据 SignedData 格式错误", detail_en=f"malformed SignedData: {exc}"
        ) from exc


def _verify(signed: Any, content: bytes) -> SignedDataResult:
    certificates = tuple(bytes(c.chosen.dump()) for c in signed["certificates"] if c.name == "certificate")
    infos = list(signed["signer_infos"])
    if len(infos) != 1:
        raise SESFormatError(
            "签名数据应有且仅有一个签名者", detail_en=f"{len(infos)} signer infos, expected 1"
        )
    info = infos[0]
    problems: list[str] = []
    cert = _signer_cert(info, signed["certificates"])
    digest_alg = info["digest_algorithm"]["algorithm"].dotted
    sig_alg = info["signature_algorithm"]["algorithm"].dotted
    if digest_alg != SM3_OID:
        problems.append(f"unsupported digest algorithm {digest_alg}")
    if sig_alg not in _SIGNATURE_ALGORITHMS:
        problems.append(f"unsupported signature algorithm {sig_alg}")
    encap = signed["encap_content_info"]["content"]
    # gomain detaches the content (it is Signature.xml); oesplugin encapsulates SM3(Signature.xml).
    if isinstance(encap, core.Void):
        protected = content
        digest_matches = True
    else:
        protected = _octets(encap)
        digest_matches = protected in (sm3(content), content)
        if not digest_matches:
            problems.append("encapsulated content does not match SM3(Signature.xml)")
    attrs = info["signed_attrs"]
    signing_time = None
    if isinstance(attrs, core.Void):
        to_verify = protected
    else:
        message_digest = None
        for attr in attrs:
            kind = attr["type"].dotted
            if kind == MESSAGE_DIGEST_OID:
                message_digest = bytes(attr["values"][0].native)
            elif kind == SIGNING_TIME_OID:
                signing_time = attr["values"][0].native
        if message_digest is None:
            problems.append("signed attributes lack messageDigest")
            digest_matches = False
        elif message_digest != sm3(protected):
            problems.append("messageDigest does not match SM3 of the signed content")
            digest_matches = False
        # RFC 5652 §5.4: the signature covers the DER SET OF attributes, i.e. [0] IMPLICIT re-tagged as SET.
        to_verify = b"\x31" + bytes(attrs.dump())[1:]
    signature = bytes(info["signature"].native)
    convention = None
    if cert is not None and not problems:
        convention = verify_sm2_any(cert, signature, to_verify)
    elif cert is None:
        problems.append("signer certificate not found in SignedData")
    signature_valid = convention is not None
    if cert is not None and not signature_valid and not problems:
        problems.append("SM2 signature does not verify")
    return SignedDataResult(
        valid=signature_valid and digest_matches and not problems,
        cert=cert,
        certificates=certificates,
        digest_matches=digest_matches,
        signature_valid=signature_valid,
        convention=convention,
        signing_time=signing_time,
        problems=tuple(problems),
    )


def _octets(value: Any) -> bytes:
    raw = bytes(value.dump())
    # Encapsulated content is [0] EXPLICIT OCTET STRING; unwrap the explicit tag when asn1crypto kept it.
    if raw[:1] == b"\xa0":
        start, end = _tlv_bounds(raw, 0)
        raw = raw[start:end]
    return bytes(core.OctetString.load(raw).native)


def _signer_cert(info: Any, certificates: Any) -> bytes | None:
    sid = info["sid"]
    candidates = [c.chosen for c in certificates if c.name == "certificate"]
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen
        for cert in candidates:
            tbs = cert["tbs_certificate"]
            if (
                tbs["serial_number"].native == wanted["serial_number"].native
                and tbs["issuer"].dump() == wanted["issuer"].dump()
            ):
                return bytes(cert.dump())
    return bytes(candidates[0].dump()) if len(candidates) == 1 else None
