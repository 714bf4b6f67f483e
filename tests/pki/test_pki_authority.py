"""The node CAs on the database: init, SM4-wrapped keys, CRL re-issue and numbering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from clockkit import FakeClock
from seals_kit import Node
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.pki import CertProfile, load_crl
from zhengwu.pki import authority
from zhengwu.pki.errors import PkiAlreadyInitialized
from zhengwu.pki.keys import KeyRecord, KeyUnavailable, derive_kek, unwrap_key
from zhengwu.pki.models import PkiCertificate, PkiKey
from zhengwu.pki.repository import PkiRepository


def _end_entity(node: Node) -> PkiCertificate:
    """A certificate from the issuing CA, its key in the node's key ring."""
    key = authority.new_key(node.session, node.settings, purpose="test", label="test")
    row, _cert = authority.issue_end_entity(
        node.session,
        node.settings,
        profile=CertProfile.SEAL_SIGNER,
        subject=[("C", "CN"), ("CN", "测试证书")],
        public_key=authority.signer_for_key(node.settings, key).public_key,
        not_after=utcnow() + timedelta(days=30),
        key_id=key.id,
    )
    return row


def test_pki_init_is_idempotent_and_never_overwrites(node: Node) -> None:
    again = authority.init_pki(node.session, node.settings)
    assert again.created == ()
    root = again.certificates["root-ca"]
    issuing = again.certificates["issuing-ca"]
    assert root.is_ca and root.is_self_issued and issuing.is_ca and issuing.path_length == 0
    assert issuing.issuer == root.subject
    assert again.certificates["tsa"].extended_key_usage_critical
    assert issuing.crl_urls == (f"{node.settings.public_url}/pki/crl/root.crl",)
    assert again.certificates["seal-maker"].crl_urls == (f"{node.settings.public_url}/pki/crl/issuing.crl",)
    assert authority.is_initialized(node.session)
    # An issuing CA without its root is an inconsistent state that init must not paper over.
    repo = PkiRepository(node.session)
    root_row = repo.current("root-ca")
    assert root_row is not None
    root_row.status = "retired"
    node.session.flush()
    with pytest.raises(PkiAlreadyInitialized):
        authority.init_pki(node.session, node.settings)


def test_private_keys_are_sm4_wrapped_under_the_node_secret(node: Node) -> None:
    keys = node.session.scalars(select(PkiKey)).all()
    assert {k.purpose for k in keys} >= {"root-ca", "issuing-ca", "seal-maker", "tsa"}
    secret = node.settings.security.secret_key.get_secret_value()
    for key in keys:
        assert key.key_ref.startswith("soft:") and key.wrapped is not None
        plain = unwrap_key(derive_kek(secret), key.wrapped, key_ref=key.key_ref)
        assert plain.public_key.to_der() == key.public_key
        assert plain.to_der() not in key.wrapped  # encrypted, not merely encoded
        with pytest.raises(KeyUnavailable):
            unwrap_key(derive_kek("another node secret"), key.wrapped, key_ref=key.key_ref)
        with pytest.raises(KeyUnavailable):  # the reference is bound to the ciphertext
            unwrap_key(derive_kek(secret), key.wrapped, key_ref="soft:other")
    record = KeyRecord(keys[0].key_ref, keys[0].public_key, keys[0].wrapped)
    assert "wrapped" not in repr(record)  # key material never reaches a repr (or a log line)


def test_crl_is_reissued_when_due(node: Node, clock: FakeClock) -> None:
    first = authority.current_crl(node.session, node.settings, "root")
    assert authority.current_crl(node.session, node.settings, "root").number == first.number
    clock.advance(days=1, seconds=1)
    assert authority.current_crl(node.session, node.settings, "root").number == first.number + 1


def test_crl_numbers_stay_unique_when_two_issuers_race(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    cert_row = _end_entity(node)
    issuing = authority.authority(node.session, node.settings, CertProfile.ISSUING_CA)
    taken = authority.issue_crl(node.session, node.settings, issuing)  # "the other transaction"
    real = PkiRepository.next_crl_number
    stale = iter([taken.number])  # the first attempt sees the number from before that CRL

    def racing(self: PkiRepository, issuer_id: str) -> int:
        return next(stale, None) or real(self, issuer_id)

    monkeypatch.setattr(PkiRepository, "next_crl_number", racing)
    crl_row = authority.revoke_certificate(node.session, node.settings, cert_row, actor="t")
    assert crl_row is not None and crl_row.number == taken.number + 1
    assert load_crl(crl_row.der).lookup(int(cert_row.serial, 16)) is not None  # the revocation is listed
    stale = iter([crl_row.number])
    assert authority.issue_crl(node.session, node.settings, issuing, reuse_concurrent=True).id == crl_row.id
