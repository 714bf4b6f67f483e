"""OpenSSL 3 reads what the node PKI writes, and verifies every SM2 signature value it produces.

OpenSSL 3.0 verifies X.509 SM2 signatures with an empty distinguishing ID, while GM/T 0015 and every Chinese
CA sign with the default ID 1234567812345678; so the signature values are checked with ``openssl pkeyutl
-verify -rawin -digest sm3 -pkeyopt distid:1234567812345678`` over the exact signed bytes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms

from clockkit import FakeClock
from seals_kit import Node
from zhengwu.kernel.crypto import SM2PrivateKey, SM2PublicKey, SoftwareSigner, sm2_sig_raw_to_der
from zhengwu.kernel.pki import CertProfile, build_csr, load_certificate, load_crl
from zhengwu.pki import authority, tsa
from zhengwu.seals import service
from zhengwu.seals.ofd.container import OFDPackage, read_layout
from zhengwu.seals.ofd.verifier import read_signature_xml
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.ses import parse_seal, parse_signature

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, timeout=60)


def _text(tmp_path: Path, kind: str, der: bytes) -> str:
    path = tmp_path / f"{kind}-{len(list(tmp_path.iterdir()))}.der"
    path.write_bytes(der)
    result = _openssl(kind, "-inform", "DER", "-in", str(path), "-noout", "-text")
    assert result.returncode == 0, result.stderr
    return result.stdout


def _verify(tmp_path: Path, key: SM2PublicKey, data: bytes, signature: bytes) -> bool:
    folder = tmp_path / f"v{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "pub.pem").write_bytes(key.to_pem())
    (folder / "data").write_bytes(data)
    (folder / "sig").write_bytes(signature if len(signature) != 64 else sm2_sig_raw_to_der(signature))
    result = _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", str(folder / "pub.pem"), "-rawin", "-digest", "sm3",
        "-pkeyopt", "distid:1234567812345678", "-in", str(folder / "data"), "-sigfile", str(folder / "sig"),
    )  # fmt: skip
    return result.returncode == 0 and "Signature Verified Successfully" in result.stdout


def _seal_and_document(node: Node) -> tuple[service.Seal, bytes]:
    seal = service.create_seal(
        node.session,
        node.settings,
        department_credit_code=node.credit_code,
        name="河北省市场监督管理局行政审批专用章",
        actor="test",
    )
    doc = write_ofd(DocumentSpec(title="营业执照", blocks=[Paragraph("准予登记。")]))
    signed = service.sign_document(
        node.session,
        node.settings,
        seal.es_id,
        doc,
        placement=service.Placement(page=1, x=100, y=100),
        actor="t",
    )
    return seal, signed


def test_certificates_and_crls_parse_with_openssl(node: Node, clock: FakeClock, tmp_path: Path) -> None:
    seal, _ = _seal_and_document(node)
    certs = {
        p.value: authority.authority(node.session, node.settings, p).certificate
        for p in (CertProfile.ROOT_CA, CertProfile.ISSUING_CA, CertProfile.SEAL_MAKER, CertProfile.TSA)
    }
    for profile, cert in certs.items():
        text = _text(tmp_path, "x509", cert.der)
        assert "Signature Algorithm: SM2-with-SM3" in text and "ASN1 OID: SM2" in text, profile
        assert ("CA:TRUE" in text) == profile.endswith("-ca")
        if profile != "root-ca":
            assert "X509v3 CRL Distribution Points" in text and "/pki/crl/" in text
    tsa_text = _text(tmp_path, "x509", certs["tsa"].der)
    assert "X509v3 Extended Key Usage: critical" in tsa_text and "Time Stamping" in tsa_text
    assert "pathlen:0" in _text(tmp_path, "x509", certs["issuing-ca"].der)
    cert_row = service.seal_certificate(node.session, seal)
    leaf = _text(tmp_path, "x509", cert_row.der)
    assert "Digital Signature, Non Repudiation" in leaf and "CA:FALSE" in leaf
    assert cert_row.serial.lower() in leaf.replace(":", "").replace("\n", "").replace(" ", "").lower()
    csr = build_csr(subject={"CN": "shijiazhuang"}, signer=SoftwareSigner(SM2PrivateKey.generate()))
    exchange = authority.issue_exchange_certificate(node.session, node.settings, csr.der, "shijiazhuang")
    exchange_text = _text(tmp_path, "x509", exchange.der)
    assert "TLS Web Client Authentication" in exchange_text and "CN = shijiazhuang" in exchange_text
    clock.advance(seconds=5)
    service.revoke_seal(node.session, node.settings, seal.es_id, reason="测试", actor="t")
    crl = authority.current_crl(node.session, node.settings, "issuing")
    crl_text = _text(tmp_path, "crl", crl.der)
    assert "Next Update:" in crl_text and "Cessation Of Operation" in crl_text
    listed = {int(m, 16) for m in re.findall(r"Serial Number: ([0-9A-F]+)", crl_text)}
    assert listed == {int(cert_row.serial, 16)}
    assert "X509v3 CRL Number" in crl_text and "Authority Key Identifier" in crl_text
    root_crl = _text(tmp_path, "crl", authority.current_crl(node.session, node.settings, "root").der)
    assert "No Revoked Certificates" in root_crl


def test_every_signature_value_verifies_with_openssl(node: Node, tmp_path: Path) -> None:
    seal, signed = _seal_and_document(node)
    root = authority.authority(node.session, node.settings, CertProfile.ROOT_CA).certificate
    issuing = authority.authority(node.session, node.settings, CertProfile.ISSUING_CA).certificate
    leaf = load_certificate(service.seal_certificate(node.session, seal).der)
    # certificates and the CRL
    assert _verify(tmp_path, root.public_key, root.tbs, root.signature)
    assert _verify(tmp_path, root.public_key, issuing.tbs, issuing.signature)
    assert _verify(tmp_path, issuing.public_key, leaf.tbs, leaf.signature)
    assert not _verify(tmp_path, root.public_key, leaf.tbs, leaf.signature)  # the check can fail
    crl = load_crl(authority.current_crl(node.session, node.settings, "issuing").der)
    assert _verify(tmp_path, issuing.public_key, crl.tbs, crl.signature)
    # the seal: maker signature over DER(SES_SealInfo)
    parsed = parse_seal(seal.der)
    maker = load_certificate(parsed.maker_cert)
    assert _verify(tmp_path, maker.public_key, parsed.info_der, parsed.signed_value)
    # the document signature: SES_Signature over DER(TBS_Sign), and the TSA token in its timeStamp
    pkg = OFDPackage.from_bytes(signed)
    sx = read_signature_xml(pkg, read_layout(pkg).signatures[0].base_loc)
    ses = parse_signature(pkg.files[sx.signed_value_path])
    assert _verify(tmp_path, leaf.public_key, ses.tbs_der, ses.signature)
    assert not _verify(tmp_path, leaf.public_key, ses.tbs_der + b"x", ses.signature)
    assert ses.time_stamp is not None
    info = cms.ContentInfo.load(ses.time_stamp)["content"]["signer_infos"][0]
    signed_attrs = b"\x31" + info["signed_attrs"].dump()[1:]  # RFC 5652 §5.4: signed as a SET OF
    tsa_cert = authority.authority(node.session, node.settings, CertProfile.TSA).certificate
    assert _verify(tmp_path, tsa_cert.public_key, signed_attrs, info["signature"].native)
    # a TimeStampResp from the HTTP service parses with openssl ts
    from zhengwu.kernel.pki import build_timestamp_request

    status, reply = tsa.respond(node.session, node.settings, build_timestamp_request(b"data").der)
    (tmp_path / "reply.tsr").write_bytes(reply)
    shown = _openssl("ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-text")
    assert status == 200 and shown.returncode == 0 and "Status: Granted." in shown.stdout
    assert tsa.TSA_POLICY in shown.stdout and "Hash Algorithm: sm3" in shown.stdout
