"""The node's signing identities (TSA, license key) are parsed once per process, yet every use asks the
database which certificate is current: a revocation or a rotation takes effect on the next signature."""

from __future__ import annotations

import pytest

from clockkit import FakeClock
from seals_kit import Node
from zhengwu.kernel.pki import CertProfile, TimestampStatus, load_timestamp_response, verify_timestamp_token
from zhengwu.pki import authority, tsa
from zhengwu.pki.errors import PkiNotInitialized
from zhengwu.pki.models import PkiCertificate


def _token_signer(node: Node, data: bytes) -> str:
    token = tsa.timestamp_token(node.session, node.settings, data)
    root = authority.authority(node.session, node.settings, CertProfile.ROOT_CA).certificate
    crls = [authority.current_crl(node.session, node.settings, "issuing").der]
    result = verify_timestamp_token(
        load_timestamp_response(_reply(token)), trust=[root], crls=crls, data=data
    )
    assert result.status is TimestampStatus.OK, result.reason
    assert result.tsa_certificate is not None
    return result.tsa_certificate.fingerprint


def _reply(token: bytes) -> bytes:
    from zhengwu.kernel.pki import build_timestamp_response

    return build_timestamp_response(token)


def test_tsa_identity_is_reused_then_dropped_when_revoked_and_replaced_when_rotated(
    node: Node, clock: FakeClock
) -> None:
    session, settings = node.session, node.settings
    first = authority.signing_identity(session, settings, CertProfile.TSA)
    assert authority.signing_identity(session, settings, CertProfile.TSA) is first  # parsed once
    assert (
        first.issuer is not None
        and first.issuer.fingerprint
        == authority.authority(session, settings, CertProfile.ISSUING_CA).certificate.fingerprint
    )
    assert _token_signer(node, b"before") == first.certificate.fingerprint

    row = session.get(PkiCertificate, first.certificate_id)
    assert row is not None
    authority.revoke_certificate(session, settings, row, actor="test")
    with pytest.raises(PkiNotInitialized):  # the cached parse is not used for a revoked certificate
        authority.signing_identity(session, settings, CertProfile.TSA)
    with pytest.raises(PkiNotInitialized):
        tsa.timestamp_token(session, settings, b"while revoked")

    clock.advance(minutes=1)
    authority.init_pki(session, settings)  # issues a new TSA certificate and key
    second = authority.signing_identity(session, settings, CertProfile.TSA)
    assert second.certificate_id != first.certificate_id
    assert second.certificate.fingerprint != first.certificate.fingerprint
    assert second.signer.public_key.point != first.signer.public_key.point
    assert _token_signer(node, b"after") == second.certificate.fingerprint


def test_signer_by_key_id_is_the_key_rows_signer(node: Node) -> None:
    session, settings = node.session, node.settings
    tsa_row = authority.authority(session, settings, CertProfile.TSA).row
    assert tsa_row.key_id is not None
    signer = authority.signer_for_key_id(session, settings, tsa_row.key_id)
    assert signer is not None and signer is authority.signer_for_key_id(session, settings, tsa_row.key_id)
    cert = authority.authority(session, settings, CertProfile.TSA).certificate
    assert cert.public_key.verify(signer.sign(b"data"), b"data")
    assert authority.signer_for_key_id(session, settings, "0" * 32) is None


def test_two_identities_in_one_query_are_each_profiles_current_one(node: Node, clock: FakeClock) -> None:
    session, settings = node.session, node.settings
    tsa_first = authority.signing_identity(session, settings, CertProfile.TSA)
    maker = authority.signing_identity(session, settings, CertProfile.SEAL_MAKER)
    assert authority.signing_identities(session, settings, CertProfile.TSA, CertProfile.SEAL_MAKER) == (
        tsa_first,
        maker,
    )
    assert authority.signing_identities(session, settings, CertProfile.SEAL_MAKER, "no-such-profile") == (
        maker,
        None,
    )

    row = session.get(PkiCertificate, tsa_first.certificate_id)
    assert row is not None
    authority.revoke_certificate(session, settings, row, actor="test")
    assert authority.signing_identities(session, settings, CertProfile.TSA, CertProfile.SEAL_MAKER) == (
        None,
        maker,
    )
    clock.advance(minutes=1)
    authority.init_pki(session, settings)  # a new TSA certificate; the newest valid one is current
    found = authority.signing_identities(session, settings, CertProfile.SEAL_MAKER, CertProfile.TSA)
    assert found == (maker, authority.signing_identity(session, settings, CertProfile.TSA))
    assert found[1] is not None and found[1].certificate_id != tsa_first.certificate_id
    # Handed to the TSA, the identity read beforehand signs the token.
    token = tsa.timestamp_token(session, settings, b"data", identity=found[1])
    root = authority.authority(session, settings, CertProfile.ROOT_CA).certificate
    crls = [authority.current_crl(session, settings, "issuing").der]
    result = verify_timestamp_token(token, trust=[root], crls=crls, data=b"data")
    assert result.ok and result.tsa_certificate is not None
    assert result.tsa_certificate.fingerprint == found[1].certificate.fingerprint
