"""Hostile input: garbage, truncation, oversize, unknown algorithms — always PkiError, never a crash."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhengwu.kernel.pki import (
    MAX_CERTIFICATE_BYTES,
    MAX_CRL_BYTES,
    PkiError,
    ValidationStatus,
    build_crl,
    build_csr,
    build_timestamp_request,
    issue_timestamp_token,
    load_certificate,
    load_certificates,
    load_crl,
    load_csr,
    load_timestamp_request,
    load_timestamp_response,
    validate_chain,
    verify_certificate_signature,
    verify_timestamp_token,
)
from zhengwu.kernel.pki.issuance import spki_asn1

AT = datetime(2026, 6, 1, tzinfo=UTC)
LOADERS = [
    load_certificate,
    load_certificates,
    load_crl,
    load_csr,
    load_timestamp_request,
    load_timestamp_response,
]


@pytest.fixture(scope="module")
def samples(pki):
    crl = build_crl(
        issuer=pki.ca, signer=pki.ca_key, this_update=AT, next_update=AT + timedelta(days=1), crl_number=1
    )
    csr = build_csr(subject={"CN": "节点"}, signer=pki.node_key)
    token = issue_timestamp_token(
        build_timestamp_request(b"x"),
        tsa_certificate=pki.tsa,
        signer=pki.tsa_key,
        gen_time=AT,
        policy="1.2.3.4",
    )
    return {
        "certificate": (load_certificate, pki.seal_signer.der),
        "crl": (load_crl, crl.der),
        "csr": (load_csr, csr.der),
        "token": (
            lambda d: verify_timestamp_token(d, trust=[pki.root], data=b"x", check_revocation="none"),
            token,
        ),
    }


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"garbage",
        b"\x30\x80\x00\x00",
        b"\x30\x84\xff\xff\xff\xff",
        b"-----BEGIN CERTIFICATE-----\nxx\n",
    ],
)
def test_garbage_is_a_pki_error(loader, data):
    with pytest.raises(PkiError):
        loader(data)


@pytest.mark.parametrize("loader", LOADERS)
def test_non_bytes_input(loader):
    with pytest.raises(PkiError, match="must be bytes"):
        loader("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("kind", ["certificate", "crl", "csr", "token"])
def test_every_truncation_is_a_pki_error(samples, kind):
    loader, der = samples[kind]
    for cut in range(len(der) - 1, 0, -max(1, len(der) // 97)):
        with pytest.raises(PkiError):
            loader(der[:cut])


@pytest.mark.parametrize("kind", ["certificate", "crl", "csr"])
def test_trailing_bytes_are_refused(samples, kind):
    loader, der = samples[kind]
    with pytest.raises(PkiError):
        loader(der + b"\x00")


def test_oversized_input_is_refused_before_parsing():
    with pytest.raises(PkiError, match="too large"):
        load_certificate(b"\x30" * (MAX_CERTIFICATE_BYTES * 2))
    with pytest.raises(PkiError, match="too large"):
        load_crl(b"\x30" * (MAX_CRL_BYTES * 2))
    # Just over the DER cap with a valid-looking header: refused by size, not parsed.
    header = b"\x30\x83" + (MAX_CERTIFICATE_BYTES + 1).to_bytes(3, "big")
    with pytest.raises(PkiError, match="too large"):
        load_certificate(header + b"\x00" * (MAX_CERTIFICATE_BYTES + 1))


def test_pem_bundle_with_other_blocks(pki):
    key_block = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    assert load_certificates(key_block + pki.root.to_pem()) == [pki.root]
    with pytest.raises(PkiError, match="no certificate"):
        load_certificate(key_block)


@pytest.fixture(scope="module")
def ecdsa_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def ecdsa_chain(ecdsa_key):
    key = ecdsa_key
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "P-256 root")])
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_foreign_algorithms_load_but_are_not_usable(pki, ecdsa_chain):
    cert = load_certificate(ecdsa_chain)
    assert cert.subject.common_name == "P-256 root"
    assert not cert.is_sm2 and cert.key_curve == "1.2.840.10045.3.1.7"
    with pytest.raises(PkiError, match="unsupported public key algorithm"):
        _ = cert.public_key
    with pytest.raises(PkiError, match="unsupported certificate signature algorithm"):
        verify_certificate_signature(cert, cert)
    assert validate_chain(cert, [], [pki.root], at=AT).status is ValidationStatus.UNTRUSTED_ROOT
    # Explicitly trusted as itself it is accepted (nothing to verify), but it cannot vouch for others.
    assert validate_chain(cert, [], [cert], at=AT, check_revocation="none").ok


def test_ecdsa_issuer_is_an_unsupported_algorithm(pki, ecdsa_key, ecdsa_chain):
    root = load_certificate(ecdsa_chain)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 2,
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": asn1_x509.Name.load(root.subject.der),
            "validity": {
                "not_before": asn1_x509.Time(name="utc_time", value=datetime(2025, 1, 1, tzinfo=UTC)),
                "not_after": asn1_x509.Time(name="utc_time", value=datetime(2029, 1, 1, tzinfo=UTC)),
            },
            "subject": asn1_x509.Name.build({"common_name": "SM2 key under an ECDSA CA"}),
            "subject_public_key_info": spki_asn1(pki.signer_key.public_key),
        }
    )
    signature = ecdsa_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    leaf = load_certificate(
        asn1_x509.Certificate(
            {
                "tbs_certificate": tbs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature_value": signature,
            }
        ).dump()
    )
    assert leaf.is_sm2
    result = validate_chain(leaf, [], [root], at=AT, check_revocation="none")
    assert result.status is ValidationStatus.UNSUPPORTED_ALGORITHM
    assert "1.2.840.10045.4.3.2" in result.reason


def test_unsupported_signature_algorithm_in_chain(pki, ecdsa_chain):
    # An SM2-keyed issuer whose child claims ECDSA-SHA256: reported, not crashed.
    der = bytearray(pki.seal_signer.der)
    sm2_sm3 = bytes.fromhex("06082a811ccf55018375")
    ecdsa_sha256 = bytes.fromhex("06082a8648ce3d040302")
    assert der.count(sm2_sm3) == 2
    forged = load_certificate(bytes(der).replace(sm2_sm3, ecdsa_sha256))
    result = validate_chain(forged, [pki.ca], [pki.root], at=AT, check_revocation="none")
    assert result.status is ValidationStatus.UNSUPPORTED_ALGORITHM
    # Only one of the two algorithm fields changed: malformed.
    once = bytes(der).replace(sm2_sm3, ecdsa_sha256, 1)
    with pytest.raises(PkiError, match="disagree"):
        load_certificate(once)


def test_timestamp_with_unknown_imprint_algorithm_is_refused(pki):
    token = issue_timestamp_token(
        build_timestamp_request(b"x"),
        tsa_certificate=pki.tsa,
        signer=pki.tsa_key,
        gen_time=AT,
        policy="1.2.3.4",
    )
    sm3_oid = bytes.fromhex("06082a811ccf55018311")
    sha256_oid = bytes.fromhex("0609608648016503040201")
    assert sm3_oid in token
    # Same length replacement is not possible; use a different 8-byte arc instead (still not SM3).
    other = token.replace(sm3_oid, bytes.fromhex("06082a811ccf55018312"))
    with pytest.raises(PkiError, match="unsupported"):
        verify_timestamp_token(other, trust=[pki.root], data=b"x")
    assert sha256_oid not in token


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_der_never_crashes(samples, data):
    kind = data.draw(st.sampled_from(sorted(samples)))
    loader, der = samples[kind]
    mutated = bytearray(der)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(mutated) - 1))
        mutated[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(PkiError):
        loader(bytes(mutated))


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=600))
def test_random_bytes_never_crash(blob):
    for loader in LOADERS:
        with contextlib.suppress(PkiError):
            loader(b"\x30" + blob)
