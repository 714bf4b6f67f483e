"""Verification reports (VALID / INVALID / INDETERMINATE / ERROR with bilingual reasons) and seal-level checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from zhengwu.seals.errors import SESFormatError
from zhengwu.seals.ses import SESeal, SESSignature, parse_seal
from zhengwu.seals.sigcheck import Convention, public_key_of, split_tbs, tbs_digest, verify_sm2_any

SIGNATURE_ALGORITHMS = frozenset({"1.2.156.10197.1.501", "1.2.156.10197.1.301.1"})


class Verdict(StrEnum):
    """Verdict of one signature or of a whole document."""

    VALID = "VALID"
    INVALID = "INVALID"
    INDETERMINATE = "INDETERMINATE"
    ERROR = "ERROR"  # the input could not be read at all


class Severity(StrEnum):
    """How a reason bears on the verdict."""

    ERROR = "error"  # makes the signature INVALID
    WARNING = "warning"  # makes it INDETERMINATE (cannot be confirmed)
    INFO = "info"  # informational only


@dataclass(frozen=True)
class Reason:
    """One finding, in Chinese for people and English for logs."""

    code: str
    severity: Severity
    zh: str
    en: str

    def as_json(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "severity": self.severity.value, "zh": self.zh, "en": self.en}


def error(code: str, zh: str, en: str) -> Reason:
    """A reason that invalidates."""
    return Reason(code, Severity.ERROR, zh, en)


def warning(code: str, zh: str, en: str) -> Reason:
    """A reason that leaves the verdict undetermined."""
    return Reason(code, Severity.WARNING, zh, en)


def info(code: str, zh: str, en: str) -> Reason:
    """An informational reason."""
    return Reason(code, Severity.INFO, zh, en)


@dataclass
class SignatureReport:
    """Per-signature result; `crypto_valid` covers references, dataHash, signature value and maker signature."""

    id: str
    type: str = "Seal"
    crypto_valid: bool = False
    reasons: list[Reason] = field(default_factory=list)
    signer: str | None = None
    seal_name: str | None = None
    es_id: str | None = None
    algorithm: str | None = None
    signed_at: datetime | None = None
    time_source: str | None = None  # "timestamp" | "tbs" | "xml"
    reference_failures: list[str] = field(default_factory=list)
    unprotected_files: list[str] = field(default_factory=list)
    signer_cert: bytes | None = None
    conventions: dict[str, str] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        """INVALID if crypto failed or any error reason; INDETERMINATE if any warning; else VALID."""
        if not self.crypto_valid and not any(r.severity is Severity.ERROR for r in self.reasons):
            return Verdict.INDETERMINATE if self.reasons else Verdict.INVALID
        if not self.crypto_valid or any(r.severity is Severity.ERROR for r in self.reasons):
            return Verdict.INVALID
        if any(r.severity is Severity.WARNING for r in self.reasons):
            return Verdict.INDETERMINATE
        return Verdict.VALID

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape of one signature."""
        return {
            "id": self.id,
            "verdict": self.verdict.value,
            "crypto_valid": self.crypto_valid,
            "reasons": [r.as_json() for r in self.reasons],
            "signer": self.signer,
            "seal_name": self.seal_name,
            "es_id": self.es_id,
            "algorithm": self.algorithm,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
        }


@dataclass
class VerificationReport:
    """Result of verifying a document: one report per signature plus document-level reasons."""

    signatures: list[SignatureReport] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    unreadable: bool = False  # the container or its signature list could not be read at all

    @property
    def verdict(self) -> Verdict:
        """ERROR if unreadable; INVALID if unsigned or any signature INVALID; else the weakest verdict."""
        if self.unreadable:
            return Verdict.ERROR
        if not self.signatures:
            return Verdict.INVALID
        verdicts = {s.verdict for s in self.signatures}
        if Verdict.INVALID in verdicts or any(r.severity is Severity.ERROR for r in self.reasons):
            return Verdict.INVALID
        if Verdict.INDETERMINATE in verdicts or any(r.severity is Severity.WARNING for r in self.reasons):
            return Verdict.INDETERMINATE
        return Verdict.VALID

    def as_json(self) -> dict[str, Any]:
        """The public JSON shape: overall verdict, signatures, document-level reasons."""
        return {
            "verdict": self.verdict.value,
            "signatures": [s.as_json() for s in self.signatures],
            "reasons": [r.as_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class SealCheck:
    """Cryptographic check of a seal's maker signature."""

    valid: bool
    convention: Convention | None
    reasons: tuple[Reason, ...]


def check_seal_maker_signature(seal: SESeal) -> SealCheck:
    """Verify the maker (制章者) signature: v4/v5 over DER(SES_SealInfo), v1 over DER(SEQ{info, cert, alg})."""
    # Outcomes depend only on the seal bytes, and a node verifies the same seals over and over.
    return _maker_check_cached(seal.der)


@lru_cache(maxsize=512)
def _maker_check_cached(der: bytes) -> SealCheck:
    return _check_maker(parse_seal(der))


def _check_maker(seal: SESeal) -> SealCheck:
    if seal.sign_alg not in SIGNATURE_ALGORITHMS:
        return SealCheck(
            False,
            None,
            (
                error(
                    "seal_algorithm_unsupported",
                    f"印章签名算法不受支持：{seal.sign_alg}",
                    f"unsupported seal signature algorithm {seal.sign_alg}",
                ),
            ),
        )
    convention = verify_sm2_any(seal.maker_cert, seal.signed_value, seal.maker_signed_der)
    if convention is None:
        return SealCheck(
            False,
            None,
            (
                error(
                    "seal_signature_invalid",
                    "电子印章制章者签名验证失败",
                    "seal maker signature does not verify",
                ),
            ),
        )
    return SealCheck(True, convention, ())


@dataclass(frozen=True)
class SESCheck:
    """Cryptographic check of an SES_Signature's signature value over its stored TBS_Sign."""

    valid: bool
    convention: Convention | None
    reasons: tuple[Reason, ...]


def check_ses_signature_value(sig: SESSignature) -> SESCheck:
    """Verify the signer's SM2 signature over DER(TBS_Sign) as stored (iOFD: e = dataHash also accepted)."""
    if sig.sign_alg not in SIGNATURE_ALGORITHMS:
        return SESCheck(
            False,
            None,
            (
                error(
                    "signature_algorithm_unsupported",
                    f"签章签名算法不受支持：{sig.sign_alg}",
                    f"unsupported signature algorithm {sig.sign_alg}",
                ),
            ),
        )
    if sig.structure == 4:
        # The usual case (default ID, v4/v5 layout) first, with the seal part of the SM3 input remembered.
        parts = split_tbs(sig.tbs_der, sig.seal_der)
        if parts is not None:
            try:
                key = public_key_of(sig.cert)
            except SESFormatError:
                key = None
            if key is not None and key.verify_digest(
                sig.signature, tbs_digest(key, *parts, seal=sig.seal.der)
            ):
                return SESCheck(True, Convention.DEFAULT_ID, ())
    digest = sig.data_hash if sig.structure == 1 else None
    convention = verify_sm2_any(sig.cert, sig.signature, sig.tbs_der, digest=digest)
    if convention is None:
        return SESCheck(
            False,
            None,
            (
                error(
                    "signature_value_invalid",
                    "签章签名值验证失败",
                    "signature value does not verify over TBS_Sign",
                ),
            ),
        )
    return SESCheck(True, convention, ())
