"""Add an electronic seal signature (GB/T 38540 v4 SES_Signature) to an OFD document (GB/T 33190 ch.18)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from zhengwu.kernel.crypto import Signer, sm3
from zhengwu.seals.errors import SealError, SigningError
from zhengwu.seals.ofd.container import (
    RECURRING_SUFFIXES,
    DocumentLayout,
    OFDPackage,
    pages,
    read_layout,
)
from zhengwu.seals.ofd.text import find_text
from zhengwu.seals.ofd.verifier import read_signature_xml
from zhengwu.seals.ofd.xml import OFD_NS, child, children, ofd, serialize, sub
from zhengwu.seals.ses import (
    CERT_LIST_CERTS,
    SM3_OID,
    SM3_WITH_SM2_OID,
    SESeal,
    assemble_signature,
    parse_seal,
    tbs_sign_parts,
)
from zhengwu.seals.sigcheck import memo_sm3, public_key_of, sign_tbs
from zhengwu.seals.trust import summarize_certificate

#: Given the signature value, return a DER time-stamp token over it (GB/T 38540 timeStamp, RFC 3161).
TimestampProvider = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Placement:
    """Where the stamp goes: page index (0-based), page ID and the box in millimetres."""

    page_index: int
    page_id: str
    x: float
    y: float
    width: float
    height: float


def sign_ofd(
    data: bytes,
    *,
    seal: bytes | SESeal,
    signer: Signer,
    cert_der: bytes,
    page: int | None = None,
    x: float = 0.0,
    y: float = 0.0,
    keyword: str | None = None,
    occurrence: int = 1,
    timestamp_provider: TimestampProvider | None = None,
    signed_at: datetime | None = None,
    provider_name: str = "zhengwu",
    provider_version: str = "0.1",
) -> bytes:
    """Seal an OFD: page=N (1-based) with x, y (top-left of the stamp, mm) or keyword=TEXT (stamp centred on it).

    Continue-signing mode: Signatures.xml is not protected, so earlier signatures stay valid and later ones
    may follow. Refuses when an earlier signature protects Signatures.xml (full protection).
    """
    seal_obj = seal if isinstance(seal, SESeal) else parse_seal(seal)
    when = (signed_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    _check_inputs(seal_obj, signer, cert_der, when)
    pkg = OFDPackage.from_bytes(data, keep_raw=True)
    layout = read_layout(pkg)
    _refuse_full_protection(pkg, layout)
    placement = _place(pkg, layout, seal_obj, page=page, x=x, y=y, keyword=keyword, occurrence=occurrence)
    sig_list_path = layout.signatures_path or _attach_signature_list(pkg, layout)
    sign_dir = _next_sign_dir(pkg, sig_list_path)
    sig_id, annot_id = _next_ids(pkg, layout)
    signature_xml_path = f"{sign_dir}/Signature.xml"
    seal_path = f"{sign_dir}/Seal.esl"
    value_path = f"{sign_dir}/SignedValue.dat"
    if layout.signatures_path is None:
        pkg.files[sig_list_path] = _new_signature_list(sig_id, signature_xml_path, annot_id)
    else:
        _add_to_signature_list(pkg, sig_list_path, sig_id, signature_xml_path, annot_id)
    pkg.files[seal_path] = seal_obj.der
    protected = [n for n in pkg.files if n != sig_list_path]
    signature_xml = _signature_xml(
        pkg, protected, when, placement, annot_id, seal_path, value_path, provider_name, provider_version
    )
    pkg.files[signature_xml_path] = signature_xml
    head, rest = tbs_sign_parts(
        seal_obj.der,
        time_info=when,
        data_hash=sm3(signature_xml),
        property_info=f"/{signature_xml_path}",
        version=seal_obj.version,
    )
    tbs = head + rest
    value = sign_tbs(signer, head, rest, seal=seal_obj.der)
    token = timestamp_provider(value) if timestamp_provider is not None else None
    pkg.files[value_path] = assemble_signature(tbs, cert_der, value, time_stamp=token)
    return pkg.to_bytes()


def _check_inputs(seal: SESeal, signer: Signer, cert_der: bytes, when: datetime) -> None:
    if seal.version not in (4, 5):
        raise SigningError("只能使用 GB/T 38540 第4版及以上的印章签章", detail_en="only v4/v5 seals can sign")
    if public_key_of(cert_der).point != signer.public_key.point:
        raise SigningError(
            "签章者证书与签名密钥不匹配", detail_en="certificate does not match the signing key"
        )
    info = seal.info
    if info.cert_list_type == CERT_LIST_CERTS and cert_der not in info.certs:
        raise SigningError("签章者证书不在印章的证书列表中", detail_en="certificate not listed in the seal")
    if not info.valid_start <= when <= info.valid_end:
        raise SigningError("印章不在有效期内", detail_en="the seal is not valid at the signing time")
    if not summarize_certificate(cert_der).valid_at(when):
        raise SigningError(
            "签章者证书不在有效期内", detail_en="the certificate is not valid at the signing time"
        )


def _refuse_full_protection(pkg: OFDPackage, layout: DocumentLayout) -> None:
    for entry in layout.signatures:
        try:
            protected = {path for _, path, _ in read_signature_xml(pkg, entry.base_loc).references}
        except SealError:
            continue
        if layout.signatures_path in protected:
            raise SigningError(
                f"签章 {entry.id} 保护了签名列表（全保护模式），不能再追加签章",
                detail_en=f"signature {entry.id} protects Signatures.xml; adding one would invalidate it",
            )


def _place(
    pkg: OFDPackage,
    layout: DocumentLayout,
    seal: SESeal,
    *,
    page: int | None,
    x: float,
    y: float,
    keyword: str | None,
    occurrence: int,
) -> Placement:
    width, height = float(seal.info.picture_width or 40), float(seal.info.picture_height or 40)
    if keyword is not None:
        hits = find_text(pkg, layout.doc_root, keyword)
        if len(hits) < occurrence or occurrence < 1:
            raise SigningError(f"文档中未找到关键字：{keyword}", detail_en=f"keyword not found: {keyword!r}")
        index, page_id, box = hits[occurrence - 1]
        cx, cy = box.center
        return Placement(index, page_id, cx - width / 2, cy - height / 2, width, height)
    page_list = pages(pkg, layout.doc_root)
    number = page or 1
    if not 1 <= number <= len(page_list):
        raise SigningError(
            f"页码超出范围：{number}", detail_en=f"page {number} out of range 1..{len(page_list)}"
        )
    return Placement(number - 1, page_list[number - 1][0], x, y, width, height)


def _attach_signature_list(pkg: OFDPackage, layout: DocumentLayout) -> str:
    """Point OFD.xml's DocBody at a new Signatures.xml next to the document root; returns its path."""
    folder = layout.doc_root.rsplit("/", 1)[0] if "/" in layout.doc_root else ""
    path = f"{folder}/Signs/Signatures.xml" if folder else "Signs/Signatures.xml"
    root = pkg.xml("OFD.xml")
    body = child(root, "DocBody")
    assert body is not None  # read_layout checked it
    doc_root = child(body, "DocRoot")
    el = root.makeelement(ofd("Signatures"), {})
    el.text = f"/{path}"
    if doc_root is not None:
        doc_root.addnext(el)
    else:
        body.append(el)
    pkg.files["OFD.xml"] = serialize(root)
    return path


