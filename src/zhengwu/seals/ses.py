"""SES electronic seal and signature structures (GB/T 38540-2020 v4, GM/T 0031-2025 v5, GM/T 0031-2014 v1).

Parsing keeps the DER bytes of SES_SealInfo and TBS_Sign exactly as stored, because signatures are
verified over the stored bytes, never over a re-encoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, cast

from asn1crypto import core

from zhengwu.seals.errors import SESFormatError

if TYPE_CHECKING:
    from zhengwu.kernel.crypto import Signer

SM3_OID = "1.2.156.10197.1.401"
SM2_SIGN_OID = "1.2.156.10197.1.301.1"
SM3_WITH_SM2_OID = "1.2.156.10197.1.501"
MAX_SES_BYTES = 16 * 1024 * 1024

# GB/T 38540 SES_ESPropertyInfo.certListType: 1 = certificates, 2 = certificate digests.
CERT_LIST_CERTS = 1
CERT_LIST_DIGESTS = 2


class _AnyString(core.Choice):  # type: ignore[misc]  # asn1crypto is untyped
    # Real seals use UTF8String as the standard says; some vendors use other string types.
    _alternatives: ClassVar[list[tuple[str, type[core.Asn1Value]]]] = [
        ("utf8", core.UTF8String),
        ("printable", core.PrintableString),
        ("ia5", core.IA5String),
        ("bmp", core.BMPString),
        ("teletex", core.TeletexString),
        ("universal", core.UniversalString),
    ]


class _Time(core.Choice):  # type: ignore[misc]  # asn1crypto is untyped
    # v4 uses GeneralizedTime and v1 UTCTime; accept either wherever a time appears.
    _alternatives: ClassVar[list[tuple[str, type[core.Asn1Value]]]] = [
        ("general", core.GeneralizedTime),
        ("utc", core.UTCTime),
    ]


class _Header(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class _ExtData(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class _ExtDatas(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _ExtData


class _OctetList(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.OctetString


class _CertDigest(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", _AnyString),
        ("value", core.OctetString),
    ]


class _CertDigestList(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = _CertDigest


class _PropertyV4(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", _AnyString),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", _Time),
        ("valid_start", _Time),
        ("valid_end", _Time),
    ]


class _AnyList(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = core.Any


class _PropertyV1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", _AnyString),
        ("cert_list", _AnyList),
        ("create_date", _Time),
        ("valid_start", _Time),
        ("valid_end", _Time),
    ]


class _Picture(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class _SealInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", _Header),
        ("es_id", core.IA5String),
        ("property", core.Any),
        ("picture", _Picture),
        ("ext_datas", _ExtDatas, {"optional": True}),
    ]


class _SealV4(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("info", core.Any),
        ("cert", core.OctetString),
        ("sign_alg", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class _SignInfoV1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("cert", core.Any),
        ("sign_alg", core.Any),
        ("sign_data", core.OctetBitString),
    ]


class _SealV1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("info", core.Any),
        ("sign_info", _SignInfoV1),
    ]


class _TbsV4(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", _Time),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", _ExtDatas, {"explicit": 0, "optional": True}),
    ]


class _SignatureV4(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", core.Any),
        ("cert", core.OctetString),
        ("sign_alg", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class _TbsV1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", core.Any),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("sign_alg", core.ObjectIdentifier),
    ]


class _SignatureV1(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", core.Any),
        ("signature", core.OctetBitString),
    ]


@dataclass(frozen=True)
class SealInfo:
    """SES_SealInfo (印章信息): header, esID, property and picture."""

    header_id: str
    version: int
    vid: str
    es_id: str
    seal_type: int
    name: str
    cert_list_type: int
    certs: tuple[bytes, ...]
    cert_digests: tuple[tuple[str, bytes], ...]
    create_date: datetime
    valid_start: datetime
    valid_end: datetime
    picture_type: str
    picture: bytes
    picture_width: int
    picture_height: int
    ext_datas: tuple[tuple[str, bool, bytes], ...] = ()


@dataclass(frozen=True)
class SESeal:
    """A parsed electronic seal (SESeal) with the stored bytes needed to verify it."""

    version: int  # 1 (GM/T 0031-2014), 4 (GB/T 38540-2020) or 5 (GM/T 0031-2025)
    info: SealInfo
    info_der: bytes
    maker_cert: bytes
    sign_alg: str
    signed_value: bytes
    time_stamp: bytes | None
    der: bytes
    maker_signed_der: bytes = field(repr=False)  # the bytes the maker signed (rule depends on version)


@dataclass(frozen=True)
class SESSignature:
    """A parsed SES_Signature (电子签章数据) with the stored TBS_Sign bytes."""

    version: int  # TBS_Sign.version: 1, 4 or 5
    structure: int  # 1 = SEQ{TBS, signature}; 4 = SEQ{TBS, cert, alg, signature[, ts]}
    tbs_der: bytes
    seal: SESeal
    seal_der: bytes
    time_info: datetime | None
    time_info_text: str
    data_hash: bytes
    property_info: str
    cert: bytes
    sign_alg: str
    signature: bytes
    time_stamp: bytes | None
    der: bytes


def _fail(what: str, exc: Exception | None = None) -> SESFormatError:
    detail = f"{what}: {exc}" if exc else what
    return SESFormatError(f"电子印章数据格式错误：{what}", detail_en=detail)


def _top_children(data: bytes, what: str) -> list[bytes]:
    """The TLVs directly inside a DER SEQUENCE (a small walker: element counting must not depend on types)."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise _fail(f"{what} is empty")
    if len(data) > MAX_SES_BYTES:
        raise _fail(f"{what} too large ({len(data)} bytes)")
    buf = bytes(data)
    if buf[0] != 0x30:
        raise _fail(f"{what} is not a DER SEQUENCE")
    start, end = _tlv_bounds(buf, 0)
    if end != len(buf):
        raise _fail(f"{what} has trailing data")
    items: list[bytes] = []
    pos = start
    while pos < end:
        _, item_end = _tlv_bounds(buf, pos, limit=end)
        items.append(buf[pos:item_end])
        pos = item_end
    return items


