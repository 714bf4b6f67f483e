"""RFC 3161 time-stamps with SM2/SM3: request, token, response, verification against a trusted TSA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms, tsp

from zhengwu.kernel.crypto import SM2PrivateKey, sm3
from zhengwu.kernel.pki import (
    CertProfile,
    PkiError,
    RevokedCertificate,
    TimestampStatus,
    TrustStore,
    ValidationStatus,
    ZConvention,
    build_crl,
    build_timestamp_request,
    build_timestamp_response,
    issue_certificate,
    issue_timestamp_token,
    load_timestamp_request,
    load_timestamp_response,
    verify_timestamp_token,
)

GEN_TIME = datetime(2026, 6, 1, 8, 30, 15, 123456, tzinfo=UTC)
POLICY = "1.2.156.112560.1.1"  # a deployment's TSA policy OID (configuration, not a registered value)
DATA = "河北省政务服务 签章数据".encode()


@pytest.fixture(scope="module")
def token(pki):
    request = build_timestamp_request(DATA, nonce=123456789)
    return issue_timestamp_token(
        request, tsa_certificate=pki.tsa, signer=pki.tsa_key, gen_time=GEN_TIME, policy=POLICY, chain=[pki.ca]
    )


def test_request_round_trip():
    request = build_timestamp_request(DATA, policy=POLICY)
    assert request.imprint == sm3(DATA) and request.cert_req and request.nonce is not None
    parsed = load_timestamp_request(request.der)
    assert parsed == request
    by_imprint = build_timestamp_request(imprint=sm3(DATA), nonce=5, cert_req=False)
    assert load_timestamp_request(by_imprint.der).nonce == 5
    asn1 = tsp.TimeStampReq.load(request.der)
    assert asn1["message_imprint"]["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    with pytest.raises(PkiError, match="exactly one"):
        build_timestamp_request(DATA, imprint=sm3(DATA))
    with pytest.raises(PkiError, match="32 bytes"):
        build_timestamp_request(imprint=b"short")


def test_request_with_other_hash_is_refused():
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\0" * 32},
        }
    )
    with pytest.raises(PkiError, match="unsupported imprint algorithm"):
        load_timestamp_request(req.dump())


def test_token_structure(pki, token):
    info = cms.ContentInfo.load(token)
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    assert signed["version"].native == "v3"
    assert signed["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"
    signer = signed["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert signer["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    types = {attr["type"].dotted for attr in signer["signed_attrs"]}
    assert types == {"1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4", "1.2.840.113549.1.9.16.2.47"}
    tst = signed["encap_content_info"]["content"].parsed
    assert tst["policy"].dotted == POLICY and tst["nonce"].native == 123456789
    assert len(signed["certificates"]) == 2


def test_verify_token(pki, token):
    result = verify_timestamp_token(
        token, trust=[pki.root], data=DATA, nonce=123456789, check_revocation="none"
    )
    assert result.ok, result.reason
    assert result.gen_time == GEN_TIME.replace(microsecond=0)
    assert result.policy == POLICY and result.nonce == 123456789
    assert result.tsa_certificate == pki.tsa
    assert result.convention is ZConvention.DEFAULT_ID
    assert result.chain is not None and result.chain.chain == (pki.tsa, pki.ca, pki.root)
    assert result.chain.at == result.gen_time
    assert result.warnings == ()
    by_imprint = verify_timestamp_token(token, trust=[pki.root], imprint=sm3(DATA), check_revocation="none")
    assert by_imprint.ok


def test_verify_through_trust_store_with_crl(pki, token):
    store = TrustStore()
    store.add_anchor(pki.root, {"timestamping"})
    crl = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=GEN_TIME,
        next_update=GEN_TIME + timedelta(days=7),
        crl_number=1,
    )
    assert verify_timestamp_token(token, trust=store, data=DATA, crls=[crl]).ok
    # The seals anchors are a different purpose.
    assert verify_timestamp_token(token, trust=store, data=DATA, crls=[crl], purpose="seals").status is (
        TimestampStatus.CHAIN_INVALID
    )
    # A TSA certificate revoked after genTime still vouches for earlier tokens.
    later = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=GEN_TIME + timedelta(days=30),
        next_update=GEN_TIME + timedelta(days=37),
        crl_number=2,
        revoked=[RevokedCertificate(pki.tsa.serial_number, GEN_TIME + timedelta(days=29))],
    )
    kept = verify_timestamp_token(token, trust=store, data=DATA, crls=[later])
    assert kept.ok and kept.chain is not None and kept.chain.revocation is not None
    before = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=GEN_TIME,
        next_update=GEN_TIME + timedelta(days=7),
        crl_number=3,
        revoked=[RevokedCertificate(pki.tsa.serial_number, GEN_TIME - timedelta(days=1))],
    )
    revoked = verify_timestamp_token(token, trust=store, data=DATA, crls=[before])
    assert revoked.status is TimestampStatus.CHAIN_INVALID
    assert revoked.chain is not None and revoked.chain.status is ValidationStatus.REVOKED


def test_wrong_data_nonce_or_anchor(pki, token):
    assert verify_timestamp_token(token, trust=[pki.root], data=b"other", check_revocation="none").status is (
        TimestampStatus.IMPRINT_MISMATCH
    )
    assert verify_timestamp_token(
        token, trust=[pki.root], data=DATA, nonce=1, check_revocation="none"
    ).status is (TimestampStatus.NONCE_MISMATCH)
    untrusted = verify_timestamp_token(token, trust=[], data=DATA, check_revocation="none")
    assert untrusted.status is TimestampStatus.CHAIN_INVALID
    assert untrusted.gen_time == GEN_TIME.replace(microsecond=0)


def test_tampered_token(pki, token):
    # Change genTime inside TSTInfo: messageDigest no longer matches.
    stamp = GEN_TIME.strftime("%Y%m%d%H%M%S").encode()
    forged = token.replace(stamp, b"20200101000000")
    assert forged != token
    assert verify_timestamp_token(forged, trust=[pki.root], data=DATA, check_revocation="none").status is (
        TimestampStatus.BAD_SIGNATURE
    )
    # Flip a bit of the signature value itself.
    signed = cms.ContentInfo.load(token)["content"]
    signature = bytes(signed["signer_infos"][0]["signature"].native)
    flipped = token.replace(signature, signature[:-1] + bytes([signature[-1] ^ 1]))
    assert verify_timestamp_token(flipped, trust=[pki.root], data=DATA, check_revocation="none").status is (
        TimestampStatus.BAD_SIGNATURE
    )


def test_non_tsa_certificate(pki):
    request = build_timestamp_request(DATA)
    with pytest.raises(PkiError, match="timeStamping"):
        issue_timestamp_token(
            request, tsa_certificate=pki.seal_signer, signer=pki.signer_key, gen_time=GEN_TIME, policy=POLICY
        )
    with pytest.raises(PkiError, match="does not match"):
        issue_timestamp_token(
            request, tsa_certificate=pki.tsa, signer=pki.ca_key, gen_time=GEN_TIME, policy=POLICY
        )
    with pytest.raises(PkiError, match="not valid at genTime"):
        issue_timestamp_token(
            request,
            tsa_certificate=pki.tsa,
            signer=pki.tsa_key,
            gen_time=datetime(2031, 1, 1, tzinfo=UTC),
            policy=POLICY,
        )


def test_token_without_certificates_needs_them_supplied(pki):
    request = build_timestamp_request(DATA, cert_req=False)
    bare = issue_timestamp_token(
        request, tsa_certificate=pki.tsa, signer=pki.tsa_key, gen_time=GEN_TIME, policy=POLICY
    )
    assert (
        "certificates" not in cms.ContentInfo.load(bare)["content"].native
        or not cms.ContentInfo.load(bare)["content"]["certificates"].native
    )
    missing = verify_timestamp_token(bare, trust=[pki.root], data=DATA, check_revocation="none")
    assert missing.status is TimestampStatus.SIGNER_NOT_FOUND
    found = verify_timestamp_token(
        bare,
        trust=[pki.root],
        data=DATA,
        tsa_certificates=[pki.tsa],
        intermediates=[pki.ca],
        check_revocation="none",
    )
    assert found.ok


def test_tsa_certificate_swapped(pki):
    # Another TSA certificate with the same issuer and serial but a different key: ESS id and signature catch it.
    key = SM2PrivateKey.generate()
    other = issue_certificate(
        issuer=pki.ca,
        issuer_signer=pki.ca_key,
        subject={"CN": "另一个时间戳服务"},
        public_key=key.public_key,
        profile=CertProfile.TSA,
        not_before=pki.tsa.not_before,
        not_after=pki.tsa.not_after,
        serial=pki.tsa.serial_number,
    )
    request = build_timestamp_request(DATA, cert_req=False)
    bare = issue_timestamp_token(
        request, tsa_certificate=pki.tsa, signer=pki.tsa_key, gen_time=GEN_TIME, policy=POLICY
    )
    result = verify_timestamp_token(
        bare,
        trust=[pki.root],
        data=DATA,
        tsa_certificates=[other],
        intermediates=[pki.ca],
        check_revocation="none",
    )
    assert result.status is TimestampStatus.BAD_SIGNATURE


def test_response_round_trip(pki, token):
    granted = build_timestamp_response(token)
    assert load_timestamp_response(granted) == token
    refused = build_timestamp_response(None, status="rejection", fail_info="bad_alg", text="only SM3")
    with pytest.raises(PkiError, match="rejection"):
        load_timestamp_response(refused)


def test_openssl_reads_request_response_and_token(pki, token, openssl, tmp_path):
    request = build_timestamp_request(DATA, nonce=42)
    (tmp_path / "q.tsq").write_bytes(request.der)
    out = openssl("ts", "-query", "-in", tmp_path / "q.tsq", "-text")
    assert out.returncode == 0, out.stderr
    assert "Nonce: 0x2A" in out.stdout
    (tmp_path / "r.tsr").write_bytes(build_timestamp_response(token))
    out = openssl("ts", "-reply", "-in", tmp_path / "r.tsr", "-text")
    assert out.returncode == 0, out.stderr
    assert "Status: Granted." in out.stdout
    assert POLICY in out.stdout and "Jun  1 08:30:15 2026 GMT" in out.stdout
    (tmp_path / "x.tsr").write_bytes(build_timestamp_response(None, status="rejection", fail_info="bad_alg"))
    out = openssl("ts", "-reply", "-in", tmp_path / "x.tsr", "-text")
    assert out.returncode == 0, out.stderr
    assert "Status: Rejected." in out.stdout and "unsupported algorithm" in out.stdout
    (tmp_path / "t.der").write_bytes(token)
    out = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", tmp_path / "t.der")
    assert out.returncode == 0, out.stderr
    assert "id-smime-ct-TSTInfo" in out.stdout
