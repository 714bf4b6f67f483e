"""Issuing SM2 certificates: self-signed root CA, issuing CA and end-entity profiles of the platform."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from asn1crypto import keys, x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer, SM2PublicKey
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import aware, parsing
from zhengwu.kernel.pki.certificates import (
    EKU_CLIENT_AUTH,
    EKU_SERVER_AUTH,
    EKU_TIME_STAMPING,
    KNOWN_CERTIFICATE_EXTENSIONS,
    Certificate,
    key_identifier,
)
from zhengwu.kernel.pki.crl import asn1_time
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.names import DistinguishedName, NameInput, to_asn1_name

oids.register_asn1crypto()


class CertProfile(StrEnum):
    """Certificate profiles the platform issues."""

    ROOT_CA = "root-ca"  # self-signed trust anchor
    ISSUING_CA = "issuing-ca"  # intermediate CA (pathLen 0 by default)
    SEAL_SIGNER = "seal-signer"  # 签章人: signs documents with a seal (SES_Signature)
    SEAL_MAKER = "seal-maker"  # 制章者: signs the seal structure (SESeal)
    NODE_EXCHANGE = "node-exchange"  # a platform node signing exchange batches / TLS client or server
    TSA = "tsa"  # time-stamping authority (RFC 3161 §2.3)
    PERSON_AUTH = "person-auth"  # 个人/单位身份证书: 数字证书登录 and signing (a UKey's signing certificate)


_KEY_USAGE: Final[dict[CertProfile, frozenset[str]]] = {
    CertProfile.ROOT_CA: frozenset({"key_cert_sign", "crl_sign"}),
    CertProfile.ISSUING_CA: frozenset({"key_cert_sign", "crl_sign"}),
    CertProfile.SEAL_SIGNER: frozenset({"digital_signature", "non_repudiation"}),
    CertProfile.SEAL_MAKER: frozenset({"digital_signature", "non_repudiation"}),
    CertProfile.NODE_EXCHANGE: frozenset({"digital_signature"}),
    CertProfile.TSA: frozenset({"digital_signature", "non_repudiation"}),
    CertProfile.PERSON_AUTH: frozenset({"digital_signature", "non_repudiation"}),
}
_CA_PROFILES: Final = frozenset({CertProfile.ROOT_CA, CertProfile.ISSUING_CA})
_NODE_PURPOSES: Final = frozenset({EKU_CLIENT_AUTH, EKU_SERVER_AUTH})
_DOTTED: Final = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
# RFC 5280 §4.1.2.2: serial numbers are at most 20 octets.
_MAX_SERIAL: Final = (1 << 159) - 1


def random_serial() -> int:
    """A random positive 128-bit serial number (CA/B-style unpredictability, RFC 5280 ≤ 20 octets)."""
    while True:
        serial = secrets.randbits(128)
        if serial:
            return serial


def create_root_ca(
    *,
    subject: NameInput | DistinguishedName,
    signer: Signer,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    path_length: int | None = None,
) -> Certificate:
    """A self-signed SM2 root CA certificate (keyCertSign + cRLSign, basicConstraints cA critical)."""
    return _build(
        subject=subject,
        public_key=signer.public_key,
        profile=CertProfile.ROOT_CA,
        issuer=None,
        signer=signer,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        path_length=path_length,
        crl_urls=(),
        extended_key_usage=(),
        dns_names=(),
    )


def issue_certificate(
    *,
    issuer: Certificate,
    issuer_signer: Signer,
    subject: NameInput | DistinguishedName,
    public_key: SM2PublicKey,
    profile: CertProfile,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    crl_urls: Sequence[str] = (),
    extended_key_usage: Sequence[str] = (),
    path_length: int | None = None,
    dns_names: Sequence[str] = (),
    identity_extensions: Mapping[str, bytes] = {},
) -> Certificate:
    """An SM2 certificate for ``public_key`` signed by ``issuer`` (an issuing CA or an end entity).

    ``identity_extensions``: non-critical extensions by dotted OID with their DER values, such as the
    GM/T 0015 IdentifyCode (个人身份标识码) of a personal certificate; allowed on end entities only.
    """
    if profile is CertProfile.ROOT_CA:
        raise PkiError("use create_root_ca for a root CA", "根证书请使用 create_root_ca")
    if not issuer.is_ca or not issuer.has_key_usage("key_cert_sign"):
        raise PkiError("issuer is not a CA allowed to sign certificates", "签发者不是可签发证书的 CA")
    if profile is CertProfile.ISSUING_CA and issuer.path_length == 0:
        raise PkiError(
            "issuer pathLenConstraint 0 forbids a subordinate CA", "签发者路径长度约束为 0，不能签发下级 CA"
        )
    if issuer_signer.public_key.point != issuer.public_key.point:
        raise PkiError("signer key does not match the issuer certificate", "签名密钥与签发者证书不匹配")
    if (
        aware(not_before, "not_before") < issuer.not_before
        or aware(not_after, "not_after") > issuer.not_after
    ):
        # GM/T 0015: a certificate must not outlive the CA certificate that vouches for it.
        raise PkiError("validity exceeds the issuer's validity", "有效期超出签发者证书的有效期")
    return _build(
        subject=subject,
        public_key=public_key,
        profile=profile,
        issuer=issuer,
        signer=issuer_signer,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        path_length=path_length,
        crl_urls=crl_urls,
        extended_key_usage=extended_key_usage,
        dns_names=dns_names,
        identity_extensions=identity_extensions,
    )


def spki_asn1(public_key: SM2PublicKey) -> Any:
    """SubjectPublicKeyInfo: id-ecPublicKey with the SM2 named curve (GM/T 0015)."""
    return keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": oids.EC_PUBLIC_KEY,
                "parameters": keys.ECDomainParameters(name="named", value=oids.SM2_CURVE),
            },
            "public_key": public_key.point,
        }
    )


def _extension(oid: str, value: Any, *, critical: bool) -> dict[str, Any]:
    return {"extn_id": oid, "critical": critical, "extn_value": value}


def _extensions(
    *,
    profile: CertProfile,
    public_key: SM2PublicKey,
    issuer: Certificate | None,
    path_length: int | None,
    crl_urls: Sequence[str],
    extended_key_usage: Sequence[str],
    dns_names: Sequence[str],
    identity_extensions: Mapping[str, bytes] = {},
) -> list[dict[str, Any]]:
    is_ca = profile in _CA_PROFILES
    if is_ca and identity_extensions:
        raise PkiError("identity extensions belong to end entities", "身份标识扩展只用于终端实体证书")
    if not is_ca and path_length is not None:
        raise PkiError("pathLenConstraint applies to CA certificates only", "路径长度约束只适用于 CA 证书")
    if profile is CertProfile.ISSUING_CA and path_length is None:
        path_length = 0
    if path_length is not None and path_length < 0:
        raise PkiError("pathLenConstraint must be non-negative", "路径长度约束不能为负")
    purposes = list(dict.fromkeys(extended_key_usage))
    if is_ca and purposes:
        raise PkiError("CA profiles carry no extendedKeyUsage", "CA 证书不设置扩展密钥用途")
    if profile is CertProfile.TSA:
        if purposes not in ([], [EKU_TIME_STAMPING]):
            # RFC 3161 §2.3: exactly one KeyPurposeId, id-kp-timeStamping, in a critical extension.
            raise PkiError("a TSA certificate carries only id-kp-timeStamping", "时间戳证书只能有时间戳用途")
        purposes = [EKU_TIME_STAMPING]
    if profile is CertProfile.NODE_EXCHANGE and not set(purposes) <= _NODE_PURPOSES:
        raise PkiError(
            "node certificates allow only clientAuth/serverAuth", "节点证书只允许 clientAuth/serverAuth"
        )
    constraints: dict[str, Any] = {"ca": is_ca}
    if path_length is not None:
        constraints["path_len_constraint"] = path_length
    ski = key_identifier(public_key)
    aki = ski if issuer is None else (issuer.subject_key_id or key_identifier(issuer.public_key))
    result = [
        _extension("basic_constraints", x509.BasicConstraints(constraints), critical=True),
        _extension("key_usage", x509.KeyUsage(set(_KEY_USAGE[profile])), critical=True),
    ]
    if purposes:
        result.append(
            _extension(
                "extended_key_usage",
                x509.ExtKeyUsageSyntax(purposes),
                critical=profile is CertProfile.TSA,
            )
        )
    result.append(_extension("key_identifier", x509.OctetString(ski), critical=False))
    result.append(
        _extension(
            "authority_key_identifier", x509.AuthorityKeyIdentifier({"key_identifier": aki}), critical=False
        )
    )
    if crl_urls:
        result.append(
            _extension(
                "crl_distribution_points",
                x509.CRLDistributionPoints(
                    [
                        {
                            "distribution_point": x509.DistributionPointName(
                                name="full_name",
                                value=[
                                    x509.GeneralName(name="uniform_resource_identifier", value=url)
                                    for url in crl_urls
                                ],
                            )
                        }
                    ]
                ),
                critical=False,
            )
        )
    if dns_names:
        result.append(
            _extension(
                "subject_alt_name",
                x509.GeneralNames([x509.GeneralName(name="dns_name", value=name) for name in dns_names]),
                critical=False,
            )
        )
    for oid, value in identity_extensions.items():
        if oid in KNOWN_CERTIFICATE_EXTENSIONS or not _DOTTED.fullmatch(oid):
            raise PkiError(f"not an identity extension: {oid}", f"不是身份标识扩展：{oid}")
        result.append(_extension(oid, value, critical=False))
    return result


def _build(
    *,
    subject: NameInput | DistinguishedName,
    public_key: SM2PublicKey,
    profile: CertProfile,
    issuer: Certificate | None,
    signer: Signer,
    not_before: datetime,
    not_after: datetime,
    serial: int | None,
    path_length: int | None,
    crl_urls: Sequence[str],
    extended_key_usage: Sequence[str],
    dns_names: Sequence[str],
    identity_extensions: Mapping[str, bytes] = {},
) -> Certificate:
    start, end = aware(not_before, "not_before"), aware(not_after, "not_after")
    if end <= start:
        raise PkiError("notAfter must be after notBefore", "有效期截止时间必须晚于起始时间")
    serial = random_serial() if serial is None else serial
    if not 0 < serial <= _MAX_SERIAL:
        raise PkiError(
            "serial number must be positive and at most 20 octets", "序列号必须为正且不超过 20 字节"
        )
    for url in crl_urls:
        if not url.startswith(("http://", "https://", "ldap://")):
            raise PkiError(f"unsupported CRL distribution point {url!r}", f"不支持的 CRL 发布点：{url}")
    subject_name = to_asn1_name(subject)
    with parsing("certificate", "证书"):
        issuer_name = subject_name if issuer is None else x509.Name.load(issuer.subject.der)
        tbs = x509.TbsCertificate(
            {
                "version": "v3",
                "serial_number": serial,
                "signature": {"algorithm": oids.SM2_SM3},
                "issuer": issuer_name,
                "validity": {"not_before": asn1_time(start), "not_after": asn1_time(end)},
                "subject": subject_name,
                "subject_public_key_info": spki_asn1(public_key),
                "extensions": _extensions(
                    profile=profile,
                    public_key=public_key,
                    issuer=issuer,
                    path_length=path_length,
                    crl_urls=crl_urls,
                    extended_key_usage=extended_key_usage,
                    dns_names=dns_names,
                    identity_extensions=identity_extensions,
                ),
            }
        )
        tbs_der = tbs.dump()
    # GM/T 0015 / GB/T 35276: certificate signatures use Z over the default ID.
    signature = signer.sign(tbs_der, uid=DEFAULT_SM2_UID)
    with parsing("certificate", "证书"):
        der = x509.Certificate(
            {
                "tbs_certificate": tbs,
                "signature_algorithm": {"algorithm": oids.SM2_SM3},
                "signature_value": signature,
            }
        ).dump()
    return Certificate(bytes(der))
