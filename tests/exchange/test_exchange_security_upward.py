"""Security events and posture travel upward: a high event stored on the province reaches the national
node on the relay's next round and is listed there with its origin; low events stay home; the posture
summary arrives and the newest per node is kept."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from exchange_nodes import Node, http_transport

from zhengwu.exchange.relay import Relay
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.node import node_of
from zhengwu.security import service, upward
from zhengwu.security.service import NewEvent
from zhengwu.security.severity import Severity

pytestmark = pytest.mark.db


def _relay(province: Node, national: Node) -> None:
    # A new worker each round: the lease goes at the end as at a clean stop (a lease still held would
    # make the next round skip every topic, and a check after it prove nothing).
    worker = Relay(province.runtime, http_transport(province, national))
    try:
        stats = worker.run_once()
    finally:
        worker.release()
        worker.close()
    assert stats.rejected == 0 and not stats.skipped_topics


def _event(severity: Severity, summary: str) -> NewEvent:
    return NewEvent(
        event_type="waf.blocked",
        severity=severity,
        source="waf",
        peer="203.0.113.9",
        summary=summary,
        detail={"rules": ["942100"], "path": "/api/v1/catalog/items"},
    )


def test_a_high_event_reaches_the_national_node_with_its_origin(joined: tuple[Node, Node]) -> None:
    province, national = joined
    bus = node_of(province.app).bus
    with province.uow() as session:
        high = service.record(session, _event(Severity.HIGH, "WAF 拦截：SQL 注入"), bus=bus)
        service.record(session, _event(Severity.LOW, "WAF 告警：扫描器"), bus=bus)
        queued = session.query(OutboxRecord).filter(OutboxRecord.topic == upward.EVENT_TOPIC).all()
        # Queued in the transaction that stored the event; the low one stays on the province.
        assert [r.payload["event_id"] for r in queued] == [high.id]
    _relay(province, national)
    with national.uow() as session:
        rows, total = service.list_events(session)
    assert total == 1
    [shown] = rows
    assert shown.origin == "hebei" and shown.severity == "high" and shown.summary == "WAF 拦截：SQL 注入"
    assert shown.peer == "203.0.113.9" and shown.detail["rules"] == ["942100"]
    assert shown.detail["reported_by"] == "hebei"
    # The province's own events carry no origin.
    with province.uow() as session:
        own, _ = service.list_events(session)
    assert {e.origin for e in own} == {None}


def test_an_event_delivered_twice_is_stored_once(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        event = service.record(
            session, _event(Severity.CRITICAL, "审计链校验失败"), bus=node_of(province.app).bus
        )
        payload = upward.event_payload(event, province.settings)
    _relay(province, national)
    with province.uow() as session:
        emit(session, upward.EVENT_TOPIC, {**payload, "report_key": payload["report_key"] + ":again"})
    _relay(province, national)
    with national.uow() as session:
        rows, total = service.list_events(session)
    assert total == 1 and rows[0].severity == "critical"


def test_the_posture_summary_goes_up_and_the_newest_is_kept(joined: tuple[Node, Node]) -> None:
    province, national = joined
    bus = node_of(province.app).bus
    with province.uow() as session:
        service.record(session, _event(Severity.MEDIUM, "WAF 告警"), bus=bus)
        service.chain_verified(session, 4, bus=bus)
    factory = province.runtime.session_factory
    assert upward.report_posture_if_due(factory, province.settings)
    assert not upward.report_posture_if_due(factory, province.settings)  # not again within the interval
    _relay(province, national)
    with national.uow() as session:
        [shown] = upward.postures(session)
    assert shown["node_id"] == "hebei" and shown["node_name"] == "河北省政务服务平台（测试）"
    assert shown["events_24h"]["medium"] == 1 and shown["events_24h"]["high"] == 0
    assert shown["audit_chain"]["state"] == "intact"
    assert shown["version"] and "valid" in shown["certificates"]
    # A late, older summary changes nothing.
    with province.uow() as session:
        old = upward.posture(session, province.settings)
    old["reported_at"] = (datetime.fromisoformat(old["reported_at"]) - timedelta(hours=1)).isoformat()
    old["events_24h"] = {**old["events_24h"], "medium": 99}
    with province.uow() as session:
        emit(session, upward.POSTURE_TOPIC, old, key=old["posture_key"] + ":late")
    _relay(province, national)
    with national.uow() as session:
        [again] = upward.postures(session)
    assert again["events_24h"]["medium"] == 1 and again["reports"] == 1
    # A national node reports to no one.
    assert not upward.report_posture_if_due(national.runtime.session_factory, national.settings)
