"""Certification path validation at a given time (RFC 5280 §6, simplified) with CRL revocation checking."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Literal, Protocol

from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import aware
from zhengwu.kernel.pki.certificates import Certificate, as_certificate
from zhengwu.kernel.pki.crl import Crl, RevocationReason, RevokedCertificate, as_crl
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.signatures import STRICT_CONVENTIONS, ZConvention
from zhengwu.kernel.pki.verify import verify_certificate_signature, verify_crl_signature

RevocationMode = Literal["leaf", "chain", "none"]
_MAX_PATHS: Final = 16


class ValidationStatus(StrEnum):
    """Outcome of a path validation; everything but OK means "do not rely on this certificate"."""

    OK = "ok"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    UNTRUSTED_ROOT = "untrusted_root"  # the chain ends in a self-signed certificate that is not an anchor
    ISSUER_NOT_FOUND = "issuer_not_found"  # no certificate of the issuer is available
    BAD_SIGNATURE = "bad_signature"
    INVALID_CA = "invalid_ca"  # an issuer is not a CA or may not sign certificates
    PATH_LENGTH_EXCEEDED = "path_length_exceeded"
    UNKNOWN_CRITICAL_EXTENSION = "unknown_critical_extension"
    KEY_USAGE_MISMATCH = "key_usage_mismatch"  # the leaf may not be used for the requested purpose
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    CRL_NOT_FOUND = "crl_not_found"
    CRL_SIGNATURE_INVALID = "crl_signature_invalid"
    CRL_ISSUER_NO_CRLSIGN = "crl_issuer_no_crlsign"
    CRL_EXPIRED = "crl_expired"  # no CRL of the issuer was current at the time of use


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """What path validation found: status, bilingual reason, the path examined and revocation facts."""

    status: ValidationStatus
    reason: str
    reason_zh: str
    at: datetime
    chain: tuple[Certificate, ...] = ()  # leaf first, trust anchor last (partial when untrusted)
    failed_certificate: Certificate | None = None
    revocation: RevokedCertificate | None = None  # a CRL entry for a chain certificate, even if after `at`
    revoked_certificate: Certificate | None = None
    conventions: tuple[ZConvention, ...] = ()  # Z convention that matched per signature, leaf's first
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the status is OK."""
        return self.status is ValidationStatus.OK

    @property
    def trust_anchor(self) -> Certificate | None:
        """The anchor the chain ends in (only when the path reached one)."""
        return self.chain[-1] if self.chain and self.status is not ValidationStatus.UNTRUSTED_ROOT else None


class CrlSource(Protocol):
    """Supplies CRLs on demand (``CrlCache`` implements it); must not raise for network failures."""

    def crls_for(self, certificate: Certificate, issuer: Certificate) -> Sequence[Crl]:
        """CRLs that may cover ``certificate``, issued by ``issuer``."""
        ...


def _who(cert: Certificate) -> str:
    return cert.subject.common_name or str(cert.subject) or f"serial {cert.serial_number:X}"


class _Failure(Exception):
    def __init__(
        self, status: ValidationStatus, reason: str, reason_zh: str, cert: Certificate | None
    ) -> None:
        super().__init__(reason)
        self.status, self.reason, self.reason_zh, self.cert = status, reason, reason_zh, cert


@dataclass(slots=True)
class _State:
    conventions: list[ZConvention] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    revocation: RevokedCertificate | None = None
    revoked_certificate: Certificate | None = None


@dataclass(frozen=True, slots=True)
class _Options:
    at: datetime
    crls: tuple[Crl, ...]
    crl_source: CrlSource | None
    check_revocation: RevocationMode
    conventions: tuple[ZConvention, ...]
    key_usage: frozenset[str]
    extended_key_usage: str | None
    tolerate_anchor_key_usage: bool


