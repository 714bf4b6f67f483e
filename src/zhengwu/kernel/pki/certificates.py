"""Parsed X.509 certificates (RFC 5280) with SM2 public keys, cached by content."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any, Final

from asn1crypto import core, x509

from zhengwu.kernel.crypto import CryptoError, SM2PublicKey, sm3
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import (
    MAX_BUNDLE_BYTES,
    MAX_CERTIFICATE_BYTES,
    as_datetime,
    der_blocks,
    load_strict,
    parsing,
    pem_armor,
    single_der,
)
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.names import DistinguishedName, name_from_asn1
from zhengwu.kernel.pki.signatures import SignatureMemo

oids.register_asn1crypto()

_CERT_PEM: Final = frozenset({"CERTIFICATE", "X509 CERTIFICATE"})

# Extension OIDs (RFC 5280 §4.2).
EXT_SUBJECT_KEY_ID: Final = "2.5.29.14"
EXT_KEY_USAGE: Final = "2.5.29.15"
EXT_SUBJECT_ALT_NAME: Final = "2.5.29.17"
EXT_ISSUER_ALT_NAME: Final = "2.5.29.18"
EXT_BASIC_CONSTRAINTS: Final = "2.5.29.19"
EXT_CRL_NUMBER: Final = "2.5.29.20"
EXT_CRL_REASON: Final = "2.5.29.21"
EXT_INVALIDITY_DATE: Final = "2.5.29.24"
EXT_DELTA_CRL_INDICATOR: Final = "2.5.29.27"
EXT_ISSUING_DISTRIBUTION_POINT: Final = "2.5.29.28"
EXT_CERTIFICATE_ISSUER: Final = "2.5.29.29"
EXT_CRL_DISTRIBUTION_POINTS: Final = "2.5.29.31"
EXT_CERTIFICATE_POLICIES: Final = "2.5.29.32"
EXT_AUTHORITY_KEY_ID: Final = "2.5.29.35"
EXT_EXTENDED_KEY_USAGE: Final = "2.5.29.37"
EXT_FRESHEST_CRL: Final = "2.5.29.46"
EXT_AUTHORITY_INFO_ACCESS: Final = "1.3.6.1.5.5.7.1.1"

# Extended key purposes (RFC 5280 §4.2.1.12).
EKU_SERVER_AUTH: Final = "1.3.6.1.5.5.7.3.1"
EKU_CLIENT_AUTH: Final = "1.3.6.1.5.5.7.3.2"
EKU_TIME_STAMPING: Final = "1.3.6.1.5.5.7.3.8"

#: Certificate extensions this library processes, so accepts even when marked critical.
#: certificatePolicies is accepted without policy processing (the platform requires no policy, which is
#: RFC 5280's any-policy case); nameConstraints, policyConstraints, issuerAltName, AIA etc. are not
#: processed, so a critical one makes the certificate unusable (RFC 5280 §4.2).
KNOWN_CERTIFICATE_EXTENSIONS: Final = frozenset(
    {
        EXT_SUBJECT_KEY_ID,
        EXT_KEY_USAGE,
        EXT_SUBJECT_ALT_NAME,
        EXT_BASIC_CONSTRAINTS,
        EXT_CRL_DISTRIBUTION_POINTS,
        EXT_CERTIFICATE_POLICIES,
        EXT_AUTHORITY_KEY_ID,
        EXT_EXTENDED_KEY_USAGE,
    }
)


class Certificate:
    """An immutable parsed X.509 certificate; obtain it with ``load_certificate``."""

    der: bytes
    tbs: bytes
    signature: bytes
    signature_algorithm: str
    version: int
    serial_number: int
    issuer: DistinguishedName
    subject: DistinguishedName
    not_before: datetime
    not_after: datetime
    key_algorithm: str
    key_curve: str | None
    public_key_point: bytes | None
    subject_key_id: bytes | None
    authority_key_id: bytes | None
    is_ca: bool
    path_length: int | None
    has_basic_constraints: bool
    key_usage: frozenset[str] | None
    key_usage_critical: bool
    extended_key_usage: frozenset[str] | None
    extended_key_usage_critical: bool
    crl_urls: tuple[str, ...]
    dns_names: tuple[str, ...]
    extensions: frozenset[str]
    critical_extensions: frozenset[str]
    #: extnValue contents of the extensions this module does not interpret (e.g. the GM/T 0015 identity
    #: extensions of personal and enterprise certificates), by dotted OID.
    other_extensions: dict[str, bytes]

    def __init__(self, der: bytes) -> None:
        self.signature_memo: SignatureMemo = {}
        cert = load_strict(x509.Certificate.load, der, "certificate", "证书")
        with parsing("certificate", "证书"):
            self._parse(der, cert)

    def _parse(self, der: bytes, cert: Any) -> None:
        tbs = cert["tbs_certificate"]
        self.der = der
        self.tbs = bytes(tbs.dump())
        self.signature_algorithm = str(cert["signature_algorithm"]["algorithm"].dotted)
        if str(tbs["signature"]["algorithm"].dotted) != self.signature_algorithm:
            # RFC 5280 §4.1.1.2: the two AlgorithmIdentifiers MUST be identical.
            raise PkiError("certificate signature algorithm fields disagree", "证书内外签名算法标识不一致")
        self.signature = bytes(cert["signature_value"].native)
        self.version = {"v1": 1, "v2": 2, "v3": 3}[tbs["version"].native]
        self.serial_number = int(tbs["serial_number"].native)
        self.issuer = name_from_asn1(tbs["issuer"])
        self.subject = name_from_asn1(tbs["subject"])
        self.not_before = as_datetime(tbs["validity"]["not_before"].native, "notBefore")
        self.not_after = as_datetime(tbs["validity"]["not_after"].native, "notAfter")
        self._parse_key(tbs["subject_public_key_info"])
        self._parse_extensions(tbs["extensions"] if self.version == 3 else [])

    def _parse_key(self, spki: Any) -> None:
        self.key_algorithm, self.key_curve, self.public_key_point = spki_sm2_point(spki)

    def _parse_extensions(self, extensions: Any) -> None:
        self.subject_key_id = None
        self.authority_key_id = None
        self.is_ca = False
        self.path_length = None
        self.has_basic_constraints = False
        self.key_usage = None
        self.key_usage_critical = False
        self.extended_key_usage = None
        self.extended_key_usage_critical = False
        crl_urls: list[str] = []
        dns_names: list[str] = []
        self.other_extensions = {}
        seen: set[str] = set()
        critical: set[str] = set()
        for ext in extensions:
            oid = str(ext["extn_id"].dotted)
            if oid in seen:
                # RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
                raise PkiError(f"duplicate extension {oid}", f"扩展项重复：{oid}")
            seen.add(oid)
            is_critical = bool(ext["critical"].native)
            if is_critical:
                critical.add(oid)
            if oid not in KNOWN_CERTIFICATE_EXTENSIONS:
                self.other_extensions[oid] = bytes(ext["extn_value"].contents)
                continue
            value = ext["extn_value"].parsed
            if oid == EXT_SUBJECT_KEY_ID:
                self.subject_key_id = bytes(value.native)
            elif oid == EXT_AUTHORITY_KEY_ID:
                key_id = value["key_identifier"].native
                self.authority_key_id = bytes(key_id) if key_id is not None else None
            elif oid == EXT_BASIC_CONSTRAINTS:
                self.has_basic_constraints = True
                self.is_ca = bool(value["ca"].native)
                path_length = value["path_len_constraint"].native
                self.path_length = int(path_length) if path_length is not None else None
            elif oid == EXT_KEY_USAGE:
                self.key_usage = frozenset(str(bit) for bit in value.native)
                self.key_usage_critical = is_critical
            elif oid == EXT_EXTENDED_KEY_USAGE:
                self.extended_key_usage = frozenset(str(purpose.dotted) for purpose in value)
                self.extended_key_usage_critical = is_critical
            elif oid == EXT_CRL_DISTRIBUTION_POINTS:
                crl_urls.extend(_distribution_point_urls(value))
            elif oid == EXT_SUBJECT_ALT_NAME:
                dns_names.extend(str(gn.native) for gn in value if gn.name == "dns_name")
        self.crl_urls = tuple(crl_urls)
        self.dns_names = tuple(dns_names)
        self.extensions = frozenset(seen)
        self.critical_extensions = frozenset(critical)

    @property
    def unknown_critical_extensions(self) -> frozenset[str]:
        """Critical extensions this library does not process (RFC 5280: such a certificate is rejected)."""
        return self.critical_extensions - KNOWN_CERTIFICATE_EXTENSIONS

    @property
    def is_sm2(self) -> bool:
        """Whether the subject key is an SM2 key this library can use."""
        return self.public_key_point is not None

    @cached_property
    def public_key(self) -> SM2PublicKey:
        """The subject SM2 public key (PkiError for any other algorithm)."""
        return sm2_public_key(self.public_key_point, self.key_algorithm, self.key_curve)

    @cached_property
    def fingerprint(self) -> str:
        """SM3 thumbprint of the DER certificate, lowercase hex (log certificates by this only)."""
        return sm3(self.der).hex()

    @cached_property
    def sha256_fingerprint(self) -> str:
        """SHA-256 thumbprint, lowercase hex (for interoperability with foreign tools)."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def is_self_issued(self) -> bool:
        """Subject equals issuer (RFC 5280 §6.1: self-issued)."""
        return self.subject == self.issuer

    def has_key_usage(self, usage: str) -> bool:
        """True if keyUsage is absent (RFC 5280: any use) or includes ``usage`` (asn1crypto bit name)."""
        return self.key_usage is None or usage in self.key_usage

    def valid_at(self, moment: datetime) -> bool:
        """notBefore <= moment <= notAfter."""
        return self.not_before <= moment <= self.not_after

    def to_pem(self) -> bytes:
        """PEM encoding."""
        return pem_armor("CERTIFICATE", self.der)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and self.der == other.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"<Certificate subject={self.subject} serial={self.serial_number:X}>"