def _next_sign_dir(pkg: OFDPackage, sig_list_path: str) -> str:
    folder = sig_list_path.rsplit("/", 1)[0] if "/" in sig_list_path else ""
    index = 0
    while any(n.startswith(f"{folder}/Sign_{index}/") for n in pkg.files):
        index += 1
    return f"{folder}/Sign_{index}" if folder else f"Sign_{index}"


_TRAILING_NUMBER = re.compile(r"(\d+)$")


def _next_ids(pkg: OFDPackage, layout: DocumentLayout) -> tuple[str, str]:
    """IDs for the Signature and its StampAnnot, above every ID used so far (MaxSignId may repeat)."""
    used = [e.id for e in layout.signatures] + list(layout.max_sign_ids)
    for entry in layout.signatures:
        try:
            root = pkg.xml(entry.base_loc)
        except SealError:
            continue
        used += [
            el.get("ID", "")
            for el in root.iter()
            if isinstance(el.tag, str) and el.tag.endswith("StampAnnot")
        ]
    numbers = [int(m.group(1)) for v in used if (m := _TRAILING_NUMBER.search(v or ""))]
    top = max(numbers, default=0)
    prefixed = any(v.startswith("s") for v in used if v)
    fmt = "s{:03d}" if prefixed or not used else "{}"
    return fmt.format(top + 1), fmt.format(top + 2)


