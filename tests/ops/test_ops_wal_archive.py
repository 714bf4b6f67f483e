"""The WAL archive of a PostgreSQL node in /_status and /metrics (issue 16): how far behind and whether it
fails. The real archiver with pgBackRest failing is in test_ops_pgbackrest.py; here the node's own
database (PostgreSQL with ZHENGWU_TEST_DATABASE_URL, whose archive_mode is whatever that server has) and
the arithmetic of WAL file names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zhengwu.ops import walarchive

SIXTEEN_MB = 16 * 1024 * 1024


def test_wal_file_names_count_segments_across_log_files() -> None:
    assert walarchive.segment_number("000000010000000000000003", SIXTEEN_MB) == 3
    # 256 segments of 16 MiB to a 4 GiB log file: segment FF of log 0 is followed by segment 0 of log 1.
    assert walarchive.segment_number("0000000100000001000000000", SIXTEEN_MB) is None
    last, next_ = (walarchive.segment_number(n, SIXTEEN_MB) for n in ("0000000100000000000000FF",
                                                                    "000000010000000100000000"))  # fmt: skip
    assert last is not None and next_ == last + 1
    assert walarchive.segment_number("000000010000000100000000", 64 * 1024 * 1024) == 64
    for name in (None, "00000002.history", "000000010000000000000003.partial", "0000000G0000000000000003"):
        assert walarchive.segment_number(name, SIXTEEN_MB) is None


@pytest.mark.db
def test_status_and_metrics_report_the_archive_of_a_postgresql_node(client: Any, session: Session) -> None:
    body = client.get("/_status").json()
    text = client.get("/metrics").text
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: no archive, nothing in /_status; the gauges say so (one rule file for every node).
        assert "wal_archive" not in body["dependencies"]
        assert walarchive.state(session) is None
        assert "zhengwu_wal_archive_enabled 0.0" in text and "zhengwu_wal_archive_failing 0.0" in text
        pytest.skip("WAL archiving is PostgreSQL's; the rest of this test needs ZHENGWU_TEST_DATABASE_URL")
    archive = body["dependencies"]["wal_archive"]
    state = walarchive.state(session)
    assert state is not None and archive["archive_mode"] == state["archive_mode"]
    assert set(archive) >= {"ok", "archived_count", "failed_count", "failing", "last_archived_at",
                            "age_seconds", "lag_seconds", "pending_segments", "current_wal"}  # fmt: skip
    assert re.fullmatch(r"[0-9A-F]{24}", archive["current_wal"])  # a primary: it writes WAL
    enabled = 0.0 if state["archive_mode"] == "off" else 1.0
    assert f"zhengwu_wal_archive_enabled {enabled}" in text
    if state["archive_mode"] == "off":  # the shared test server: nothing to archive, nothing wrong
        assert archive["ok"] is True and archive["failing"] is False
        assert body["status"] == "ok" or not all(
            v.get("ok", True) for k, v in body["dependencies"].items() if k != "wal_archive"
        )


@pytest.mark.db
def test_a_failing_archive_degrades_the_node_and_sets_the_gauges(
    client: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the archiver reports reaches /_status and the gauges (the database's own numbers replaced)."""
    failing = {
        "ok": False, "archive_mode": "on", "standby": False, "archived_count": 40, "failed_count": 3,
        "failing": True, "last_archived_wal": "000000010000000000000010", "last_archived_at": None,
        "age_seconds": 420.0, "lag_seconds": 420.0, "last_failed_wal": "000000010000000000000011",
        "last_failed_at": None, "current_wal": "000000010000000000000015", "pending_segments": 4,
    }  # fmt: skip
    monkeypatch.setattr(walarchive, "state", lambda _session: dict(failing))
    text = client.get("/metrics").text
    for line in ("zhengwu_wal_archive_enabled 1.0", "zhengwu_wal_archive_failing 1.0",
                 "zhengwu_wal_archive_failures 3.0", "zhengwu_wal_archive_age_seconds 420.0",
                 "zhengwu_wal_archive_lag_seconds 420.0", "zhengwu_wal_archive_pending_segments 4.0"):  # fmt: skip
        assert line in text, line
    if session.get_bind().dialect.name == "postgresql":  # the probe is installed on PostgreSQL nodes only
        body = client.get("/_status").json()
        assert body["dependencies"]["wal_archive"]["failing"] is True and body["status"] == "degraded"
