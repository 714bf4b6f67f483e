"""The staff queue's page comes from the partial index of open cases in the page's order (PostgreSQL;
bench/staff_queue.py measures it at a million cases), and the migration's status list is the queue's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from zhengwu.cases import machine, service

MIGRATION = Path(__file__).parents[2] / "migrations/versions/20261206_cases_open_queue_index.py"


def test_the_index_covers_exactly_the_open_statuses() -> None:
    spec = importlib.util.spec_from_file_location("open_queue_index", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tuple(sorted(machine.OPEN)) == module.OPEN


def _plans(session: Session, **queue: Any) -> list[str]:
    """The index names in the plan of each statement ``service.queue`` sends for these arguments."""
    conn = session.connection()
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, params))

    event.listen(conn, "before_cursor_execute", keep)
    try:
        service.queue(session, department_ids=["d" * 32], offset=0, limit=20, **queue)
    finally:
        event.remove(conn, "before_cursor_execute", keep)
    # Without these the planner reads a tiny test table whole; with them it shows the index it can use.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    found = []
    for statement, params in sent:
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar()
        text = json.dumps(plan)
        found.append(text)
    return found


def test_the_queue_page_reads_the_open_cases_index_in_order(session: Session, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the planner's choice is checked on PostgreSQL (SQLite cannot prove a bound IN list)")
    for queue in (
        {"statuses": sorted(machine.OPEN), "due": None},
        {"statuses": [machine.SUBMITTED], "due": None},
        {"statuses": None, "due": "overdue"},
    ):
        page = [plan for plan in _plans(session, **queue) if '"Limit"' in plan]
        assert len(page) == 1, queue
        assert "ix_cases_case_open_queue" in page[0], (queue, page[0])
        assert '"Sort"' not in page[0], (queue, page[0])