def validate_chain(
    leaf: Certificate | bytes,
    intermediates: Iterable[Certificate | bytes] = (),
    trust_anchors: Iterable[Certificate | bytes] = (),
    *,
    at: datetime,
    crls: Iterable[Crl | bytes] = (),
    check_revocation: RevocationMode = "leaf",
    conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
    key_usage: Iterable[str] = (),
    extended_key_usage: str | None = None,
    tolerate_anchor_key_usage: bool = False,
    crl_source: CrlSource | None = None,
    max_depth: int = 8,
) -> ValidationResult:
    """Build and check a path from ``leaf`` to one of ``trust_anchors`` as of ``at`` (e.g. the signing time).

    ``key_usage``: keyUsage bits (asn1crypto names) the leaf must allow; ``extended_key_usage``: a purpose
    OID the leaf's extendedKeyUsage must list. ``tolerate_anchor_key_usage`` accepts an anchor whose keyUsage
    lacks keyCertSign (e.g. the ofdrw test root) with a warning instead of INVALID_CA.
    """
    if check_revocation not in ("leaf", "chain", "none"):
        raise PkiError(f"check_revocation must be leaf, chain or none, not {check_revocation!r}")
    if not conventions:
        raise PkiError("at least one Z convention is required", "至少需要一种 Z 值约定")
    options = _Options(
        at=aware(at, "at"),
        crls=tuple(as_crl(item) for item in crls),
        crl_source=crl_source,
        check_revocation=check_revocation,
        conventions=tuple(ZConvention(c) for c in conventions),
        key_usage=frozenset(key_usage),
        extended_key_usage=extended_key_usage,
        tolerate_anchor_key_usage=tolerate_anchor_key_usage,
    )
    leaf_cert = as_certificate(leaf)
    pool = [as_certificate(item) for item in intermediates]
    anchors = [as_certificate(item) for item in trust_anchors]
    paths, dead_end = _build_paths(leaf_cert, pool, anchors, max_depth)
    if not paths:
        return _untrusted(dead_end, options.at)
    first: ValidationResult | None = None
    for path in paths:
        result = _check_path(path, options)
        if result.ok:
            return result
        if first is None:
            first = result
    assert first is not None
    return first


def check_certificate_revocation(
    certificate: Certificate | bytes,
    issuer: Certificate | bytes,
    *,
    at: datetime,
    crls: Iterable[Crl | bytes] = (),
    conventions: Sequence[ZConvention] = STRICT_CONVENTIONS,
    crl_source: CrlSource | None = None,
) -> ValidationResult:
    """Only the CRL step for one certificate and its issuer: find, check and consult the issuer's CRL."""
    if not conventions:
        raise PkiError("at least one Z convention is required", "至少需要一种 Z 值约定")
    options = _Options(
        at=aware(at, "at"),
        crls=tuple(as_crl(item) for item in crls),
        crl_source=crl_source,
        check_revocation="leaf",
        conventions=tuple(ZConvention(c) for c in conventions),
        key_usage=frozenset(),
        extended_key_usage=None,
        tolerate_anchor_key_usage=False,
    )
    cert, issuer_cert = as_certificate(certificate), as_certificate(issuer)
    state = _State()
    try:
        _check_revocation(cert, issuer_cert, options, state)
    except _Failure as failure:
        return ValidationResult(
            status=failure.status,
            reason=failure.reason,
            reason_zh=failure.reason_zh,
            at=options.at,
            chain=(cert, issuer_cert),
            failed_certificate=failure.cert,
            revocation=state.revocation,
            revoked_certificate=state.revoked_certificate,
        )
    return ValidationResult(
        status=ValidationStatus.OK,
        reason="certificate is not revoked",
        reason_zh="证书未被撤销",
        at=options.at,
        chain=(cert, issuer_cert),
        revocation=state.revocation,
        revoked_certificate=state.revoked_certificate,
        warnings=tuple(state.warnings),
    )


def _issuer_candidates(cert: Certificate, pool: Sequence[Certificate]) -> list[Certificate]:
    found = []
    for candidate in pool:
        if candidate.subject != cert.issuer:
            continue
        if (
            cert.authority_key_id
            and candidate.subject_key_id
            and cert.authority_key_id != candidate.subject_key_id
        ):
            continue
        found.append(candidate)
    return found


def _build_paths(
    leaf: Certificate, pool: Sequence[Certificate], anchors: Sequence[Certificate], max_depth: int
) -> tuple[list[tuple[Certificate, ...]], tuple[Certificate, ...]]:
    """All paths leaf → anchor (bounded), and the longest dead-end path for the error report."""
    if leaf in anchors:
        return [(leaf,)], (leaf,)
    paths: list[tuple[Certificate, ...]] = []
    dead_end: tuple[Certificate, ...] = (leaf,)
    stack: list[tuple[Certificate, ...]] = [(leaf,)]
    while stack and len(paths) < _MAX_PATHS:
        path = stack.pop()
        tip = path[-1]
        extended = False
        for anchor in _issuer_candidates(tip, anchors):
            if anchor not in path:
                paths.append((*path, anchor))
                extended = True
        if len(path) <= max_depth:
            for candidate in reversed(_issuer_candidates(tip, pool)):
                if candidate not in path and candidate not in anchors:
                    stack.append((*path, candidate))
                    extended = True
        if not extended and len(path) > len(dead_end):
            dead_end = path
    return paths, dead_end