def _tlv_bounds(buf: bytes, pos: int, *, limit: int | None = None) -> tuple[int, int]:
    """(content start, element end) of the DER element at pos; definite lengths only."""
    limit = len(buf) if limit is None else limit
    if pos + 2 > limit:
        raise _fail("truncated DER element")
    tag_end = pos + 1
    if buf[pos] & 0x1F == 0x1F:  # high tag number form
        while tag_end < limit and buf[tag_end] & 0x80:
            tag_end += 1
        tag_end += 1
    if tag_end >= limit:
        raise _fail("truncated DER element")
    first = buf[tag_end]
    if first < 0x80:
        length, content = first, tag_end + 1
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise _fail("indefinite or oversized DER length")
        length = int.from_bytes(buf[tag_end + 1 : tag_end + 1 + count], "big")
        content = tag_end + 1 + count
    if content + length > limit:
        raise _fail("DER length runs past the end of the data")
    return content, content + length


def _time(value: Any) -> datetime:
    dt = value.native
    if not isinstance(dt, datetime):
        raise _fail("time value is not a date")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _string(value: Any) -> str:
    native = value.native
    if not isinstance(native, str):
        raise _fail("string value expected")
    return native


def _ext_datas(value: Any) -> tuple[tuple[str, bool, bytes], ...]:
    if value is None or isinstance(value, core.Void):
        return ()
    return tuple(
        (e["extn_id"].dotted, bool(e["critical"].native), bytes(e["extn_value"].native)) for e in value
    )


