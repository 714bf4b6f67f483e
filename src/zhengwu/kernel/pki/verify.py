"""Single-signature checks: is this certificate or CRL signed by that issuer, and under which Z convention."""

from __future__ import annotations

from collections.abc import Sequence

from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki.certificates import Certificate
from zhengwu.kernel.pki.crl import Crl
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.signatures import STRICT_CONVENTIONS, ZConvention, verify_memoized


def _check_algorithm(algorithm: str, what: str) -> None:
    if algorithm != oids.SM2_SM3:
        raise PkiError(
            f"unsupported {what} signature algorithm {algorithm}", f"不支持的签名算法：{algorithm}"
        )


def verify_certificate_signature(
    cert: Certificate, issuer: Certificate, conventions: Sequence[ZConvention] = STRICT_CONVENTIONS
) -> ZConvention | None:
    """The Z convention under which ``issuer``'s key verifies ``cert``'s signature, or None."""
    _check_algorithm(cert.signature_algorithm, "certificate")
    return verify_memoized(cert.signature_memo, issuer.public_key, cert.signature, cert.tbs, conventions)


def verify_crl_signature(
    crl: Crl, issuer: Certificate, conventions: Sequence[ZConvention] = STRICT_CONVENTIONS
) -> ZConvention | None:
    """The Z convention under which ``issuer``'s key verifies the CRL signature, or None."""
    _check_algorithm(crl.signature_algorithm, "CRL")
    return verify_memoized(crl.signature_memo, issuer.public_key, crl.signature, crl.tbs, conventions)
