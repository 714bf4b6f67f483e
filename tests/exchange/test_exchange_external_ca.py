"""External CA roots trusted ``--for exchange`` (issue 5/6): a lower node's certificate from such a CA passes
the receiver's chain check, but only together with an approved node record pinning that certificate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from exchange_nodes import Node
from sqlalchemy import select
from test_exchange_badinput import document, nothing_applied, post, row

from zhengwu.exchange.credentials import NodeCredential
from zhengwu.exchange.models import ExchangeNode
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
    """What an operator approving the node with that certificate records (no CLI for it yet)."""
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
