"""Node status travels upward: the province's worker reports its health, version, lag and backup age;
the national node keeps the newest per node and shows a node that stopped reporting as stale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchange_nodes import Node, http_transport

from zhengwu.exchange.relay import Relay
from zhengwu.kernel.clock import set_clock, utcnow
from zhengwu.kernel.events import emit
from zhengwu.ops import reporting, walarchive
from zhengwu.ops.models import BackupRun

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


def _shown(national: Node) -> list[dict[str, Any]]:
    with national.uow() as session:
        return reporting.nodes(session, national.settings)


def test_the_national_node_sees_the_province_status(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        session.add(
            BackupRun(
                kind="backup", set_name="s", status="done", snapshot_at=utcnow() - timedelta(seconds=120)
            )
        )
    # The worker's housekeeping: due now, then not again within the interval.
    assert reporting.report_if_due(province.runtime.session_factory, province.settings)
    assert not reporting.report_if_due(province.runtime.session_factory, province.settings)
    _relay(province, national)
    [shown] = _shown(national)
    assert shown["node_id"] == "hebei" and shown["tier"] == "province" and shown["status"] == "ok"
    assert shown["node_name"] == "河北省政务服务平台（测试）" and shown["division_code"] == "130000"
    assert shown["migration"] and shown["version"]
    assert 100 < shown["backup_age_seconds"] < 1000
    assert shown["reports"] == 1
    # A national node reports to no one.
    assert not reporting.report_if_due(national.runtime.session_factory, national.settings)


def test_newer_reports_replace_older_ones_and_late_ones_change_nothing(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        old = reporting.snapshot(session, province.settings)
        later = {**reporting.snapshot(session, province.settings), "outbox_pending": 7}
        later["reported_at"] = (datetime.fromisoformat(old["reported_at"]) + timedelta(minutes=5)).isoformat()
        later["status_key"] = f"hebei:{later['reported_at']}"
        emit(session, reporting.TOPIC, later, key=later["status_key"])
    _relay(province, national)
    with province.uow() as session:
        emit(session, reporting.TOPIC, old, key=old["status_key"])  # delivered late
    _relay(province, national)
    [shown] = _shown(national)
    assert shown["outbox_pending"] == 7 and shown["reported_at"] == later["reported_at"]
    assert shown["reports"] == 1  # the late one was not counted as newer


def test_a_node_that_stops_reporting_shows_as_stale(joined: tuple[Node, Node]) -> None:
    province, national = joined
    with province.uow() as session:
        reporting.report(session, province.settings)
    _relay(province, national)
    assert _shown(national)[0]["status"] == "ok"
    later = utcnow() + timedelta(minutes=3 * national.settings.ops.status_minutes + 1)
    set_clock(lambda: later.astimezone(UTC))
    try:
        assert _shown(national)[0]["status"] == "stale"
    finally:
        set_clock(None)


def test_a_failing_wal_archive_goes_up_with_the_status(
    joined: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL province whose archiver fails reports itself degraded with the archive's lag; a node
    without an archive (SQLite, archive_mode off) reports none (None, not 0)."""
    province, national = joined
    with province.uow() as session:
        reporting.report(session, province.settings)
    _relay(province, national)
    [quiet] = _shown(national)
    assert quiet["wal_archive_lag_seconds"] is None and quiet["wal_archive_failing"] is None
    failing = {"archive_mode": "on", "failing": True, "lag_seconds": 420.0, "ok": False}
    monkeypatch.setattr(walarchive, "state", lambda _session: dict(failing))
    with province.uow() as session:
        sent = reporting.report(session, province.settings)
    assert sent["status"] == "degraded"
    _relay(province, national)
    [shown] = _shown(national)
    assert shown["status"] == "degraded"
    assert shown["wal_archive_failing"] is True and shown["wal_archive_lag_seconds"] == 420.0
