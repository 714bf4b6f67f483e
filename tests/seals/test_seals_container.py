"""Safe OFD container reading: limits, hostile names, hardened XML, path resolution."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest

from zhengwu.seals.errors import OFDFormatError, OFDLimitError
from zhengwu.seals.ofd.container import OFDPackage, ZipLimits, check_entry_name, read_layout
from zhengwu.seals.ofd.xml import parse_xml

OFD_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0">'
    b"<ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
    b"<ofd:Signatures>/Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody></ofd:OFD>"
)


def make_zip(entries: list[tuple[str, bytes]], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def test_reads_files_and_skips_directories() -> None:
    pkg = OFDPackage.from_bytes(make_zip([("Doc_0/", b""), ("OFD.xml", OFD_XML), ("Doc_0/a.xml", b"<a/>")]))
    assert list(pkg.files) == ["OFD.xml", "Doc_0/a.xml"]
    assert pkg.read("/Doc_0/a.xml") == b"<a/>"


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_garbage_is_a_format_error(data: bytes) -> None:
    with pytest.raises(OFDFormatError):
        OFDPackage.from_bytes(data)


def test_truncated_zip_is_a_format_error() -> None:
    whole = make_zip([("OFD.xml", OFD_XML * 50)])
    for cut in (len(whole) // 3, len(whole) - 10):
        with pytest.raises(OFDFormatError):
            OFDPackage.from_bytes(whole[:cut])


def test_corrupt_entry_data_is_a_format_error() -> None:
    whole = bytearray(make_zip([("OFD.xml", OFD_XML * 50)]))
    whole[40:60] = b"\xff" * 20  # inside the deflate stream of the only entry
    with pytest.raises(OFDFormatError):
        OFDPackage.from_bytes(bytes(whole))


@pytest.mark.parametrize(
    "name",
    ["../evil.xml", "Doc_0/../../evil", "/etc/passwd", "C:/x.xml", "Doc_0\\x.xml", "a//b", "./a", "a\x00b"],
)
def test_hostile_entry_names_are_refused(name: str) -> None:
    with pytest.raises(OFDFormatError):
        check_entry_name(name)


def test_path_traversal_entry_in_archive_is_refused() -> None:
    with pytest.raises(OFDFormatError, match=r"\.\."):
        OFDPackage.from_bytes(make_zip([("OFD.xml", OFD_XML), ("../../x", b"1")]))


def test_duplicate_entry_names_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("OFD.xml", OFD_XML)
        archive.writestr("OFD.xml", b"<other/>")
    with pytest.raises(OFDFormatError, match=r"OFD\.xml"):
        OFDPackage.from_bytes(out.getvalue())


def test_zip_bomb_is_refused_quickly() -> None:
    bomb = make_zip([("OFD.xml", OFD_XML), ("Doc_0/bomb.xml", b"\x00" * (64 * 1024 * 1024))])
    assert len(bomb) < 200_000
    started = time.monotonic()
    with pytest.raises(OFDLimitError):
        OFDPackage.from_bytes(bomb)
    assert time.monotonic() - started < 5  # refused from the central directory, nothing inflated


def test_total_size_and_entry_count_limits() -> None:
    many = make_zip([(f"f{i}.xml", b"<a/>") for i in range(30)])
    with pytest.raises(OFDLimitError):
        OFDPackage.from_bytes(many, limits=ZipLimits(max_entries=10))
    with pytest.raises(OFDLimitError):
        OFDPackage.from_bytes(many, limits=ZipLimits(max_total_bytes=50))


def test_repack_keeps_exact_bytes() -> None:
    pkg = OFDPackage.from_bytes(make_zip([("OFD.xml", OFD_XML), ("Doc_0/a.bin", bytes(range(256)))]))
    again = OFDPackage.from_bytes(pkg.to_bytes())
    assert again.files == pkg.files


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">&x;</ofd:Signatures>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">'.encode() for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)


@pytest.mark.parametrize("payload", [XXE, LAUGHS, XXE.decode().encode("utf-16")])
def test_dtd_payloads_are_refused(payload: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(OFDFormatError, match="DOCTYPE"):
        parse_xml(payload)
    assert time.monotonic() - started < 2


def test_malformed_xml_is_a_format_error() -> None:
    with pytest.raises(OFDFormatError):
        parse_xml(b"<a><b></a>")


def test_bom_and_namespace_variants_parse() -> None:
    root = parse_xml(b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?><OFD><DocBody/></OFD>")
    assert root.tag == "OFD"


def test_layout_follows_relative_and_absolute_paths() -> None:
    sigs = (
        b'<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016"><ofd:MaxSignId>2</ofd:MaxSignId>'
        b'<ofd:Signature ID="1" BaseLoc="Sign_0/Signature.xml"/>'
        b'<ofd:Signature ID="2" Type="Sign" BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml"/>'
        b"<ofd:MaxSignId>3</ofd:MaxSignId></ofd:Signatures>"
    )
    pkg = OFDPackage.from_bytes(
        make_zip(
            [
                ("OFD.xml", OFD_XML),
                ("Doc_0/Document.xml", b"<Document/>"),
                ("Doc_0/Signs/Signatures.xml", sigs),
            ]
        )
    )
    layout = read_layout(pkg)
    assert layout.doc_root == "Doc_0/Document.xml"
    assert [(s.id, s.type, s.base_loc) for s in layout.signatures] == [
        ("1", "Seal", "Doc_0/Signs/Sign_0/Signature.xml"),
        ("2", "Sign", "Doc_0/Signs/Sign_1/Signature.xml"),
    ]
    assert layout.max_sign_ids == ("2", "3")


def test_resolve_refuses_escaping_the_root() -> None:
    pkg = OFDPackage({"OFD.xml": OFD_XML})
    assert pkg.resolve("../Res/a.png", "Doc_0/Pages/Page_0/Content.xml") == "Doc_0/Pages/Res/a.png"
    with pytest.raises(OFDFormatError):
        pkg.resolve("../../../x", "Doc_0/a.xml")
    with pytest.raises(OFDFormatError):
        pkg.resolve("/../x", "OFD.xml")


def test_every_conformance_document_opens(ofd_dir: Path) -> None:
    for path in sorted((ofd_dir / "documents").glob("*.ofd")):
        layout = read_layout(OFDPackage.from_bytes(path.read_bytes()))
        assert layout.signatures, path.name
