"""SM2 X.509 PKI: certificates, CSRs, CRLs, path validation, trust store and RFC 3161 time-stamps.

A pure library (no database, no network). All signatures are SM2-with-SM3 through ``zhengwu.kernel.crypto``;
verification understands the three Z conventions seen in real data (``ZConvention``). Times are aware UTC
datetimes; validity and revocation are judged at a given time of use (e.g. the signing time).
"""

from zhengwu.kernel.pki._der import MAX_CERTIFICATE_BYTES, MAX_CRL_BYTES, MAX_CSR_BYTES, MAX_TOKEN_BYTES
from zhengwu.kernel.pki.certificates import (
    EKU_CLIENT_AUTH,
    EKU_SERVER_AUTH,
    EKU_TIME_STAMPING,
    Certificate,
    key_identifier,
    load_certificate,
    load_certificates,
)
from zhengwu.kernel.pki.crl import Crl, RevocationReason, RevokedCertificate, build_crl, load_crl
from zhengwu.kernel.pki.csr import CertificateRequest, build_csr, load_csr
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.issuance import CertProfile, create_root_ca, issue_certificate, random_serial
from zhengwu.kernel.pki.names import DistinguishedName, build_name
from zhengwu.kernel.pki.signatures import (
    STRICT_CONVENTIONS,
    TOLERANT_CONVENTIONS,
    ZConvention,
    clear_signature_cache,
    verify_sm2,
)
from zhengwu.kernel.pki.timestamps import (
    TimeStampRequest,
    TimestampResult,
    TimestampStatus,
    build_timestamp_request,
    build_timestamp_response,
    issue_timestamp_token,
    load_timestamp_request,
    load_timestamp_response,
    verify_timestamp_token,
)
from zhengwu.kernel.pki.truststore import PURPOSES, CrlCache, TrustAnchor, TrustStore
from zhengwu.kernel.pki.validation import (
    CrlSource,
    RevocationMode,
    ValidationResult,
    ValidationStatus,
    check_certificate_revocation,
    validate_chain,
)
from zhengwu.kernel.pki.verify import verify_certificate_signature, verify_crl_signature

__all__ = [
    "EKU_CLIENT_AUTH",
    "EKU_SERVER_AUTH",
    "EKU_TIME_STAMPING",
    "MAX_CERTIFICATE_BYTES",
    "MAX_CRL_BYTES",
    "MAX_CSR_BYTES",
    "MAX_TOKEN_BYTES",
    "PURPOSES",
    "STRICT_CONVENTIONS",
    "TOLERANT_CONVENTIONS",
    "CertProfile",
    "Certificate",
    "CertificateRequest",
    "Crl",
    "CrlCache",
    "CrlSource",
    "DistinguishedName",
    "PkiError",
    "RevocationMode",
    "RevocationReason",
    "RevokedCertificate",
    "TimeStampRequest",
    "TimestampResult",
    "TimestampStatus",
    "TrustAnchor",
    "TrustStore",
    "ValidationResult",
    "ValidationStatus",
    "ZConvention",
    "build_crl",
    "build_csr",
    "build_name",
    "build_timestamp_request",
    "build_timestamp_response",
    "check_certificate_revocation",
    "clear_signature_cache",
    "create_root_ca",
    "issue_certificate",
    "issue_timestamp_token",
    "key_identifier",
    "load_certificate",
    "load_certificates",
    "load_crl",
    "load_csr",
    "load_timestamp_request",
    "load_timestamp_response",
    "random_serial",
    "validate_chain",
    "verify_certificate_signature",
    "verify_crl_signature",
    "verify_sm2",
    "verify_timestamp_token",
]
