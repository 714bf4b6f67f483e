"""Signing OFD documents: our own and external ones, continue-signing, placement, trusted time and status."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import pem

from seals_kit import NOW, SealKit, make_kit
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner, sm2_sig_raw_to_der
from zhengwu.kernel.pki import (
    CertProfile,
    RevokedCertificate,
    build_timestamp_request,
    issue_certificate,
    issue_timestamp_token,
    load_certificate,
)
from zhengwu.seals.errors import SigningError
from zhengwu.seals.ofd.container import OFDPackage, read_layout
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ofd.text import find_text
from zhengwu.seals.ofd.verifier import read_signature_xml, verify_ofd
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, Table, write_ofd
from zhengwu.seals.ses import parse_signature
from zhengwu.seals.trust import PkiTimestampVerifier, SealState
from zhengwu.seals.verify import Verdict

TEXT = "根据《河北省政务服务管理办法》，现予以公告。特此通知。"


def _doc() -> bytes:
    return write_ofd(
        DocumentSpec(
            title="关于开展政务服务事项清单核查的通知",
            blocks=[Paragraph(TEXT, indent_chars=2), Table([["事项", "时限"], ["核查", "10个工作日"]])],
        )
    )


def _codes(report_sig: object) -> set[str]:
    return {r.code for r in report_sig.reasons}  # type: ignore[attr-defined]


def test_signed_document_verifies(kit: SealKit) -> None:
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=1, x=120, y=80)
    report = verify_ofd(signed, trust=kit.trust)
    assert report.verdict is Verdict.VALID, report.as_json()
    sig = report.signatures[0]
    assert (
        sig.crypto_valid and sig.seal_name == "河北省测试局电子政务办公室" and sig.es_id == "13000000000001"
    )
    pkg = OFDPackage.from_bytes(signed)
    layout = read_layout(pkg)
    sx = read_signature_xml(pkg, layout.signatures[0].base_loc)
    assert sx.check_method == "1.2.156.10197.1.401"
    covered = {path for _, path, _ in sx.references}
    # every file except the signature list (continue-signing) and this signature's own output
    assert covered == set(pkg.files) - {layout.signatures_path, sx.path, sx.signed_value_path}
    assert sx.seal_path is not None and pkg.files[sx.seal_path] == kit.seal
    ses = parse_signature(pkg.files[sx.signed_value_path])
    assert ses.version == 4 and ses.property_info == f"/{sx.path}"


def test_untrusted_root_is_indeterminate(kit: SealKit) -> None:
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)
    report = verify_ofd(signed)
    assert report.verdict is Verdict.INDETERMINATE and report.signatures[0].crypto_valid


def test_continue_signing_keeps_earlier_signatures(kit: SealKit) -> None:
    other = make_kit("河北省测试局审批专用")
    once = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=1, x=20, y=200)
    twice = sign_ofd(
        once, seal=other.seal, signer=other.signer, cert_der=other.signer_cert, keyword="特此通知"
    )
    report = verify_ofd(
        twice,
        trust=lambda cert, **kw: (
            kit.trust if cert == kit.signer_cert or cert == kit.maker_cert else other.trust
        )(cert, **kw),
    )
    assert [s.verdict for s in report.signatures] == [Verdict.VALID, Verdict.VALID], report.as_json()
    assert "later_signatures" in _codes(report.signatures[0])
    assert [s.id for s in report.signatures] == ["s001", "s003"]


def test_keyword_places_the_stamp_on_the_text(kit: SealKit) -> None:
    doc = _doc()
    pkg = OFDPackage.from_bytes(doc)
    ((_, page_id, box),) = find_text(pkg, read_layout(pkg).doc_root, "特此通知")
    signed = sign_ofd(doc, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, keyword="特此通知")
    spkg = OFDPackage.from_bytes(signed)
    annot = next(
        el
        for el in spkg.xml(read_layout(spkg).signatures[0].base_loc).iter()
        if str(el.tag).endswith("StampAnnot")
    )
    x, y, w, h = (float(v) for v in annot.get("Boundary").split())
    assert annot.get("PageRef") == page_id
    assert abs(x + w / 2 - box.center[0]) < 0.01 and abs(y + h / 2 - box.center[1]) < 0.01
    with pytest.raises(SigningError):
        sign_ofd(doc, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, keyword="不存在的词")


@pytest.mark.parametrize(
    "name",
    [
        "ofdrw-converter__999.ofd",
        "ofdrw-converter__1.ofd",
        "ofdrw-converter__SignScaleError.ofd",
        "ofdrw-sign__v4signed.ofd",
        "ofdrw-converter__zsbk.ofd",
        "ofdrw-converter__n.ofd",
        "ofdrw-sign__DigitalSign.ofd",
    ],
)
def test_signing_external_documents_keeps_old_verdicts(kit: SealKit, ofd_dir: Path, name: str) -> None:
    data = (ofd_dir / "documents" / name).read_bytes()
    user = bytes(pem.unarmor((ofd_dir / "keys" / "derived__ofdrw_USER_cert.pem").read_bytes())[2])
    before = verify_ofd(data, extra_certs=[user])
    signed = sign_ofd(data, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=1, x=10, y=10)
    after = verify_ofd(signed, trust=kit.trust, extra_certs=[user])
    assert [s.crypto_valid for s in after.signatures[:-1]] == [s.crypto_valid for s in before.signatures]
    assert after.signatures[-1].verdict is Verdict.VALID, after.as_json()


def test_full_protection_signature_refuses_another(kit: SealKit, ofd_dir: Path) -> None:
    data = (ofd_dir / "documents" / "ofdrw-converter__V4RideRight.ofd").read_bytes()
    with pytest.raises(SigningError, match=r"Signatures\.xml"):
        sign_ofd(data, seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)


def test_wrong_key_or_unlisted_certificate_is_refused(kit: SealKit) -> None:
    other = make_kit("别的单位")
    with pytest.raises(SigningError):
        sign_ofd(_doc(), seal=kit.seal, signer=other.signer, cert_der=kit.signer_cert)
    with pytest.raises(SigningError):
        sign_ofd(_doc(), seal=kit.seal, signer=other.signer, cert_der=other.signer_cert)
    with pytest.raises(SigningError):
        sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, page=9)


def test_tampering_after_signing_is_detected(kit: SealKit) -> None:
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)
    pkg = OFDPackage.from_bytes(signed)
    content = "Doc_0/Pages/Page_0/Content.xml"
    pkg.files[content] = pkg.files[content].replace("特此通知".encode(), "不予通知".encode())
    report = verify_ofd(pkg.to_bytes(), trust=kit.trust)
    assert report.verdict is Verdict.INVALID and report.signatures[0].reference_failures == [content]
    pkg = OFDPackage.from_bytes(signed)
    pkg.files["Doc_0/Pages/Page_9/Content.xml"] = b"<Page/>"
    report = verify_ofd(pkg.to_bytes(), trust=kit.trust)
    assert report.verdict is Verdict.INDETERMINATE and "unprotected_content" in _codes(report.signatures[0])


def test_seal_status_from_the_registry(kit: SealKit) -> None:
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)
    seen: list[str] = []

    def revoked(es_id: str, at: object) -> SealState:
        seen.append(es_id)
        return SealState.REVOKED

    assert verify_ofd(signed, trust=kit.trust, seal_status=revoked).verdict is Verdict.INVALID
    assert seen[0] == "13000000000001"
    # active when signed, suspended now: without a trusted time the signature cannot be confirmed
    report = verify_ofd(
        signed,
        trust=kit.trust,
        at=NOW + timedelta(days=2),
        seal_status=lambda es_id, at: (
            SealState.ACTIVE if at < NOW + timedelta(days=1) else SealState.SUSPENDED
        ),
    )
    assert report.verdict is Verdict.INDETERMINATE and "seal_suspended_now" in _codes(report.signatures[0])
    assert verify_ofd(signed, trust=kit.trust, seal_status=lambda e, a: "active").verdict is Verdict.VALID


def _tsa(kit: SealKit) -> tuple[SoftwareSigner, object]:
    tsa = SoftwareSigner(SM2PrivateKey.generate())
    cert = issue_certificate(
        issuer=kit.root,
        issuer_signer=kit.root_signer,
        subject={"C": "CN", "CN": "zhengwu test TSA"},
        public_key=tsa.public_key,
        profile=CertProfile.TSA,
        not_before=NOW - timedelta(days=5),
        not_after=NOW + timedelta(days=365),
    )
    return tsa, cert


def test_trusted_time_keeps_a_signature_made_before_revocation_valid() -> None:
    kit = make_kit("河北省测试局时间戳")
    tsa, tsa_cert = _tsa(kit)
    signing_time = NOW - timedelta(hours=2)

    def stamp(value: bytes) -> bytes:
        request = build_timestamp_request(value)
        return issue_timestamp_token(
            request,
            tsa_certificate=tsa_cert,
            signer=tsa,
            gen_time=signing_time,
            policy="1.2.156.1",  # type: ignore[arg-type]
        )

    stamped = sign_ofd(
        _doc(),
        seal=kit.seal,
        signer=kit.signer,
        cert_der=kit.signer_cert,
        timestamp_provider=stamp,
        signed_at=signing_time,
    )
    plain = sign_ofd(
        _doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert, signed_at=signing_time
    )
    serial = load_certificate(kit.signer_cert).serial_number
    kit.publish_crl([RevokedCertificate(serial_number=serial, revoked_at=NOW - timedelta(hours=1))], number=2)
    timestamps = PkiTimestampVerifier(kit.store)
    ok = verify_ofd(stamped, trust=kit.trust, timestamps=timestamps)
    assert ok.verdict is Verdict.VALID, ok.as_json()
    assert ok.signatures[0].time_source == "timestamp"
    # Revoked now and no trusted time: the claimed signing time proves nothing (GB/T 38540 basic check).
    unproven = verify_ofd(plain, trust=kit.trust, timestamps=timestamps)
    assert unproven.verdict is Verdict.INVALID and "signer_cert_revoked_later" in _codes(
        unproven.signatures[0]
    )
    late = sign_ofd(
        _doc(),
        seal=kit.seal,
        signer=kit.signer,
        cert_der=kit.signer_cert,
        signed_at=NOW - timedelta(minutes=5),
    )
    assert verify_ofd(late, trust=kit.trust).verdict is Verdict.INVALID


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_signature_value_verifies_with_openssl(kit: SealKit, tmp_path: Path) -> None:
    signed = sign_ofd(_doc(), seal=kit.seal, signer=kit.signer, cert_der=kit.signer_cert)
    pkg = OFDPackage.from_bytes(signed)
    sx = read_signature_xml(pkg, read_layout(pkg).signatures[0].base_loc)
    ses = parse_signature(pkg.files[sx.signed_value_path])
    sig = ses.signature if len(ses.signature) != 64 else sm2_sig_raw_to_der(ses.signature)
    (tmp_path / "tbs.der").write_bytes(ses.tbs_der)
    (tmp_path / "sig.der").write_bytes(sig)
    (tmp_path / "pub.pem").write_bytes(kit.signer.public_key.to_pem())
    (tmp_path / "bad.der").write_bytes(ses.tbs_der + b"x")

    def openssl_verify(data: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(tmp_path / "pub.pem"),
                "-rawin",
                "-digest",
                "sm3",
                "-pkeyopt",
                "distid:1234567812345678",
                "-in",
                str(tmp_path / data),
                "-sigfile",
                str(tmp_path / "sig.der"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    good = openssl_verify("tbs.der")
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout, good.stderr
    assert openssl_verify("bad.der").returncode != 0