def spki_sm2_point(spki: Any) -> tuple[str, str | None, bytes | None]:
    """(algorithm OID, curve OID, 65-byte SM2 point or None) of a SubjectPublicKeyInfo.

    Read generically: asn1crypto's PublicKeyInfo cannot even parse an algorithm it does not know, and GM/T
    producers write either id-ecPublicKey + SM2 curve (RFC 5480 style) or the SM2 OID as the algorithm.
    """
    generic = core.load(bytes(spki.dump()), strict=True)
    if not isinstance(generic, core.Sequence) or len(generic) != 2:
        raise PkiError("malformed SubjectPublicKeyInfo", "公钥信息格式错误")
    identifier, bits = generic[0], generic[1]
    if (
        not isinstance(identifier, core.Sequence)
        or not isinstance(bits, core.BitString)
        or len(identifier) < 1
    ):
        raise PkiError("malformed SubjectPublicKeyInfo", "公钥信息格式错误")
    if not isinstance(identifier[0], core.ObjectIdentifier):
        raise PkiError("malformed SubjectPublicKeyInfo algorithm", "公钥算法标识格式错误")
    algorithm = str(identifier[0].dotted)
    parameters = identifier[1] if len(identifier) > 1 else None
    curve: str | None = None
    if algorithm == oids.EC_PUBLIC_KEY and isinstance(parameters, core.ObjectIdentifier):
        curve = str(parameters.dotted)
    elif algorithm == oids.SM2_CURVE:
        curve = oids.SM2_CURVE
    contents = bytes(bits.contents)
    point = contents[1:] if contents[:1] == b"\x00" else b""
    is_sm2 = curve == oids.SM2_CURVE and len(point) == 65 and point[0] == 4
    return algorithm, curve, point if is_sm2 else None


