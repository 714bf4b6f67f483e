"""Verify every signature of an OFD document (GB/T 38540 signature verification, GB/T 33190 ch.18; standards.md §6.2)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, sm3
from zhengwu.seals.cms import is_signed_data, verify_signed_data
from zhengwu.seals.errors import OFDFormatError, SealError, SESFormatError
from zhengwu.seals.ofd.container import (
    DEFAULT_LIMITS,
    RECURRING_SUFFIXES,
    DocumentLayout,
    OFDPackage,
    SignatureEntry,
    ZipLimits,
    read_layout,
)
from zhengwu.seals.ofd.xml import Element, child, child_text, children, local
from zhengwu.seals.ses import (
    CERT_LIST_CERTS,
    CERT_LIST_DIGESTS,
    SESSignature,
    parse_loose_time,
    parse_signature,
)
from zhengwu.seals.sigcheck import memo_sm3, public_key_of, verify_sm2_any
from zhengwu.seals.trust import (
    ChainResult,
    ChainStatus,
    ChainValidator,
    SealState,
    SealStatusLookup,
    TimestampUntrusted,
    TimestampVerifier,
    no_trust_anchors,
    summarize_certificate,
)
from zhengwu.seals.verify import (
    SignatureReport,
    VerificationReport,
    check_seal_maker_signature,
    check_ses_signature_value,
    error,
    info,
    warning,
)

SM3_METHODS = frozenset({"1.2.156.10197.1.401", "SM3", "sm3"})
SM3_WITH_Z_METHOD = "1.2.156.10197.1.401.2"  # iOFD: CheckValue = SM3(Z ‖ file)


@dataclass(frozen=True)
class VerifyOptions:
    """Trust inputs of one verification run."""

    chain: ChainValidator
    extra_certs: tuple[bytes, ...]
    at: datetime
    seal_status: SealStatusLookup | None
    timestamps: TimestampVerifier | None


def verify_ofd(
    data: bytes,
    *,
    trust: ChainValidator | None = None,
    extra_certs: Sequence[bytes] = (),
    at: datetime | None = None,
    seal_status: SealStatusLookup | None = None,
    timestamps: TimestampVerifier | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> VerificationReport:
    """Verify all signatures of an OFD file; never raises on bad input (the report says ERROR/INVALID)."""
    report = VerificationReport()
    options = VerifyOptions(
        chain=trust or no_trust_anchors,
        extra_certs=tuple(extra_certs),
        at=at or datetime.now(UTC),
        seal_status=seal_status,
        timestamps=timestamps,
    )
    try:
        pkg = OFDPackage.from_bytes(data, limits=limits)
        layout = read_layout(pkg)
    except SealError as exc:
        report.reasons.append(error(exc.instance_code, exc.detail, exc.detail_en or exc.detail))
        report.unreadable = True
        return report
    except _UNEXPECTED as exc:
        report.reasons.append(error("malformed_input", "OFD 文件无法解析", f"unreadable OFD: {exc!r}"))
        report.unreadable = True
        return report
    if not layout.signatures:
        report.reasons.append(error("no_signatures", "文档中没有签章", "the document carries no signature"))
        return report
    for index, entry in enumerate(layout.signatures):
        report.signatures.append(_verify_entry(pkg, layout, index, entry, options))
    return report


def _verify_entry(
    pkg: OFDPackage, layout: DocumentLayout, index: int, entry: SignatureEntry, options: VerifyOptions
) -> SignatureReport:
    rep = SignatureReport(id=entry.id, type=entry.type)
    try:
        _verify_signature(pkg, layout, index, entry, options, rep)
    except SealError as exc:
        rep.crypto_valid = False
        rep.reasons.append(error(exc.instance_code, exc.detail, exc.detail_en or exc.detail))
    except _UNEXPECTED as exc:
        # Hostile input must yield a verdict, not a crash: anything a parser let through ends here.
        rep.crypto_valid = False
        rep.reasons.append(
            error("malformed_input", "签章数据无法解析", f"unreadable signature data: {exc!r}")
        )
    return rep


_UNEXPECTED = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError, RecursionError)


@dataclass(frozen=True)
class SignatureXml:
    """The facts of one Signature.xml that verification and signing need."""

    path: str
    raw: bytes
    root: Element
    check_method: str
    references: tuple[tuple[str, str, str], ...]  # (FileRef as written, resolved path, CheckValue)
    signed_value_path: str
    seal_path: str | None
    signature_method: str | None
    date_time: str | None
    provider: dict[str, str]


def read_signature_xml(pkg: OFDPackage, path: str) -> SignatureXml:
    """Parse a Signature.xml (Provider as attributes or children; CheckMethod defaults to MD5)."""
    raw = pkg.read(path)
    root = pkg.xml(path)
    if local(root) != "Signature":
        raise OFDFormatError(f"签名描述文件根元素错误：{path}", detail_en=f"{path} is not a Signature")
    signed_info = child(root, "SignedInfo")
    if signed_info is None:
        raise OFDFormatError("签名描述文件缺少 SignedInfo", detail_en=f"{path} has no SignedInfo")
    refs_el = child(signed_info, "References")
    references: list[tuple[str, str, str]] = []
    # GB/T 33190 §18.2.2: CheckMethod defaults to MD5 when absent.
    method = "MD5"
    if refs_el is not None:
        method = (refs_el.get("CheckMethod") or "MD5").strip()
        for ref in children(refs_el, "Reference"):
            file_ref = ref.get("FileRef") or ""
            references.append(
                (
                    file_ref,
                    pkg.resolve(file_ref, path) if file_ref else "",
                    child_text(ref, "CheckValue") or "",
                )
            )
    sv = child_text(root, "SignedValue")
    if not sv:
        raise OFDFormatError("签名描述文件缺少 SignedValue", detail_en=f"{path} has no SignedValue")
    seal_el = child(signed_info, "Seal")
    seal_loc = child_text(seal_el, "BaseLoc") if seal_el is not None else None
    provider: dict[str, str] = {}
    prov = child(signed_info, "Provider")
    if prov is not None:
        # Provider is given as attributes (most producers) or as child elements (iOFD).
        provider = {k: v for k, v in prov.attrib.items() if isinstance(k, str)}
        for sub in prov:
            if isinstance(sub.tag, str):
                provider.setdefault(local(sub), (sub.text or "").strip())
    return SignatureXml(
        path=path,
        raw=raw,
        root=root,
        check_method=method,
        references=tuple(references),
        signed_value_path=pkg.resolve(sv, path),
        seal_path=pkg.resolve(seal_loc, path) if seal_loc else None,
        signature_method=child_text(signed_info, "SignatureMethod"),
        date_time=child_text(signed_info, "SignatureDateTime"),
        provider=provider,
    )


def _digest_for(method: str, cert: bytes | None) -> Callable[[bytes], bytes] | None:
    if method in SM3_METHODS:
        return sm3
    if method == SM3_WITH_Z_METHOD and cert is not None:
        z = public_key_of(cert).z(DEFAULT_SM2_UID)
        return lambda content: sm3(z + content)
    return None


def _check_references(pkg: OFDPackage, sx: SignatureXml, cert: bytes | None, rep: SignatureReport) -> bool:
    digest = _digest_for(sx.check_method, cert)
    if digest is None:
        rep.reasons.append(
            error(
                "check_method_unsupported",
                f"不支持的摘要算法：{sx.check_method}",
                f"unsupported reference CheckMethod {sx.check_method}",
            )
        )
        return False
    if not sx.references:
        rep.reasons.append(error("no_references", "签名未保护任何文件", "the signature protects no file"))
        return False
    ok = True
    for written, path, check_value in sx.references:
        content = pkg.get(path) if path else None
        if content is None:
            rep.reference_failures.append(path or written)
            rep.reasons.append(
                error(
                    "reference_missing",
                    f"被保护的文件不存在：{written}",
                    f"referenced file missing: {written}",
                )
            )
            ok = False
            continue
        try:
            expected = base64.b64decode(check_value, validate=False)
        except (binascii.Error, ValueError):
            expected = b""
        recurring = digest is sm3 and path.lower().endswith(RECURRING_SUFFIXES)
        if (memo_sm3(content) if recurring else digest(content)) != expected:
            rep.reference_failures.append(path)
            ok = False
    if rep.reference_failures:
        failed = "、".join(f for f in rep.reference_failures)
        rep.reasons.append(
            error(
                "reference_mismatch",
                f"文件在签章后被修改：{failed}",
                f"files changed after signing: {', '.join(rep.reference_failures)}",
            )
        )
    return ok


def _verify_signature(
    pkg: OFDPackage,
    layout: DocumentLayout,
    index: int,
    entry: SignatureEntry,
    options: VerifyOptions,
    rep: SignatureReport,
) -> None:
    sx = read_signature_xml(pkg, entry.base_loc)
    rep.algorithm = sx.signature_method
    signed_value = pkg.get(sx.signed_value_path)
    if signed_value is None:
        raise OFDFormatError(
            f"签名值文件不存在：{sx.signed_value_path}",
            detail_en=f"SignedValue missing: {sx.signed_value_path}",
        )
    claimed = parse_loose_time(sx.date_time) if sx.date_time else None
    if entry.type == "Sign":
        _verify_digital_signature(pkg, sx, signed_value, claimed, options, rep)
    else:
        _verify_seal_signature(pkg, sx, signed_value, claimed, options, rep)
    _note_later_changes(pkg, layout, index, sx, rep)


def _verify_seal_signature(
    pkg: OFDPackage,
    sx: SignatureXml,
    signed_value: bytes,
    claimed: datetime | None,
    options: VerifyOptions,
    rep: SignatureReport,
) -> None:
    ses = parse_signature(signed_value)
    rep.signer_cert = ses.cert
    seal = ses.seal
    rep.seal_name, rep.es_id = seal.info.name, seal.info.es_id
    rep.algorithm = ses.sign_alg
    refs_ok = _check_references(pkg, sx, ses.cert, rep)
    hash_ok = ses.data_hash == sm3(sx.raw)
    if not hash_ok:
        rep.reasons.append(
            error(
                "data_hash_mismatch",
                "签章原文杂凑值与签名描述文件不符",
                "dataHash differs from SM3(Signature.xml)",
            )
        )
    value = check_ses_signature_value(ses)
    rep.reasons.extend(value.reasons)
    if value.convention:
        rep.conventions["signature"] = value.convention.value
    maker = check_seal_maker_signature(seal)
    rep.reasons.extend(maker.reasons)
    if maker.convention:
        rep.conventions["seal"] = maker.convention.value
    seal_file_ok = True
    if sx.seal_path is not None:
        stored = pkg.get(sx.seal_path)
        seal_file_ok = stored == ses.seal_der
        if not seal_file_ok:
            rep.reasons.append(
                error(
                    "seal_file_mismatch",
                    "Seal.esl 与签章数据中的印章不一致",
                    "Seal.esl differs from the embedded seal",
                )
            )
    rep.crypto_valid = refs_ok and hash_ok and value.valid and maker.valid and seal_file_ok
    try:
        rep.signer = summarize_certificate(ses.cert).display_name
    except SESFormatError:
        rep.reasons.append(
            error("signer_cert_malformed", "签章者证书格式错误", "signer certificate malformed")
        )
        return
    when = _signing_time(ses, claimed, options, rep)
    _check_seal_rules(ses, when, options, rep)
    _check_certificate(ses.cert, when, options, rep, role="signer", intermediates=ses.seal.info.certs)
    _check_certificate(seal.maker_cert, seal.info.create_date, options, rep, role="maker", intermediates=())


def _signing_time(
    ses: SESSignature, claimed: datetime | None, options: VerifyOptions, rep: SignatureReport
) -> datetime:
    if ses.time_stamp is not None:
        if options.timestamps is None:
            rep.reasons.append(
                info(
                    "timestamp_not_checked",
                    "签章含时间戳，但未配置时间戳验证",
                    "time-stamp present but not checked",
                )
            )
        else:
            try:
                stamped = options.timestamps(ses.time_stamp, ses.signature)
            except TimestampUntrusted as exc:
                # An intact token from a TSA nobody here trusts proves no time: fall back to the claimed one.
                rep.reasons.append(
                    warning(
                        "timestamp_untrusted",
                        "签章时间戳的签发机构不受信任，签章时间无法证明",
                        f"time-stamp authority not trusted: {exc}",
                    )
                )
            except (ValueError, SealError) as exc:
                rep.reasons.append(
                    error("timestamp_invalid", "签章时间戳验证失败", f"time-stamp token invalid: {exc}")
                )
            else:
                rep.signed_at, rep.time_source = stamped, "timestamp"
                return stamped
    when = ses.time_info or claimed or options.at
    rep.signed_at, rep.time_source = when, "tbs" if ses.time_info else "xml"
    return when


def _check_seal_rules(
    ses: SESSignature, when: datetime, options: VerifyOptions, rep: SignatureReport
) -> None:
    seal = ses.seal.info
    if not seal.valid_start <= when <= seal.valid_end:
        rep.reasons.append(
            error(
                "seal_not_valid_at_signing",
                "签章时间不在印章有效期内",
                f"signing time {when.isoformat()} outside the seal validity "
                f"{seal.valid_start.isoformat()}..{seal.valid_end.isoformat()}",
            )
        )
    # GB/T 38540 verification step (d): the signer certificate must be one the seal lists.
    if seal.cert_list_type == CERT_LIST_CERTS and seal.certs and ses.cert not in seal.certs:
        rep.reasons.append(
            error(
                "signer_not_in_seal",
                "签章者证书不在印章的证书列表中",
                "signer certificate not in the seal's list",
            )
        )
    elif seal.cert_list_type == CERT_LIST_DIGESTS and seal.cert_digests:
        if not any(_digest_matches(kind, value, ses.cert) for kind, value in seal.cert_digests):
            rep.reasons.append(
                error(
                    "signer_not_in_seal",
                    "签章者证书不在印章的证书列表中",
                    "signer certificate digest not listed",
                )
            )
    elif not seal.certs and not seal.cert_digests:
        rep.reasons.append(
            warning("seal_cert_list_empty", "印章未列出签章者证书", "the seal lists no signer certificate")
        )
    _check_seal_status(seal.es_id, when, options, rep, seal_der=ses.seal_der)


def _digest_matches(kind: str, value: bytes, cert: bytes) -> bool:
    import hashlib

    name = kind.strip().lower().replace("-", "")
    if name in ("sm3", "1.2.156.10197.1.401"):
        return sm3(cert) == value
    if name in ("sha1", "sha256"):
        return hashlib.new(name, cert).digest() == value
    return False


def _check_seal_status(
    es_id: str, when: datetime, options: VerifyOptions, rep: SignatureReport, *, seal_der: bytes | None = None
) -> None:
    lookup = options.seal_status
    if lookup is None:
        return
    # A registry lookup may also tell whether this is the seal it registered under that esID.
    matches = getattr(lookup, "matches", None)
    if matches is not None and seal_der is not None and matches(es_id, seal_der) is False:
        rep.reasons.append(
            error(
                "seal_mismatch",
                "印章标识与本平台登记的印章不符（疑似伪造）",
                "the seal differs from the one registered under this esID",
            )
        )
        return
    state = SealState(lookup(es_id, when))
    if state in (SealState.REVOKED, SealState.SUSPENDED):
        word = "吊销" if state is SealState.REVOKED else "挂起"
        rep.reasons.append(
            error(
                f"seal_{state.value}", f"签章时印章已被{word}", f"the seal was {state.value} at signing time"
            )
        )
        return
    if state is SealState.UNKNOWN:
        rep.reasons.append(
            info("seal_not_registered", "印章未在本平台登记", "seal not registered on this node")
        )
        return
    if rep.time_source != "timestamp":
        now_state = SealState(lookup(es_id, options.at))
        if now_state is SealState.REVOKED:
            # GB/T 38540 checks the status at verification time; only a trusted time-stamp proves that
            # the signature is older than the revocation (conventions §17).
            rep.reasons.append(
                error(
                    "seal_revoked_now",
                    "印章已被吊销，且签章时间未经可信时间戳证明",
                    "the seal is revoked now and the signing time is not time-stamped",
                )
            )
        elif now_state is SealState.SUSPENDED:
            rep.reasons.append(
                warning(
                    "seal_suspended_now",
                    "印章现已挂起，且签章时间未经可信时间戳证明",
                    "the seal is suspended now and the signing time is not time-stamped",
                )
            )


def _check_certificate(
    cert: bytes,
    when: datetime,
    options: VerifyOptions,
    rep: SignatureReport,
    *,
    role: str,
    intermediates: Sequence[bytes],
) -> None:
    who_zh = "签章者证书" if role == "signer" else "制章者证书"
    try:
        summary = summarize_certificate(cert)
    except SESFormatError:
        rep.reasons.append(
            error(f"{role}_cert_malformed", f"{who_zh}格式错误", f"{role} certificate malformed")
        )
        return
    if when < summary.not_before:
        rep.reasons.append(
            error(
                f"{role}_cert_not_yet_valid",
                f"{who_zh}在签署时尚未生效",
                f"{role} certificate not yet valid then",
            )
        )
    elif when > summary.not_after:
        rep.reasons.append(
            error(
                f"{role}_cert_expired",
                f"{who_zh}在签署时已过期",
                f"{role} certificate expired {summary.not_after.isoformat()} before {when.isoformat()}",
            )
        )
    helpers = tuple(dict.fromkeys((*intermediates, *options.extra_certs)))
    result = options.chain(cert, intermediates=helpers, at=when)
    _apply_chain_result(result, when, options, rep, role=role, who_zh=who_zh)


def _apply_chain_result(
    result: ChainResult,
    when: datetime,
    options: VerifyOptions,
    rep: SignatureReport,
    *,
    role: str,
    who_zh: str,
) -> None:
    detail_zh = f"：{result.message_zh}" if result.message_zh else ""
    detail_en = f": {result.message_en}" if result.message_en else ""
    if result.status is ChainStatus.TRUSTED:
        return
    if result.status is ChainStatus.REVOKED:
        if result.revoked_at is not None and result.revoked_at > when and rep.time_source != "timestamp":
            # Revoked now; without a trusted time-stamp the claimed signing time proves nothing (a stolen
            # key can back-date), so the signature is judged as GB/T 38540 does: at verification time.
            rep.reasons.append(
                error(
                    f"{role}_cert_revoked_later",
                    f"{who_zh}已吊销，签署时间未经可信时间戳证明早于吊销{detail_zh}",
                    f"{role} certificate revoked; the claimed earlier signing time is not time-stamped{detail_en}",
                )
            )
        elif result.revoked_at is not None and result.revoked_at > when:
            return  # time-stamped before the revocation: still valid (conventions §17)
        else:
            rep.reasons.append(
                error(
                    f"{role}_cert_revoked",
                    f"{who_zh}已吊销{detail_zh}",
                    f"{role} certificate revoked{detail_en}",
                )
            )
        return
    if result.status is ChainStatus.INVALID:
        rep.reasons.append(
            error(
                f"{role}_chain_invalid",
                f"{who_zh}证书链无效{detail_zh}",
                f"{role} certificate chain invalid{detail_en}",
            )
        )
        return
    if result.status is ChainStatus.UNKNOWN:
        rep.reasons.append(
            warning(
                f"{role}_revocation_unknown",
                f"{who_zh}吊销状态无法确认{detail_zh}",
                f"{role} certificate revocation status unknown{detail_en}",
            )
        )
        return
    rep.reasons.append(
        warning(
            f"{role}_chain_untrusted",
            f"{who_zh}不能链接到受信任的根证书{detail_zh}",
            f"{role} certificate does not chain to a trusted root{detail_en}",
        )
    )


def _verify_digital_signature(
    pkg: OFDPackage,
    sx: SignatureXml,
    signed_value: bytes,
    claimed: datetime | None,
    options: VerifyOptions,
    rep: SignatureReport,
) -> None:
    cert: bytes | None = None
    value_ok = False
    if is_signed_data(signed_value):
        result = verify_signed_data(signed_value, sx.raw)
        cert = result.cert
        value_ok = result.valid
        for problem in result.problems:
            rep.reasons.append(error("signed_data_invalid", "数字签名（SignedData）验证失败", problem))
        if result.convention:
            rep.conventions["signature"] = result.convention.value
        extra = result.certificates
    else:
        # ofdrw DigitalSign: a bare SM2 signature over Signature.xml, certificate supplied out of band.
        extra = ()
        for candidate in options.extra_certs:
            convention = verify_sm2_any(candidate, signed_value, sx.raw)
            if convention is not None:
                cert, value_ok = candidate, True
                rep.conventions["signature"] = convention.value
                break
        if cert is None:
            if options.extra_certs:
                rep.reasons.append(
                    error(
                        "signature_value_invalid",
                        "数字签名验证失败",
                        "bare SM2 signature matches no supplied certificate",
                    )
                )
            else:
                rep.reasons.append(
                    warning(
                        "signer_cert_unavailable",
                        "数字签名未附带证书，需提供签名者证书才能验证",
                        "bare signature without certificate: supply the signer certificate",
                    )
                )
    refs_ok = _check_references(pkg, sx, cert, rep)
    rep.crypto_valid = refs_ok and value_ok
    if cert is None:
        return
    rep.signer_cert = cert
    try:
        rep.signer = summarize_certificate(cert).display_name
    except SESFormatError:
        rep.reasons.append(
            error("signer_cert_malformed", "签名者证书格式错误", "signer certificate malformed")
        )
        return
    when = claimed or options.at
    rep.signed_at, rep.time_source = when, "xml"
    _check_certificate(cert, when, options, rep, role="signer", intermediates=extra)


def _note_later_changes(
    pkg: OFDPackage, layout: DocumentLayout, index: int, sx: SignatureXml, rep: SignatureReport
) -> None:
    """Report files this signature does not protect: later signatures, or content added after signing."""
    protected = {path for _, path, _ in sx.references}
    own = {sx.path, sx.signed_value_path}
    later_folders = [e.base_loc.rsplit("/", 1)[0] + "/" for e in layout.signatures[index + 1 :]]
    unprotected = [n for n in pkg.files if n not in protected and n not in own]
    rep.unprotected_files = unprotected
    later = [n for n in unprotected if any(n.startswith(f) for f in later_folders)]
    if later or (index + 1 < len(layout.signatures)):
        rep.reasons.append(
            info(
                "later_signatures",
                f"此签章之后文档又加盖了 {len(layout.signatures) - index - 1} 个签章",
                f"{len(layout.signatures) - index - 1} signature(s) were added after this one",
            )
        )
    if (
        layout.signatures_path in rep.reference_failures
        and index + 1 < len(layout.signatures)
        and set(rep.reference_failures) == {layout.signatures_path}
    ):
        rep.reasons.append(
            info(
                "signature_list_rewritten",
                "此签章保护了签名列表，后续签章改写了它（全保护模式后又追加签章）",
                "this signature protected Signatures.xml, which a later signature rewrote",
            )
        )
    later_protected = set()
    for later_entry in layout.signatures[index + 1 :]:
        try:
            later_protected |= {p for _, p, _ in read_signature_xml(pkg, later_entry.base_loc).references}
        except SealError:
            continue
    structural = {"OFD.xml", layout.signatures_path or ""}
    candidates = [
        n for n in unprotected if n not in later and n not in structural and not _is_signature_part(n, layout)
    ]
    covered_later = [n for n in candidates if n in later_protected]
    content = [n for n in candidates if n not in later_protected]
    if covered_later:
        rep.reasons.append(
            info(
                "changed_after_signing",
                f"此签章之后文档有改动，已由后续签章保护：{'、'.join(covered_later[:10])}",
                f"files added or changed after this signature, protected by a later one: {', '.join(covered_later[:10])}",
            )
        )
    if content:
        rep.reasons.append(
            warning(
                "unprotected_content",
                f"文档含有任何签章都未保护的文件：{'、'.join(content[:10])}",
                f"files protected by no signature (added after signing?): {', '.join(content[:10])}",
            )
        )


def _is_signature_part(name: str, layout: DocumentLayout) -> bool:
    folders = [e.base_loc.rsplit("/", 1)[0] + "/" for e in layout.signatures]
    return any(name.startswith(f) for f in folders)
