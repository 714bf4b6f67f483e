"""The 前置库 transport: national-shaped up_/dn_ tables, append-only writes without duplicates, the upper
node's watermark ingest, and abnormal feedback flowing back through dn_* tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from exchange_nodes import Node
from sqlalchemy import func, inspect, select, update

from zhengwu.exchange.frontdb_sync import ingest_frontdb, poll_feedback
from zhengwu.exchange.models import ExchangeAggregate, ExchangeFeedback, ExchangeInbox
from zhengwu.exchange.relay import Relay
from zhengwu.exchange.transports.frontdb import FrontDb, FrontDbTransport, Snowflake
from zhengwu.kernel.events import OutboxRecord, emit

pytestmark = pytest.mark.db


@pytest.fixture
def frontdb(tmp_path: Path) -> Any:
    db = FrontDb(f"sqlite:///{(tmp_path / 'frontdb.db').as_posix()}")
    yield db
    db.dispose()


def result(i: int, **over: Any) -> dict[str, Any]:
    row = {"project_no": f"P{i:05d}", "result_type": "0", "result_date": "2024-12-01T10:30:00+08:00",
           "is_delivery_results": "0", "unknown_extra": "dropped"}  # fmt: skip
    row.update(over)
    return row


def count(frontdb: FrontDb, table: str) -> int:
    with frontdb.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(frontdb.table(table))).scalar_one())


def test_schema_has_national_shape(frontdb: FrontDb) -> None:
    columns = {c["name"]: c for c in inspect(frontdb.engine).get_columns("up_pro_result")}
    for name in ("id", "row_guid", "cd_batch", "cd_operation", "cd_time", "data_source", "project_no",
                 "result_type", "tenant_id", "create_time", "update_time", "version"):  # fmt: skip
        assert name in columns
    assert not columns["result_type"]["nullable"] and columns["remark"]["nullable"]
    abnormal = {c["name"] for c in inspect(frontdb.engine).get_columns("dn_audit_abnormal")}
    assert {"table_row_guid", "table_sql_name", "err_type", "table_update_time"} <= abnormal
    lic_error = {c["name"] for c in inspect(frontdb.engine).get_columns("dn_lic_data_error")}
    assert {"certificate_source_id", "error_remark"} <= lic_error


def test_snowflake_ids_increase() -> None:
    ids = Snowflake(worker=3)
    values = [ids.next() for _ in range(10_000)]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_province_to_national_through_the_frontdb(province: Node, national: Node, frontdb: FrontDb) -> None:
    national.runtime.settings.exchange.frontdb_settle_seconds = 0
    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    with province.uow() as session:
        for i in range(4):
            emit(session, "cases.up_pro_result", result(i), key=f"P{i:05d}")
        emit(session, "cases.up_pro_result", result(9, result_type=None), key="P00009")  # refused locally
        emit(session, "cases.up_pro_result", result(8, result_type="XXX"), key="P00008")  # too long
    relay = Relay(province.runtime, FrontDbTransport(frontdb))
    stats = relay.run_once()
    assert (stats.acknowledged, stats.rejected) == (4, 2)
    assert count(frontdb, "up_pro_result") == 4
    with frontdb.engine.connect() as conn:
        stored = conn.execute(select(frontdb.table("up_pro_result"))).mappings().first()
    assert stored is not None and stored["result_date"].strftime("%Y%m%d%H%M%S") == "20241201103000"
    assert stored["cd_operation"] == "I" and stored["data_source"] == "111" and stored["tenant_id"] == 0

    # Resending the same rows (a crash before the acknowledgement) writes nothing twice (append-only).
    with province.uow() as session:
        session.execute(
            update(OutboxRecord).where(OutboxRecord.status == "acknowledged").values(status="pending")
        )
    assert relay.run_once().acknowledged == 4
    assert count(frontdb, "up_pro_result") == 4

    # The national node reads by cd_time watermark; a national check refuses one row.
    national.runtime.registry.register(
        "exchange.up_pro_result",
        validator=lambda row: [] if row.get("project_no") != "P00002" else [
            __import__("zhengwu.exchange.national", fromlist=["RowError"]).RowError("dup_case", "办件编号重复", "project_no")
        ],
    )  # fmt: skip
    ingested = ingest_frontdb(national.runtime, frontdb, sender="hebei")
    assert (ingested.rows, ingested.applied, ingested.rejected) == (4, 3, 1)
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").rows == 0  # watermark holds
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeAggregate)) == 3
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 4
    assert count(frontdb, "dn_audit_abnormal") == 1

    # The province polls dn_audit_abnormal and shows the refusal to its operators.
    polled = poll_feedback(province.runtime, frontdb)
    assert polled.feedback == 1
    assert poll_feedback(province.runtime, frontdb).feedback == 0
    with province.uow() as session:
        feedback = {f.business_key: f for f in session.scalars(select(ExchangeFeedback))}
        rejected = dict(session.execute(select(OutboxRecord.key, OutboxRecord.status)).all())
    assert feedback["P00002"].source == "frontdb" and feedback["P00002"].error_code == "dup_case"
    assert "办件编号重复" in feedback["P00002"].reason
    assert {"P00008", "P00009"} <= set(feedback)  # refused before writing (DDL), also visible
    assert rejected["P00002"] == "rejected" and rejected["P00001"] == "acknowledged"


def test_license_errors_come_back_in_dn_lic_data_error(
    province: Node, national: Node, frontdb: FrontDb
) -> None:
    from zhengwu.seed import registries as registry_seed

    national.runtime.settings.exchange.frontdb_settle_seconds = 0
    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    company = registry_seed.companies(1)[0]
    lic = registry_seed.licenses([company])[0]
    row = {"certificate_source_id": lic.identifier, "certificate_name": "演示营业执照", "certificate_number": "1",
           "certificate_type": lic.license_type, "certificate_type_code": registry_seed.license_type_code(),
           "certificate_holder": company.name, "certificate_holder_code": company.credit_code,
           "issue_dept": "演示局", "issue_dept_code": "NOT-A-CREDIT-CODE", "issue_date": "20240101",
           "certificate_area_code": "130000"}  # fmt: skip
    with province.uow() as session:
        emit(session, "licenses.up_lic_data", row, key=lic.identifier)
    Relay(province.runtime, FrontDbTransport(frontdb)).run_once()
    stats = ingest_frontdb(national.runtime, frontdb, sender="hebei")
    assert stats.rejected == 1 and count(frontdb, "dn_lic_data_error") == 1
    ingest_frontdb(national.runtime, frontdb, sender="hebei")
    assert count(frontdb, "dn_lic_data_error") == 1
    assert poll_feedback(province.runtime, frontdb).feedback == 1
    with province.uow() as session:
        item = session.scalars(select(ExchangeFeedback)).one()
    assert item.business_key == lic.identifier and "证照颁发机构代码" in item.reason


def test_catalog_push_read_from_the_frontdb_is_applied_and_logged(province: Node, frontdb: FrontDb) -> None:
    from zhengwu.catalog.models import BasicItem
    from zhengwu.exchange.models import ExchangeApplied

    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    entry = {"catalog_code": "000101001000", "task_name": "普通护照签发", "task_type": "01", "use_level": "2^3^4",
             "by_law": "《中华人民共和国护照法》第五条", "task_state": "1", "task_version": 1, "row_guid": "dn-1",
             "cd_batch": "b1", "cd_operation": "I", "cd_time": "20261201103000", "data_source": "100"}  # fmt: skip
    frontdb.append("dn_task_directory", [entry])
    stats = ingest_frontdb(province.runtime, frontdb, sender="upstream", tables=("dn_task_directory",))
    assert (stats.rows, stats.applied) == (1, 1)
    assert (
        ingest_frontdb(province.runtime, frontdb, sender="upstream", tables=("dn_task_directory",)).rows == 0
    )
    with province.uow() as session:
        item = session.scalar(select(BasicItem).where(BasicItem.catalog_code == "000101001000"))
        assert item is not None and (item.status, item.task_version) == ("published", 1)
        (logged,) = session.scalars(select(ExchangeApplied))
        assert (logged.table_name, logged.outcome, logged.fed_back) == ("dn_task_directory", "applied", False)


def test_a_refused_push_read_from_the_frontdb_is_fed_back_up_through_it(
    province: Node, national: Node, frontdb: FrontDb
) -> None:
    """A dn_* row the province cannot apply goes back as over HTTP: the relay writes the refusal into
    zw_apply_feedback, the upper node's reader logs it as refused below — once, however often read."""
    from zhengwu.exchange.models import ExchangeApplied
    from zhengwu.exchange.transports.frontdb import APPLY_FEEDBACK_TABLE

    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    national.runtime.settings.exchange.frontdb_settle_seconds = 0
    control = {"cd_batch": "b1", "cd_operation": "I", "cd_time": "20261201103000", "data_source": "100"}
    good = {"catalog_code": "000101001000", "task_name": "普通护照签发", "task_type": "01", "use_level": "2^3^4",
            "by_law": "《中华人民共和国护照法》第五条", "task_state": "1", "task_version": 1, "row_guid": "dn-1", **control}  # fmt: skip
    bad = {
        **good,
        "catalog_code": "002030001000",
        "task_name": "社会保险登记",
        "task_type": "99",
        "row_guid": "dn-2",
    }
    frontdb.append("dn_task_directory", [good, bad])
    stats = ingest_frontdb(province.runtime, frontdb, sender="upstream", tables=("dn_task_directory",))
    assert (stats.applied, stats.rejected) == (1, 1)
    with province.uow() as session:
        (refused,) = session.scalars(select(ExchangeApplied).where(ExchangeApplied.outcome == "refused"))
        assert (refused.row_guid, refused.fed_back) == ("dn-2", True)
    assert Relay(province.runtime, FrontDbTransport(frontdb)).run_once().acknowledged == 1
    assert Relay(province.runtime, FrontDbTransport(frontdb)).run_once().acknowledged == 0
    assert count(frontdb, APPLY_FEEDBACK_TABLE) == 1
    taken = ingest_frontdb(national.runtime, frontdb, sender="hebei")
    assert taken.feedback == 1
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").feedback == 0
    with national.uow() as session:
        (back,) = session.scalars(select(ExchangeApplied).where(ExchangeApplied.outcome == "refused_below"))
    assert (back.peer, back.row_guid, back.business_key, back.table_name) == (
        "hebei", "dn-2", "002030001000", "dn_task_directory",
    )  # fmt: skip
    assert "事项类型" in (back.reason or "")