def _add_to_signature_list(pkg: OFDPackage, path: str, sig_id: str, base_loc: str, max_id: str) -> None:
    root = pkg.xml(path)
    for el in list(children(root, "MaxSignId")):
        root.remove(el)
    max_el = root.makeelement(ofd("MaxSignId"), {})
    max_el.text = max_id
    root.insert(0, max_el)
    sub(root, "Signature", ID=sig_id, Type="Seal", BaseLoc=f"/{base_loc}")
    pkg.files[path] = serialize(root)


_XML_DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"
_OFD_OPEN = f'xmlns:ofd="{OFD_NS}"'
# XML 1.0 §2.2: characters that cannot appear in a document at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


_NEEDS_CARE = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')


def _attr(value: str) -> str:
    """Text for an attribute (double quotes) or element; refuses what XML 1.0 cannot carry at all."""
    if _NEEDS_CARE.search(value) is None:
        return value
    if _NOT_XML.search(value):
        raise SigningError(
            "文件名含有 XML 不允许的字符", detail_en=f"character not allowed in XML: {value!r}"
        )
    return escape(value, {'"': "&quot;"})


def _new_signature_list(sig_id: str, base_loc: str, max_id: str) -> bytes:
    """A Signatures.xml with one signature (what the signer writes into an unsigned document)."""
    return (
        f"{_XML_DECLARATION}<ofd:Signatures {_OFD_OPEN}><ofd:MaxSignId>{_attr(max_id)}</ofd:MaxSignId>"
        f'<ofd:Signature ID="{_attr(sig_id)}" Type="Seal" BaseLoc="/{_attr(base_loc)}"/></ofd:Signatures>'
    ).encode()


def _file_digest(name: str, content: bytes) -> bytes:
    # Seals, pictures and fonts recur in every document; page content does not and is hashed directly.
    return memo_sm3(content) if name.lower().endswith(RECURRING_SUFFIXES) else sm3(content)


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _signature_xml(
    pkg: OFDPackage,
    protected: list[str],
    when: datetime,
    placement: Placement,
    annot_id: str,
    seal_path: str,
    value_path: str,
    provider_name: str,
    provider_version: str,
) -> bytes:
    """Signature.xml (GB/T 33190 §18.2), written directly: it is built once per signature, on the hot path."""
    references = "".join(
        f'<ofd:Reference FileRef="/{_attr(name)}"><ofd:CheckValue>'
        f"{base64.b64encode(_file_digest(name, pkg.files[name])).decode('ascii')}</ofd:CheckValue></ofd:Reference>"
        for name in protected
    )
    boundary = " ".join(_number(v) for v in (placement.x, placement.y, placement.width, placement.height))
    text = (
        f"{_XML_DECLARATION}<ofd:Signature {_OFD_OPEN}><ofd:SignedInfo>"
        f'<ofd:Provider ProviderName="{_attr(provider_name)}" Version="{_attr(provider_version)}" '
        f'Company="zhengwu"/>'
        f"<ofd:SignatureMethod>{SM3_WITH_SM2_OID}</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>{when.strftime('%Y%m%d%H%M%SZ')}</ofd:SignatureDateTime>"
        # GB/T 33190 §18.2.2: emit the SM3 OID (readers also accept "SM3"; see standards §6.3).
        f'<ofd:References CheckMethod="{SM3_OID}">{references}</ofd:References>'
        f'<ofd:StampAnnot ID="{_attr(annot_id)}" PageRef="{_attr(placement.page_id)}" Boundary="{boundary}"/>'
        f"<ofd:Seal><ofd:BaseLoc>/{_attr(seal_path)}</ofd:BaseLoc></ofd:Seal>"
        f"</ofd:SignedInfo><ofd:SignedValue>/{_attr(value_path)}</ofd:SignedValue></ofd:Signature>"
    )
    return text.encode("utf-8")
