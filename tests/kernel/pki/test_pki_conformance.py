"""Expected verdicts of conformance/sm2-pki (openHiTLS CRL suite, Tongsuo certificates) and the ofdrw test PKI."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from zhengwu.kernel.pki import (
    STRICT_CONVENTIONS,
    TOLERANT_CONVENTIONS,
    Certificate,
    Crl,
    TrustStore,
    ValidationStatus,
    ZConvention,
    check_certificate_revocation,
    load_certificate,
    load_certificates,
    load_crl,
    load_csr,
    validate_chain,
    verify_certificate_signature,
    verify_crl_signature,
)

#: A time of use after every openHiTLS certificate and CRL was made (Nov/Dec 2025) and before they expire.
AT = datetime(2026, 6, 1, tzinfo=UTC)
S = ValidationStatus

# Which Z convention each openHiTLS tree was signed with (README: with_userid = GM/T default ID,
# without_userid = empty ID, what OpenSSL 3 uses by default).
TREES = {
    "sm2_with_userid": (ZConvention.DEFAULT_ID,),
    "sm2_without_userid": (ZConvention.EMPTY_ID,),
}

# Every row of the openHiTLS table in sm2-pki/README.md:
# (row id, anchors, intermediates, CRLs, leaf, revocation mode, expected status, failing certificate)
ROWS = [
    (
        "root-updated-crl/server2-ok",
        ["crl_verify/certs/root.crt"],
        [],
        ["crl_verify/crl/root_updated.crl"],
        "crl_verify/certs/server2.crt",
        "leaf",
        S.OK,
        None,
    ),
    (
        "root-updated-crl/server1-revoked",
        ["crl_verify/certs/root.crt"],
        [],
        ["crl_verify/crl/root_updated.crl"],
        "crl_verify/certs/server1.crt",
        "leaf",
        S.REVOKED,
        "crl_verify/certs/server1.crt",
    ),
    (
        "extension/root-crl-revoked",
        ["extension_crl/root.crt"],
        [],
        ["extension_crl/root.crl"],
        "extension_crl/server.crt",
        "leaf",
        S.REVOKED,
        "extension_crl/server.crt",
    ),
    (
        "extension/changed-aki-crl-not-found",
        ["extension_crl/root.crt"],
        [],
        ["extension_crl/root_change_aki.crl"],
        "extension_crl/server.crt",
        "leaf",
        S.CRL_NOT_FOUND,
        "extension_crl/server.crt",
    ),
    (
        "extension/unknown-critical",
        ["extension_crl/root.crt"],
        [],
        ["extension_crl/root_add_unrecognized_critical_extension.crl"],
        "extension_crl/server.crt",
        "leaf",
        S.UNKNOWN_CRITICAL_EXTENSION,
        "extension_crl/server.crt",
    ),
    (
        "extension/date1-signature",
        ["extension_crl/root.crt"],
        [],
        ["extension_crl/root_change_date1.crl"],
        "extension_crl/server.crt",
        "leaf",
        S.CRL_SIGNATURE_INVALID,
        "extension_crl/server.crt",
    ),
    (
        "extension/date2-signature",
        ["extension_crl/root.crt"],
        [],
        ["extension_crl/root_change_date2.crl"],
        "extension_crl/server.crt",
        "leaf",
        S.CRL_SIGNATURE_INVALID,
        "extension_crl/server.crt",
    ),
    (
        "chain/usr2-ok",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/crl/root_updated.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "chain",
        S.OK,
        None,
    ),
    (
        "chain/usr2-intermediate-revoked",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/crl/root.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "chain",
        S.REVOKED,
        "crl_verify/intermediate/certs/intermediate.crt",
    ),
    (
        "leaf/usr2-intermediate-revoked-not-checked",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/crl/root.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "leaf",
        S.OK,
        None,
    ),
    (
        "leaf/usr1-revoked",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/crl/root.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr1.crt",
        "leaf",
        S.REVOKED,
        "crl_verify/intermediate/certs/usr1.crt",
    ),
    (
        "chain/usr1-revoked",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/crl/root_updated.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr1.crt",
        "chain",
        S.REVOKED,
        "crl_verify/intermediate/certs/usr1.crt",
    ),
    (
        "chain/no-root-crl",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "chain",
        S.CRL_NOT_FOUND,
        "crl_verify/intermediate/certs/intermediate.crt",
    ),
    (
        "leaf/no-root-crl",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "leaf",
        S.OK,
        None,
    ),
    (
        "leaf/no-crlsign",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate_no_crlsign.crt"],
        ["crl_verify/crl/root_updated.crl", "crl_verify/intermediate/crl/intermediate.crl"],
        "crl_verify/intermediate/certs/usr2.crt",
        "leaf",
        S.CRL_ISSUER_NO_CRLSIGN,
        "crl_verify/intermediate/certs/intermediate_no_crlsign.crt",
    ),
    (
        "leaf/usr3-revoked",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/intermediate/crl/intermediate_usr3.crl"],
        "crl_verify/intermediate/certs/usr3.crt",
        "leaf",
        S.REVOKED,
        "crl_verify/intermediate/certs/usr3.crt",
    ),
    (
        "leaf/usr3-changed-dn",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/intermediate/crl/intermediate_usr3_change_dn.crl"],
        "crl_verify/intermediate/certs/usr3.crt",
        "leaf",
        S.CRL_NOT_FOUND,
        "crl_verify/intermediate/certs/usr3.crt",
    ),
    (
        "leaf/usr3-changed-signature",
        ["crl_verify/certs/root.crt"],
        ["crl_verify/intermediate/certs/intermediate.crt"],
        ["crl_verify/intermediate/crl/intermediate_usr3_change_sign.crl"],
        "crl_verify/intermediate/certs/usr3.crt",
        "leaf",
        S.CRL_SIGNATURE_INVALID,
        "crl_verify/intermediate/certs/usr3.crt",
    ),
]

#: Serials the README names for the sm2_with_userid tree (the other tree has its own certificates).
WITH_USERID_REVOKED_SERIALS = {
    "crl_verify/certs/server1.crt": 0x21887EA3393F19316CD69D73126CBCE0B993E4F5,
    "crl_verify/intermediate/certs/intermediate.crt": 0x5B0867BFC26DD4D20448AFFF0C1C3A8BD9F77660,
    "crl_verify/intermediate/certs/usr1.crt": 0x10E481A94786707AC327720E87E7B6A06B50F22A,
}

# sm2_with_userid/.../intermediate_no_crlsign.crt is intermediate.crt with cRLSign removed from keyUsage and
# NOT re-signed (same serial and validity; its signature fails under all three Z conventions). openHiTLS only
# checks the CRL against it; a full path validation rightly stops at the bad certificate signature first.
# The CRL-level verdict is checked separately in test_openhitls_no_crlsign_crl_step.
# The empty-ID tree mirrors the scenarios with its own files; one differs: there root_updated.crl lists no
# certificate and root.crl is the CRL that revokes server1.
TREE_SPECIFIC_CRLS = {("root-updated-crl/server1-revoked", "sm2_without_userid"): ["crl_verify/crl/root.crl"]}
TREE_SPECIFIC = {
    ("leaf/no-crlsign", "sm2_with_userid"): (
        S.BAD_SIGNATURE,
        "crl_verify/intermediate/certs/intermediate_no_crlsign.crt",
    )
}


def _cert(base: Path, rel: str) -> Certificate:
    return load_certificate((base / rel).read_bytes())


def _crl(base: Path, rel: str) -> Crl:
    return load_crl((base / rel).read_bytes())


@pytest.mark.parametrize("tree", sorted(TREES))
@pytest.mark.parametrize(
    ("row", "anchors", "intermediates", "crls", "leaf", "mode", "expected", "failing"),
    [pytest.param(*row, id=row[0]) for row in ROWS],
)
def test_openhitls_table(sm2_pki_dir, tree, row, anchors, intermediates, crls, leaf, mode, expected, failing):
    base = sm2_pki_dir / "openhitls-crl" / tree
    expected, failing = TREE_SPECIFIC.get((row, tree), (expected, failing))
    crls = TREE_SPECIFIC_CRLS.get((row, tree), crls)
    result = validate_chain(
        _cert(base, leaf),
        [_cert(base, p) for p in intermediates],
        [_cert(base, p) for p in anchors],
        at=AT,
        crls=[_crl(base, p) for p in crls],
        check_revocation=mode,
        conventions=TREES[tree],
    )
    assert result.status is expected, result.reason
    assert result.reason and result.reason_zh
    if failing is None:
        assert result.failed_certificate is None
        assert result.conventions == TREES[tree] * (len(result.chain) - 1)
    else:
        assert result.failed_certificate == _cert(base, failing)
    if expected is S.REVOKED:
        assert result.revocation is not None
        assert result.revocation.serial_number == _cert(base, failing).serial_number
        if tree == "sm2_with_userid" and failing in WITH_USERID_REVOKED_SERIALS:
            assert result.revocation.serial_number == WITH_USERID_REVOKED_SERIALS[failing]
        assert result.revocation.revoked_at <= AT
        assert result.revoked_certificate == _cert(base, failing)


@pytest.mark.parametrize("tree", sorted(TREES))
def test_openhitls_no_crlsign_crl_step(sm2_pki_dir, tree):
    base = sm2_pki_dir / "openhitls-crl" / tree
    result = check_certificate_revocation(
        _cert(base, "crl_verify/intermediate/certs/usr2.crt"),
        _cert(base, "crl_verify/intermediate/certs/intermediate_no_crlsign.crt"),
        at=AT,
        crls=[_crl(base, "crl_verify/intermediate/crl/intermediate.crl")],
        conventions=TREES[tree],
    )
    assert result.status is S.CRL_ISSUER_NO_CRLSIGN
    assert "cRLSign" in result.reason and "cRLSign" in result.reason_zh
    ok = check_certificate_revocation(
        _cert(base, "crl_verify/intermediate/certs/usr2.crt"),
        _cert(base, "crl_verify/intermediate/certs/intermediate.crt"),
        at=AT,
        crls=[_crl(base, "crl_verify/intermediate/crl/intermediate.crl")],
        conventions=TREES[tree],
    )
    assert ok.status is S.OK


def test_openhitls_no_crlsign_fixture_is_not_resigned(sm2_pki_dir):
    base = sm2_pki_dir / "openhitls-crl" / "sm2_with_userid"
    cert = _cert(base, "crl_verify/intermediate/certs/intermediate_no_crlsign.crt")
    root = _cert(base, "crl_verify/certs/root.crt")
    assert verify_certificate_signature(cert, root, TOLERANT_CONVENTIONS) is None
    assert cert.serial_number == _cert(base, "crl_verify/intermediate/certs/intermediate.crt").serial_number


def test_openhitls_revoked_serial_and_date(sm2_pki_dir):
    base = sm2_pki_dir / "openhitls-crl" / "sm2_with_userid"
    result = validate_chain(
        _cert(base, "crl_verify/certs/server1.crt"),
        [],
        [_cert(base, "crl_verify/certs/root.crt")],
        at=AT,
        crls=[_crl(base, "crl_verify/crl/root_updated.crl")],
    )
    assert result.status is S.REVOKED
    assert result.revocation is not None
    assert f"{result.revocation.serial_number:X}" == "21887EA3393F19316CD69D73126CBCE0B993E4F5"
    assert result.revocation.revoked_at == datetime(2025, 11, 26, 8, 27, 42, tzinfo=UTC)
    assert "已于 2025-11-26 08:27:42Z 被撤销" in result.reason_zh


def test_openhitls_intermediate_revoked_after_signing_time_stays_good(sm2_pki_dir):
    # root.crl revokes the intermediate at 2025-12-11 08:29:15; a signature made an hour earlier keeps
    # its validity, and the result still reports the revocation (conventions.md #17).
    base = sm2_pki_dir / "openhitls-crl" / "sm2_with_userid"
    args = (
        _cert(base, "crl_verify/intermediate/certs/usr2.crt"),
        [_cert(base, "crl_verify/intermediate/certs/intermediate.crt")],
        [_cert(base, "crl_verify/certs/root.crt")],
    )
    crls = [_crl(base, "crl_verify/crl/root.crl"), _crl(base, "crl_verify/intermediate/crl/intermediate.crl")]
    before = validate_chain(
        *args, at=datetime(2025, 12, 11, 7, 30, tzinfo=UTC), crls=crls, check_revocation="chain"
    )
    assert before.status is S.OK
    assert before.revocation is not None
    assert before.revocation.revoked_at == datetime(2025, 12, 11, 8, 29, 15, tzinfo=UTC)
    assert before.revoked_certificate == args[1][0]
    assert any("after the time of use" in w for w in before.warnings)
    after = validate_chain(
        *args, at=datetime(2025, 12, 11, 9, 0, tzinfo=UTC), crls=crls, check_revocation="chain"
    )
    assert after.status is S.REVOKED


def test_openhitls_empty_id_tree_fails_under_default_id(sm2_pki_dir):
    # README: the sm2_without_userid CRLs, checked with the default ID configured → CRL signature invalid.
    base = sm2_pki_dir / "openhitls-crl" / "sm2_without_userid"
    root = _cert(base, "crl_verify/certs/root.crt")
    inter = _cert(base, "crl_verify/intermediate/certs/intermediate.crt")
    for rel, issuer in [
        ("crl_verify/crl/root.crl", root),
        ("crl_verify/crl/root_updated.crl", root),
        ("crl_verify/intermediate/crl/intermediate.crl", inter),
        ("crl_verify/intermediate/crl/intermediate_usr3.crl", inter),
        ("extension_crl/root.crl", _cert(base, "extension_crl/root.crt")),
    ]:
        crl = _crl(base, rel)
        assert verify_crl_signature(crl, issuer, STRICT_CONVENTIONS) is None, rel
        assert verify_crl_signature(crl, issuer, TOLERANT_CONVENTIONS) is ZConvention.EMPTY_ID, rel
    # The certificates of that tree are empty-ID signed too, so a strict chain check stops earlier.
    strict = validate_chain(
        _cert(base, "crl_verify/intermediate/certs/usr2.crt"), [inter], [root], at=AT, check_revocation="none"
    )
    assert strict.status is S.BAD_SIGNATURE
    assert "default-id" in strict.reason
    tolerant = validate_chain(
        _cert(base, "crl_verify/intermediate/certs/usr2.crt"),
        [inter],
        [root],
        at=AT,
        crls=[_crl(base, "crl_verify/intermediate/crl/intermediate.crl")],
        conventions=TOLERANT_CONVENTIONS,
    )
    assert tolerant.status is S.OK
    assert tolerant.conventions == (ZConvention.EMPTY_ID, ZConvention.EMPTY_ID)


def test_openhitls_default_id_crl_signature_invalid_under_empty_id(sm2_pki_dir):
    base = sm2_pki_dir / "openhitls-crl" / "sm2_with_userid"
    result = validate_chain(
        _cert(base, "crl_verify/certs/server2.crt"),
        [],
        [_cert(base, "crl_verify/certs/root.crt")],
        at=AT,
        crls=[_crl(base, "crl_verify/crl/root_updated.crl")],
        conventions=[ZConvention.EMPTY_ID],
    )
    assert result.status is S.BAD_SIGNATURE


def test_openhitls_through_trust_store(sm2_pki_dir):
    base = sm2_pki_dir / "openhitls-crl" / "sm2_with_userid"
    store = TrustStore()
    anchor = store.add_anchor((base / "crl_verify/certs/root.crt").read_bytes(), {"seals"})
    assert anchor.self_signature is ZConvention.DEFAULT_ID
    store.add_intermediates((base / "crl_verify/intermediate/certs/intermediate.crt").read_bytes())
    store.add_crl((base / "crl_verify/crl/root_updated.crl").read_bytes())
    store.add_crl((base / "crl_verify/intermediate/crl/intermediate.crl").read_bytes())
    usr2 = (base / "crl_verify/intermediate/certs/usr2.crt").read_bytes()
    usr1 = (base / "crl_verify/intermediate/certs/usr1.crt").read_bytes()
    assert store.validate(usr2, purpose="seals", at=AT, check_revocation="chain").status is S.OK
    assert store.validate(usr1, purpose="seals", at=AT).status is S.REVOKED
    # Not trusted for node exchange: no anchor for that purpose issued the intermediate.
    assert store.validate(usr2, purpose="exchange", at=AT).status is S.ISSUER_NOT_FOUND
    # A newer root CRL (root.crl revokes the intermediate) replaces the older one in the store.
    store.add_crl((base / "crl_verify/crl/root.crl").read_bytes())
    assert store.validate(usr2, purpose="seals", at=AT, check_revocation="chain").status is S.REVOKED


# --- Tongsuo -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tongsuo(sm2_pki_dir):
    return sm2_pki_dir / "tongsuo"


def test_tongsuo_default_id_chain(tongsuo):
    root = load_certificate((tongsuo / "sm2-root-cert.pem").read_bytes())
    for name in ("sm2-cert.pem", "sm2-first-crt.pem"):
        result = validate_chain(
            (tongsuo / name).read_bytes(),
            [],
            [root],
            at=AT,
            check_revocation="none",
            key_usage=["digital_signature"],
        )
        assert result.status is S.OK, result.reason
        assert result.conventions == (ZConvention.DEFAULT_ID,)
    # No CRL is published for this CA: asking for revocation checking says so.
    no_crl = validate_chain((tongsuo / "sm2-cert.pem").read_bytes(), [], [root], at=AT)
    assert no_crl.status is S.CRL_NOT_FOUND


def test_tongsuo_noza_only_under_no_z(tongsuo):
    root = (tongsuo / "sm2-noza-root-cert.pem").read_bytes()
    leaf = (tongsuo / "sm2-noza-cert.pem").read_bytes()
    strict = validate_chain(leaf, [], [root], at=AT, check_revocation="none")
    assert strict.status is S.BAD_SIGNATURE
    assert validate_chain(
        leaf, [], [root], at=AT, check_revocation="none", conventions=[ZConvention.EMPTY_ID]
    ).status is (S.BAD_SIGNATURE)
    no_z = validate_chain(leaf, [], [root], at=AT, check_revocation="none", conventions=[ZConvention.NO_Z])
    assert no_z.status is S.OK and no_z.conventions == (ZConvention.NO_Z,)
    tolerant = validate_chain(
        leaf, [], [root], at=AT, check_revocation="none", conventions=TOLERANT_CONVENTIONS
    )
    assert tolerant.status is S.OK and tolerant.conventions == (ZConvention.NO_Z,)
    assert TrustStore().add_anchor(root, {"seals"}).self_signature is ZConvention.NO_Z
    # The default-ID certificate for the same key does not verify as no-Z.
    default_cert = load_certificate((tongsuo / "sm2-cert.pem").read_bytes())
    sm2_root = load_certificate((tongsuo / "sm2-root-cert.pem").read_bytes())
    assert verify_certificate_signature(default_cert, sm2_root, [ZConvention.NO_Z]) is None


def test_tongsuo_csrs(tongsuo):
    with_z = load_csr((tongsuo / "sm2-csr.pem").read_bytes())
    assert with_z.subject.common_name == "SM2 certificate signing key"
    assert with_z.key_algorithm == "1.2.156.10197.1.301"  # SM2 OID as the key algorithm itself
    assert with_z.verify() is ZConvention.DEFAULT_ID
    noza = load_csr((tongsuo / "sm2-noza-csr.pem").read_bytes())
    assert noza.verify() is None
    assert noza.verify(TOLERANT_CONVENTIONS) is ZConvention.NO_Z


@pytest.fixture(scope="module")
def tlcp(tongsuo):
    chain = load_certificates((tongsuo / "sm2" / "chain-ca.crt").read_bytes())
    assert [c.subject.common_name for c in chain] == ["root ca", "sub ca"]
    return chain


@pytest.mark.parametrize("name", ["server_sign.crt", "client_sign.crt"])
def test_tongsuo_tlcp_sign_certificates(tongsuo, tlcp, name):
    root, sub = tlcp
    leaf = (tongsuo / "sm2" / name).read_bytes()
    ok = validate_chain(leaf, [sub], [root], at=AT, check_revocation="none", key_usage=["digital_signature"])
    assert ok.status is S.OK, ok.reason
    assert [c.subject.common_name for c in ok.chain][1:] == ["sub ca", "root ca"]
    wrong = validate_chain(
        leaf, [sub], [root], at=AT, check_revocation="none", key_usage=["key_encipherment"]
    )
    assert wrong.status is S.KEY_USAGE_MISMATCH


@pytest.mark.parametrize("name", ["server_enc.crt", "client_enc.crt"])
def test_tongsuo_tlcp_enc_certificates_cannot_sign(tongsuo, tlcp, name):
    root, sub = tlcp
    leaf = (tongsuo / "sm2" / name).read_bytes()
    sign = validate_chain(
        leaf, [sub], [root], at=AT, check_revocation="none", key_usage=["digital_signature"]
    )
    assert sign.status is S.KEY_USAGE_MISMATCH
    assert "digital_signature" in sign.reason and sign.reason_zh
    enc = validate_chain(leaf, [sub], [root], at=AT, check_revocation="none", key_usage=["key_encipherment"])
    assert enc.status is S.OK


@pytest.mark.parametrize(
    "name",
    ["server_sign_expire.crt", "server_enc_expire.crt", "client_sign_expire.crt", "client_enc_expire.crt"],
)
def test_tongsuo_expired(tongsuo, tlcp, name):
    root, sub = tlcp
    leaf = load_certificate((tongsuo / "sm2" / name).read_bytes())
    assert leaf.not_after == datetime(2001, 1, 1, tzinfo=UTC)
    result = validate_chain(leaf, [sub], [root], at=AT, check_revocation="none")
    assert result.status is S.EXPIRED
    assert result.failed_certificate == leaf
    assert "2001-01-01" in result.reason


@pytest.mark.parametrize("name", ["server_sign2.crt", "server_enc2.crt"])
def test_tongsuo_unknown_issuer(tongsuo, tlcp, name):
    result = validate_chain((tongsuo / "sm2" / name).read_bytes(), [tlcp[1]], [tlcp[0]], at=AT)
    assert result.status is S.ISSUER_NOT_FOUND
    assert "SUBCA SM2" in result.reason


def test_tongsuo_self_signed_not_trusted(tongsuo, tlcp):
    root = (tongsuo / "sm2-root-cert.pem").read_bytes()
    assert validate_chain(root, [], [tlcp[0]], at=AT).status is S.UNTRUSTED_ROOT
    assert validate_chain(root, [], [root], at=AT, check_revocation="none").status is S.OK


# --- ofdrw test PKI --------------------------------------------------------------------------------

#: Signing times from conformance/ofd/README.md (V4RideRight.ofd, 2021-05-19; SESV4SignDoc.ofd, 2026-08-04).
OFDRW_SIGNED = datetime(2021, 5, 19, 20, 53, 44, tzinfo=UTC)
OFDRW_LATE = datetime(2026, 8, 4, tzinfo=UTC)


def test_ofdrw_root_lacks_keycertsign(ofd_keys_dir):
    # The ofdrw root is CA:TRUE but its keyUsage is digitalSignature+nonRepudiation (no keyCertSign).
    # Strictly this is not a CA that may sign certificates → INVALID_CA with that reason, even though the
    # SM2 signatures on its children verify. tolerate_anchor_key_usage=True accepts it (with a warning)
    # for operators who explicitly trust this root, e.g. to check ofdrw-produced test documents.
    root = load_certificate((ofd_keys_dir / "derived__ofdrw_ROOT_cert.pem").read_bytes())
    assert root.is_ca and root.key_usage == {"digital_signature", "non_repudiation"}
    for name in ("derived__ofdrw_USER_cert.pem", "derived__ofdrw_SealBuilder_cert.pem"):
        leaf = load_certificate((ofd_keys_dir / name).read_bytes())
        assert verify_certificate_signature(leaf, root) is ZConvention.DEFAULT_ID
        strict = validate_chain(leaf, [], [root], at=OFDRW_SIGNED, check_revocation="none")
        assert strict.status is S.INVALID_CA
        assert strict.failed_certificate == root
        assert "keyCertSign" in strict.reason and "keyCertSign" in strict.reason_zh
        tolerant = validate_chain(
            leaf, [], [root], at=OFDRW_SIGNED, check_revocation="none", tolerate_anchor_key_usage=True
        )
        assert tolerant.status is S.OK
        assert tolerant.warnings and "lacks keyCertSign" in tolerant.warnings[0]


def test_ofdrw_expired_at_late_signing_time(ofd_keys_dir):
    root = (ofd_keys_dir / "derived__ofdrw_ROOT_cert.pem").read_bytes()
    user = (ofd_keys_dir / "derived__ofdrw_USER_cert.pem").read_bytes()
    late = validate_chain(
        user, [], [root], at=OFDRW_LATE, check_revocation="none", tolerate_anchor_key_usage=True
    )
    assert late.status is S.EXPIRED
    assert "2022-04-21" in late.reason
    sign_cert = (ofd_keys_dir / "ofdrw-gm__sign_cert.pem").read_bytes()
    in_time = validate_chain(
        sign_cert,
        [],
        [root],
        at=datetime(2022, 1, 1, tzinfo=UTC),
        check_revocation="none",
        tolerate_anchor_key_usage=True,
    )
    assert in_time.status is S.OK
    assert (
        validate_chain(
            sign_cert,
            [],
            [root],
            at=datetime(2021, 1, 1, tzinfo=UTC),
            check_revocation="none",
            tolerate_anchor_key_usage=True,
        ).status
        is S.NOT_YET_VALID
    )


def test_ofdrw_root_as_trust_anchor(ofd_keys_dir):
    store = TrustStore()
    anchor = store.add_anchor((ofd_keys_dir / "derived__ofdrw_ROOT_cert.pem").read_bytes(), {"seals"})
    assert anchor.self_signature is ZConvention.DEFAULT_ID
    user = (ofd_keys_dir / "derived__ofdrw_USER_cert.pem").read_bytes()
    assert (
        store.validate(user, purpose="seals", at=OFDRW_SIGNED, check_revocation="none").status is S.INVALID_CA
    )
    tolerant = store.validate(
        user, purpose="seals", at=OFDRW_SIGNED, check_revocation="none", tolerate_anchor_key_usage=True
    )
    assert tolerant.ok