def test_the_writer_sends_within_the_stricter_rule(frontdb: FrontDb) -> None:
    """remark of up_pro_result: varchar(1000) per table, varchar(256) in task_init.sql — written up to
    256 characters, refused beyond (a reason, not a silent cut)."""
    from zhengwu.exchange.transports import OutboundBatch, OutboundRecord

    control = {"cd_batch": "b" * 32, "cd_operation": "I", "cd_time": "20241201103000", "data_source": "111"}
    rows = [
        {**result(1, remark="备" * 256), "row_guid": "1" * 32, **control},
        {**result(2, remark="备" * 257), "row_guid": "2" * 32, **control},
    ]
    batch = OutboundBatch(
        "b" * 32, "cases.up_pro_result", "up_pro_result",
        tuple(OutboundRecord(i, r["row_guid"], None, None, r) for i, r in enumerate(rows)), None,
    )  # fmt: skip
    _table, valid, rejected, _origins = FrontDbTransport(frontdb).prepare(batch)
    assert [r["row_guid"] for r in valid] == ["1" * 32]
    assert rejected["2" * 32].code == "too_long" and rejected["2" * 32].column == "remark"


def test_a_row_passed_on_through_the_frontdb_keeps_its_origin_and_its_refusal_goes_down(
    province: Node, national: Node, frontdb: FrontDb
) -> None:
    from zhengwu.exchange.models import ExchangeFeedbackDown
    from zhengwu.exchange.national import RowError
    from zhengwu.exchange.receiving import IncomingRecord, ingest

    national.runtime.settings.exchange.frontdb_settle_seconds = 0
    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    records = [
        IncomingRecord(f"sjz-{i}", i, None, {**result(i), "result_date": "20241201103000", "row_guid": f"sjz-{i}",
                       "cd_batch": "b1", "cd_operation": "I", "cd_time": "20261206100000", "data_source": "222"})
        for i in (1, 2)
    ]  # fmt: skip
    with province.uow() as session:  # a city's rows the province took and queued for its upper node
        taken = ingest(session, province.runtime.registry, sender="sjz", division_code="130100", batch_id="b1",
                       topic_name="cases.up_pro_result", table_name="up_pro_result", records=records,
                       sender_tier="city", relay=True)  # fmt: skip
    assert taken.accepted == 2
    assert Relay(province.runtime, FrontDbTransport(frontdb)).run_once().acknowledged == 2
    national.runtime.registry.register(
        "exchange.up_pro_result",
        validator=lambda row: [RowError("dup_case", "办件编号重复", "project_no")] if row.get("project_no") == "P00002" else [],
    )  # fmt: skip
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").applied == 1
    with national.uow() as session:
        inbox = {r.row_guid: (r.origin, r.route) for r in session.scalars(select(ExchangeInbox))}
        (kept,) = session.scalars(select(ExchangeAggregate)).all()
    assert inbox == {"sjz-1": ("sjz", "sjz/hebei"), "sjz-2": ("sjz", "sjz/hebei")}
    assert (kept.origin, kept.payload["data_source"]) == ("sjz", "222")
    # The refusal comes back through dn_audit_abnormal and goes on down to the city, as over HTTP.
    assert poll_feedback(province.runtime, frontdb).feedback == 1
    with province.uow() as session:
        (down,) = session.scalars(select(ExchangeFeedbackDown)).all()
    assert (down.target, down.row_guid, down.error_code) == ("sjz", "sjz-2", "dup_case")


