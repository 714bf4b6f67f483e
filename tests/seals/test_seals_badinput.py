"""Hostile and broken input: the verifier answers ERROR or INVALID with a reason, quickly, never raising."""

from __future__ import annotations

import io
import os
import time
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seals_kit import SealKit
from zhengwu.seals.ofd.container import OFDPackage, read_layout
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.verifier import read_signature_xml, verify_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.verify import Verdict

SM3_WITH_SM2 = bytes.fromhex("06082a811ccf5501 8375".replace(" ", ""))


@pytest.fixture(scope="module")
def signed(kit: SealKit) -> bytes:
    doc = write_ofd(DocumentSpec(title="测试文件", blocks=[Paragraph("正文内容。")]))
    return sign_ofd(doc, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)


def _parts(data: bytes) -> tuple[OFDPackage, str, str]:
    pkg = OFDPackage.from_bytes(data)
    layout = read_layout(pkg)
    sx = read_signature_xml(pkg, layout.signatures[0].base_loc)
    return pkg, sx.path, sx.signed_value_path


def _codes(data: bytes, **kwargs: object) -> tuple[Verdict, set[str]]:
    report = verify_ofd(data, **kwargs)  # type: ignore[arg-type]
    codes = {r.code for r in report.reasons}
    for sig in report.signatures:
        codes |= {r.code for r in sig.reasons}
    return report.verdict, codes


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_baseline_is_crypto_valid(signed: bytes) -> None:
    report = verify_ofd(signed)
    assert report.signatures[0].crypto_valid


@pytest.mark.parametrize("cut", [0, 10, 100, 1000, -22, -1])
def test_truncated_zip_is_error(signed: bytes, cut: int) -> None:
    verdict, codes = _codes(signed[:cut])
    assert verdict is Verdict.ERROR and codes == {"seals.ofd_format"}


def test_not_a_zip_is_error() -> None:
    assert _codes(b"%PDF-1.7 definitely not OFD")[0] is Verdict.ERROR


def test_zip_bomb_is_error_quickly(signed: bytes) -> None:
    pkg = OFDPackage.from_bytes(signed)
    entries = dict(pkg.files)
    entries["Doc_0/Res/bomb.bin"] = b"\x00" * (300 * 1024 * 1024)
    bomb = _zip(entries)
    started = time.monotonic()
    verdict, codes = _codes(bomb)
    assert verdict is Verdict.ERROR and codes == {"seals.ofd_limit"}
    assert time.monotonic() - started < 5


def test_path_traversal_entry_is_error(signed: bytes) -> None:
    entries = dict(OFDPackage.from_bytes(signed).files)
    entries["../../etc/cron.d/x"] = b"* * * * * root true"
    assert _codes(_zip(entries)) == (Verdict.ERROR, {"seals.ofd_format"})


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Signature ID="1" BaseLoc="&x;"/></ofd:Signatures>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10 if i > 1 else "&a;" * 10}">'.encode()
        for i in range(1, 12)
    )
    + b']><ofd:Signatures xmlns:ofd="http://www.ofdspec.org/2016">&a11;</ofd:Signatures>'
)


@pytest.mark.parametrize("payload", [XXE, LAUGHS])
def test_dtd_in_signature_list_is_error(signed: bytes, payload: bytes) -> None:
    pkg = OFDPackage.from_bytes(signed)
    pkg.files[read_layout(pkg).signatures_path or ""] = payload
    started = time.monotonic()
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.ERROR and codes == {"seals.ofd_format"}
    assert time.monotonic() - started < 2


def test_dtd_in_signature_xml_is_invalid(signed: bytes) -> None:
    pkg, sig_xml, _ = _parts(signed)
    pkg.files[sig_xml] = XXE.replace(b"Signatures", b"Signature")
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "seals.ofd_format" in codes


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x30\x03\x02\x01\x04",
        b"\x30\x84\xff\xff\xff\xff",
        b"garbage" * 100,
        b"\x30\x82\x01\x00" + b"\x04" * 256,
    ],
)
def test_malformed_signed_value_is_invalid(signed: bytes, value: bytes) -> None:
    pkg, _, sv = _parts(signed)
    pkg.files[sv] = value
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "seals.ses_format" in codes


def test_oversized_signed_value_is_invalid(signed: bytes) -> None:
    pkg, _, sv = _parts(signed)
    pkg.files[sv] = b"\x30\x84\x01\x10\x00\x00" + os.urandom(
        17 * 1024 * 1024
    )  # incompressible: no zip-bomb hit
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "seals.ses_format" in codes


def test_unknown_signature_algorithm_is_invalid(signed: bytes) -> None:
    pkg, _, sv = _parts(signed)
    value = pkg.files[sv]
    at = value.rindex(SM3_WITH_SM2)  # the SES_Signature's own signatureAlgID follows the TBS
    pkg.files[sv] = value[:at] + SM3_WITH_SM2[:-1] + b"\x76" + value[at + len(SM3_WITH_SM2) :]
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "signature_algorithm_unsupported" in codes


@pytest.mark.parametrize("method", [b"MD5", b"1.2.840.113549.2.5", b"1.2.3.4"])
def test_unknown_check_method_is_invalid(signed: bytes, method: bytes) -> None:
    pkg, sig_xml, _ = _parts(signed)
    pkg.files[sig_xml] = pkg.files[sig_xml].replace(
        b'CheckMethod="1.2.156.10197.1.401"', b'CheckMethod="' + method + b'"'
    )
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "check_method_unsupported" in codes


def test_missing_referenced_file_is_invalid(signed: bytes) -> None:
    pkg = OFDPackage.from_bytes(signed)
    del pkg.files["Doc_0/PublicRes.xml"]
    verdict, codes = _codes(pkg.to_bytes())
    assert verdict is Verdict.INVALID and "reference_missing" in codes


def test_missing_signed_value_or_signature_xml_is_invalid(signed: bytes) -> None:
    for which in (1, 2):
        pkg, sig_xml, sv = _parts(signed)
        del pkg.files[sig_xml if which == 1 else sv]
        verdict, codes = _codes(pkg.to_bytes())
        assert verdict is Verdict.INVALID and "seals.ofd_format" in codes


def test_unsigned_document_is_invalid() -> None:
    doc = write_ofd(DocumentSpec(title="未签章"))
    assert _codes(doc) == (Verdict.INVALID, {"no_signatures"})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruption_never_raises(signed: bytes, data: st.DataObject) -> None:
    buf = bytearray(signed)
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    report = verify_ofd(bytes(buf))
    assert report.verdict in set(Verdict)
    report.as_json()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=2000))
def test_random_signed_value_never_raises(signed: bytes, junk: bytes) -> None:
    pkg, _, sv = _parts(signed)
    pkg.files[sv] = junk
    assert verify_ofd(pkg.to_bytes()).verdict is Verdict.INVALID
