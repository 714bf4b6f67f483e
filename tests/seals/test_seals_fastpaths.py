"""The hot-path shortcuts agree with the reference code they shortcut (parsers, digests, zip writing)."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seals_kit import SealKit
from zhengwu.kernel.crypto import DEFAULT_SM2_UID, SM2PrivateKey, SoftwareSigner, sm3
from zhengwu.seals.ofd.container import OFDPackage, read_layout
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.verifier import read_signature_xml
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.ses import (
    _parse_signature_generic,
    _top_children,
    build_tbs_sign,
    parse_signature,
    tbs_sign_parts,
)
from zhengwu.seals.sigcheck import memo_sm3, sign_tbs, split_tbs, tbs_digest


def _signed_values(ofd_dir: Path) -> list[bytes]:
    values = [p.read_bytes() for p in (ofd_dir / "seals").glob("*SignedValue*.dat")]
    values += [p.read_bytes() for p in (ofd_dir / "extracted").glob("*/SignedValue.dat")]
    for document in sorted((ofd_dir / "documents").glob("*.ofd")):
        pkg = OFDPackage.from_bytes(document.read_bytes())
        for entry in read_layout(pkg).signatures:
            sx = read_signature_xml(pkg, entry.base_loc)
            values.append(pkg.read(sx.signed_value_path))
    return values


def test_fast_signature_parser_matches_the_generic_one(ofd_dir: Path, kit: SealKit) -> None:
    doc = write_ofd(DocumentSpec(title="t", blocks=[Paragraph("正文")]))
    ours = sign_ofd(
        doc,
        seal=kit.seal,
        signer=kit.signer,
        cert_der=kit.signer_cert,
        timestamp_provider=lambda v: b"\x30\x03\x02\x01\x01",
    )
    pkg = OFDPackage.from_bytes(ours)
    sx = read_signature_xml(pkg, read_layout(pkg).signatures[0].base_loc)
    compared = 0
    for value in [*_signed_values(ofd_dir), pkg.read(sx.signed_value_path)]:
        parts = _top_children(value, "SES_Signature")
        try:
            reference = _parse_signature_generic(value, parts)
        except Exception:
            with pytest.raises(Exception):
                parse_signature(value)
            continue
        assert parse_signature(value) == reference
        compared += 1
    assert compared >= 10


def test_tbs_parts_split_and_prefix_digest(kit: SealKit) -> None:
    when = datetime(2026, 5, 1, 8, 0, 0, tzinfo=UTC)
    head, rest = tbs_sign_parts(
        kit.seal, time_info=when, data_hash=b"\x01" * 32, property_info="/Doc_0/S.xml"
    )
    tbs = build_tbs_sign(kit.seal, time_info=when, data_hash=b"\x01" * 32, property_info="/Doc_0/S.xml")
    assert head + rest == tbs and split_tbs(tbs, kit.seal) == (head, rest)
    assert split_tbs(tbs, kit.seal[:-1] + b"\x00") is None and split_tbs(b"\x04\x00", kit.seal) is None
    key = kit.signer.public_key
    for _ in range(2):  # cold and remembered
        assert tbs_digest(key, head, rest) == sm3(key.z(DEFAULT_SM2_UID) + tbs)
    assert key.verify(sign_tbs(kit.signer, head, rest), tbs)

    class PlainSigner:  # no sign_digest: gets the whole message
        def __init__(self) -> None:
            self.inner = SoftwareSigner(SM2PrivateKey.generate())
            self.public_key = self.inner.public_key

        def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
            return self.inner.sign(data, uid=uid, raw=raw)

    plain = PlainSigner()
    assert plain.public_key.verify(sign_tbs(plain, head, rest), tbs)


def test_memoised_digests_are_digests() -> None:
    for size in (10, 5000, 300_000):
        data = os.urandom(size)
        assert memo_sm3(data) == memo_sm3(bytes(data)) == sm3(data)


def test_repacking_copies_unchanged_entries_and_zipfile_reads_the_result(kit: SealKit) -> None:
    doc = write_ofd(DocumentSpec(title="t", blocks=[Paragraph("正文" * 200)]))
    pkg = OFDPackage.from_bytes(doc, keep_raw=True)
    pkg.files["OFD.xml"] = pkg.files["OFD.xml"] + b"<!-- changed -->"
    pkg.files["Doc_0/新文件.xml"] = b"<x>" + "中文".encode() * 100 + b"</x>"
    out = pkg.to_bytes()
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        assert archive.testzip() is None
        assert {i.filename: archive.read(i) for i in archive.infolist()} == pkg.files
        original = {i.filename: i.compress_size for i in zipfile.ZipFile(io.BytesIO(doc)).infolist()}
        for info in archive.infolist():
            if info.filename in original and info.filename != "OFD.xml":
                assert info.compress_size == original[info.filename]  # copied, not recompressed
    assert OFDPackage.from_bytes(out).files == pkg.files


def _directory(entries: list[object]) -> list[tuple[object, ...]]:
    fields = ("filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size", "header_offset")
    return [tuple(getattr(e, f) for f in fields) for e in entries]


def test_plain_directory_reader_matches_zipfile(ofd_dir: Path, kit: SealKit) -> None:
    from zhengwu.seals.ofd.container import _plain_directory, _zipfile_directory

    doc = write_ofd(DocumentSpec(title="t", blocks=[Paragraph("正文")]))
    samples = [p.read_bytes() for p in sorted((ofd_dir / "documents").glob("*.ofd"))]
    samples.append(sign_ofd(doc, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert))
    read_directly = 0
    for data in samples:
        plain = _plain_directory(data)
        if plain is not None:
            read_directly += 1
            assert _directory(plain) == _directory(_zipfile_directory(data))  # type: ignore[arg-type]
    assert read_directly >= len(samples) // 2
    # Anything unusual goes to zipfile: an archive comment, bytes in front, a truncated directory.
    with_comment = io.BytesIO()
    with zipfile.ZipFile(with_comment, "w") as archive:
        archive.writestr("OFD.xml", b"<x/>")
        archive.comment = b"hello"
    assert _plain_directory(with_comment.getvalue()) is None
    assert _plain_directory(b"junk" + doc) is None
    assert _plain_directory(doc[:-30] + doc[-22:]) is None
    assert OFDPackage.from_bytes(b"junk" + doc).files == OFDPackage.from_bytes(doc).files


def test_direct_time_stamp_tokens_equal_the_kernel_ones(kit: SealKit) -> None:
    from datetime import timedelta

    from seals_kit import NOW
    from zhengwu.kernel.pki import (
        CertProfile,
        build_timestamp_request,
        issue_certificate,
        issue_timestamp_token,
        verify_timestamp_token,
    )
    from zhengwu.pki.tstoken import issue_token

    tsa = SoftwareSigner(SM2PrivateKey.generate())
    cert = issue_certificate(
        issuer=kit.root,
        issuer_signer=kit.root_signer,
        subject={"C": "CN", "O": "时间戳测试", "CN": "TSA"},
        public_key=tsa.public_key,
        profile=CertProfile.TSA,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=3),
    )

    class Fixed:  # the same signature for both writers, so that the bytes can be compared
        public_key = tsa.public_key

        def sign(self, data: bytes, *, uid: bytes | None = DEFAULT_SM2_UID, raw: bool = False) -> bytes:
            return tsa.sign(data, uid=uid, raw=raw) if raw else sm3(data) + b"fixed"

    for nonce, cert_req, chain, accuracy in (
        (5, True, [kit.root], 1),
        (None, False, [], None),
        (2**70, True, [], 1),
    ):
        request = build_timestamp_request(b"value", nonce=nonce, cert_req=cert_req)
        common = dict(tsa_certificate=cert, gen_time=NOW, policy="2.25.7", serial_number=2**100 + 5,
                      accuracy_seconds=accuracy, chain=chain)  # fmt: skip
        assert issue_token(request, signer=Fixed(), **common) == issue_timestamp_token(  # type: ignore[arg-type]
            request,
            signer=Fixed(),
            **common,  # type: ignore[arg-type]
        )
        real = issue_token(request, signer=tsa, **common)  # type: ignore[arg-type]
        result = verify_timestamp_token(
            real, trust=[kit.root], data=b"value", check_revocation="none", tsa_certificates=[cert]
        )
        assert result.ok, result.reason