def _untrusted(dead_end: tuple[Certificate, ...], at: datetime) -> ValidationResult:
    tip = dead_end[-1]
    if tip.is_self_issued:
        return ValidationResult(
            status=ValidationStatus.UNTRUSTED_ROOT,
            reason=f"the chain ends at '{_who(tip)}', which is not a trusted root",
            reason_zh=f"证书链终止于“{_who(tip)}”，该根证书不在信任列表中",
            at=at,
            chain=dead_end,
            failed_certificate=tip,
        )
    return ValidationResult(
        status=ValidationStatus.ISSUER_NOT_FOUND,
        reason=f"no trusted issuer found for '{_who(tip)}' (issuer {tip.issuer})",
        reason_zh=f"找不到“{_who(tip)}”的可信签发者（{tip.issuer}）",
        at=at,
        chain=dead_end,
        failed_certificate=tip,
    )


def _check_path(path: tuple[Certificate, ...], options: _Options) -> ValidationResult:
    state = _State()
    try:
        anchor = path[-1]
        _check_validity(anchor, options.at)
        _check_critical(anchor)
        # The anchor's own pathLenConstraint is honoured too (as most verifiers do).
        remaining = anchor.path_length if anchor.path_length is not None else len(path)
        for index in range(len(path) - 2, -1, -1):
            cert, issuer = path[index], path[index + 1]
            _check_issuer_is_ca(issuer, path, options, state)
            _check_signature(cert, issuer, options, state)
            _check_validity(cert, options.at)
            _check_critical(cert)
            if options.check_revocation == "chain" or (options.check_revocation == "leaf" and index == 0):
                _check_revocation(cert, issuer, options, state)
            if index > 0:
                remaining = _check_path_length(cert, remaining)
        _check_leaf_usage(path[0], options)
    except _Failure as failure:
        return ValidationResult(
            status=failure.status,
            reason=failure.reason,
            reason_zh=failure.reason_zh,
            at=options.at,
            chain=path,
            failed_certificate=failure.cert,
            revocation=state.revocation,
            revoked_certificate=state.revoked_certificate,
            conventions=tuple(reversed(state.conventions)),
            warnings=tuple(state.warnings),
        )
    return ValidationResult(
        status=ValidationStatus.OK,
        reason="certificate chain is valid",
        reason_zh="证书链验证通过",
        at=options.at,
        chain=path,
        revocation=state.revocation,
        revoked_certificate=state.revoked_certificate,
        conventions=tuple(reversed(state.conventions)),
        warnings=tuple(state.warnings),
    )


def _check_validity(cert: Certificate, at: datetime) -> None:
    stamp = f"{at:%Y-%m-%d %H:%M:%S}Z"
    if at < cert.not_before:
        raise _Failure(
            ValidationStatus.NOT_YET_VALID,
            f"'{_who(cert)}' is not yet valid at {stamp} (valid from {cert.not_before:%Y-%m-%d})",
            f"“{_who(cert)}”在 {stamp} 尚未生效（生效日期 {cert.not_before:%Y-%m-%d}）",
            cert,
        )
    if at > cert.not_after:
        raise _Failure(
            ValidationStatus.EXPIRED,
            f"'{_who(cert)}' had expired at {stamp} (valid until {cert.not_after:%Y-%m-%d})",
            f"“{_who(cert)}”在 {stamp} 已过期（有效期至 {cert.not_after:%Y-%m-%d}）",
            cert,
        )


def _check_leaf_usage(leaf: Certificate, options: _Options) -> None:
    missing = sorted(usage for usage in options.key_usage if not leaf.has_key_usage(usage))
    if missing:
        raise _Failure(
            ValidationStatus.KEY_USAGE_MISMATCH,
            f"'{_who(leaf)}' keyUsage does not allow {', '.join(missing)}",
            f"“{_who(leaf)}”的密钥用途不允许：{', '.join(missing)}",
            leaf,
        )
    wanted = options.extended_key_usage
    if wanted is not None and (leaf.extended_key_usage is None or wanted not in leaf.extended_key_usage):
        raise _Failure(
            ValidationStatus.KEY_USAGE_MISMATCH,
            f"'{_who(leaf)}' extendedKeyUsage does not list {wanted}",
            f"“{_who(leaf)}”的扩展密钥用途不包含 {wanted}",
            leaf,
        )


