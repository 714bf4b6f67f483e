"""City → province → national over signed HTTP, in process: zhengwu's own reports — node status,
security events and posture — go all the way up with their origin, once, on the province's next relay
round, and the national node shows which of its lower nodes each came through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from exchange_nodes import Node, http_transport, join_nodes, make_node
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import sessionmaker

from dbkit import migrated_database, rolled_back
from zhengwu.exchange.relay import Relay, RelayStats
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.node import node_of
from zhengwu.ops import reporting
from zhengwu.ops.models import NodeStatus
from zhengwu.security import service, upward
from zhengwu.security.models import SecurityEvent
from zhengwu.security.service import NewEvent
from zhengwu.security.severity import Severity

pytestmark = pytest.mark.db


@pytest.fixture(scope="session")
def city_reports_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(tmp_path_factory, "city_reports")


@pytest.fixture(scope="session")
def city_reports_engine(city_reports_database_url: str) -> Iterator[Engine]:
    eng = make_engine(city_reports_database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def city(tmp_path: Path, city_reports_database_url: str, city_reports_engine: Engine) -> Iterator[Node]:
    connections: Iterator[Connection] = rolled_back(city_reports_engine)
    connection = next(connections)
    settings = Settings(
        data_dir=tmp_path / "sjz",
        database_url=city_reports_database_url,
        tier=Tier.CITY,
        division_code="130100",
        node_id="sjz",
        node_name="石家庄市政务服务平台（测试）",
        public_url="http://sjz.test",
        upstream_url="http://hebei.test",
        log_level="DEBUG",
        exchange={"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "data_source": "222"},
    )
    factory = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    node = make_node(settings, factory)
    yield node
    node.client.close()
    next(connections, None)


@pytest.fixture
def three(joined: tuple[Node, Node], city: Node) -> tuple[Node, Node, Node]:
    province, national = joined
    join_nodes(city, province)
    return city, province, national


def relay(lower: Node, upper: Node) -> RelayStats:
    """One worker round of ``lower``'s relay (its lease given up afterwards, as at a clean stop)."""
    worker = Relay(lower.runtime, http_transport(lower, upper))
    try:
        stats = worker.run_once()
    finally:
        worker.release()
        worker.close()
    assert stats.rejected == 0 and stats.dead == 0 and not stats.skipped_topics
    return stats


def rounds(city: Node, province: Node, national: Node) -> None:
    """One worker round on the city, then one on the province."""
    relay(city, province)
    relay(province, national)


def by_node(node: Node) -> dict[str, dict[str, Any]]:
    with node.uow() as session:
        return {row["node_id"]: row for row in reporting.nodes(session, node.settings)}


def test_the_national_node_sees_the_status_of_every_tier(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    with city.uow() as session:
        sent = reporting.report(session, city.settings)
    with province.uow() as session:
        reporting.report(session, province.settings)
    rounds(city, province, national)

    shown = by_node(national)
    assert set(shown) == {"hebei", "sjz"}
    sjz, hebei = shown["sjz"], shown["hebei"]
    assert (sjz["tier"], sjz["division_code"], sjz["status"]) == ("city", "130100", "ok")
    assert (sjz["route"], sjz["via"]) == ("sjz/hebei", "hebei")
    assert sjz["node_name"] == "石家庄市政务服务平台（测试）" and sjz["version"] == sent["version"]
    assert sjz["reported_at"] == sent["reported_at"] and sjz["lag_seconds"] == sent["lag_seconds"]
    assert (hebei["tier"], hebei["route"], hebei["via"]) == ("province", "hebei", None)
    # The province sees the city directly.
    assert (by_node(province)["sjz"]["route"], by_node(province)["sjz"]["via"]) == ("sjz", None)

    # A second round moves nothing; the city's status is kept once at the top.
    assert relay(city, province).rows == 0 and relay(province, national).rows == 0
    with national.uow() as session:
        assert session.scalar(select(NodeStatus.reports).where(NodeStatus.sender == "sjz")) == 1
        # The national node passes nothing on.
        queued = select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == reporting.TOPIC)
        assert session.scalar(queued) == 0

    # A newer status of the city replaces the older one at the top too.
    with city.uow() as session:
        later = {**reporting.snapshot(session, city.settings), "outbox_pending": 7}
        emit(session, reporting.TOPIC, later, key=later["status_key"])
    rounds(city, province, national)
    again = by_node(national)["sjz"]
    assert (again["outbox_pending"], again["reports"], again["via"]) == (7, 2, "hebei")

    answer = national.client.get("/api/v1/ops/nodes")
    assert answer.status_code == 401  # operators only


def _event(severity: Severity, summary: str) -> NewEvent:
    return NewEvent(
        event_type="waf.blocked",
        severity=severity,
        source="waf",
        peer="203.0.113.9",
        summary=summary,
        detail={"rules": ["942100"]},
    )


