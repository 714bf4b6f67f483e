"""City → province → national over signed HTTP, in process: the province passes the city's rows on with
their origin, exactly once, and refusals made higher up come back down to the city."""

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
from zhengwu.exchange import service, tiers
from zhengwu.exchange.models import (
    ExchangeAggregate,
    ExchangeFeedback,
    ExchangeFeedbackDown,
    ExchangeInbox,
)
from zhengwu.exchange.relay import Relay, RelayStats
from zhengwu.exchange.transports.http import HttpTransport
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.topics import RowError

pytestmark = pytest.mark.db

TOPIC = "e2e.up_pro_result"


@pytest.fixture(scope="session")
def city_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from migrated_database(tmp_path_factory, "tiers_city")


@pytest.fixture(scope="session")
def city_engine(city_database_url: str) -> Iterator[Engine]:
    eng = make_engine(city_database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def city_connection(city_engine: Engine) -> Iterator[Connection]:
    yield from rolled_back(city_engine)


@pytest.fixture
def city(tmp_path: Path, city_database_url: str, city_connection: Connection) -> Iterator[Node]:
    settings = Settings(
        data_dir=tmp_path / "sjz",
        database_url=city_database_url,
        tier=Tier.CITY,
        division_code="130100",
        node_id="sjz",
        node_name="石家庄市政务服务平台（测试）",
        public_url="http://sjz.test",
        upstream_url="http://hebei.test",
        log_level="DEBUG",
        exchange={"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "data_source": "222"},
    )
    factory = sessionmaker(
        bind=city_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    node = make_node(settings, factory)
    yield node
    node.client.close()


@pytest.fixture
def three(joined: tuple[Node, Node], city: Node) -> tuple[Node, Node, Node]:
    province, national = joined
    join_nodes(city, province)
    return city, province, national


def row(i: int, **over: Any) -> dict[str, Any]:
    values = {"project_no": f"SJZ{i:08d}", "result_type": "0", "result_date": "20241201103000",
              "is_delivery_results": "0"}  # fmt: skip
    values.update(over)
    return values


def up(lower: Node, upper: Node) -> HttpTransport:
    return http_transport(lower, upper)


def relay(lower: Node, upper: Node) -> RelayStats:
    worker = Relay(lower.runtime, up(lower, upper))
    try:
        stats = worker.run_once()
    finally:
        worker.release()  # as at a clean stop: the next round's worker takes the lease at once
        worker.close()
    assert not stats.skipped_topics
    return stats


def outbox(node: Node, topic: str = TOPIC) -> dict[str, str]:
    with node.uow() as session:
        query = select(OutboxRecord.message_id, OutboxRecord.status).where(OutboxRecord.topic == topic)
        return {m: s for m, s in session.execute(query).all()}


def test_city_rows_reach_the_national_node_with_their_origin(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    with city.uow() as session:
        for i in range(5):
            emit(session, TOPIC, row(i), key=f"SJZ{i:08d}")
        emit(session, TOPIC, row(9, result_type=None), key="SJZ00000009")  # breaks the send rule: held back
    stats = relay(city, province)
    made = outbox(city)
    assert (stats.acknowledged, stats.rejected) == (5, 1)
    with city.uow() as session:
        (feedback,) = session.scalars(select(ExchangeFeedback)).all()
    assert feedback.business_key == "SJZ00000009" and "result_type" in feedback.reason

    # The province took the five rows and queued them, in the same transaction, for the national node.
    queued = outbox(province)
    assert set(queued) == {g for g, s in made.items() if s == "acknowledged"} and len(queued) == 5
    assert relay(province, national).acknowledged == 5
    with national.uow() as session:
        inbox = session.scalars(select(ExchangeInbox).where(ExchangeInbox.topic == TOPIC)).all()
        aggregate = session.scalars(select(ExchangeAggregate)).all()
    assert {r.row_guid for r in inbox} == set(queued)  # the city's row_guids, end to end
    assert {(r.sender, r.origin, r.origin_division, r.route) for r in inbox} == {
        ("hebei", "sjz", "130100", "sjz/hebei")
    }
    assert {r.data_source for r in inbox} == {"222"}  # the city's data_source, not the province's
    assert {(a.sender, a.origin, a.route, a.division_code) for a in aggregate} == {
        ("hebei", "sjz", "sjz/hebei", "130100")
    }
    assert {a.payload["data_source"] for a in aggregate} == {"222"}

    # Nothing doubled: a second pass of both relays moves nothing; the national node queues nothing.
    assert relay(city, province).rows == 0 and relay(province, national).rows == 0
    with national.uow() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(ExchangeInbox).where(ExchangeInbox.topic == TOPIC)
            )
            == 5
        )
        assert (
            session.scalar(select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == TOPIC))
            == 0
        )

    overview = national.client.get("/api/v1/exchange/overview").json()
    (hebei,) = [n for n in overview["nodes"] if n["node_id"] == "hebei"]
    (sjz,) = hebei["lower"]
    assert (sjz["node_id"], sjz["division_code"], sjz["tier"], sjz["route"]) == (
        "sjz",
        "130100",
        "city",
        "sjz/hebei",
    )
    (table,) = sjz["tables"]
    assert (table["table"], table["received"], table["applied"], table["rejected"]) == (
        "up_pro_result",
        5,
        5,
        0,
    )
    assert hebei["totals"]["applied"] == 5
    page = national.client.get("/exchange/overview").text
    assert "经本节点转报的下级节点" in page and "sjz · 130100 · 市级" in page and "up_pro_result" in page
    # The province sees the city directly; the bad row never left the city (the relay's send rule).
    (direct,) = [
        n for n in province.client.get("/api/v1/exchange/overview").json()["nodes"] if n["node_id"] == "sjz"
    ]
    assert (direct["tables"][0]["received"], direct["tables"][0]["rejected"]) == (5, 0)


def test_a_batch_sent_again_is_passed_on_once(three: tuple[Node, Node, Node]) -> None:
    city, province, _national = three
    with city.uow() as session:
        for i in range(4):
            emit(session, TOPIC, row(i), key=f"k{i}")
    transport = up(city, province)
    relay_ = Relay(city.runtime, transport)
    assert relay_._acquire("*")
    claimed = relay_._claim(TOPIC, "*", RelayStats())
    assert claimed is not None
    first = transport.send(claimed[0])
    second = transport.send(claimed[0])  # the city crashed before recording the receipt
    assert len(first.accepted) == 4 and second.duplicate
    assert len(outbox(province)) == 4


def test_a_national_refusal_comes_back_to_the_city(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three

    def national_rule(values: Any) -> list[RowError]:
        bad = str(values.get("project_no", "")).endswith("X")
        return [RowError("national_rule", "国家节点规则拒收（测试）", "project_no")] if bad else []

    national.runtime.registry.check_table("up_pro_result", national_rule)
    with city.uow() as session:
        emit(session, TOPIC, row(1), key="good")
        refused = emit(session, TOPIC, row(2, project_no="SJZ0000000X"), key="bad")
        session.flush()
        guid = refused.message_id
    assert relay(city, province).acknowledged == 2
    stats = relay(province, national)
    assert (stats.acknowledged, stats.rejected) == (1, 1)
    with province.uow() as session:
        (down,) = session.scalars(select(ExchangeFeedbackDown)).all()
    assert (down.target, down.row_guid, down.refused_by, down.error_code) == (
        "sjz",
        guid,
        "national",
        "national_rule",
    )

    with province.uow() as session:  # the province only passed the row on: the city fixes and resends it
        assert service.resend_feedback(session, province.runtime.registry)["skipped"] == 1
    got = tiers.pull_feedback(city.runtime, client=province.client)
    assert (got.rows, got.own, got.passed_down) == (1, 1, 0)
    assert outbox(city)[guid] == "rejected"
    with city.uow() as session:
        (feedback,) = session.scalars(select(ExchangeFeedback).where(ExchangeFeedback.status == "open")).all()
    assert feedback.source == "upstream" and feedback.row_guid == guid and feedback.business_key == "bad"
    assert "国家节点规则拒收" in feedback.reason and "national" in feedback.reason
    # Fetching again changes nothing (the watermark moved; the feedback is kept once).
    assert tiers.pull_feedback(city.runtime, client=province.client).rows == 0
    listed = city.client.get("/api/v1/exchange/feedback")
    assert listed.status_code == 401  # operators only; the CLI and API list it for them


def test_an_operator_refusal_at_the_province_reaches_the_city(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    with city.uow() as session:
        record = emit(session, TOPIC, row(3), key="k3")
        session.flush()
        guid = record.message_id
    relay(city, province)
    with province.uow() as session:
        assert tiers.refuse_received(session, province.runtime, guid, "数据质量核查不通过", actor="test") == 1
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 0
    assert outbox(province)[guid] == "rejected"  # not passed on
    assert relay(province, national).rows == 0
    assert tiers.pull_feedback(city.runtime, client=province.client).own == 1
    assert outbox(city)[guid] == "rejected"


def test_origin_claims_are_checked(three: tuple[Node, Node, Node]) -> None:
    city, province, _national = three
    from zhengwu.exchange.canonical import dumps_text
    from zhengwu.exchange.signing import seal_bytes
    from zhengwu.exchange.transports import OutboundBatch, OutboundRecord
    from zhengwu.exchange.transports.http import batch_document

    controls = {"cd_batch": "b1", "cd_operation": "I", "cd_time": "20241201103000", "data_source": "222"}
    records = (
        OutboundRecord(1, "m1", None, "a", {**row(1), "row_guid": "m1", **controls},
                       {"path": ["xinji", "sjz"], "division": "130181", "tier": "county"}),
        OutboundRecord(2, "m2", None, "b", {**row(2), "row_guid": "m2", **controls},
                       {"path": ["taiyuan", "sjz"], "division": "140100", "tier": "city"}),
        OutboundRecord(3, "m3", None, "c", {**row(3), "row_guid": "m3", **controls},
                       {"path": ["xinji", "other"], "division": "130181"}),
    )  # fmt: skip
    batch = OutboundBatch("b1", TOPIC, "up_pro_result", records, None)
    credential = city.runtime.credentials.uplink()
    assert credential is not None
    body, _digest = seal_bytes(batch_document(city.settings, batch), credential)
    answer = province.client.post("/exchange/v1/batches", content=body,
                                  headers={"Content-Type": "application/json"}).json()  # fmt: skip
    assert answer["document"]["accepted"] == ["m1"]
    codes = {r["row_guid"]: r["code"] for r in answer["document"]["rejected"]}
    assert codes == {"m2": "origin_outside_division", "m3": "origin_mismatch"}
    with province.uow() as session:
        (inbox,) = session.scalars(select(ExchangeInbox).where(ExchangeInbox.status == "applied")).all()
    assert (inbox.origin, inbox.route, inbox.origin_division) == ("xinji", "xinji/sjz", "130181")
    assert dumps_text(outbox(province)) == dumps_text({"m1": "pending"})


def test_a_business_key_outside_the_national_columns_survives_the_hop(three: tuple[Node, Node, Node]) -> None:
    city, province, national = three
    topic = "catalog.up_task_general_questions"  # child rows keyed by row_key (catalog.topics)
    question = {"answer": "可以", "order_num": 1, "question": "能否网上办理？", "task_code": "T" * 36,
                "task_guid": "g1", "row_key": "Q-0001"}  # fmt: skip
    with city.uow() as session:
        emit(session, topic, question, key="Q-0001")
    assert relay(city, province).acknowledged == 1
    assert relay(province, national).acknowledged == 1
    with national.uow() as session:
        (stored,) = session.scalars(select(ExchangeAggregate)).all()
    assert (stored.business_key, stored.origin) == ("Q-0001", "sjz")


def test_a_crash_between_apply_and_relay_leaves_nothing_half_done(
    three: tuple[Node, Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    city, province, national = three
    with city.uow() as session:
        for i in range(3):
            emit(session, TOPIC, row(i), key=f"k{i}")
    real = tiers.queue_upward

    def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the province died after applying, before queueing")

    monkeypatch.setattr(tiers, "queue_upward", crash)
    city_relay = Relay(city.runtime, up(city, province))
    stats = city_relay.run_once()
    assert stats.acknowledged == 0 and stats.failed_batches == 1
    with province.uow() as session:  # the apply went with the failed transaction
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 0
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 0
    monkeypatch.setattr(tiers, "queue_upward", real)
    import time

    time.sleep(0.06)  # the test backoff (at most 0.05 s) expires
    assert city_relay.run_once().acknowledged == 3
    assert len(outbox(province)) == 3
    assert relay(province, national).acknowledged == 3


def test_two_cities_with_the_same_business_key_stay_apart_at_the_national_node(
    joined: tuple[Node, Node],
) -> None:
    from zhengwu.exchange.receiving import IncomingRecord, ingest

    _province, national = joined

    def record(n: int, city: str, division: str, result_type: str) -> IncomingRecord:
        values = {**row(1, result_type=result_type), "row_guid": f"{city}-{n}", "cd_operation": "I", "cd_batch": f"b{n}",
                  "cd_time": "20261206100000", "data_source": "222"}  # fmt: skip
        return IncomingRecord(f"{city}-{n}", n, None, values, {"path": [city, "hebei"], "division": division})

    for records in (
        [record(1, "sjz", "130100", "0"), record(2, "ts", "130200", "1")],
        [record(3, "ts", "130200", "2")],  # a later change of Tangshan's object: only Tangshan's row moves
    ):
        with national.uow() as session:
            result = ingest(session, national.runtime.registry, sender="hebei", division_code="130000",
                            batch_id=records[0].message_id, topic_name=TOPIC, table_name="up_pro_result",
                            records=records, sender_tier="province")  # fmt: skip
        assert result.accepted == len(records), result.verdicts
    with national.uow() as session:
        kept = {
            (a.origin, a.business_key, a.payload["result_type"])
            for a in session.scalars(select(ExchangeAggregate))
        }
    assert kept == {("sjz", "SJZ00000001", "0"), ("ts", "SJZ00000001", "2")}


def test_the_province_passes_on_only_rows_within_the_send_rule(three: tuple[Node, Node, Node]) -> None:
    from zhengwu.exchange.receiving import IncomingRecord, ingest

    _city, province, national = three
    # A lower node's rows the province accepts by the wider rule: 备注 up to 1000 characters is read,
    # but 256 is what may be sent (docs/national-tables.md).
    records = [
        IncomingRecord(f"sjz-{n}", n, None, {**row(n, remark=remark), "row_guid": f"sjz-{n}", "cd_batch": "b1",
                       "cd_operation": "I", "cd_time": "20261206100000", "data_source": "222"})
        for n, remark in ((1, "短备注"), (2, "备" * 600))
    ]  # fmt: skip
    with province.uow() as session:
        result = ingest(session, province.runtime.registry, sender="sjz", division_code="130100",
                        batch_id="b1", topic_name=TOPIC, table_name="up_pro_result", records=records,
                        sender_tier="city", relay=True)  # fmt: skip
    assert result.accepted == 2
    stats = relay(province, national)
    assert (stats.acknowledged, stats.rejected) == (1, 1)
    with national.uow() as session:
        assert [r.row_guid for r in session.scalars(select(ExchangeInbox))] == ["sjz-1"]
    assert outbox(province) == {"sjz-1": "acknowledged", "sjz-2": "rejected"}
    with province.uow() as session:  # the refusal goes back down to the city that sent the row
        (down,) = session.scalars(select(ExchangeFeedbackDown)).all()
    assert (down.target, down.row_guid) == ("sjz", "sjz-2") and "发送规则" in down.reason
