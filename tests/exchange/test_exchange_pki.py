"""One PKI per node: the exchange CA, its downlink certificate and the uplink key live in the node PKI (its key
ring, its certificate records, its CRLs), and an exchange CA from before is adopted without changing it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from exchange_nodes import Node, join_nodes
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.exchange import join
from zhengwu.exchange.credentials import key_password
from zhengwu.exchange.models import ExchangeCredential, ExchangeCrl, ExchangeLog, ExchangeNode
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.pki import (
    EKU_CLIENT_AUTH,
    Certificate,
    CertProfile,
    RevocationReason,
    RevokedCertificate,
    TrustStore,
    build_crl,
    create_root_ca,
    issue_certificate,
    load_certificate,
    load_crl,
)
from zhengwu.pki.authority import EXCHANGE_CA, EXCHANGE_DOWNLINK
from zhengwu.pki.repository import PkiRepository

pytestmark = pytest.mark.db


def test_the_exchange_ca_is_a_ca_of_the_node_pki(joined: tuple[Node, Node]) -> None:
    province, national = joined
    ca = national.runtime.credentials.ca().certificate
    downlink = national.runtime.credentials.downlink()
    # The PKI publishes it like its other CAs, and the exchange's own endpoints answer the same.
    assert national.client.get("/pki/ca/exchange.crt").content == ca.der
    published = load_crl(national.client.get("/pki/crl/exchange.crl").content)
    assert load_crl(national.client.get("/exchange/v1/crl").text.encode()).der == published.der
    assert published.issuer == ca.subject
    with national.uow() as session:
        repo = PkiRepository(session)
        ca_row = repo.current(EXCHANGE_CA)
        assert ca_row is not None and ca_row.key_id is not None and ca_row.fingerprint == ca.fingerprint
        key = repo.key(ca_row.key_id)
        assert key is not None and key.key_ref.startswith("soft:") and key.wrapped is not None
        downlink_row = repo.current(EXCHANGE_DOWNLINK)
        assert downlink_row is not None and downlink_row.issuer_id == ca_row.id
        assert downlink_row.fingerprint == downlink.certificate.fingerprint
        [hebei] = [row for row in repo.list_certificates() if row.node_id == "hebei"]
        assert hebei.issuer_id == ca_row.id and hebei.profile == CertProfile.NODE_EXCHANGE.value
        legacy = select(func.count()).select_from(ExchangeCredential)
        assert session.scalar(legacy.where(ExchangeCredential.purpose.in_(("ca", "downlink")))) == 0
        assert session.scalar(select(func.count()).select_from(ExchangeCrl)) == 0
    with province.uow() as session:
        uplink = session.scalars(
            select(ExchangeCredential).where(ExchangeCredential.purpose == "uplink")
        ).one()
        assert uplink.key_pem is None and uplink.key_id is not None
        ring_key = PkiRepository(session).key(uplink.key_id)
        assert ring_key is not None and ring_key.purpose == "exchange-uplink"
    # A revocation by the exchange is a revocation in the PKI, on the exchange CA's next CRL.
    with national.uow() as session:
        join.revoke(session, national.runtime, "hebei", reason="key_compromise")
    after = load_crl(national.client.get("/pki/crl/exchange.crl").content)
    assert after.crl_number is not None and published.crl_number is not None
    assert after.crl_number > published.crl_number
    entry = after.lookup(int(hebei.serial, 16))
    assert entry is not None and entry.reason is RevocationReason.KEY_COMPROMISE
    pki = national.client.get("/_status").json()["dependencies"]["pki"]
    assert pki["crls"]["exchange-ca"]["current"] and pki["certificate_days_left"]["exchange-ca"] > 3650


def _legacy_node(
    session: Session, ca: Certificate, ca_key: SM2PrivateKey, node_id: str, **extra: object
) -> str:
    now = utcnow()
    key = SM2PrivateKey.generate()
    cert = issue_certificate(
        issuer=ca,
        issuer_signer=ca_key,
        subject={"C": "CN", "CN": node_id},
        public_key=key.public_key,
        profile=CertProfile.NODE_EXCHANGE,
        not_before=now - timedelta(days=30),
        not_after=now + timedelta(days=300),
        extended_key_usage=[EKU_CLIENT_AUTH],
    )
    session.add(
        ExchangeNode(
            node_id=node_id,
            node_name=node_id,
            division_code="130100",
            tier="city",
            csr_pem="-",
            key_fingerprint=key.public_key.fingerprint,
            certificate_pem=cert.to_pem().decode(),
            serial=f"{cert.serial_number:x}",
            fingerprint=cert.fingerprint,
            not_after=cert.not_after,
            **extra,
        )
    )
    return f"{cert.serial_number:X}"


def test_an_exchange_ca_from_before_the_node_pki_is_adopted_unchanged(province: Node, national: Node) -> None:
    now = utcnow().replace(microsecond=0)
    old_key = SM2PrivateKey.generate()
    old_ca = create_root_ca(
        subject={"C": "CN", "CN": "national exchange CA"},
        signer=old_key,
        not_before=now - timedelta(days=400),
        not_after=now + timedelta(days=3000),
    )
    revoked_at = now - timedelta(days=3)
    with national.uow() as session:
        session.add(
            ExchangeCredential(
                purpose="ca",
                status="active",
                fingerprint=old_ca.fingerprint,
                key_pem=old_key.to_pem(key_password(national.settings)).decode(),
                certificate_pem=old_ca.to_pem().decode(),
                not_after=old_ca.not_after,
            )
        )
        kept = _legacy_node(session, old_ca, old_key, "cangzhou", status="approved")
        other_key = SM2PrivateKey.generate()
        other_ca = create_root_ca(
            subject={"CN": "another CA"},
            signer=other_key,
            not_before=old_ca.not_before,
            not_after=old_ca.not_after,
        )
        _legacy_node(session, other_ca, other_key, "foreign", status="approved")  # not the CA's: left out
        gone = _legacy_node(
            session,
            old_ca,
            old_key,
            "tangshan",
            status="revoked",
            revoked_at=revoked_at,
            revoke_reason="superseded",
        )
        crl = build_crl(
            issuer=old_ca,
            signer=old_key,
            this_update=now - timedelta(days=2),
            next_update=now + timedelta(days=5),
            crl_number=7,
            revoked=[RevokedCertificate(int(gone, 16), revoked_at, RevocationReason.CESSATION_OF_OPERATION)],
        )
        session.add(
            ExchangeCrl(
                number=7, pem=crl.to_pem().decode(), this_update=crl.this_update, next_update=crl.next_update
            )
        )

    adopted = national.runtime.credentials.ca()
    assert adopted.certificate.der == old_ca.der
    assert adopted.key.public_key.point == old_key.public_key.point  # the same key, now in the key ring
    with national.uow() as session:
        repo = PkiRepository(session)
        ca_row = repo.current(EXCHANGE_CA)
        assert ca_row is not None and ca_row.key_id is not None
        key = repo.key(ca_row.key_id)
        assert key is not None and key.wrapped is not None and old_key.to_der() not in key.wrapped
        records = {row.node_id: row for row in repo.list_certificates() if row.issuer_id == ca_row.id}
        assert records["cangzhou"].status == "valid" and records["cangzhou"].serial == kept
        assert records["tangshan"].status == "revoked" and records["tangshan"].revoked_at == revoked_at
        assert "foreign" not in records and not [
            r for r in repo.list_certificates() if r.node_id == "foreign"
        ]
        assert [c.number for c in session.scalars(select(ExchangeCrl))] == [7]  # left as it was
        assert (
            session.scalar(
                select(func.count()).select_from(ExchangeLog).where(ExchangeLog.kind == "ca.adopted")
            )
            == 1
        )
    # The next CRL continues the numbering and keeps the revocation as published.
    published = load_crl(national.client.get("/pki/crl/exchange.crl").content)
    assert published.crl_number == 8
    entry = published.lookup(int(gone, 16))
    assert entry is not None and entry.revoked_at == revoked_at
    assert entry.reason is RevocationReason.CESSATION_OF_OPERATION
    assert published.lookup(int(kept, 16)) is None
    # Lower nodes keep the CA they pinned: a new member joins under it, an old one can be revoked.
    join_nodes(province, national)
    uplink = province.runtime.credentials.uplink()
    assert uplink is not None and uplink.certificate.issuer == old_ca.subject
    trust = TrustStore()
    trust.add_anchor(old_ca, ["exchange"])
    assert trust.validate(uplink.certificate, purpose="exchange", at=utcnow(), check_revocation="none").ok
    with national.uow() as session:
        join.revoke(session, national.runtime, "cangzhou")
    listed = load_crl(national.client.get("/exchange/v1/crl").text.encode())
    assert listed.crl_number == 9 and listed.lookup(int(kept, 16)) is not None
    assert load_certificate(national.client.get("/exchange/v1/ca").text.encode()).der == old_ca.der
