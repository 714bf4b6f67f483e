"""X.509 v2 certificate revocation lists (RFC 5280 §5): parsing and building, SM2-signed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final

from asn1crypto import core, crl, x509

from zhengwu.kernel.crypto import DEFAULT_SM2_UID, Signer
from zhengwu.kernel.pki import oids
from zhengwu.kernel.pki._der import (
    MAX_CRL_BYTES,
    as_datetime,
    aware,
    load_strict,
    parsing,
    pem_armor,
    single_der,
)
from zhengwu.kernel.pki.certificates import (
    EXT_AUTHORITY_KEY_ID,
    EXT_CERTIFICATE_ISSUER,
    EXT_CRL_NUMBER,
    EXT_CRL_REASON,
    EXT_DELTA_CRL_INDICATOR,
    EXT_INVALIDITY_DATE,
    EXT_ISSUING_DISTRIBUTION_POINT,
    Certificate,
    key_identifier,
)
from zhengwu.kernel.pki.errors import PkiError
from zhengwu.kernel.pki.names import DistinguishedName, name_from_asn1
from zhengwu.kernel.pki.signatures import SignatureMemo

oids.register_asn1crypto()

_CRL_PEM: Final = frozenset({"X509 CRL"})

#: CRL extensions processed here (so accepted even when critical). deltaCRLIndicator is understood only to
#: the point of refusing to use a delta CRL as a complete one. issuerAltName, freshestCRL and AIA are not
#: processed: RFC 5280 wants them non-critical, and a critical one is refused (openHiTLS expects the same).
KNOWN_CRL_EXTENSIONS: Final = frozenset(
    {EXT_AUTHORITY_KEY_ID, EXT_CRL_NUMBER, EXT_ISSUING_DISTRIBUTION_POINT, EXT_DELTA_CRL_INDICATOR}
)
#: certificateIssuer (indirect CRLs) is not supported, so a critical one is an unknown critical extension.
KNOWN_CRL_ENTRY_EXTENSIONS: Final = frozenset({EXT_CRL_REASON, EXT_INVALIDITY_DATE})
_UNSUPPORTED_ENTRY_EXTENSIONS: Final = frozenset({EXT_CERTIFICATE_ISSUER})


class RevocationReason(StrEnum):
    """CRLReason (RFC 5280 §5.3.1), named as asn1crypto names them."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    REMOVE_FROM_CRL = "remove_from_crl"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    """One CRL entry: serial, revocation date, optional reason and invalidity date."""

    serial_number: int
    revoked_at: datetime
    reason: RevocationReason | None = None
    invalidity_date: datetime | None = None


class Crl:
    """An immutable parsed CRL; obtain it with ``load_crl``."""

    der: bytes
    tbs: bytes
    signature: bytes
    signature_algorithm: str
    version: int
    issuer: DistinguishedName
    this_update: datetime
    next_update: datetime | None
    crl_number: int | None
    authority_key_id: bytes | None
    is_delta: bool
    only_user_certs: bool
    only_ca_certs: bool
    only_some_reasons: bool
    indirect: bool
    extensions: frozenset[str]
    critical_extensions: frozenset[str]

    def __init__(self, der: bytes) -> None:
        self.signature_memo: SignatureMemo = {}
        parsed = load_strict(crl.CertificateList.load, der, "CRL", "证书撤销列表")
        with parsing("CRL", "证书撤销列表"):
            self._parse(der, parsed)
        # Parse the entries now so that a malformed CRL fails here, not in the middle of a validation.
        self._revoked, self._unknown_entry_extensions = self._parse_entries()

    def _parse(self, der: bytes, parsed: Any) -> None:
        tbs = parsed["tbs_cert_list"]
        self._asn1 = parsed
        self.der = der
        self.tbs = bytes(tbs.dump())
        self.signature_algorithm = str(parsed["signature_algorithm"]["algorithm"].dotted)
        if str(tbs["signature"]["algorithm"].dotted) != self.signature_algorithm:
            raise PkiError("CRL signature algorithm fields disagree", "撤销列表内外签名算法标识不一致")
        self.signature = bytes(parsed["signature"].native)
        version = tbs["version"].native
        self.version = 2 if version == "v2" else 1
        self.issuer = name_from_asn1(tbs["issuer"])
        self.this_update = as_datetime(tbs["this_update"].native, "thisUpdate")
        next_update = tbs["next_update"].native
        self.next_update = as_datetime(next_update, "nextUpdate") if next_update is not None else None
        self.crl_number = None
        self.authority_key_id = None
        self.is_delta = False
        self.only_user_certs = self.only_ca_certs = self.only_some_reasons = self.indirect = False
        seen: set[str] = set()
        critical: set[str] = set()
        for ext in tbs["crl_extensions"]:
            oid = str(ext["extn_id"].dotted)
            if oid in seen:
                raise PkiError(f"duplicate CRL extension {oid}", f"撤销列表扩展项重复：{oid}")
            seen.add(oid)
            if ext["critical"].native:
                critical.add(oid)
            if oid not in KNOWN_CRL_EXTENSIONS:
                continue
            value = ext["extn_value"].parsed
            if oid == EXT_CRL_NUMBER:
                self.crl_number = int(value.native)
            elif oid == EXT_AUTHORITY_KEY_ID:
                key_id = value["key_identifier"].native
                self.authority_key_id = bytes(key_id) if key_id is not None else None
            elif oid == EXT_DELTA_CRL_INDICATOR:
                self.is_delta = True
            elif oid == EXT_ISSUING_DISTRIBUTION_POINT:
                self.only_user_certs = bool(value["only_contains_user_certs"].native)
                self.only_ca_certs = bool(value["only_contains_ca_certs"].native)
                self.only_some_reasons = value["only_some_reasons"].native is not None
                self.indirect = bool(value["indirect_crl"].native)
        self.extensions = frozenset(seen)
        self.critical_extensions = frozenset(critical)

    def _parse_entries(self) -> tuple[dict[int, RevokedCertificate], frozenset[str]]:
        entries: dict[int, RevokedCertificate] = {}
        unknown: set[str] = set()
        with parsing("CRL entry", "撤销列表条目"):
            raw = bytes(self._asn1["tbs_cert_list"]["revoked_certificates"].contents or b"")
            for start, end in _children(raw, 0, len(raw)):
                entry = _fast_entry(raw, start, end)
                if entry is None:
                    entry = _full_entry(crl.RevokedCertificate.load(raw[start:end], strict=True), unknown)
                entries[entry.serial_number] = entry
        return entries, frozenset(unknown)

    @property
    def revoked(self) -> Mapping[int, RevokedCertificate]:
        """Entries by serial number (parsed on first use)."""
        return self._revoked

    def lookup(self, serial_number: int) -> RevokedCertificate | None:
        """The entry for a serial number, if listed."""
        return self._revoked.get(serial_number)

    @property
    def unknown_critical_extensions(self) -> frozenset[str]:
        """Critical CRL or entry extensions not processed here (RFC 5280 §5.2: the CRL must not be used)."""
        return (self.critical_extensions - KNOWN_CRL_EXTENSIONS) | self._unknown_entry_extensions

    def is_current_at(self, moment: datetime) -> bool:
        """Whether the CRL was not yet superseded at ``moment`` (nextUpdate absent or not passed)."""
        return self.next_update is None or moment <= self.next_update

    def to_pem(self) -> bytes:
        """PEM encoding."""
        return pem_armor("X509 CRL", self.der)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Crl) and self.der == other.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"<Crl issuer={self.issuer} number={self.crl_number} thisUpdate={self.this_update:%Y-%m-%d}>"


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER TLV at ``pos`` (low tag numbers, definite lengths)."""
    if pos + 2 > end:
        raise PkiError("truncated CRL entry", "撤销列表条目被截断")
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise PkiError("bad length in CRL entry", "撤销列表条目长度错误")
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if tag & 0x1F == 0x1F or pos + length > end:
        raise PkiError("bad CRL entry encoding", "撤销列表条目编码错误")
    return tag, pos, pos + length