def _parse_seal_info(info_der: bytes, structure: int) -> SealInfo:
    info = _SealInfo.load(info_der, strict=True)
    header = info["header"]
    prop_der = info["property"].dump()
    if structure == 1:
        prop1 = _PropertyV1.load(prop_der, strict=True)
        # GM/T 0031-2014 certList: SEQUENCE OF OCTET STRING; iOFD puts other values there, skip them.
        certs = tuple(
            bytes(core.OctetString.load(c.dump()).native)
            for c in prop1["cert_list"]
            if c.dump()[:1] == b"\x04"
        )
        cert_list_type, prop = CERT_LIST_CERTS, cast(Any, prop1)
        digests: tuple[tuple[str, bytes], ...] = ()
    else:
        prop = _PropertyV4.load(prop_der, strict=True)
        cert_list_type = int(prop["cert_list_type"].native)
        list_der = prop["cert_list"].dump()
        if cert_list_type == CERT_LIST_DIGESTS:
            dl = _CertDigestList.load(list_der, strict=True)
            digests = tuple((_string(d["type"]), bytes(d["value"].native)) for d in dl)
            certs = ()
        else:
            certs = tuple(bytes(c.native) for c in _OctetList.load(list_der, strict=True))
            digests = ()
    picture = info["picture"]
    return SealInfo(
        header_id=_string(header["id"]),
        version=int(header["version"].native),
        vid=_string(header["vid"]),
        es_id=_string(info["es_id"]),
        seal_type=int(prop["type"].native),
        name=_string(prop["name"]),
        cert_list_type=cert_list_type,
        certs=certs,
        cert_digests=digests,
        create_date=_time(prop["create_date"]),
        valid_start=_time(prop["valid_start"]),
        valid_end=_time(prop["valid_end"]),
        picture_type=_string(picture["type"]),
        picture=bytes(picture["data"].native),
        picture_width=int(picture["width"].native),
        picture_height=int(picture["height"].native),
        ext_datas=_ext_datas(info["ext_datas"]),
    )


_CACHEABLE_SEAL_BYTES = 1024 * 1024


def parse_seal(data: bytes) -> SESeal:
    """Parse an SESeal of any known version (detected by element count, then header version)."""
    # The same few seals appear in every document a node sees: parsed seals are immutable, keep them.
    if isinstance(data, bytes) and len(data) <= _CACHEABLE_SEAL_BYTES:
        return _parse_seal_cached(data)
    return _parse_seal(data)


@lru_cache(maxsize=256)
def _parse_seal_cached(data: bytes) -> SESeal:
    return _parse_seal(data)


def _parse_seal(data: bytes) -> SESeal:
    parts = _top_children(data, "SESeal")
    try:
        if len(parts) == 2:
            seal1 = _SealV1.load(bytes(data), strict=True)
            info_der = seal1["info"].dump()
            sign_info = seal1["sign_info"]
            cert_tlv = sign_info["cert"].dump()
            alg_tlv = sign_info["sign_alg"].dump()
            cert = core.OctetString.load(cert_tlv, strict=True).native
            alg = core.ObjectIdentifier.load(alg_tlv, strict=True).dotted
            # GM/T 0031-2014: the maker signs SEQUENCE{sealInfo, cert, signatureAlgorithm} as stored.
            maker_signed = _der_sequence(info_der, cert_tlv, alg_tlv)
            return SESeal(
                version=1,
                info=_parse_seal_info(info_der, 1),
                info_der=info_der,
                maker_cert=bytes(cert),
                sign_alg=alg,
                signed_value=bytes(sign_info["sign_data"].native),
                time_stamp=None,
                der=bytes(data),
                maker_signed_der=maker_signed,
            )
        if len(parts) in (4, 5):
            seal4 = _SealV4.load(bytes(data), strict=True)
            info_der = seal4["info"].dump()
            info = _parse_seal_info(info_der, 4)
            if info.version not in (4, 5):
                raise _fail(f"unsupported seal header version {info.version} in a 4-field SESeal")
            ts = seal4["time_stamp"]
            return SESeal(
                version=info.version,
                info=info,
                info_der=info_der,
                maker_cert=bytes(seal4["cert"].native),
                sign_alg=seal4["sign_alg"].dotted,
                signed_value=bytes(seal4["signed_value"].native),
                time_stamp=None if isinstance(ts, core.Void) else bytes(ts.native),
                der=bytes(data),
                maker_signed_der=info_der,  # GB/T 38540: signature over DER(SES_SealInfo) only
            )
    except SESFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise _fail("malformed SESeal", exc) from exc
    raise _fail(f"SESeal with {len(parts)} elements is of no known version")