def _check_critical(cert: Certificate) -> None:
    unknown = sorted(cert.unknown_critical_extensions)
    if unknown:
        raise _Failure(
            ValidationStatus.UNKNOWN_CRITICAL_EXTENSION,
            f"'{_who(cert)}' has unrecognised critical extension(s) {', '.join(unknown)}",
            f"“{_who(cert)}”含有无法识别的关键扩展：{', '.join(unknown)}",
            cert,
        )


def _check_issuer_is_ca(
    issuer: Certificate, path: tuple[Certificate, ...], options: _Options, state: _State
) -> None:
    is_anchor = issuer is path[-1]
    # RFC 5280 §6.1.4 (k): an intermediate must be a v3 CA; a trust anchor is trusted as configured, but one
    # that explicitly says it is not a CA is refused.
    if (not is_anchor and not issuer.is_ca) or (
        is_anchor and issuer.has_basic_constraints and not issuer.is_ca
    ):
        raise _Failure(
            ValidationStatus.INVALID_CA,
            f"issuer '{_who(issuer)}' is not a CA (basicConstraints cA is not set)",
            f"签发者“{_who(issuer)}”不是 CA 证书（基本约束未设置 cA）",
            issuer,
        )
    if not issuer.has_key_usage("key_cert_sign"):
        if is_anchor and options.tolerate_anchor_key_usage:
            warning = f"trust anchor '{_who(issuer)}' lacks keyCertSign; accepted by configuration"
            if warning not in state.warnings:
                state.warnings.append(warning)
        else:
            raise _Failure(
                ValidationStatus.INVALID_CA,
                f"issuer '{_who(issuer)}' keyUsage lacks keyCertSign",
                f"签发者“{_who(issuer)}”的密钥用途不含证书签名（keyCertSign）",
                issuer,
            )


def _check_path_length(cert: Certificate, remaining: int) -> int:
    """RFC 5280 §6.1.4 (k)-(m) for an intermediate: it must be a CA and fit in the remaining path length."""
    if not cert.is_ca:
        raise _Failure(
            ValidationStatus.INVALID_CA,
            f"'{_who(cert)}' issues certificates but is not a CA (basicConstraints cA is not set)",
            f"“{_who(cert)}”不是 CA 证书，却签发了证书（基本约束未设置 cA）",
            cert,
        )
    if not cert.is_self_issued:
        if remaining <= 0:
            raise _Failure(
                ValidationStatus.PATH_LENGTH_EXCEEDED,
                f"'{_who(cert)}' exceeds the path length allowed by the CAs above it",
                f"“{_who(cert)}”超出了上级 CA 允许的证书路径长度",
                cert,
            )
        remaining -= 1
    if cert.path_length is not None:
        remaining = min(remaining, cert.path_length)
    return remaining


def _check_signature(cert: Certificate, issuer: Certificate, options: _Options, state: _State) -> None:
    if cert.signature_algorithm != oids.SM2_SM3 or not issuer.is_sm2:
        raise _Failure(
            ValidationStatus.UNSUPPORTED_ALGORITHM,
            f"'{_who(cert)}' uses an unsupported algorithm ({cert.signature_algorithm}, key {issuer.key_algorithm})",
            f"“{_who(cert)}”使用了不支持的算法（{cert.signature_algorithm}）",
            cert,
        )
    try:
        matched = verify_certificate_signature(cert, issuer, options.conventions)
    except PkiError as exc:
        raise _Failure(ValidationStatus.UNSUPPORTED_ALGORITHM, exc.message, exc.message_zh, issuer) from exc
    if matched is None:
        tried = ", ".join(options.conventions)
        raise _Failure(
            ValidationStatus.BAD_SIGNATURE,
            f"signature on '{_who(cert)}' does not verify with the key of '{_who(issuer)}' (tried {tried})",
            f"“{_who(cert)}”的签名无法用“{_who(issuer)}”的公钥验证（已尝试：{tried}）",
            cert,
        )
    state.conventions.append(matched)


def _crl_applies(crl: Crl, cert: Certificate) -> bool:
    # Only complete, direct CRLs for all reasons are used (no delta, indirect or partitioned CRLs).
    if crl.is_delta or crl.indirect or crl.only_some_reasons:
        return False
    if crl.only_user_certs and cert.is_ca:
        return False
    return not (crl.only_ca_certs and not cert.is_ca)