def test_rows_committed_late_are_taken_by_the_trailing_cursor(
    province: Node, national: Node, frontdb: FrontDb
) -> None:
    from datetime import timedelta

    from zhengwu.exchange.transports.frontdb import beijing_now_naive, compact

    national.runtime.settings.exchange.frontdb_settle_seconds = 0
    national.runtime.settings.exchange.frontdb_late_seconds = 300
    province.runtime.settings.exchange.frontdb_settle_seconds = 0
    with province.uow() as session:
        for i in range(3):
            emit(session, "cases.up_pro_result", result(i), key=f"P{i:05d}")
    Relay(province.runtime, FrontDbTransport(frontdb)).run_once()
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").rows == 3
    # A writer whose transaction began ten minutes ago commits only now: its cd_time lies behind the
    # first cursor, which has moved on.
    late = compact(beijing_now_naive() - timedelta(minutes=10))
    frontdb.append("up_pro_result", [{**result(7), "result_date": "20241201103000", "row_guid": "late-7",
                                      "cd_batch": "b7", "cd_operation": "I", "cd_time": late, "data_source": "111"}])  # fmt: skip
    again = ingest_frontdb(national.runtime, frontdb, sender="hebei")
    assert (again.rows, again.applied, again.late) == (1, 1, 0 + 1)
    assert ingest_frontdb(national.runtime, frontdb, sender="hebei").rows == 0  # taken once
    with national.uow() as session:
        assert session.scalar(select(func.count()).select_from(ExchangeInbox)) == 4
