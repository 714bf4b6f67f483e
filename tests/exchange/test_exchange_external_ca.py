"""External CA roots trusted ``--for exchange`` (issue 5/6): a lower node's certificate from such a CA passes
the receiver's chain check, but only together with an approved node record pinning that certificate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from exchange_nodes import Node
from sqlalchemy import select
from test_exchange_badinput import document, nothing_applied, post, row

from zhengwu.exchange import join
from zhengwu.exchange.credentials import NodeCredential
from zhengwu.exchange.errors import InvalidJoinRequest, UpstreamFailed
from zhengwu.exchange.models import ExchangeLog, ExchangeNode
from zhengwu.exchange.signing import seal
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    Certificate,
    CertProfile,
    RevokedCertificate,
    build_crl,
    create_root_ca,
    issue_certificate,
    load_csr,
)
from zhengwu.pki.authority import add_trust_anchors

pytestmark = pytest.mark.db


def external_ca(name: str) -> tuple[SM2PrivateKey, Certificate]:
    now = utcnow()
    key = SM2PrivateKey.generate()
    ca = create_root_ca(subject={"C": "CN", "O": "外部 CA", "CN": name}, signer=key,
                        not_before=now - timedelta(hours=1), not_after=now + timedelta(days=365))  # fmt: skip
    return key, ca


def node_credential(ca_key: SM2PrivateKey, ca: Certificate, node_id: str) -> NodeCredential:
    now = utcnow()
    key = SM2PrivateKey.generate()
    cert = issue_certificate(issuer=ca, issuer_signer=ca_key, subject={"C": "CN", "CN": node_id},
                             public_key=key.public_key, profile=CertProfile.NODE_EXCHANGE,
                             not_before=now - timedelta(hours=1), not_after=now + timedelta(days=30),
                             extended_key_usage=[EKU_CLIENT_AUTH])  # fmt: skip
    return NodeCredential("uplink", key, cert, (ca,))


def pin(national: Node, node_id: str, cert: Certificate) -> None:
    """What approving the node with that certificate records, written directly (the CSR's key differs)."""
    with national.uow() as session:
        node = session.scalars(
            select(ExchangeNode).where(ExchangeNode.node_id == node_id, ExchangeNode.status == "approved")
        ).one()
        node.fingerprint = cert.fingerprint
        node.certificate_pem = cert.to_pem().decode("ascii")
        node.serial = f"{cert.serial_number:x}"


def empty_crl(ca_key: SM2PrivateKey, ca: Certificate) -> bytes:
    now = utcnow()
    return build_crl(issuer=ca, signer=ca_key, this_update=now - timedelta(minutes=1),
                     next_update=now + timedelta(days=7), crl_number=1, revoked=[]).der  # fmt: skip


def trust(national: Node, ca: Certificate, purposes: list[str], crl: bytes | None = None) -> None:
    with national.uow() as session:
        add_trust_anchors(session, ca.to_pem(), purposes=purposes, actor="test", crl=crl)
    national.runtime.credentials.invalidate()  # another process would see it once the cache expires


def test_external_ca_counts_only_when_trusted_for_exchange(joined: tuple[Node, Node]) -> None:
    province, national = joined
    node_id = province.settings.node_id
    ca_key, ca = external_ca("外部交换 CA")
    cred = node_credential(ca_key, ca, node_id)
    pin(national, node_id, cred.certificate)

    before = post(national, seal(document(province, [row(1)]), cred))
    assert before.status_code == 403 and before.json()["code"] == "exchange.unknown_sender"

    trust(national, ca, ["seals"])  # trusted for seals only: does not count for the exchange
    seals_only = post(national, seal(document(province, [row(2)]), cred))
    assert seals_only.status_code == 403 and seals_only.json()["code"] == "exchange.unknown_sender"
    nothing_applied(national)

    trust(national, ca, ["exchange"])  # without a CRL: the batch path never fetches one, so refused
    no_crl = post(national, seal(document(province, [row(3)]), cred))
    assert no_crl.status_code == 403 and no_crl.json()["code"] == "exchange.certificate_rejected"

    trust(national, ca, ["exchange"], crl=empty_crl(ca_key, ca))
    after = post(national, seal(document(province, [row(3)]), cred))
    assert after.status_code == 200, after.text


def test_external_certificate_still_needs_an_approved_node(joined: tuple[Node, Node]) -> None:
    province, national = joined
    ca_key, ca = external_ca("外部交换 CA 2")
    trust(national, ca, ["exchange"], crl=empty_crl(ca_key, ca))
    # A valid certificate of the trusted CA for the approved node id, but not the one pinned at approval.
    cred = node_credential(ca_key, ca, province.settings.node_id)
    answer = post(national, seal(document(province, [row(1)]), cred))
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.unknown_sender"
    nothing_applied(national)
    # The province's own certificate from the national CA keeps working alongside the external root.
    own = province.runtime.credentials.uplink()
    assert own is not None
    assert post(national, seal(document(province, [row(2)]), own)).status_code == 200


def test_external_crl_is_honoured(joined: tuple[Node, Node]) -> None:
    province, national = joined
    node_id = province.settings.node_id
    ca_key, ca = external_ca("外部交换 CA 3")
    cred = node_credential(ca_key, ca, node_id)
    pin(national, node_id, cred.certificate)
    now = utcnow()
    crl = build_crl(issuer=ca, signer=ca_key, this_update=now - timedelta(minutes=1),
                    next_update=now + timedelta(days=7), crl_number=1,
                    revoked=[RevokedCertificate(cred.certificate.serial_number, now - timedelta(minutes=1))])  # fmt: skip
    trust(national, ca, ["exchange"], crl=crl.der)
    answer = post(national, seal(document(province, [row(1)]), cred))
    assert answer.status_code == 403 and answer.json()["code"] == "exchange.certificate_rejected"
    nothing_applied(national)


def _issue_for_request(ca_key: SM2PrivateKey, ca: Certificate, node_id: str, public_key: Any) -> Certificate:
    now = utcnow()
    return issue_certificate(issuer=ca, issuer_signer=ca_key, subject={"C": "CN", "CN": node_id},
                             public_key=public_key, profile=CertProfile.NODE_EXCHANGE,
                             not_before=now - timedelta(hours=1), not_after=now + timedelta(days=30),
                             extended_key_usage=[EKU_CLIENT_AUTH])  # fmt: skip


def test_approve_with_an_external_certificate(province: Node, national: Node) -> None:
    """`exchange nodes approve --certificate`: the node's request key certified by an external CA the
    upper node trusts for the exchange is pinned instead of issuing one; the lower node installs it
    (its own trust in that CA) and its batches are taken."""
    node_id = province.settings.node_id
    assert join.join(province.runtime, client=national.client).status == "requested"
    with national.uow() as session:
        pending = session.scalars(select(ExchangeNode).where(ExchangeNode.node_id == node_id)).one()
        request_key = load_csr(pending.csr_pem.encode()).public_key
    ca_key, ca = external_ca("外部交换 CA 4")
    cert = _issue_for_request(ca_key, ca, node_id, request_key)
    pem = cert.to_pem() + ca.to_pem()

    refusals = []
    for wrong in (
        _issue_for_request(ca_key, ca, node_id, SM2PrivateKey.generate().public_key).to_pem(),  # other key
        _issue_for_request(ca_key, ca, "someone-else", request_key).to_pem(),  # other subject
        pem,  # CA not trusted yet
        b"not a certificate",
    ):
        with pytest.raises(InvalidJoinRequest) as refused, national.uow() as session:
            join.approve(session, national.runtime, node_id, certificate_pem=wrong)
        refusals.append(refused.value.detail)
    assert "密钥不符" in refusals[0] and "节点标识" in refusals[1] and "pki trust add" in refusals[2]

    trust(national, ca, ["exchange"], crl=empty_crl(ca_key, ca))
    with national.uow() as session:
        approved = join.approve(session, national.runtime, node_id, certificate_pem=pem, actor="test")
        assert approved.status == "approved" and approved.fingerprint == cert.fingerprint
        entry = session.scalars(select(ExchangeLog).where(ExchangeLog.kind == "node.approved")).one()
        assert entry.detail and "外部交换 CA 4" in entry.detail["external_issuer"]

    # The lower node refuses a certificate it cannot place, then installs it once it trusts the CA too.
    with pytest.raises(UpstreamFailed):
        join.join(province.runtime, client=national.client)
    with province.uow() as session:
        add_trust_anchors(session, ca.to_pem(), purposes=["exchange"], actor="test")
    assert join.join(province.runtime, client=national.client).status == "joined"
    uplink = province.runtime.credentials.uplink()
    assert uplink is not None and uplink.certificate.fingerprint == cert.fingerprint
    answer = post(national, seal(document(province, [row(1)]), uplink))
    assert answer.status_code == 200, answer.text