def parse_signature(data: bytes) -> SESSignature:
    """Parse an SES_Signature (v1 two-field form or v4/v5 four/five-field form)."""
    parts = _top_children(data, "SES_Signature")
    if len(parts) in (4, 5):
        fast = _fast_signature_v4(bytes(data), parts)
        if fast is not None:
            return fast
    return _parse_signature_generic(data, parts)


def _children_of(tlv: bytes) -> list[bytes]:
    start, end = _tlv_bounds(tlv, 0)
    items: list[bytes] = []
    pos = start
    while pos < end:
        _, item_end = _tlv_bounds(tlv, pos, limit=end)
        items.append(tlv[pos:item_end])
        pos = item_end
    return items


def _content(tlv: bytes) -> bytes:
    start, end = _tlv_bounds(tlv, 0)
    return tlv[start:end]


_SM3_WITH_SM2_TLV = bytes.fromhex("06082a811ccf55018375")


def _fast_signature_v4(data: bytes, parts: list[bytes]) -> SESSignature | None:
    """The common v4/v5 layout read directly from the TLVs; None hands anything unusual to asn1crypto.

    A verifying node parses every signature of every upload, and asn1crypto takes ~100 µs for one; the
    generic path stays the reference (and what tests compare this one against).
    """
    tbs_der, cert_tlv, alg_tlv, sig_tlv = parts[0], parts[1], parts[2], parts[3]
    if (
        tbs_der[:1] != b"\x30"
        or cert_tlv[:1] != b"\x04"
        or alg_tlv != _SM3_WITH_SM2_TLV
        or sig_tlv[:1] != b"\x03"
    ):
        return None
    fields = _children_of(tbs_der)
    if len(fields) != 5 or [f[0] for f in fields] != [0x02, 0x30, 0x18, 0x03, 0x16]:
        return None  # extDatas or other types: the generic parser knows them
    version_bytes, time_text = _content(fields[0]), _content(fields[2])
    hash_bits, signature_bits = _content(fields[3]), _content(sig_tlv)
    if (
        len(version_bytes) != 1
        or len(time_text) != 15
        or not time_text[:14].isdigit()
        or time_text[14:] != b"Z"
    ):
        return None
    if hash_bits[:1] != b"\x00" or signature_bits[:1] != b"\x00":
        return None
    time_stamp = None
    if len(parts) == 5:
        if parts[4][:1] != b"\xa0":
            return None
        inner = _content(parts[4])
        if inner[:1] != b"\x03" or _tlv_bounds(inner, 0)[1] != len(inner) or _content(inner)[:1] != b"\x00":
            return None
        time_stamp = _content(inner)[1:]
    prop = _content(fields[4])
    if not prop.isascii():
        return None
    text = time_text.decode("ascii")
    try:
        when = datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    seal_der = fields[1]
    return SESSignature(
        version=version_bytes[0],
        structure=4,
        tbs_der=tbs_der,
        seal=parse_seal(seal_der),
        seal_der=seal_der,
        time_info=when,
        time_info_text=text,
        data_hash=hash_bits[1:],
        property_info=prop.decode("ascii"),
        cert=_content(cert_tlv),
        sign_alg=SM3_WITH_SM2_OID,
        signature=signature_bits[1:],
        time_stamp=time_stamp,
        der=data,
    )


