"""Signed audit chain heads travel upward: the province signs its heads, the national node keeps them."""

from __future__ import annotations

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import select

from zhengwu.audit import changes, heads
from zhengwu.audit.models import AuditReportedHead
from zhengwu.commands.audit import seal, signature_check
from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import emit
from zhengwu.pki import authority

pytestmark = pytest.mark.db


def test_signed_heads_reach_the_upper_node(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        authority.init_pki(session, province.settings)
        changes.record_change(session, actor="cli", action="test.change", entity="test", entity_id="t1")
        sealed = seal(session, province.settings)
        assert sealed
        signed = {(row.chain, row.seq, row.hash, row.signature) for row in sealed}
        assert "audit.changes" in {row.chain for row in sealed}
    worker = Relay(province.runtime, http_transport(province, national))
    stats = worker.run_once()
    assert stats.rejected == 0 and stats.acknowledged >= len(signed)
    with national.uow() as session:
        kept = list(session.scalars(select(AuditReportedHead).where(AuditReportedHead.sender == "hebei")))
    assert {(r.chain, r.seq, r.hash, r.signature) for r in kept} == signed
    # What the upper node keeps is the lower node's signature over the head (checked with its TSA here).
    with province.uow() as session:
        check = signature_check(session)
        for r in kept:
            data = heads.signed_bytes(
                node="hebei", chain_name=r.chain, seq=r.seq, hash_hex=r.hash, at=r.signed_at
            )
            assert check(r.signer, bytes.fromhex(r.signature), data)
    # A second delivery of the same heads keeps one copy.
    with province.uow() as session:
        for row in heads.signed_heads(session):
            emit(session, heads.TOPIC, heads.report_payload("hebei", row), key=f"{row.chain}:{row.seq}:again")
    assert worker.run_once().acknowledged == len(kept)  # sent again, kept once
    worker.close()
    with national.uow() as session:
        again = list(session.scalars(select(AuditReportedHead).where(AuditReportedHead.sender == "hebei")))
    assert len(again) == len(kept)
