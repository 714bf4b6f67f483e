"""Conformance: every signature in shared/conformance/ofd gets the cryptographic verdict of expected.json."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem

from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.pki import TrustStore
from zhengwu.seals.cms import verify_signed_data
from zhengwu.seals.ofd.verifier import verify_ofd
from zhengwu.seals.ses import parse_seal, parse_signature
from zhengwu.seals.trust import PkiChainValidator
from zhengwu.seals.verify import Verdict, check_seal_maker_signature, check_ses_signature_value


def _expected(ofd_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ofd_dir / "expected.json").read_text("utf-8"))
    return data


def _user_cert(ofd_dir: Path) -> bytes:
    return bytes(pem.unarmor((ofd_dir / "keys" / "derived__ofdrw_USER_cert.pem").read_bytes())[2])


def _codes(report: Any, sig_id: str) -> set[str]:
    sig = next(s for s in report.signatures if s.id == sig_id)
    return {r.code for r in sig.reasons}


def test_every_document_signature_has_the_expected_crypto_verdict(ofd_dir: Path) -> None:
    expected = _expected(ofd_dir)["documents"]
    seen = 0
    for name, doc in expected.items():
        report = verify_ofd((ofd_dir / "documents" / name).read_bytes(), extra_certs=[_user_cert(ofd_dir)])
        got = {s.id: s.crypto_valid for s in report.signatures}
        want = {s["ID"]: s["crypto_verdict"] == "VALID" for s in doc["signatures"]}
        assert got == want, name
        seen += len(got)
    assert seen == 15


# README: no CA root of these documents is included, so crypto-valid documents are INDETERMINATE; tampered
# ones and the one signed with an expired certificate are INVALID.
OVERALL = {
    "ofdrw-converter__1.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__999.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__SignScaleError.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__V4RideRight.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__draw_param_ref.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__h.ofd": Verdict.INVALID,
    "ofdrw-converter__n.ofd": Verdict.INVALID,
    "ofdrw-converter__testImageOverridePage.ofd": Verdict.INDETERMINATE,
    "ofdrw-converter__zsbk.ofd": Verdict.INVALID,
    "ofdrw-reader__SESV4SignDoc.ofd": Verdict.INVALID,
    "ofdrw-sign__DigitalSign.ofd": Verdict.INDETERMINATE,
    "ofdrw-sign__v4signed.ofd": Verdict.INDETERMINATE,
}


@pytest.mark.parametrize(("name", "verdict"), sorted(OVERALL.items()))
def test_overall_verdicts_without_trust_anchors(ofd_dir: Path, name: str, verdict: Verdict) -> None:
    report = verify_ofd((ofd_dir / "documents" / name).read_bytes(), extra_certs=[_user_cert(ofd_dir)])
    assert report.verdict is verdict
    for sig in report.signatures:
        if sig.crypto_valid and sig.verdict is Verdict.INDETERMINATE:
            assert "signer_chain_untrusted" in {r.code for r in sig.reasons}


def test_known_findings_are_named(ofd_dir: Path) -> None:
    docs = ofd_dir / "documents"
    h = verify_ofd((docs / "ofdrw-converter__h.ofd").read_bytes())
    assert {"reference_mismatch", "signature_list_rewritten"} <= _codes(h, "s001")
    assert h.signatures[0].reference_failures == ["Doc_0/Signs/Signatures.xml"]
    zsbk = verify_ofd((docs / "ofdrw-converter__zsbk.ofd").read_bytes())
    assert sorted(zsbk.signatures[0].reference_failures) == [
        "Doc_0/Pages/Page_0/Content.xml",
        "Doc_0/Pages/Page_1/Content.xml",
    ]
    expired = verify_ofd((docs / "ofdrw-reader__SESV4SignDoc.ofd").read_bytes())
    assert "signer_cert_expired" in _codes(expired, "1")
    n = verify_ofd((docs / "ofdrw-converter__n.ofd").read_bytes())
    assert {"reference_mismatch", "data_hash_mismatch"} <= _codes(n, "0")
    bare = verify_ofd((docs / "ofdrw-sign__DigitalSign.ofd").read_bytes())
    assert not bare.signatures[0].crypto_valid
    assert "signer_cert_unavailable" in _codes(bare, "s001")
    assert bare.verdict is Verdict.INDETERMINATE


def test_ofdrw_documents_are_valid_once_their_root_is_trusted(ofd_dir: Path) -> None:
    store = TrustStore()
    store.add_anchor((ofd_dir / "keys" / "derived__ofdrw_ROOT_cert.pem").read_bytes(), ["seals"])
    # The ofdrw root lacks keyCertSign; no CRL exists for this test PKI.
    trust = PkiChainValidator(store, tolerate_anchor_key_usage=True, check_revocation="none")
    docs, extra = ofd_dir / "documents", [_user_cert(ofd_dir)]
    assert (
        verify_ofd((docs / "ofdrw-converter__V4RideRight.ofd").read_bytes(), trust=trust).verdict
        is Verdict.VALID
    )
    assert verify_ofd(
        (docs / "ofdrw-sign__DigitalSign.ofd").read_bytes(), trust=trust, extra_certs=extra
    ).verdict is (Verdict.VALID)
    h = verify_ofd((docs / "ofdrw-converter__h.ofd").read_bytes(), trust=trust)
    assert [(s.id, s.verdict) for s in h.signatures] == [("s001", Verdict.INVALID), ("s007", Verdict.VALID)]
    expired = verify_ofd((docs / "ofdrw-reader__SESV4SignDoc.ofd").read_bytes(), trust=trust)
    assert expired.verdict is Verdict.INVALID


def test_report_json_shape(ofd_dir: Path) -> None:
    report = verify_ofd((ofd_dir / "documents" / "ofdrw-converter__999.ofd").read_bytes())
    data = report.as_json()
    assert set(data) == {"verdict", "signatures", "reasons"}
    sig = data["signatures"][0]
    assert list(sig) == [
        "id",
        "verdict",
        "crypto_valid",
        "reasons",
        "signer",
        "seal_name",
        "es_id",
        "algorithm",
        "signed_at",
    ]
    assert sig["id"] == "1" and sig["crypto_valid"] is True and sig["verdict"] == "INDETERMINATE"
    assert (
        sig["seal_name"] == "测试全国统一发票监制章国家税务总局重庆市税务局"
        and sig["es_id"] == "50011200000323"
    )
    assert sig["algorithm"] == "1.2.156.10197.1.501" and sig["signed_at"] == "2020-08-17T11:13:29+00:00"
    assert all({"code", "severity", "zh", "en"} == set(r) for r in sig["reasons"])
    json.dumps(data, ensure_ascii=False)


def test_standalone_seal_maker_signatures(ofd_dir: Path) -> None:
    for name, facts in _expected(ofd_dir)["seals"].items():
        if facts["kind"] != "SESeal":
            continue
        check = check_seal_maker_signature(parse_seal((ofd_dir / "seals" / name).read_bytes()))
        assert check.valid is facts["maker_sig_valid"], name


def test_standalone_signed_values(ofd_dir: Path) -> None:
    for name in ("ofdrw-gm__SignedValueV4.dat", "ofdrw-gm__SignedValueV5.dat"):
        sig = parse_signature((ofd_dir / "seals" / name).read_bytes())
        assert check_ses_signature_value(sig).valid, name
        assert check_seal_maker_signature(sig.seal).valid, name


def test_extracted_tongzhi_parts(ofd_dir: Path) -> None:
    part1 = ofd_dir / "extracted" / "keyword-tongz-sign1"
    sig = parse_signature((part1 / "SignedValue.dat").read_bytes())
    assert len(sig.signature) == 64  # raw r||s, accepted as well as DER
    assert sig.data_hash == sm3((part1 / "Signature.xml").read_bytes())
    assert check_ses_signature_value(sig).valid
    assert check_seal_maker_signature(sig.seal).valid
    assert (part1 / "Seal.esl").read_bytes() == sig.seal_der
    part3 = ofd_dir / "extracted" / "keyword-tongz-sign3"
    result = verify_signed_data(
        (part3 / "SignedValue.dat").read_bytes(), (part3 / "Signature.xml").read_bytes()
    )
    assert result.valid and result.digest_matches and result.signature_valid


def test_gbt35275_signed_data_detects_a_changed_signature_xml(ofd_dir: Path) -> None:
    with zipfile.ZipFile(ofd_dir / "documents" / "ofdrw-converter__testImageOverridePage.ofd") as archive:
        value = archive.read("Doc_0/Signs/Sign_0/SignedValue.dat")
        xml = archive.read("Doc_0/Signs/Sign_0/Signature.xml")
    assert verify_signed_data(value, xml).valid
    changed = verify_signed_data(value, xml.replace(b"SignatureDateTime", b"SignatureDateTimf"))
    assert not changed.valid and not changed.digest_matches