def _parse_signature_generic(data: bytes, parts: list[bytes]) -> SESSignature:
    try:
        if len(parts) == 2:
            sig1 = _SignatureV1.load(bytes(data), strict=True)
            tbs_der = sig1["to_sign"].dump()
            tbs1 = _TbsV1.load(tbs_der, strict=True)
            seal_der = tbs1["eseal"].dump()
            raw_time = bytes(tbs1["time_info"].native)
            text = raw_time.decode("ascii", "replace").strip()
            return SESSignature(
                version=int(tbs1["version"].native),
                structure=1,
                tbs_der=tbs_der,
                seal=parse_seal(seal_der),
                seal_der=seal_der,
                time_info=parse_loose_time(text),
                time_info_text=text,
                data_hash=bytes(tbs1["data_hash"].native),
                property_info=_string(tbs1["property_info"]),
                cert=bytes(tbs1["cert"].native),
                sign_alg=tbs1["sign_alg"].dotted,
                signature=bytes(sig1["signature"].native),
                time_stamp=None,
                der=bytes(data),
            )
        if len(parts) in (4, 5):
            sig4 = _SignatureV4.load(bytes(data), strict=True)
            tbs_der = sig4["to_sign"].dump()
            tbs4 = _TbsV4.load(tbs_der, strict=True)
            seal_der = tbs4["eseal"].dump()
            when = _time(tbs4["time_info"])
            ts = sig4["time_stamp"]
            return SESSignature(
                version=int(tbs4["version"].native),
                structure=4,
                tbs_der=tbs_der,
                seal=parse_seal(seal_der),
                seal_der=seal_der,
                time_info=when,
                time_info_text=when.strftime("%Y%m%d%H%M%SZ"),
                data_hash=bytes(tbs4["data_hash"].native),
                property_info=_string(tbs4["property_info"]),
                cert=bytes(sig4["cert"].native),
                sign_alg=sig4["sign_alg"].dotted,
                signature=bytes(sig4["signature"].native),
                time_stamp=None if isinstance(ts, core.Void) else bytes(ts.native),
                der=bytes(data),
            )
    except SESFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise _fail("malformed SES_Signature", exc) from exc
    raise _fail(f"SES_Signature with {len(parts)} elements is of no known version")


_LOOSE_FORMATS = (
    "%Y%m%d%H%M%S.%fZ",
    "%Y%m%d%H%M%SZ",
    "%Y%m%d%H%M%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%y%m%d%H%M%SZ",
)


