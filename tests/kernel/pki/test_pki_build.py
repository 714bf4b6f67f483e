"""Building certificates, CSRs and CRLs: round trips, profile contents, OpenSSL interoperability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509

from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    EKU_SERVER_AUTH,
    EKU_TIME_STAMPING,
    TOLERANT_CONVENTIONS,
    CertProfile,
    PkiError,
    RevocationReason,
    RevokedCertificate,
    ZConvention,
    build_crl,
    build_csr,
    build_name,
    create_root_ca,
    issue_certificate,
    key_identifier,
    load_certificate,
    load_certificates,
    load_crl,
    load_csr,
    random_serial,
    verify_certificate_signature,
    verify_crl_signature,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = datetime(2045, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_root_ca_profile(pki):
    root = pki.root
    assert root.version == 3
    assert root.is_self_issued and root.is_ca and root.path_length is None
    assert root.key_usage == {"key_cert_sign", "crl_sign"} and root.key_usage_critical
    assert "2.5.29.19" in root.critical_extensions
    assert root.subject.get("O") == "河北省政务服务管理办公室"
    assert root.subject.common_name == "河北省政务服务根CA"
    assert root.subject_key_id == root.authority_key_id == key_identifier(pki.root_key.public_key)
    assert (root.not_before, root.not_after) == (T0, T1)
    assert root.public_key.point == pki.root_key.public_key.point
    assert verify_certificate_signature(root, root) is ZConvention.DEFAULT_ID


def test_names_are_utf8_and_country_printable(pki):
    name = x509.Certificate.load(pki.seal_signer.der)["tbs_certificate"]["subject"]
    kinds = {str(atv["type"].native): atv["value"].name for rdn in name.chosen for atv in rdn}
    assert kinds == {
        "country_name": "printable_string",
        "organization_name": "utf8_string",
        "common_name": "utf8_string",
    }
    assert str(pki.seal_signer.subject) == "C=CN, O=石家庄市行政审批局, CN=张三"


def test_issuing_ca_and_chain_links(pki):
    ca = pki.ca
    assert ca.is_ca and ca.path_length == 0
    assert ca.issuer == pki.root.subject
    assert ca.authority_key_id == pki.root.subject_key_id
    assert ca.crl_urls == ("http://ca.example.gov.cn/crl/root.crl",)
    assert verify_certificate_signature(ca, pki.root) is ZConvention.DEFAULT_ID
    # Signed with Z over the default ID only: the empty-ID and no-Z readings must not verify.
    assert verify_certificate_signature(ca, pki.root, [ZConvention.EMPTY_ID, ZConvention.NO_Z]) is None


@pytest.mark.parametrize(
    ("attr", "usage", "eku", "eku_critical"),
    [
        ("seal_signer", {"digital_signature", "non_repudiation"}, None, False),
        ("seal_maker", {"digital_signature", "non_repudiation"}, None, False),
        ("node", {"digital_signature"}, None, False),
        ("tsa", {"digital_signature", "non_repudiation"}, {EKU_TIME_STAMPING}, True),
    ],
)
def test_end_entity_profiles(pki, attr, usage, eku, eku_critical):
    cert = getattr(pki, attr)
    assert not cert.is_ca and cert.has_basic_constraints
    assert cert.key_usage == usage
    assert cert.extended_key_usage == eku
    assert cert.extended_key_usage_critical is eku_critical
    assert cert.crl_urls == ("http://ca.example.gov.cn/crl/issuing.crl",)
    assert cert.authority_key_id == pki.ca.subject_key_id
    assert cert.subject_key_id == key_identifier(cert.public_key)
    assert cert.unknown_critical_extensions == frozenset()
    assert verify_certificate_signature(cert, pki.ca) is ZConvention.DEFAULT_ID


def test_node_certificate_with_optional_eku(pki):
    key = SM2PrivateKey.generate()
    cert = issue_certificate(
        issuer=pki.ca,
        issuer_signer=pki.ca_key,
        subject={"C": "CN", "CN": "node.110000"},
        public_key=key.public_key,
        profile=CertProfile.NODE_EXCHANGE,
        not_before=T0,
        not_after=T0 + timedelta(days=365),
        extended_key_usage=[EKU_CLIENT_AUTH, EKU_SERVER_AUTH],
        dns_names=["node.beijing.example"],
    )
    assert cert.extended_key_usage == {EKU_CLIENT_AUTH, EKU_SERVER_AUTH}
    assert not cert.extended_key_usage_critical
    assert cert.dns_names == ("node.beijing.example",)
    assert cert.crl_urls == ()
    assert pki.node.dns_names == ("node.hebei.example",)


def test_serial_numbers_are_random_positive_128_bit(pki):
    serials = {random_serial() for _ in range(200)}
    assert len(serials) == 200
    assert all(0 < s < 1 << 128 for s in serials)
    assert max(serials).bit_length() > 120
    certs = [pki.root, pki.ca, pki.seal_signer, pki.tsa]
    assert len({c.serial_number for c in certs}) == 4
    assert all(0 < c.serial_number < 1 << 128 for c in certs)


def test_explicit_serial_and_generalized_time_after_2049(pki):
    key = SM2PrivateKey.generate()
    root = create_root_ca(
        subject={"CN": "长期根"},
        signer=key,
        not_before=T0,
        not_after=datetime(2060, 1, 1, tzinfo=UTC),
        serial=7,
    )
    assert root.serial_number == 7
    validity = x509.Certificate.load(root.der)["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time"
    assert validity["not_after"].name == "general_time"
    assert root.not_after == datetime(2060, 1, 1, tzinfo=UTC)


def test_pem_and_der_round_trip_and_bundle(pki):
    assert load_certificate(pki.seal_signer.to_pem()) == pki.seal_signer
    assert load_certificate(pki.seal_signer.der) is load_certificate(bytes(pki.seal_signer.der))
    bundle = pki.root.to_pem() + b"\n" + pki.ca.to_pem()
    assert load_certificates(bundle) == [pki.root, pki.ca]
    with pytest.raises(PkiError, match="expected one certificate"):
        load_certificate(bundle)
    assert len(pki.root.fingerprint) == 64 and len(pki.root.sha256_fingerprint) == 64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": CertProfile.ROOT_CA}, "create_root_ca"),
        ({"not_after": datetime(2046, 1, 1, tzinfo=UTC)}, "exceeds the issuer"),
        (
            {"not_before": datetime(2030, 1, 1, tzinfo=UTC), "not_after": datetime(2029, 1, 1, tzinfo=UTC)},
            "after",
        ),
        ({"not_before": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"serial": 0}, "positive"),
        ({"serial": 1 << 160}, "20 octets"),
        ({"extended_key_usage": [EKU_SERVER_AUTH], "profile": CertProfile.TSA}, "timeStamping"),
        ({"extended_key_usage": [EKU_TIME_STAMPING], "profile": CertProfile.NODE_EXCHANGE}, "clientAuth"),
        (
            {"extended_key_usage": [EKU_CLIENT_AUTH], "profile": CertProfile.ISSUING_CA, "root": True},
            "extendedKeyUsage",
        ),
        ({"path_length": 1}, "CA certificates only"),
        ({"crl_urls": ["file:///etc/passwd"]}, "distribution point"),
        ({"subject": {"C": "CHN"}}, "2-letter"),
        ({"subject": {"XX": "x"}}, "unknown name attribute"),
        ({"subject": {}}, "at least one"),
    ],
)
def test_issue_refuses_bad_requests(pki, kwargs, message):
    args = {
        "issuer": pki.ca,
        "issuer_signer": pki.ca_key,
        "subject": {"CN": "x"},
        "public_key": pki.signer_key.public_key,
        "profile": CertProfile.SEAL_SIGNER,
        "not_before": datetime(2026, 1, 1, tzinfo=UTC),
        "not_after": datetime(2027, 1, 1, tzinfo=UTC),
    } | kwargs
    if args.pop("root", False):
        args |= {"issuer": pki.root, "issuer_signer": pki.root_key}
    with pytest.raises(PkiError, match=message):
        issue_certificate(**args)


def test_issue_refuses_wrong_signer_or_non_ca_issuer(pki):
    common = {
        "subject": {"CN": "x"},
        "public_key": pki.signer_key.public_key,
        "profile": CertProfile.SEAL_SIGNER,
        "not_before": datetime(2026, 1, 1, tzinfo=UTC),
        "not_after": datetime(2027, 1, 1, tzinfo=UTC),
    }
    with pytest.raises(PkiError, match="does not match"):
        issue_certificate(issuer=pki.ca, issuer_signer=pki.root_key, **common)
    with pytest.raises(PkiError, match="not a CA"):
        issue_certificate(issuer=pki.seal_signer, issuer_signer=pki.signer_key, **common)
    with pytest.raises(PkiError, match="pathLenConstraint 0"):
        issue_certificate(
            issuer=pki.ca, issuer_signer=pki.ca_key, **(common | {"profile": CertProfile.ISSUING_CA})
        )


def test_csr_round_trip_and_proof_of_possession(pki):
    request = build_csr(
        subject={"C": "CN", "O": "河北省", "CN": "node.130000"},
        signer=pki.node_key,
        dns_names=["node.hebei.example"],
    )
    parsed = load_csr(request.to_pem())
    assert parsed.subject == build_name({"C": "CN", "O": "河北省", "CN": "node.130000"})
    assert parsed.public_key.point == pki.node_key.public_key.point
    assert parsed.dns_names == ("node.hebei.example",)
    assert parsed.verify() is ZConvention.DEFAULT_ID
    # A CSR whose subject was changed after signing fails proof of possession under every convention.
    forged = load_csr(request.der.replace(b"node.130000", b"node.110000"))
    assert forged.subject.common_name == "node.110000"
    assert forged.verify(TOLERANT_CONVENTIONS) is None


def test_issue_from_csr(pki):
    request = load_csr(build_csr(subject={"CN": "节点"}, signer=pki.node_key).der)
    assert request.verify() is not None
    cert = issue_certificate(
        issuer=pki.ca,
        issuer_signer=pki.ca_key,
        subject=request.subject,
        public_key=request.public_key,
        profile=CertProfile.NODE_EXCHANGE,
        not_before=T0,
        not_after=datetime(2028, 1, 1, tzinfo=UTC),
    )
    assert cert.subject == request.subject and cert.public_key.point == request.public_key.point


def test_crl_round_trip(pki):
    revoked = [
        RevokedCertificate(5, datetime(2026, 3, 1, tzinfo=UTC), RevocationReason.KEY_COMPROMISE),
        RevokedCertificate(3, datetime(2026, 2, 1, tzinfo=UTC)),
        RevokedCertificate(
            pki.seal_signer.serial_number,
            datetime(2026, 4, 1, tzinfo=UTC),
            RevocationReason.CESSATION_OF_OPERATION,
            invalidity_date=datetime(2026, 3, 15, tzinfo=UTC),
        ),
    ]
    crl = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=datetime(2026, 5, 1, tzinfo=UTC),
        next_update=datetime(2026, 5, 8, tzinfo=UTC),
        crl_number=42,
        revoked=revoked,
    )
    parsed = load_crl(crl.to_pem())
    assert parsed == crl and parsed.version == 2
    assert parsed.issuer == pki.ca.subject
    assert parsed.crl_number == 42
    assert parsed.authority_key_id == pki.ca.subject_key_id
    assert (parsed.this_update, parsed.next_update) == (
        datetime(2026, 5, 1, tzinfo=UTC),
        datetime(2026, 5, 8, tzinfo=UTC),
    )
    assert sorted(parsed.revoked) == sorted([3, 5, pki.seal_signer.serial_number])
    assert parsed.lookup(5) == revoked[0]
    assert parsed.lookup(pki.seal_signer.serial_number) == revoked[2]
    assert parsed.lookup(4) is None
    assert parsed.unknown_critical_extensions == frozenset()
    assert verify_crl_signature(parsed, pki.ca) is ZConvention.DEFAULT_ID
    assert verify_crl_signature(parsed, pki.root) is None


def test_empty_crl_and_crl_refusals(pki):
    crl = build_crl(
        issuer=pki.ca, signer=pki.ca_key, this_update=NOW, next_update=NOW + timedelta(days=1), crl_number=1
    )
    assert dict(crl.revoked) == {}
    with pytest.raises(PkiError, match="cRLSign"):
        build_crl(
            issuer=pki.seal_signer,
            signer=pki.signer_key,
            this_update=NOW,
            next_update=NOW + timedelta(1),
            crl_number=1,
        )
    with pytest.raises(PkiError, match="does not match"):
        build_crl(
            issuer=pki.ca, signer=pki.root_key, this_update=NOW, next_update=NOW + timedelta(1), crl_number=1
        )
    with pytest.raises(PkiError, match="nextUpdate"):
        build_crl(issuer=pki.ca, signer=pki.ca_key, this_update=NOW, next_update=NOW, crl_number=1)


# --- OpenSSL interoperability -----------------------------------------------------------------


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_openssl_reads_certificates(pki, openssl, tmp_path):
    for cert in (pki.root, pki.ca, pki.seal_signer, pki.seal_maker, pki.node, pki.tsa):
        path = _write(tmp_path, "c.pem", cert.to_pem())
        out = openssl("x509", "-in", path, "-text", "-noout")
        assert out.returncode == 0, out.stderr
        assert "SM2-with-SM3" in out.stdout
        assert "X509v3 Subject Key Identifier" in out.stdout
    text = openssl(
        "x509", "-in", _write(tmp_path, "t.pem", pki.tsa.to_pem()), "-text", "-noout", "-nameopt", "utf8"
    ).stdout
    assert "Time Stamping" in text and "X509v3 Extended Key Usage: critical" in text
    assert "河北省时间戳服务" in text
    assert "URI:http://ca.example.gov.cn/crl/issuing.crl" in text


def test_openssl_verifies_our_chain_with_default_id(pki, openssl, tmp_path):
    # OpenSSL 3.0 computes Z over the empty ID for X.509 unless told otherwise, and its `verify -vfyopt
    # distid:...` applies the ID to the *target* certificate only: CA certificates found in -CAfile or
    # -untrusted are still checked with the empty ID. So each hop of our (GM/T default-ID) chain verifies,
    # but a three-level chain in one call fails at depth 1 - the limitation dependencies.md warns about,
    # and the reason chain validation is done in Python.
    root = _write(tmp_path, "root.pem", pki.root.to_pem())
    ca = _write(tmp_path, "ca.pem", pki.ca.to_pem())
    distid = ("-vfyopt", "distid:1234567812345678", "-attime", "1780000000")
    hop = openssl("verify", *distid, "-CAfile", root, ca)
    assert hop.returncode == 0, hop.stdout + hop.stderr
    for leaf in (pki.seal_signer, pki.seal_maker, pki.node, pki.tsa):
        path = _write(tmp_path, "leaf.pem", leaf.to_pem())
        hop = openssl("verify", *distid, "-partial_chain", "-CAfile", ca, path)
        assert hop.returncode == 0, hop.stdout + hop.stderr
        assert ": OK" in hop.stdout
    full = openssl("verify", *distid, "-CAfile", root, "-untrusted", ca, path)
    if full.returncode != 0:
        assert "at 1 depth lookup: certificate signature failure" in full.stdout + full.stderr
    # Without the ID even the leaf hop fails: the signatures really carry Z(default ID).
    bad = openssl("verify", "-attime", "1780000000", "-partial_chain", "-CAfile", ca, path)
    assert bad.returncode != 0


def test_openssl_reads_crl_and_csr(pki, openssl, tmp_path):
    crl = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=NOW,
        next_update=NOW + timedelta(days=7),
        crl_number=9,
        revoked=[RevokedCertificate(0xABCDEF, NOW - timedelta(days=1), RevocationReason.KEY_COMPROMISE)],
    )
    out = openssl("crl", "-in", _write(tmp_path, "c.crl", crl.to_pem()), "-text", "-noout")
    assert out.returncode == 0, out.stderr
    assert "ABCDEF" in out.stdout and "Key Compromise" in out.stdout and "X509v3 CRL Number" in out.stdout
    request = build_csr(subject={"C": "CN", "CN": "节点"}, signer=pki.node_key)
    path = _write(tmp_path, "r.csr", request.to_pem())
    out = openssl("req", "-in", path, "-text", "-noout")
    assert out.returncode == 0, out.stderr
    verified = openssl("req", "-in", path, "-verify", "-noout", "-vfyopt", "distid:1234567812345678")
    assert verified.returncode == 0, verified.stderr


def test_crl_entry_fast_path_agrees_with_asn1crypto(pki):
    from asn1crypto import crl as asn1_crl

    revoked = [
        RevokedCertificate(serial, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=index))
        for index, serial in enumerate((1, 127, 128, 255, 256, 2**127 + 5, 2**159 - 1))
    ]
    revoked.append(RevokedCertificate(9, datetime(2051, 3, 4, 5, 6, 7, tzinfo=UTC)))  # GeneralizedTime
    revoked.append(RevokedCertificate(10, NOW, RevocationReason.AFFILIATION_CHANGED))  # with extensions
    crl = build_crl(
        issuer=pki.ca,
        signer=pki.ca_key,
        this_update=NOW,
        next_update=NOW + timedelta(days=1),
        crl_number=3,
        revoked=revoked,
    )
    independent = {
        item["user_certificate"].native: (item["revocation_date"].native, item["crl_entry_extensions"].native)
        for item in asn1_crl.CertificateList.load(crl.der)["tbs_cert_list"]["revoked_certificates"]
    }
    assert set(independent) == set(crl.revoked)
    for serial, entry in crl.revoked.items():
        assert entry.revoked_at == independent[serial][0]
    assert {e.serial_number: e for e in revoked} == dict(crl.revoked)


def test_issuing_through_a_signer_adapter(pki):
    # Any kernel.crypto Signer works (e.g. an HSM adapter); SoftwareSigner stands in for one here.
    from zhengwu.kernel.crypto import SoftwareSigner

    signer = SoftwareSigner(SM2PrivateKey.generate())
    root = create_root_ca(subject={"CN": "HSM 根"}, signer=signer, not_before=T0, not_after=T1)
    assert verify_certificate_signature(root, root) is ZConvention.DEFAULT_ID
    crl = build_crl(
        issuer=root, signer=signer, this_update=NOW, next_update=NOW + timedelta(days=1), crl_number=1
    )
    assert verify_crl_signature(crl, root) is ZConvention.DEFAULT_ID