def sm2_public_key(point: bytes | None, algorithm: str, curve: str | None) -> SM2PublicKey:
    """An SM2PublicKey from an extracted point, or PkiError naming the unsupported algorithm."""
    if point is None:
        raise PkiError(
            f"unsupported public key algorithm {algorithm} (curve {curve})", f"不支持的公钥算法：{algorithm}"
        )
    try:
        return SM2PublicKey.from_point(point)
    except (CryptoError, ValueError) as exc:
        raise PkiError(f"invalid SM2 public key: {exc}", "SM2 公钥无效") from exc


def key_identifier(public_key: SM2PublicKey) -> bytes:
    """Key identifier for SKI/AKI: RFC 7093 §2 method 1 with SM3 — leftmost 160 bits of SM3(public key)."""
    return sm3(public_key.point)[:20]


def _distribution_point_urls(points: Any) -> list[str]:
    urls: list[str] = []
    for point in points:
        name = point["distribution_point"]
        if name.native is None or name.name != "full_name":
            continue
        urls.extend(str(gn.native) for gn in name.chosen if gn.name == "uniform_resource_identifier")
    return urls


_CACHEABLE_BYTES: Final = 64 * 1024


@lru_cache(maxsize=4096)
def _parse_memo(der: bytes) -> Certificate:
    return Certificate(der)


def _parse_cached(der: bytes) -> Certificate:
    # Real certificates are a few KiB; do not let oversized ones occupy the cache.
    return _parse_memo(der) if len(der) <= _CACHEABLE_BYTES else Certificate(der)


def load_certificate(data: bytes) -> Certificate:
    """Parse one certificate from DER or PEM (at most 1 MiB); results are cached by content."""
    der = single_der(
        data, pem_types=_CERT_PEM, what="certificate", what_zh="证书", limit=MAX_CERTIFICATE_BYTES
    )
    return _parse_cached(der)


def load_certificates(data: bytes) -> list[Certificate]:
    """Parse every certificate of a PEM bundle (or one DER certificate)."""
    blocks = der_blocks(
        data,
        pem_types=_CERT_PEM,
        what="certificate",
        what_zh="证书",
        limit=MAX_CERTIFICATE_BYTES,
        total_limit=MAX_BUNDLE_BYTES,
    )
    return [_parse_cached(der) for der in blocks]


def as_certificate(value: Certificate | bytes) -> Certificate:
    """Accept a parsed certificate or its DER/PEM bytes."""
    return value if isinstance(value, Certificate) else load_certificate(value)
