"""Pluggable trust decisions for seal verification: certificate chains, revocation, time stamps, seal status."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from typing import Any, Protocol

from asn1crypto import x509

from zhengwu.kernel.pki import (
    TOLERANT_CONVENTIONS,
    CrlSource,
    PkiError,
    RevocationMode,
    TimestampStatus,
    TrustStore,
    ValidationStatus,
    verify_timestamp_token,
)
from zhengwu.seals.errors import SESFormatError


class ChainStatus(StrEnum):
    """Outcome of validating a certificate chain to a trust anchor at a given time."""

    TRUSTED = "trusted"  # chains to an anchor, signatures and validity periods fine, not revoked
    UNTRUSTED = "untrusted"  # no path to a configured anchor (unknown issuer)
    INVALID = "invalid"  # a path exists but is broken (bad signature, not a CA, expired issuer, ...)
    REVOKED = "revoked"  # the certificate (or an issuer) is revoked; see revoked_at
    UNKNOWN = "unknown"  # revocation status could not be determined (no current CRL)


@dataclass(frozen=True)
class ChainResult:
    """What a chain validator found; messages are shown to people (Chinese + English)."""

    status: ChainStatus
    message_zh: str = ""
    message_en: str = ""
    revoked_at: datetime | None = None


class ChainValidator(Protocol):
    """Validates the chain of `cert_der` at moment `at`, using `intermediates` as untrusted helpers."""

    def __call__(self, cert_der: bytes, *, intermediates: Sequence[bytes], at: datetime) -> ChainResult: ...


class TimestampVerifier(Protocol):
    """Checks an RFC 3161-style SM2 time-stamp token over `data`; returns the trusted time or raises ValueError."""

    def __call__(self, token: bytes, data: bytes) -> datetime: ...


class SealState(StrEnum):
    """State of a seal in the registry of the verifying node."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # not registered here (a foreign seal)


#: Registry lookup: (esID, moment) -> the seal's state at that moment.
SealStatusLookup = Callable[[str, datetime], SealState | str]


def no_trust_anchors(cert_der: bytes, *, intermediates: Sequence[bytes], at: datetime) -> ChainResult:
    """The default validator: nothing is trusted until anchors are configured."""
    return ChainResult(
        ChainStatus.UNTRUSTED,
        "未配置受信任的根证书，无法确认证书链",
        "no trust anchors configured; certificate chain not established",
    )


@dataclass(frozen=True)
class CertSummary:
    """The certificate facts a verification report shows."""

    subject: str
    common_name: str | None
    organization: str | None
    issuer: str
    serial: int
    not_before: datetime
    not_after: datetime

    def valid_at(self, moment: datetime) -> bool:
        """Whether `moment` lies within notBefore..notAfter."""
        return self.not_before <= moment <= self.not_after

    @property
    def display_name(self) -> str:
        """CN, else O, else the full subject."""
        return self.common_name or self.organization or self.subject


@lru_cache(maxsize=1024)
def summarize_certificate(cert_der: bytes) -> CertSummary:
    """Parse the display facts of a DER certificate; raises SESFormatError."""
    try:
        cert = x509.Certificate.load(cert_der, strict=True)
        tbs = cert["tbs_certificate"]
        subject = _name_pairs(tbs["subject"])
        return CertSummary(
            subject=_render(subject),
            common_name=_pick(subject, "CN"),
            organization=_pick(subject, "O"),
            issuer=_render(_name_pairs(tbs["issuer"])),
            serial=int(tbs["serial_number"].native),
            not_before=_aware(tbs["validity"]["not_before"].native),
            not_after=_aware(tbs["validity"]["not_after"].native),
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise SESFormatError("证书格式错误", detail_en=f"malformed certificate: {exc}") from exc


_LABELS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "E",
}


