"""PKCS#10 certification requests (RFC 2986) with SM2 keys — used when a node joins the exchange."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Final

from asn1crypto import csr, x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer, SM2PublicKey
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import MAX_CSR_BYTES, load_strict, parsing, pem_armor, single_der
from zhengwu.kernel.pki.certificates import EXT_SUBJECT_ALT_NAME, sm2_public_key, spki_sm2_point
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.issuance import spki_asn1
from zhengwu.kernel.pki.names import DistinguishedName, NameInput, name_from_asn1, to_asn1_name
from zhengwu.kernel.pki.signatures import STRICT_CONVENTIONS, ZConvention, verify_sm2

oids.register_asn1crypto()

_CSR_PEM: Final = frozenset({"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"})
_EXTENSION_REQUEST: Final = "1.2.840.113549.1.9.14"


class CertificateRequest:
    """A parsed PKCS#10 request; obtain it with ``load_csr``. Check it with ``verify`` before use."""

    der: bytes
    info: bytes
    signature: bytes
    signature_algorithm: str
    subject: DistinguishedName
    key_algorithm: str
    key_curve: str | None
    public_key_point: bytes | None
    dns_names: tuple[str, ...]

    def __init__(self, der: bytes) -> None:
        parsed = load_strict(csr.CertificationRequest.load, der, "certificate request", "证书请求")
        with parsing("certificate request", "证书请求"):
            info = parsed["certification_request_info"]
            self.der = der
            self.info = bytes(info.dump())
            self.signature_algorithm = str(parsed["signature_algorithm"]["algorithm"].dotted)
            self.signature = bytes(parsed["signature"].native)
            self.subject = name_from_asn1(info["subject"])
            self.key_algorithm, self.key_curve, self.public_key_point = spki_sm2_point(
                info["subject_pk_info"]
            )
            self.dns_names = tuple(_requested_dns_names(info["attributes"]))

    @cached_property
    def public_key(self) -> SM2PublicKey:
        """The requested SM2 public key (PkiError for any other algorithm)."""
        return sm2_public_key(self.public_key_point, self.key_algorithm, self.key_curve)

    def verify(self, conventions: Sequence[ZConvention] = STRICT_CONVENTIONS) -> ZConvention | None:
        """Proof of possession: the Z convention under which the self-signature verifies, or None."""
        if self.signature_algorithm != oids.SM2_SM3:
            raise PkiError(
                f"unsupported request signature algorithm {self.signature_algorithm}",
                f"不支持的证书请求签名算法：{self.signature_algorithm}",
            )
        return verify_sm2(self.public_key, self.signature, self.info, conventions)

    def to_pem(self) -> bytes:
        """PEM encoding."""
        return pem_armor("CERTIFICATE REQUEST", self.der)


def _requested_dns_names(attributes: Any) -> list[str]:
    names: list[str] = []
    for attribute in attributes:
        if str(attribute["type"].dotted) != _EXTENSION_REQUEST:
            continue
        for extensions in attribute["values"]:
            for ext in extensions:
                if str(ext["extn_id"].dotted) == EXT_SUBJECT_ALT_NAME:
                    names.extend(str(gn.native) for gn in ext["extn_value"].parsed if gn.name == "dns_name")
    return names


def build_csr(
    *, subject: NameInput | DistinguishedName, signer: Signer, dns_names: Sequence[str] = ()
) -> CertificateRequest:
    """A PKCS#10 request for the signer's SM2 key, self-signed with Z over the default ID."""
    with parsing("certificate request", "证书请求"):
        attributes: list[Any] = []
        if dns_names:
            san = x509.GeneralNames([x509.GeneralName(name="dns_name", value=name) for name in dns_names])
            attributes.append(
                {
                    "type": "extension_request",
                    "values": [[{"extn_id": "subject_alt_name", "critical": False, "extn_value": san}]],
                }
            )
        info = csr.CertificationRequestInfo(
            {
                "version": "v1",
                "subject": to_asn1_name(subject),
                "subject_pk_info": spki_asn1(signer.public_key),
                "attributes": attributes,
            }
        )
        info_der = info.dump()
    signature = signer.sign(info_der, uid=DEFAULT_SM2_UID)
    with parsing("certificate request", "证书请求"):
        der = csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": oids.SM2_SM3},
                "signature": signature,
            }
        ).dump()
    return CertificateRequest(bytes(der))


def load_csr(data: bytes) -> CertificateRequest:
    """Parse a PKCS#10 request from DER or PEM (at most 1 MiB)."""
    der = single_der(
        data, pem_types=_CSR_PEM, what="certificate request", what_zh="证书请求", limit=MAX_CSR_BYTES
    )
    return CertificateRequest(der)
