"""Connection progress (应上尽上): a province reports its counts and rows to the national node, which
shows per node and department what exists there against what it accepted, with refusals and reasons —
as JSON, a staff page and an XLSX workbook."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from exchange_nodes import Node, http_transport, token
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_exchange_pipeline import license_row

from zhengwu.exchange import progress, routes
from zhengwu.exchange.models import ExchangeProgressCount
from zhengwu.exchange.relay import Relay
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import RowError

pytestmark = pytest.mark.db


def departments() -> tuple[str, str]:
    """Two issuing departments (valid credit codes)."""
    from zhengwu.seed import registries as registry_seed

    return str(license_row(0)["issue_dept_code"]), registry_seed.companies(1)[0].credit_code


UNKNOWN_HOLDER = "（登记信息中没有的持证主体）"


def send_and_report(province: Node, national: Node, census: dict[str, int]) -> None:
    """Three licenses accepted, three refused (two for one reason, one for another), then the counts."""
    d1 = departments()[1]
    rows = {"ok0": license_row(0), "ok1": license_row(1, issue_dept_code=d1), "ok2": license_row(2),
            "bad1": license_row(3, certificate_holder=UNKNOWN_HOLDER),
            "bad2": license_row(4, certificate_holder=UNKNOWN_HOLDER, issue_dept_code=d1),
            "bad3": license_row(5, certificate_source_id="1.2.156.X")}  # fmt: skip
    # A rule of the national node's own (rows breaking the national send rule never leave the province).
    national.runtime.registry.check_table(
        "up_lic_data",
        lambda row: (
            [RowError("holder_unknown", "持证主体在登记信息中不存在", "certificate_holder")]
            if row.get("certificate_holder") == UNKNOWN_HOLDER
            else []
        ),
    )
    with province.uow() as session:
        for key, row in rows.items():
            emit(session, "licenses.up_lic_data", row, key=key)
    relay = Relay(province.runtime, http_transport(province, national))
    stats = relay.run_once()
    assert (stats.acknowledged, stats.rejected) == (3, 3)
    # What the province holds: its license capability's count plus (here) a stand-in for issued licenses.
    province.runtime.registry.count("licenses", lambda session: census)
    with province.uow() as session:
        row = progress.report(session, province.runtime.registry, province.settings)
    assert {"kind": "users", "department": "", "count": 0, "origin": "hebei"} in row["counts"]
    assert relay.run_once().acknowledged == 1


def test_progress_numbers_after_rows_are_accepted_and_refused(joined: tuple[Node, Node]) -> None:
    province, national = joined
    d0, d1 = departments()
    send_and_report(province, national, {d0: 6, d1: 2})
    with national.uow() as session:
        data = progress.compute(session, national.settings)
    (hebei,) = data["nodes"]
    assert hebei["node_id"] == "hebei" and hebei["node_name"] == "河北省政务服务平台（测试）"
    licenses = hebei["kinds"]["licenses"]
    assert (licenses["exists"], licenses["accepted"], licenses["received"], licenses["rejected"]) == (
        8,
        3,
        6,
        3,
    )
    assert licenses["coverage"] == 0.375 and licenses["rejection_rate"] == 0.5
    assert hebei["kinds"]["users"]["exists"] == 0 and hebei["kinds"]["items"]["exists"] is None
    first, second = hebei["top_reasons"][:2]
    assert first["count"] == 2 and "持证主体" in first["reason"]
    assert second["count"] == 1 and "电子证照标识" in second["reason"]
    # Rows of every table count for the node's totals: the license rows and the count report.
    assert (hebei["received_rows"], hebei["rejected_rows"]) == (7, 3)
    assert hebei["last_contact"] and hebei["counts_reported_at"] and hebei["lag_seconds"] is not None
    by_code = {d["department_code"]: d for d in hebei["departments"]}
    first_dept, second_dept = by_code[d0]["kinds"]["licenses"], by_code[d1]["kinds"]["licenses"]
    assert (first_dept["exists"], first_dept["accepted"], first_dept["received"], first_dept["rejected"]) == (
        6,
        2,
        4,
        2,
    )
    assert (
        second_dept["exists"],
        second_dept["accepted"],
        second_dept["received"],
        second_dept["rejected"],
    ) == (2, 1, 2, 1)
    assert first_dept["rejection_rate"] == 0.5 and round(second_dept["coverage"], 2) == 0.5
    assert by_code[d0]["department_name"] == "演示市场监督管理局"
    assert [(r["count"], "持证主体" in r["reason"]) for r in by_code[d1]["top_reasons"]] == [(1, True)]

    # The JSON API (an operator's client) and the XLSX workbook carry the same numbers.
    admin = {"Authorization": f"Bearer {token(national, scope='exchange:admin')}"}
    api = national.client.get("/api/v1/exchange/progress", headers=admin)
    assert api.status_code == 200
    assert api.json()["nodes"][0]["kinds"]["licenses"] == licenses
    book = load_workbook(io.BytesIO(progress.to_xlsx(data)))
    assert book.sheetnames == ["节点汇总", "部门明细", "退回原因"]
    rows = [r for r in book["节点汇总"].iter_rows(min_row=3, values_only=True) if r[3] == "电子证照"]
    assert [r[:10] for r in rows] == [
        ("hebei", "河北省政务服务平台（测试）", "130000", "电子证照", 8, 3, 0.375, 6, 3, 0.5)
    ]
    causes = {
        r[3]: r[4] for r in book["退回原因"].iter_rows(min_row=2, values_only=True) if r[1] == "（全部）"
    }
    assert sorted(causes.values(), reverse=True)[:2] == [2, 1]


def test_the_page_and_workbook_are_for_staff(joined: tuple[Node, Node]) -> None:
    province, national = joined
    send_and_report(province, national, {departments()[0]: 10})
    assert national.client.get("/exchange/progress").status_code == 401
    assert national.client.get("/exchange/progress.xlsx").status_code == 401
    assert national.client.get("/api/v1/exchange/progress").status_code == 401
    operator = routes.Operator.__metadata__[0].dependency
    national.app.dependency_overrides[operator] = object
    try:
        page = national.client.get("/exchange/progress")
        workbook = national.client.get("/exchange/progress.xlsx")
    finally:
        national.app.dependency_overrides.clear()
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert "河北省政务服务平台（测试）" in page.text and "演示市场监督管理局" in page.text
    assert "2 / 10" in page.text and "50.0%" in page.text  # two of ten accepted; half the rows refused
    assert "exchange.progress" not in page.text and "hebei" not in page.text  # no internal codes
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content))["节点汇总"]
    assert [r[4:6] for r in sheet.iter_rows(min_row=3, values_only=True) if r[3] == "电子证照"] == [(10, 3)]


@dataclass
class Report:
    """A received count report as a table hook sees it."""

    row: dict[str, Any]
    sender: str = "hebei"
    business_key: str = "k"
    operation: str = "I"
    order: int = 1


def _report(at: Any, counts: list[dict[str, Any]]) -> Report:
    return Report({"reported_at": at.isoformat(), "counts": counts})


def test_the_newest_report_wins_whole(session: Session) -> None:
    now = utcnow()
    newer = [{"kind": "items", "department": "D1", "count": 5}]
    older = [
        {"kind": "items", "department": "D1", "count": 1},
        {"kind": "items", "department": "D2", "count": 9},
    ]
    progress.apply_reports(session, [_report(now, newer)])
    progress.apply_reports(session, [_report(now - timedelta(minutes=5), older)])  # arrives late: ignored
    held = {r.department_code: r.count for r in session.scalars(select(ExchangeProgressCount))}
    assert held == {"D1": 5}
    gone = [
        {"kind": "items", "department": "D2", "count": 3},
        {"kind": "nonsense", "department": "", "count": 1},
    ]
    progress.apply_reports(session, [_report(now + timedelta(minutes=5), gone)])
    held = {r.department_code: r.count for r in session.scalars(select(ExchangeProgressCount))}
    assert held == {"D2": 3}  # D1 left the report, so it left here too; unknown kinds are dropped


def test_a_report_carries_the_lower_nodes_counts(session: Session, settings: Settings) -> None:
    """City → province → national: the province passes on what its city (and the city's county) reported."""
    now = utcnow()
    city = [{"kind": "items", "department": "C1", "count": 4},
            {"kind": "items", "department": "K1", "count": 2, "origin": "county"}]  # fmt: skip
    progress.apply_reports(session, [Report({"reported_at": now.isoformat(), "counts": city}, sender="city")])
    registry = TopicRegistry()
    registry.count("items", lambda s: {"P1": 7})
    carried = progress.subtree(session, settings, registry)
    assert sorted((c["origin"], c["department"], c["count"]) for c in carried) == [
        ("city", "C1", 4), ("county", "K1", 2), (settings.node_id, "P1", 7)
    ]  # fmt: skip
    # At the national node (here the same database, the province as sender).
    later = (now + timedelta(seconds=1)).isoformat()
    progress.apply_reports(session, [Report({"reported_at": later, "counts": carried}, sender="hebei")])
    data = progress.compute(session, settings)
    hebei = next(n for n in data["nodes"] if n["node_id"] == "hebei")
    assert hebei["kinds"]["items"]["exists"] == 13 and hebei["lower_nodes"] == ["city", "county"]
    assert {d["department_code"]: d["kinds"]["items"]["exists"] for d in hebei["departments"]} == {
        "C1": 4, "K1": 2, "P1": 7
    }  # fmt: skip


def test_the_worker_queues_a_count_report_when_due(
    settings: Settings, session_factory: Any, clock: Any
) -> None:
    registry = TopicRegistry()
    settings.upstream_url = "http://national.test"
    assert progress.report_if_due(session_factory, registry, settings) is True
    assert progress.report_if_due(session_factory, registry, settings) is False  # within the hour
    clock.advance(minutes=60)
    assert progress.report_if_due(session_factory, registry, settings) is True
    clock.advance(minutes=60)
    settings.exchange.progress_minutes = 0
    assert progress.report_if_due(session_factory, registry, settings) is False
    settings.exchange.progress_minutes, settings.upstream_url = 60, None  # a national node reports to nobody
    assert progress.report_if_due(session_factory, registry, settings) is False
    with unit_of_work(session_factory) as session:
        queued = session.scalars(select(OutboxRecord.topic)).all()
    assert queued == [progress.TOPIC, progress.TOPIC]


def test_numbers_are_split_by_origin_and_kept_until_something_changes(joined: tuple[Node, Node]) -> None:
    """The national node's numbers for the province, split by the node that made the objects (the province
    and a city below it, whose rows and counts it relays); ``current`` computes again only on change."""
    from zhengwu.exchange.receiving import IncomingRecord, ingest

    _province, national = joined
    national.runtime.registry.check_table(
        "up_lic_data",
        lambda row: [RowError("holder_unknown", "持证主体在登记信息中不存在", "certificate_holder")]
        if row.get("certificate_holder") == UNKNOWN_HOLDER else [],
    )  # fmt: skip
    control = {"cd_batch": "b1", "cd_operation": "I", "cd_time": "20261206100000", "data_source": "130"}
    city = {"path": ["sjz", "hebei"], "division": "130100", "tier": "city"}
    made = [(0, None, {}), (1, city, {}), (2, city, {}), (3, city, {"certificate_holder": UNKNOWN_HOLDER})]
    records = [
        IncomingRecord(f"r{i}", i, None, {**license_row(i, **over), **control, "row_guid": f"r{i}"}, origin)
        for i, origin, over in made
    ]
    with national.uow() as session:
        taken = ingest(session, national.runtime.registry, sender="hebei", division_code="130000", batch_id="b1",
                       topic_name="licenses.up_lic_data", table_name="up_lic_data", records=records,
                       sender_tier="province")  # fmt: skip
        assert taken.accepted == 3
        reported = [
            {"kind": "licenses", "department": "d", "count": n, "origin": o}
            for o, n in (("hebei", 2), ("sjz", 4))
        ]
        progress.apply_reports(session, [_Report({"reported_at": utcnow().isoformat(), "counts": reported})])  # fmt: skip
        data = progress.current(session, national.runtime)
    (hebei,) = data["nodes"]
    split = {o["origin"]: o["kinds"]["licenses"] for o in hebei["origins"]}
    assert {o: (n["exists"], n["accepted"], n["received"], n["rejected"]) for o, n in split.items()} == {
        "hebei": (2, 1, 1, 0),
        "sjz": (4, 2, 3, 1),
    }
    assert split["sjz"]["coverage"] == 0.5 and hebei["lower_nodes"] == ["sjz"]

    with national.uow() as session:  # nothing changed: the same numbers, not computed again
        assert progress.current(session, national.runtime)["generated_at"] == data["generated_at"]
    with national.uow() as session:  # a new row arrives: computed again
        more = IncomingRecord("r4", 4, None, {**license_row(4), **control, "row_guid": "r4"}, city)
        ingest(session, national.runtime.registry, sender="hebei", division_code="130000", batch_id="b2",
               topic_name="licenses.up_lic_data", table_name="up_lic_data", records=[more], sender_tier="province")  # fmt: skip
        again = progress.current(session, national.runtime)
    assert again["generated_at"] != data["generated_at"]
    assert {o["origin"]: o["kinds"]["licenses"]["accepted"] for o in again["nodes"][0]["origins"]} == {
        "hebei": 1,
        "sjz": 3,
    }
    national.runtime.settings.exchange.progress_cache_seconds = 0  # off: every call computes
    with national.uow() as session:
        assert progress.current(session, national.runtime)["generated_at"] != again["generated_at"]


@dataclass
class _Report:
    row: dict[str, Any]
    sender: str = "hebei"