def _name_pairs(name: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for rdn in name.chosen:
        for attr in rdn:
            oid = attr["type"].dotted
            pairs.append((_LABELS.get(oid, oid), _decode_string(bytes(attr["value"].dump()))))
    return pairs


def _decode_string(tlv: bytes) -> str:
    # Chinese CAs put GBK or UTF-8 bytes into TeletexString/PrintableString; decode by tag, then by trial.
    tag = tlv[0]
    content = tlv[2:] if tlv[1] < 0x80 else tlv[2 + (tlv[1] & 0x7F) :]
    if tag == 0x1E:
        return content.decode("utf-16-be", "replace")
    if tag == 0x1C:
        return content.decode("utf-32-be", "replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1")


def _pick(pairs: list[tuple[str, str]], label: str) -> str | None:
    return next((value for key, value in pairs if key == label), None)


def _render(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{key}={value}" for key, value in pairs)


def _aware(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise SESFormatError("证书有效期格式错误", detail_en="certificate validity is not a time")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class PkiChainValidator:
    """ChainValidator backed by a kernel.pki TrustStore (anchors trusted for the "seals" purpose)."""

    def __init__(
        self,
        store: TrustStore,
        *,
        purpose: str = "seals",
        check_revocation: RevocationMode = "leaf",
        tolerate_anchor_key_usage: bool = False,
        crl_source: CrlSource | None = None,
    ) -> None:
        self.store = store
        self.purpose = purpose
        self.check_revocation: RevocationMode = check_revocation
        self.tolerate_anchor_key_usage = tolerate_anchor_key_usage
        self.crl_source = crl_source

    def __call__(self, cert_der: bytes, *, intermediates: Sequence[bytes], at: datetime) -> ChainResult:
        """Validate at the signing time; map kernel.pki statuses onto ChainStatus."""
        try:
            result = self.store.validate(
                cert_der,
                intermediates,
                purpose=self.purpose,
                at=at,
                check_revocation=self.check_revocation,
                # Seal products sign certificates with the default ID, OpenSSL with an empty one.
                conventions=TOLERANT_CONVENTIONS,
                tolerate_anchor_key_usage=self.tolerate_anchor_key_usage,
                crl_source=self.crl_source,
            )
        except PkiError as exc:
            # A certificate the PKI library cannot read is not proven bad: the chain stays unestablished.
            return ChainResult(ChainStatus.UNTRUSTED, exc.message_zh, str(exc))
        revoked_at = None
        if result.revocation is not None:
            entry = result.revocation
            revoked_at = min(entry.revoked_at, entry.invalidity_date or entry.revoked_at)
        status = _PKI_STATUS.get(result.status.value, ChainStatus.INVALID)
        if status is ChainStatus.TRUSTED and revoked_at is not None:
            # Revoked after the signing time: the caller decides with the time's trustworthiness.
            status = ChainStatus.REVOKED
        return ChainResult(status, result.reason_zh, result.reason, revoked_at)


_PKI_STATUS: dict[str, ChainStatus] = {
    "ok": ChainStatus.TRUSTED,
    "revoked": ChainStatus.REVOKED,
    "untrusted_root": ChainStatus.UNTRUSTED,
    "issuer_not_found": ChainStatus.UNTRUSTED,
    "crl_not_found": ChainStatus.UNKNOWN,
    "crl_expired": ChainStatus.UNKNOWN,
}


class PkiTimestampVerifier:
    """TimestampVerifier backed by kernel.pki: the token must cover SM3(signature value) and chain to a TSA anchor.

    With a ``crl_source``, CRLs the trust store lacks for the TSA's chain are fetched (once) and the check
    is repeated, as the signer-certificate check does.
    """

    def __init__(self, store: TrustStore, *, crl_source: CrlSource | None = None) -> None:
        self.store = store
        self.crl_source = crl_source

    def __call__(self, token: bytes, data: bytes) -> datetime:
        """The attested time; TimestampUntrusted when the TSA is unknown, ValueError when the token is bad."""
        result = verify_timestamp_token(token, trust=self.store, data=data, conventions=TOLERANT_CONVENTIONS)
        if (
            not result.ok
            and self.crl_source is not None
            and result.chain is not None
            and result.chain.status in _REVOCATION_UNKNOWN
        ):
            path = result.chain.chain
            crls = [crl for cert, issuer in pairwise(path) for crl in self.crl_source.crls_for(cert, issuer)]
            if crls:
                result = verify_timestamp_token(
                    token, trust=self.store, data=data, conventions=TOLERANT_CONVENTIONS, crls=crls
                )
        if not result.ok:
            if (
                result.status is TimestampStatus.CHAIN_INVALID
                and result.chain is not None
                and result.chain.status in _UNPROVEN_TSA
            ):
                raise TimestampUntrusted(result.reason)
            raise ValueError(result.reason)
        return result.gen_time


_REVOCATION_UNKNOWN = frozenset({ValidationStatus.CRL_NOT_FOUND, ValidationStatus.CRL_EXPIRED})


class TimestampUntrusted(ValueError):
    """The token is intact but its TSA does not chain to a trusted anchor (or its status is unknown)."""


_UNPROVEN_TSA = frozenset(
    {
        ValidationStatus.UNTRUSTED_ROOT,
        ValidationStatus.ISSUER_NOT_FOUND,
        ValidationStatus.CRL_NOT_FOUND,
        ValidationStatus.CRL_EXPIRED,
    }
)
