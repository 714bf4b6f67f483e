"""The lower node fetches the upper node's exchange CRL and refuses receipts signed by a revoked
certificate: the batch stays queued (nothing counts as delivered) until a valid receipt comes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import select

from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import OutboxRecord, OutboxStatus, emit
from zhengwu.kernel.pki import RevocationReason
from zhengwu.pki.authority import EXCHANGE_DOWNLINK, revoke_certificate
from zhengwu.pki.repository import PkiRepository

pytestmark = pytest.mark.db


def _row(n: int) -> dict[str, Any]:
    return {
        "project_no": f"P{n}",
        "result_type": "0",
        "result_date": "20241201103000",
        "is_delivery_results": "0",
    }


def _crl_requests(client: Any) -> list[str]:
    seen: list[str] = []
    client.event_hooks["request"].append(lambda request: seen.append(request.url.path))
    return seen


def test_a_receipt_of_a_revoked_signer_is_refused(joined: tuple[Node, Node]) -> None:
    province, national = joined
    requests = _crl_requests(national.client)
    with province.uow() as session:
        emit(session, "tests.up_pro_result", _row(1), key="P1")
    relay = Relay(province.runtime, http_transport(province, national))
    assert relay.run_once().acknowledged == 1
    assert requests.count("/exchange/v1/crl") == 1
    with province.uow() as session:
        emit(session, "tests.up_pro_result", _row(2), key="P2")
    assert relay.run_once().acknowledged == 1
    assert requests.count("/exchange/v1/crl") == 1  # held for an hour, not fetched per batch

    # The national node's receipt-signing certificate is revoked (its process still signs with it).
    with national.uow() as session:
        row = PkiRepository(session).current(EXCHANGE_DOWNLINK)
        assert row is not None
        revoke_certificate(
            session, national.settings, row, reason=RevocationReason.KEY_COMPROMISE, actor="test"
        )
    province.runtime.credentials.invalidate()  # as after the hour: the next receipt fetches the new CRL
    with province.uow() as session:
        emit(session, "tests.up_pro_result", _row(3), key="P3")
    stats = relay.run_once()
    assert stats.acknowledged == 0 and stats.failed_batches == 1
    assert requests.count("/exchange/v1/crl") == 2
    with province.uow() as session:
        third = session.scalars(select(OutboxRecord).where(OutboxRecord.key == "P3")).one()
        assert third.status != OutboxStatus.ACKNOWLEDGED
        assert "bad_receipt" in (third.last_error or "") and "revoked" in (third.last_error or "").lower()


def test_no_crl_no_delivery(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        emit(session, "tests.up_pro_result", _row(1), key="P1")

    def no_crl(request: httpx.Request) -> None:
        if request.url.path.endswith("/crl"):
            raise httpx.ConnectError("refused", request=request)

    national.client.event_hooks["request"].append(no_crl)
    stats = Relay(province.runtime, http_transport(province, national)).run_once()
    assert stats.acknowledged == 0 and stats.failed_batches == 1
    with province.uow() as session:
        first = session.scalars(select(OutboxRecord).where(OutboxRecord.key == "P1")).one()
        assert "crl_unavailable" in (first.last_error or "")