def _children(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each SEQUENCE element in buf[pos:end]."""
    while pos < end:
        tag, _start, stop = _tlv(buf, pos, end)
        if tag != 0x30:
            raise PkiError("CRL entry is not a SEQUENCE", "撤销列表条目不是 SEQUENCE")
        yield pos, stop
        pos = stop


def _strict_time(tag: int, text: bytes) -> datetime | None:
    """DER UTCTime/GeneralizedTime as RFC 5280 §4.1.2.5 requires them (Z, seconds, no fraction)."""
    if tag == 0x17 and len(text) == 13 and text[:12].isdigit() and text[12:] == b"Z":
        year = int(text[0:2])
        year += 1900 if year >= 50 else 2000
        rest = text[2:12]
    elif tag == 0x18 and len(text) == 15 and text[:14].isdigit() and text[14:] == b"Z":
        year = int(text[0:4])
        rest = text[4:14]
    else:
        return None
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _fast_entry(buf: bytes, start: int, end: int) -> RevokedCertificate | None:
    """An entry without extensions read directly (asn1crypto costs ~50 µs per entry); None = take the slow path."""
    _tag, pos, stop = _tlv(buf, start, end)
    int_tag, int_start, int_end = _tlv(buf, pos, stop)
    if int_tag != 0x02 or int_start == int_end:
        raise PkiError("CRL entry serial is not an INTEGER", "撤销列表条目序列号不是整数")
    time_tag, time_start, time_end = _tlv(buf, int_end, stop)
    if time_end != stop:
        return None  # crlEntryExtensions present
    revoked_at = _strict_time(time_tag, buf[time_start:time_end])
    if revoked_at is None:
        return None
    serial = int.from_bytes(buf[int_start:int_end], "big", signed=True)
    return RevokedCertificate(serial_number=serial, revoked_at=revoked_at)


def _full_entry(item: Any, unknown: set[str]) -> RevokedCertificate:
    reason: RevocationReason | None = None
    invalidity: datetime | None = None
    for ext in item["crl_entry_extensions"]:
        oid = str(ext["extn_id"].dotted)
        if ext["critical"].native and (
            oid not in KNOWN_CRL_ENTRY_EXTENSIONS or oid in _UNSUPPORTED_ENTRY_EXTENSIONS
        ):
            unknown.add(oid)
        if oid == EXT_CRL_REASON:
            reason = RevocationReason(ext["extn_value"].parsed.native)
        elif oid == EXT_INVALIDITY_DATE:
            invalidity = as_datetime(ext["extn_value"].parsed.native, "invalidityDate")
    return RevokedCertificate(
        serial_number=int(item["user_certificate"].native),
        revoked_at=as_datetime(item["revocation_date"].native, "revocationDate"),
        reason=reason,
        invalidity_date=invalidity,
    )


@lru_cache(maxsize=256)
def _parse_memo(der: bytes) -> Crl:
    return Crl(der)


def load_crl(data: bytes) -> Crl:
    """Parse one CRL from DER or PEM (at most 10 MiB); results are cached by content."""
    der = single_der(data, pem_types=_CRL_PEM, what="CRL", what_zh="证书撤销列表", limit=MAX_CRL_BYTES)
    return _parse_memo(der) if len(der) <= 1024 * 1024 else Crl(der)


def as_crl(value: Crl | bytes) -> Crl:
    """Accept a parsed CRL or its DER/PEM bytes."""
    return value if isinstance(value, Crl) else load_crl(value)


def asn1_time(moment: datetime) -> Any:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds."""
    moment = aware(moment, "time").replace(microsecond=0)
    if moment.year < 2050:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def build_crl(
    *,
    issuer: Certificate,
    signer: Signer,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    revoked: Iterable[RevokedCertificate] = (),
) -> Crl:
    """Build and SM2-sign a v2 CRL with CRL number and AKI; the signer must hold the issuer's key."""
    if not issuer.has_key_usage("crl_sign"):
        raise PkiError("issuer certificate lacks the cRLSign key usage", "签发者证书没有 cRLSign 密钥用途")
    if signer.public_key.point != issuer.public_key.point:
        raise PkiError("signer key does not match the issuer certificate", "签名密钥与签发者证书不匹配")
    if aware(next_update, "next_update") <= aware(this_update, "this_update"):
        raise PkiError("nextUpdate must be after thisUpdate", "下次更新时间必须晚于本次更新时间")
    if crl_number < 0:
        raise PkiError("CRL number must be non-negative", "撤销列表编号不能为负")
    entries = []
    for entry in sorted(revoked, key=lambda item: item.serial_number):
        extensions = []
        if entry.reason is not None:
            extensions.append(
                {"extn_id": "crl_reason", "critical": False, "extn_value": crl.CRLReason(entry.reason.value)}
            )
        if entry.invalidity_date is not None:
            extensions.append(
                {
                    "extn_id": "invalidity_date",
                    "critical": False,
                    "extn_value": core.GeneralizedTime(aware(entry.invalidity_date, "invalidity_date")),
                }
            )
        item: dict[str, Any] = {
            "user_certificate": entry.serial_number,
            "revocation_date": asn1_time(entry.revoked_at),
        }
        if extensions:
            item["crl_entry_extensions"] = extensions
        entries.append(item)
    key_id = issuer.subject_key_id or key_identifier(issuer.public_key)
    with parsing("CRL", "证书撤销列表"):
        tbs_fields: dict[str, Any] = {
            "version": "v2",
            "signature": {"algorithm": oids.SM2_SM3},
            "issuer": x509.Name.load(issuer.subject.der),
            "this_update": asn1_time(this_update),
            "next_update": asn1_time(next_update),
            "crl_extensions": [
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": key_id}),
                },
                {"extn_id": "crl_number", "critical": False, "extn_value": core.Integer(crl_number)},
            ],
        }
        if entries:
            tbs_fields["revoked_certificates"] = entries
        tbs = crl.TbsCertList(tbs_fields)
        tbs_der = tbs.dump()
    signature = signer.sign(tbs_der, uid=DEFAULT_SM2_UID)
    with parsing("CRL", "证书撤销列表"):
        der = crl.CertificateList(
            {"tbs_cert_list": tbs, "signature_algorithm": {"algorithm": oids.SM2_SM3}, "signature": signature}
        ).dump()
    return Crl(bytes(der))
