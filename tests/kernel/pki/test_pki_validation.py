"""Path validation on a PKI built here: revocation timing, CRL selection, CA rules, extensions, usages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import core, crl, x509

from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import (
    EKU_TIME_STAMPING,
    Certificate,
    CertProfile,
    Crl,
    PkiError,
    RevocationReason,
    RevokedCertificate,
    ValidationStatus,
    ZConvention,
    build_crl,
    check_certificate_revocation,
    create_root_ca,
    issue_certificate,
    load_certificate,
    load_crl,
    validate_chain,
)
from zhengwu.kernel.pki.issuance import spki_asn1

S = ValidationStatus
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def crl_of(
    pki,
    *revoked: RevokedCertificate,
    issuer=None,
    key=None,
    this_update=AT - DAY,
    next_update=AT + 7 * DAY,
    number=1,
) -> Crl:
    return build_crl(
        issuer=issuer or pki.ca,
        signer=key or pki.ca_key,
        this_update=this_update,
        next_update=next_update,
        crl_number=number,
        revoked=revoked,
    )


def root_crl(pki, *revoked: RevokedCertificate) -> Crl:
    return crl_of(pki, *revoked, issuer=pki.root, key=pki.root_key)


def forge_certificate(
    issuer: Certificate | None,
    issuer_key: SM2PrivateKey,
    *,
    subject: dict[str, str],
    key: SM2PrivateKey,
    extensions: list[dict[str, Any]],
    not_before: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    not_after: datetime = datetime(2030, 1, 1, tzinfo=UTC),
) -> Certificate:
    """A certificate with exactly the given extensions (to build what the issuance API refuses to)."""
    name = x509.Name.build(subject)
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 4242,
            "signature": {"algorithm": "1.2.156.10197.1.501"},
            "issuer": x509.Name.load(issuer.subject.der) if issuer else name,
            "validity": {
                "not_before": x509.Time(name="utc_time", value=not_before),
                "not_after": x509.Time(name="utc_time", value=not_after),
            },
            "subject": name,
            "subject_public_key_info": spki_asn1(key.public_key),
            "extensions": extensions,
        }
    )
    signature = issuer_key.sign(tbs.dump())
    der = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "1.2.156.10197.1.501"},
            "signature_value": signature,
        }
    ).dump()
    return load_certificate(der)


def forge_crl(issuer: Certificate, key: SM2PrivateKey, extensions: list[dict[str, Any]], revoked=()) -> Crl:
    tbs_fields: dict[str, Any] = {
        "version": "v2",
        "signature": {"algorithm": "1.2.156.10197.1.501"},
        "issuer": x509.Name.load(issuer.subject.der),
        "this_update": x509.Time(name="utc_time", value=AT - DAY),
        "next_update": x509.Time(name="utc_time", value=AT + DAY),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": issuer.subject_key_id}),
            },
            *extensions,
        ],
    }
    if revoked:
        tbs_fields["revoked_certificates"] = list(revoked)
    tbs = crl.TbsCertList(tbs_fields)
    signature = key.sign(tbs.dump())
    return load_crl(
        crl.CertificateList(
            {
                "tbs_cert_list": tbs,
                "signature_algorithm": {"algorithm": "1.2.156.10197.1.501"},
                "signature": signature,
            }
        ).dump()
    )


def validate(pki, leaf=None, **kwargs):
    kwargs.setdefault("at", AT)
    return validate_chain(leaf or pki.seal_signer, [pki.ca], [pki.root], **kwargs)


# --- good paths ----------------------------------------------------------------------------------------


def test_valid_chain_with_crl(pki):
    result = validate(pki, crls=[crl_of(pki)], key_usage=["digital_signature", "non_repudiation"])
    assert result.ok and result.status is S.OK
    assert result.chain == (pki.seal_signer, pki.ca, pki.root)
    assert result.trust_anchor == pki.root
    assert result.conventions == (ZConvention.DEFAULT_ID, ZConvention.DEFAULT_ID)
    assert result.revocation is None and result.warnings == ()
    assert result.reason_zh == "证书链验证通过"


def test_whole_chain_revocation_needs_every_crl(pki):
    assert validate(pki, crls=[crl_of(pki)], check_revocation="chain").status is S.CRL_NOT_FOUND
    both = validate(pki, crls=[crl_of(pki), root_crl(pki)], check_revocation="chain")
    assert both.ok
    assert validate(pki, check_revocation="none").ok


def test_no_crl_at_all(pki):
    result = validate(pki)
    assert result.status is S.CRL_NOT_FOUND
    assert result.failed_certificate == pki.seal_signer
    assert "张三" in result.reason_zh


# --- revocation and time of use ----------------------------------------------------------------------------


def test_revoked_before_time_of_use(pki):
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT - 3 * DAY, RevocationReason.KEY_COMPROMISE)
    result = validate(pki, crls=[crl_of(pki, entry)])
    assert result.status is S.REVOKED
    assert result.revocation == entry and result.revoked_certificate == pki.seal_signer
    assert "key_compromise" in result.reason


def test_revoked_after_time_of_use_keeps_signature_valid(pki):
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT + 2 * DAY, RevocationReason.SUPERSEDED)
    later_crl = crl_of(pki, entry, this_update=AT + 3 * DAY, next_update=AT + 10 * DAY, number=2)
    result = validate(pki, crls=[later_crl])
    assert result.status is S.OK
    assert result.revocation == entry
    assert result.warnings and "after the time of use" in result.warnings[0]
    # Used after the revocation date, the same certificate is refused.
    assert validate(pki, crls=[later_crl], at=AT + 4 * DAY).status is S.REVOKED


def test_invalidity_date_before_time_of_use_revokes(pki):
    entry = RevokedCertificate(
        pki.seal_signer.serial_number, AT + 2 * DAY, RevocationReason.KEY_COMPROMISE, invalidity_date=AT - DAY
    )
    result = validate(pki, crls=[crl_of(pki, entry, this_update=AT + 3 * DAY, next_update=AT + 9 * DAY)])
    assert result.status is S.REVOKED


def test_certificate_hold_counts_as_revoked(pki):
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT - DAY, RevocationReason.CERTIFICATE_HOLD)
    assert validate(pki, crls=[crl_of(pki, entry)]).status is S.REVOKED


def test_revoked_intermediate(pki):
    entry = RevokedCertificate(pki.ca.serial_number, AT - DAY, RevocationReason.CA_COMPROMISE)
    result = validate(pki, crls=[crl_of(pki), root_crl(pki, entry)], check_revocation="chain")
    assert result.status is S.REVOKED
    assert result.failed_certificate == pki.ca
    # Checking the leaf only does not see it.
    assert validate(pki, crls=[crl_of(pki), root_crl(pki, entry)], check_revocation="leaf").ok


def test_newest_current_crl_wins(pki):
    entry = RevokedCertificate(pki.seal_signer.serial_number, AT - DAY)
    old = crl_of(pki, this_update=AT - 5 * DAY, next_update=AT + 5 * DAY, number=1)
    new = crl_of(pki, entry, this_update=AT - DAY, next_update=AT + 5 * DAY, number=2)
    assert validate(pki, crls=[old, new]).status is S.REVOKED
    assert validate(pki, crls=[new, old]).status is S.REVOKED


def test_outdated_crl(pki):
    stale = crl_of(pki, this_update=AT - 10 * DAY, next_update=AT - 3 * DAY)
    result = validate(pki, crls=[stale])
    assert result.status is S.CRL_EXPIRED
    assert "outdated" in result.reason
    # A current one next to it is used instead; for an earlier time of use the old one was current.
    assert validate(pki, crls=[stale, crl_of(pki)]).ok
    assert validate(pki, crls=[stale], at=AT - 5 * DAY).ok


def test_crl_with_broken_signature(pki):
    good = crl_of(pki)
    broken = load_crl(good.der[:-1] + bytes([good.der[-1] ^ 0x01]))
    assert validate(pki, crls=[broken]).status is S.CRL_SIGNATURE_INVALID
    # With a good CRL alongside, the good one is used.
    assert validate(pki, crls=[broken, good]).ok


def test_crl_from_impostor_ca_with_same_name(pki):
    impostor_key = SM2PrivateKey.generate()
    impostor = create_root_ca(
        subject=pki.ca.subject, signer=impostor_key, not_before=pki.ca.not_before, not_after=pki.ca.not_after
    )
    forged = crl_of(pki, issuer=impostor, key=impostor_key)
    result = validate(pki, crls=[forged])
    assert result.status is S.CRL_NOT_FOUND
    assert "different authority key identifier" in result.reason


def test_crl_scope_and_delta(pki):
    ca_only = forge_crl(
        pki.ca,
        pki.ca_key,
        [
            {
                "extn_id": "issuing_distribution_point",
                "critical": True,
                "extn_value": crl.IssuingDistributionPoint({"only_contains_ca_certs": True}),
            }
        ],
    )
    assert ca_only.only_ca_certs and ca_only.unknown_critical_extensions == frozenset()
    assert validate(pki, crls=[ca_only]).status is S.CRL_NOT_FOUND
    delta = forge_crl(
        pki.ca,
        pki.ca_key,
        [{"extn_id": "delta_crl_indicator", "critical": True, "extn_value": core.Integer(1)}],
    )
    assert delta.is_delta
    assert validate(pki, crls=[delta]).status is S.CRL_NOT_FOUND
    user_only = forge_crl(
        pki.ca,
        pki.ca_key,
        [
            {
                "extn_id": "issuing_distribution_point",
                "critical": True,
                "extn_value": crl.IssuingDistributionPoint({"only_contains_user_certs": True}),
            }
        ],
    )
    assert validate(pki, crls=[user_only]).ok


def test_crl_entry_with_unknown_critical_extension(pki):
    entry = {
        "user_certificate": 77,
        "revocation_date": x509.Time(name="utc_time", value=AT - DAY),
        "crl_entry_extensions": [
            {
                "extn_id": "certificate_issuer",
                "critical": True,
                "extn_value": x509.GeneralNames([x509.GeneralName(name="dns_name", value="x.example")]),
            }
        ],
    }
    indirect = forge_crl(pki.ca, pki.ca_key, [], revoked=[entry])
    assert indirect.unknown_critical_extensions == {"2.5.29.29"}
    assert validate(pki, crls=[indirect]).status is S.UNKNOWN_CRITICAL_EXTENSION


def test_revocation_step_alone(pki):
    entry = RevokedCertificate(pki.node.serial_number, AT - DAY)
    result = check_certificate_revocation(pki.node, pki.ca, at=AT, crls=[crl_of(pki, entry).der])
    assert result.status is S.REVOKED and result.revocation == entry
    assert check_certificate_revocation(pki.node, pki.ca, at=AT, crls=[crl_of(pki)]).ok


# --- validity in time --------------------------------------------------------------------------------------


def test_validity_is_judged_at_the_time_of_use(pki):
    end = pki.seal_signer.not_after
    assert validate(pki, at=end, check_revocation="none").ok
    expired = validate(pki, at=end + timedelta(seconds=1), check_revocation="none")
    assert expired.status is S.EXPIRED and expired.failed_certificate == pki.seal_signer
    early = validate(pki, at=datetime(2024, 12, 31, tzinfo=UTC), check_revocation="none")
    assert early.status is S.NOT_YET_VALID
    assert early.failed_certificate == pki.root  # checked from the anchor down
    assert "尚未生效" in early.reason_zh


def test_naive_time_is_refused(pki):
    with pytest.raises(PkiError, match="timezone-aware"):
        validate(pki, at=datetime(2026, 1, 1))


# --- trust and CA rules -----------------------------------------------------------------------------------


def test_untrusted_and_unknown_issuers(pki):
    other_key = SM2PrivateKey.generate()
    other_root = create_root_ca(
        subject={"CN": "其他根"},
        signer=other_key,
        not_before=pki.root.not_before,
        not_after=pki.root.not_after,
    )
    untrusted = validate_chain(pki.seal_signer, [pki.ca, pki.root], [other_root], at=AT)
    assert untrusted.status is S.UNTRUSTED_ROOT
    assert untrusted.chain == (pki.seal_signer, pki.ca, pki.root)
    assert untrusted.trust_anchor is None
    unknown = validate_chain(pki.seal_signer, [], [pki.root], at=AT)
    assert unknown.status is S.ISSUER_NOT_FOUND
    assert "河北省电子印章签发CA" in unknown.reason
    # Trusting the issuing CA itself (not self-signed) is allowed.
    direct = validate_chain(pki.seal_signer, [], [pki.ca], at=AT, crls=[crl_of(pki)])
    assert direct.ok and direct.chain == (pki.seal_signer, pki.ca)


def test_tampered_certificate(pki):
    tampered = load_certificate(pki.seal_signer.der.replace("张三".encode(), "李四".encode()))
    assert tampered.subject.common_name == "李四"
    result = validate(pki, tampered, check_revocation="none")
    assert result.status is S.BAD_SIGNATURE
    assert result.failed_certificate == tampered
    assert validate(
        pki, tampered, check_revocation="none", conventions=[ZConvention.EMPTY_ID, ZConvention.NO_Z]
    ).status is (S.BAD_SIGNATURE)


def test_end_entity_cannot_issue(pki):
    victim_key = SM2PrivateKey.generate()
    forged = forge_certificate(
        pki.seal_signer, pki.signer_key, subject={"common_name": "冒充者"}, key=victim_key, extensions=[]
    )
    result = validate_chain(forged, [pki.seal_signer, pki.ca], [pki.root], at=AT, check_revocation="none")
    assert result.status is S.INVALID_CA
    assert result.failed_certificate == pki.seal_signer
    assert "not a CA" in result.reason and "不是 CA" in result.reason_zh


def test_ca_without_keycertsign(pki):
    key = SM2PrivateKey.generate()
    no_sign_ca = forge_certificate(
        pki.root,
        pki.root_key,
        subject={"common_name": "只签CRL的CA"},
        key=key,
        extensions=[
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}},
            {"extn_id": "key_usage", "critical": True, "extn_value": {"crl_sign"}},
        ],
    )
    leaf = forge_certificate(
        no_sign_ca, key, subject={"common_name": "叶"}, key=SM2PrivateKey.generate(), extensions=[]
    )
    result = validate_chain(leaf, [no_sign_ca], [pki.root], at=AT, check_revocation="none")
    assert result.status is S.INVALID_CA and "keyCertSign" in result.reason
    # The tolerance applies to trust anchors only, never to intermediates.
    assert (
        validate_chain(
            leaf, [no_sign_ca], [pki.root], at=AT, check_revocation="none", tolerate_anchor_key_usage=True
        ).status
        is S.INVALID_CA
    )


def test_path_length_constraint(pki):
    root_key, ca1_key, ca2_key, leaf_key = (SM2PrivateKey.generate() for _ in range(4))
    window = {"not_before": pki.root.not_before, "not_after": pki.root.not_after}
    root = create_root_ca(subject={"CN": "限长根"}, signer=root_key, path_length=1, **window)
    ca1 = issue_certificate(
        issuer=root,
        issuer_signer=root_key,
        subject={"CN": "一级CA"},
        public_key=ca1_key.public_key,
        profile=CertProfile.ISSUING_CA,
        path_length=1,
        **window,
    )
    ca2 = issue_certificate(
        issuer=ca1,
        issuer_signer=ca1_key,
        subject={"CN": "二级CA"},
        public_key=ca2_key.public_key,
        profile=CertProfile.ISSUING_CA,
        **window,
    )
    leaf = issue_certificate(
        issuer=ca2,
        issuer_signer=ca2_key,
        subject={"CN": "叶"},
        public_key=leaf_key.public_key,
        profile=CertProfile.SEAL_SIGNER,
        **window,
    )
    result = validate_chain(leaf, [ca1, ca2], [root], at=AT, check_revocation="none")
    assert result.status is S.PATH_LENGTH_EXCEEDED
    assert result.failed_certificate == ca2
    # One level fewer is fine.
    leaf1 = issue_certificate(
        issuer=ca1,
        issuer_signer=ca1_key,
        subject={"CN": "叶1"},
        public_key=leaf_key.public_key,
        profile=CertProfile.SEAL_SIGNER,
        **window,
    )
    assert validate_chain(leaf1, [ca1, ca2], [root], at=AT, check_revocation="none").ok


def test_unknown_critical_certificate_extension(pki):
    leaf = forge_certificate(
        pki.ca,
        pki.ca_key,
        subject={"common_name": "带私有扩展"},
        key=SM2PrivateKey.generate(),
        extensions=[
            {
                "extn_id": "1.2.156.10260.4.1.1",
                "critical": True,
                "extn_value": core.ParsableOctetString(core.OctetString(b"x").dump()),
            }
        ],
    )
    result = validate(pki, leaf, check_revocation="none")
    assert result.status is S.UNKNOWN_CRITICAL_EXTENSION
    assert "1.2.156.10260.4.1.1" in result.reason
    non_critical = forge_certificate(
        pki.ca,
        pki.ca_key,
        subject={"common_name": "带私有扩展"},
        key=SM2PrivateKey.generate(),
        extensions=[
            {
                "extn_id": "1.2.156.10260.4.1.1",
                "critical": False,
                "extn_value": core.ParsableOctetString(core.OctetString(b"x").dump()),
            }
        ],
    )
    assert validate(pki, non_critical, check_revocation="none").ok


def test_key_usage_and_eku_requirements(pki):
    node = validate(pki, pki.node, check_revocation="none", key_usage=["non_repudiation"])
    assert node.status is S.KEY_USAGE_MISMATCH and "non_repudiation" in node.reason
    assert validate(pki, pki.node, check_revocation="none", key_usage=["digital_signature"]).ok
    assert validate(pki, pki.tsa, check_revocation="none", extended_key_usage=EKU_TIME_STAMPING).ok
    not_tsa = validate(pki, pki.seal_signer, check_revocation="none", extended_key_usage=EKU_TIME_STAMPING)
    assert not_tsa.status is S.KEY_USAGE_MISMATCH


def test_same_name_issuers_are_disambiguated(pki):
    # A second CA certificate with the same name but another key must not derail path building.
    decoy_key = SM2PrivateKey.generate()
    decoy = create_root_ca(
        subject=pki.ca.subject, signer=decoy_key, not_before=pki.ca.not_before, not_after=pki.ca.not_after
    )
    result = validate_chain(pki.seal_signer, [decoy, pki.ca], [pki.root], at=AT, crls=[crl_of(pki)])
    assert result.ok and result.chain[1] == pki.ca


def test_bad_arguments(pki):
    with pytest.raises(PkiError, match="check_revocation"):
        validate(pki, check_revocation="all")
    with pytest.raises(PkiError, match="Z convention"):
        validate(pki, conventions=[])