def _check_revocation(cert: Certificate, issuer: Certificate, options: _Options, state: _State) -> None:
    candidates = [crl for crl in options.crls if crl.issuer == cert.issuer]
    if options.crl_source is not None:
        candidates.extend(crl for crl in options.crl_source.crls_for(cert, issuer) if crl not in candidates)
    # RFC 5280 §6.3.3 (f)/(b): the CRL issuer must be the certificate's issuer; match name and key id.
    matching = [
        crl
        for crl in candidates
        if crl.issuer == issuer.subject
        and (
            crl.authority_key_id is None
            or issuer.subject_key_id is None
            or crl.authority_key_id == issuer.subject_key_id
        )
    ]
    if not matching:
        detail = " (a CRL of that name has a different authority key identifier)" if candidates else ""
        raise _Failure(
            ValidationStatus.CRL_NOT_FOUND,
            f"no CRL of issuer '{_who(issuer)}' found for '{_who(cert)}'{detail}",
            f"找不到签发者“{_who(issuer)}”发布的、适用于“{_who(cert)}”的证书撤销列表",
            cert,
        )
    if not issuer.has_key_usage("crl_sign"):
        raise _Failure(
            ValidationStatus.CRL_ISSUER_NO_CRLSIGN,
            f"CRL issuer '{_who(issuer)}' keyUsage lacks cRLSign",
            f"撤销列表签发者“{_who(issuer)}”的密钥用途不含 CRL 签名（cRLSign）",
            issuer,
        )
    failures: list[_Failure] = []
    usable: list[Crl] = []
    for crl in matching:
        unknown = sorted(crl.unknown_critical_extensions)
        if unknown:
            failures.append(
                _Failure(
                    ValidationStatus.UNKNOWN_CRITICAL_EXTENSION,
                    f"CRL of '{_who(issuer)}' has unrecognised critical extension(s) {', '.join(unknown)}",
                    f"“{_who(issuer)}”的撤销列表含有无法识别的关键扩展：{', '.join(unknown)}",
                    cert,
                )
            )
            continue
        matched = None
        if crl.signature_algorithm == oids.SM2_SM3:
            matched = verify_crl_signature(crl, issuer, options.conventions)
        if matched is None:
            failures.append(
                _Failure(
                    ValidationStatus.CRL_SIGNATURE_INVALID,
                    f"signature on the CRL of '{_who(issuer)}' (number {crl.crl_number}) does not verify",
                    f"“{_who(issuer)}”的证书撤销列表（编号 {crl.crl_number}）签名验证失败",
                    cert,
                )
            )
            continue
        if _crl_applies(crl, cert):
            usable.append(crl)
    if not usable:
        if failures:
            raise failures[0]
        raise _Failure(
            ValidationStatus.CRL_NOT_FOUND,
            f"no complete CRL of '{_who(issuer)}' covers '{_who(cert)}' (delta, indirect or partitioned only)",
            f"签发者“{_who(issuer)}”没有适用于“{_who(cert)}”的完整撤销列表",
            cert,
        )
    current = [crl for crl in usable if crl.is_current_at(options.at)]
    if not current:
        latest = max(usable, key=lambda crl: crl.this_update)
        raise _Failure(
            ValidationStatus.CRL_EXPIRED,
            f"the CRL of '{_who(issuer)}' was outdated at the time of use (nextUpdate {latest.next_update})",
            f"“{_who(issuer)}”的撤销列表在使用时间已过期（下次更新 {latest.next_update}）",
            cert,
        )
    crl = max(
        current, key=lambda item: (item.this_update, item.crl_number if item.crl_number is not None else -1)
    )
    entry = crl.lookup(cert.serial_number)
    if entry is None or entry.reason is RevocationReason.REMOVE_FROM_CRL:
        return
    # A revocation takes effect at its date, or earlier if the CA states an earlier invalidity date
    # (RFC 5280 §5.3.2); a signature made before that moment stays valid (conventions.md #17).
    effective = min(entry.revoked_at, entry.invalidity_date or entry.revoked_at)
    state.revocation = state.revocation or entry
    state.revoked_certificate = state.revoked_certificate or cert
    when = f"{effective:%Y-%m-%d %H:%M:%S}Z"
    reason = f" ({entry.reason})" if entry.reason else ""
    if effective <= options.at:
        state.revocation, state.revoked_certificate = entry, cert
        raise _Failure(
            ValidationStatus.REVOKED,
            f"'{_who(cert)}' was revoked at {when}{reason}",
            f"“{_who(cert)}”已于 {when} 被撤销{reason}",
            cert,
        )
    state.warnings.append(f"'{_who(cert)}' was revoked at {when}{reason}, after the time of use")
