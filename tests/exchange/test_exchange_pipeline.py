"""Province → national over signed HTTP, in process: join, relay, receipts, feedback, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from exchange_nodes import Node, http_transport
from sqlalchemy import func, select

from zhengwu.exchange.models import ExchangeAggregate, ExchangeFeedback, ExchangeInbox
from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.logging import reset_trace_id, set_trace_id

pytestmark = pytest.mark.db


def license_row(i: int, **over: Any) -> dict[str, Any]:
    from zhengwu.seed import registries as registry_seed

    companies = registry_seed.companies(10)
    company = companies[i % 10]
    lic = registry_seed.licenses(companies)[i % 10]
    row = {
        "certificate_source_id": lic.identifier,
        "certificate_name": "演示营业执照",
        "certificate_number": f"演示{i:06d}",
        "certificate_type": lic.license_type,
        "certificate_type_code": registry_seed.license_type_code(),
        "certificate_holder": company.name,
        "certificate_holder_code": company.credit_code,
        "certificate_holder_type": "统一社会信用代码",
        "issue_dept": "演示市场监督管理局",
        "issue_dept_code": lic.identifier.split(".")[6],
        "issue_date": "20240101",
        "certificate_area_code": "130000",
    }
    row.update(over)
    return row


def test_join_installs_certificate(joined: tuple[Node, Node]) -> None:
    province, national = joined
    uplink = province.runtime.credentials.uplink()
    assert uplink is not None
    assert uplink.certificate.subject.common_name == "hebei"
    ca = national.runtime.credentials.ca().certificate
    assert uplink.chain[0].fingerprint == ca.fingerprint


def test_delivery_with_receipt_and_feedback(joined: tuple[Node, Node]) -> None:
    province, national = joined
    token = set_trace_id("trace-province-0001")
    try:
        with province.uow() as session:
            for i in range(3):
                emit(session, "licenses.up_lic_data", license_row(i), key=f"k{i}")
            # missing NOT NULL column and a bad license identifier: refused with reasons
            emit(session, "licenses.up_lic_data", license_row(0, certificate_holder=None), key="bad1")
            emit(
                session,
                "licenses.up_lic_data",
                license_row(1, certificate_source_id="1.2.156.3005.2.X"),
                key="bad2",
            )
    finally:
        reset_trace_id(token)
    relay = Relay(province.runtime, http_transport(province, national))
    stats = relay.run_once()
    assert (stats.acknowledged, stats.rejected) == (3, 2)
    with province.uow() as session:
        statuses = dict(session.execute(select(OutboxRecord.key, OutboxRecord.status)).all())
        feedback = list(session.scalars(select(ExchangeFeedback)))
    assert statuses == {"k0": "acknowledged", "k1": "acknowledged", "k2": "acknowledged", "bad1": "rejected",
                        "bad2": "rejected"}  # fmt: skip
    reasons = {f.business_key: f.reason for f in feedback}
    assert "持证主体" in reasons["bad1"] and "certificate_holder" in reasons["bad1"]
    assert "电子证照标识" in reasons["bad2"]
    with national.uow() as session:
        inbox = list(session.scalars(select(ExchangeInbox).order_by(ExchangeInbox.seq)))
        aggregates = session.scalar(select(func.count()).select_from(ExchangeAggregate))
    assert [r.status for r in inbox].count("applied") == 3
    assert aggregates == 3
    # The correlation id survives the hop.
    assert {r.trace_id for r in inbox} == {"trace-province-0001"}
    # Applied rows live in the aggregate with the control columns in national form; refused ones keep
    # their content in the inbox.
    with national.uow() as session:
        row = session.scalars(select(ExchangeAggregate.payload).limit(1)).one()
    assert row["cd_operation"] == "I" and len(row["cd_time"]) == 14 and row["data_source"] == "111"
    refused = [r for r in inbox if r.status == "rejected"]
    assert all(r.payload and r.payload["certificate_name"] for r in refused)


def test_resend_is_idempotent(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        for i in range(5):
            emit(session, "licenses.up_lic_data", license_row(i), key=f"k{i}")
    transport = http_transport(province, national)
    relay = Relay(province.runtime, transport)
    assert relay._acquire("*")
    from zhengwu.exchange.relay import RelayStats

    got = relay._claim("licenses.up_lic_data", "*", RelayStats())
    assert got is not None
    batch, _rows = got
    first = transport.send(batch)
    second = transport.send(batch)  # the worker crashed before recording the receipt
    assert first.accepted == second.accepted and len(first.accepted) == 5
    assert second.duplicate
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 5
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 5