def test_a_city_event_reaches_the_national_node_once_with_the_city_as_origin(
    three: tuple[Node, Node, Node],
) -> None:
    city, province, national = three
    bus = node_of(city.app).bus
    with city.uow() as session:
        high = service.record(session, _event(Severity.HIGH, "WAF 拦截：SQL 注入"), bus=bus)
        service.record(session, _event(Severity.LOW, "WAF 告警：扫描器"), bus=bus)
        payload = upward.event_payload(high, city.settings)
    rounds(city, province, national)

    with province.uow() as session:
        (at_province,) = [e for e in service.list_events(session)[0] if e.origin is not None]
    assert (at_province.origin, at_province.detail["route"]) == ("sjz", "sjz")
    with national.uow() as session:
        rows, total = service.list_events(session)
    assert total == 1
    (shown,) = rows
    assert (shown.origin, shown.severity, shown.summary) == ("sjz", "high", "WAF 拦截：SQL 注入")
    assert shown.detail["reported_by"] == "hebei" and shown.detail["route"] == "sjz/hebei"
    assert shown.detail["rules"] == ["942100"]

    # The city reports the same event again (a new outbox row): stored once on the province and once
    # at the top, though the province passed it on twice.
    with city.uow() as session:
        emit(session, upward.EVENT_TOPIC, {**payload, "report_key": payload["report_key"] + ":again"})
    rounds(city, province, national)
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(SecurityEvent)) == 1
    with province.uow() as session:
        stored = select(func.count()).select_from(SecurityEvent).where(SecurityEvent.origin == "sjz")
        assert session.scalar(stored) == 1


def test_a_province_event_and_its_own_posture_are_not_passed_twice(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    with province.uow() as session:
        service.record(session, _event(Severity.CRITICAL, "审计链校验失败"), bus=node_of(province.app).bus)
    rounds(city, province, national)
    with national.uow() as session:
        rows, total = service.list_events(session)
    assert total == 1 and rows[0].origin == "hebei" and rows[0].detail["route"] == "hebei"


def test_the_posture_of_every_tier_reaches_the_national_node(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    with city.uow() as session:
        service.record(session, _event(Severity.MEDIUM, "WAF 告警"), bus=node_of(city.app).bus)
    assert upward.report_posture_if_due(city.runtime.session_factory, city.settings)
    assert upward.report_posture_if_due(province.runtime.session_factory, province.settings)
    rounds(city, province, national)
    with national.uow() as session:
        shown = {row["node_id"]: row for row in upward.postures(session)}
    assert set(shown) == {"hebei", "sjz"}
    assert (shown["sjz"]["route"], shown["sjz"]["via"]) == ("sjz/hebei", "hebei")
    assert shown["sjz"]["node_name"] == "石家庄市政务服务平台（测试）"
    assert shown["sjz"]["events_24h"]["medium"] == 1 and shown["hebei"]["events_24h"]["medium"] == 0
    assert (shown["hebei"]["route"], shown["hebei"]["via"]) == ("hebei", None)
    assert relay(city, province).rows == 0 and relay(province, national).rows == 0
    with national.uow() as session:
        assert {row["node_id"]: row["reports"] for row in upward.postures(session)} == {"hebei": 1, "sjz": 1}


def test_a_city_signed_heads_are_kept_at_the_national_node_under_the_city(
    three: tuple[Node, Node, Node],
) -> None:
    from zhengwu.audit import changes, heads
    from zhengwu.audit.models import AuditReportedHead
    from zhengwu.commands.audit import seal
    from zhengwu.pki import authority

    city, province, national = three
    with city.uow() as session:
        authority.init_pki(session, city.settings)
        changes.record_change(session, actor="cli", action="test.change", entity="test", entity_id="t1")
        signed = {(row.chain, row.seq, row.signature) for row in seal(session, city.settings)}
        payloads = [heads.report_payload("sjz", row) for row in heads.signed_heads(session)]
    assert signed
    rounds(city, province, national)

    def kept(node: Node) -> set[tuple[str, str, int, str]]:
        with node.uow() as session:
            rows = session.scalars(select(AuditReportedHead))
            return {(r.sender, r.chain, r.seq, r.signature) for r in rows}

    assert kept(national) == {("sjz", *s) for s in signed} == kept(province)
    # Reported again by the city: passed on again by the province, kept once at the top.
    with city.uow() as session:
        for payload in payloads:
            emit(session, heads.TOPIC, payload, key=f"{payload['head_key']}:again")
    assert relay(city, province).acknowledged == len(payloads)
    assert relay(province, national).acknowledged == len(payloads)
    assert kept(national) == {("sjz", *s) for s in signed}