def parse_loose_time(text: str) -> datetime | None:
    """Parse the time formats found in real seals and Signature.xml; zoneless values are Beijing time."""
    value = text.strip()
    for fmt in _LOOSE_FORMATS:
        try:
            dt = datetime.strptime(value, fmt)
        except ValueError:
            continue
        if fmt.endswith("Z"):
            return dt.replace(tzinfo=UTC)
        # Producers write local (UTC+8) times without a zone designator.
        return dt.replace(tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_sequence(*tlvs: bytes) -> bytes:
    body = b"".join(tlvs)
    return b"\x30" + _der_len(len(body)) + body


# ---- building (version 4, GB/T 38540-2020) ------------------------------------------------------


@dataclass(frozen=True)
class SealSpec:
    """What goes into a new v4 seal's SES_SealInfo."""

    es_id: str
    name: str
    seal_type: int
    certs: Sequence[bytes]
    valid_start: datetime
    valid_end: datetime
    picture: bytes
    picture_type: str = "PNG"
    picture_width_mm: int = 40
    picture_height_mm: int = 40
    vid: str = "ZHENGWU"
    create_date: datetime | None = None
    ext_datas: Sequence[tuple[str, bool, bytes]] = ()


def _gt(dt: datetime) -> core.GeneralizedTime:
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return core.GeneralizedTime(aware.astimezone(UTC).replace(microsecond=0))


def build_seal_info(spec: SealSpec) -> bytes:
    """DER of a v4 SES_SealInfo (certListType 1: the signers' DER certificates)."""
    if not spec.certs:
        raise _fail("a seal needs at least one signer certificate")
    prop = _PropertyV4(
        {
            "type": spec.seal_type,
            "name": _AnyString(name="utf8", value=spec.name),
            "cert_list_type": CERT_LIST_CERTS,
            "cert_list": core.Any(_OctetList([bytes(c) for c in spec.certs])),
            "create_date": _Time(name="general", value=_gt(spec.create_date or datetime.now(UTC))),
            "valid_start": _Time(name="general", value=_gt(spec.valid_start)),
            "valid_end": _Time(name="general", value=_gt(spec.valid_end)),
        }
    )
    fields: dict[str, Any] = {
        "header": _Header({"id": "ES", "version": 4, "vid": spec.vid}),
        "es_id": spec.es_id,
        "property": core.Any(prop),
        "picture": _Picture(
            {
                "type": spec.picture_type,
                "data": spec.picture,
                "width": spec.picture_width_mm,
                "height": spec.picture_height_mm,
            }
        ),
    }
    if spec.ext_datas:
        fields["ext_datas"] = _ExtDatas(
            [{"extn_id": oid, "critical": crit, "extn_value": val} for oid, crit, val in spec.ext_datas]
        )
    return bytes(_SealInfo(fields).dump())


def assemble_seal(
    info_der: bytes, maker_cert: bytes, signed_value: bytes, *, time_stamp: bytes | None = None
) -> bytes:
    """DER of a v4 SESeal from the stored SES_SealInfo bytes and the maker's signature over them."""
    body = (
        info_der
        + core.OctetString(maker_cert).dump()
        + core.ObjectIdentifier(SM3_WITH_SM2_OID).dump()
        + core.OctetBitString(signed_value).dump()
    )
    if time_stamp is not None:
        body += core.OctetBitString(time_stamp, explicit=0).dump()
    return _der_sequence(body)


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _small_int(value: int) -> bytes:
    if not 0 <= value < 0x80:
        raise _fail(f"version {value} out of range")
    return bytes([0x02, 0x01, value])


def _generalized_time(moment: datetime) -> bytes:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    # DER GeneralizedTime (X.690 §11.7): UTC, whole seconds, "Z".
    return _tlv(0x18, aware.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _bit_string(data: bytes) -> bytes:
    return _tlv(0x03, b"\x00" + data)  # no unused bits


_SM3_WITH_SM2_DER = bytes.fromhex("06082a811ccf55018375")  # OBJECT IDENTIFIER 1.2.156.10197.1.501


def tbs_sign_parts(
    seal_der: bytes, *, time_info: datetime, data_hash: bytes, property_info: str, version: int = 4
) -> tuple[bytes, bytes]:
    """DER(TBS_Sign) split as (SEQUENCE header ‖ version ‖ eseal, rest): the first part repeats per seal."""
    try:
        prop = property_info.encode("ascii")
    except UnicodeEncodeError as exc:
        raise _fail("propertyInfo must be ASCII (IA5String)", exc) from exc
    head = _small_int(version) + seal_der
    rest = _generalized_time(time_info) + _bit_string(data_hash) + _tlv(0x16, prop)
    return b"\x30" + _der_len(len(head) + len(rest)) + head, rest


def build_tbs_sign(
    seal_der: bytes,
    *,
    time_info: datetime,
    data_hash: bytes,
    property_info: str,
    version: int = 4,
) -> bytes:
    """DER of a v4 TBS_Sign embedding the seal exactly as stored."""
    head, rest = tbs_sign_parts(
        seal_der, time_info=time_info, data_hash=data_hash, property_info=property_info, version=version
    )
    return head + rest


def assemble_signature(
    tbs_der: bytes, cert: bytes, signature: bytes, *, time_stamp: bytes | None = None
) -> bytes:
    """DER of a v4 SES_Signature over the given TBS_Sign bytes."""
    body = tbs_der + _tlv(0x04, cert) + _SM3_WITH_SM2_DER + _bit_string(signature)
    if time_stamp is not None:
        body += _tlv(0xA0, _bit_string(time_stamp))  # timeStamp [0] EXPLICIT BIT STRING
    return b"\x30" + _der_len(len(body)) + body


def make_seal(spec: SealSpec, *, maker: Signer, maker_cert: bytes) -> bytes:
    """Build and sign a v4 SESeal: the maker (制章者) signs DER(SES_SealInfo) with SM2-with-SM3."""
    info_der = build_seal_info(spec)
    return assemble_seal(info_der, maker_cert, maker.sign(info_der))
