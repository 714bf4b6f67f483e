"""Ingesting the WAF audit log on a real database: every line accounted for, nothing stored twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_kit import transaction
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.kernel.events import EventBus
from zhengwu.security import service
from zhengwu.security.errors import AuditLogUnreadable
from zhengwu.security.events import SecurityEventRecorded
from zhengwu.security.models import SecurityEvent

pytestmark = pytest.mark.db


def _events(session: Session, event_type: str | None = None) -> list[SecurityEvent]:
    query = select(SecurityEvent).order_by(SecurityEvent.occurred_at, SecurityEvent.id)
    if event_type:
        query = query.where(SecurityEvent.event_type == event_type)
    return list(session.scalars(query))


def test_ingest_stores_each_refusal_once_and_continues_where_it_stopped(
    session: Session, tmp_path: Path
) -> None:
    log = tmp_path / "modsec_audit.json"
    log.write_text("".join(transaction(n, second=n) + "\n" for n in range(3)))
    bus, heard = EventBus(), []
    bus.subscribe(SecurityEventRecorded, lambda _s, e: heard.append(e))
    first = service.ingest_waf(session, log, bus=bus)
    assert (first.lines, first.stored, first.malformed, first.duplicates) == (3, 3, 0, 0)
    assert len(heard) == 3 and {e.event_type for e in heard} == {"waf.blocked"}
    stored = _events(session)
    assert [e.peer for e in stored] == ["203.0.113.7"] * 3
    assert (
        stored[0].detail["rules"] == ["942100", "949110"]
        and stored[0].detail["path"] == "/api/v1/catalog/search"
    )
    assert "secret" not in str([e.detail for e in stored]) + str([e.summary for e in stored])
    # Appended lines are read next time, from the cursor; nothing twice.
    with log.open("a") as handle:
        handle.write(transaction(3, second=3) + "\n")
    again = service.ingest_waf(session, log, bus=None)
    assert (again.lines, again.stored, again.start_offset) == (1, 1, first.end_offset)
    assert len(_events(session)) == 4


def test_a_line_still_being_written_waits_for_the_next_ingest(session: Session, tmp_path: Path) -> None:
    log = tmp_path / "audit.json"
    whole, partial = transaction(1), transaction(2)
    log.write_text(whole + "\n" + partial[:40])
    report = service.ingest_waf(session, log, bus=None)
    assert (report.lines, report.stored, report.malformed) == (1, 1, 0)
    log.write_text(whole + "\n" + partial + "\n")
    assert service.ingest_waf(session, log, bus=None).stored == 1


def test_a_rotated_file_is_read_from_its_start_and_known_events_are_not_stored_again(
    session: Session, tmp_path: Path
) -> None:
    log = tmp_path / "audit.json"
    log.write_text(transaction(1) + "\n" + transaction(2) + "\n")
    service.ingest_waf(session, log, bus=None)
    log.unlink()
    log.write_text(transaction(2) + "\n" + transaction(5) + "\n")  # a new inode
    report = service.ingest_waf(session, log, bus=None)
    assert report.restarted and (report.stored, report.duplicates) == (1, 1)


def test_a_flood_is_summarised_with_its_count_never_dropped(session: Session, tmp_path: Path) -> None:
    log = tmp_path / "audit.json"
    log.write_text("".join(transaction(n, second=n % 30) + "\n" for n in range(500)))
    report = service.ingest_waf(session, log, bus=None, allowance=20)
    assert (report.records, report.stored, report.summarised, report.summaries) == (500, 20, 480, 1)
    total = session.scalar(select(func.sum(SecurityEvent.count))) or 0
    assert total == 500  # every refusal is counted somewhere
    (summary,) = [e for e in _events(session) if e.count > 1]
    assert summary.count == 480 and summary.detail["summarised"] is True and summary.peer == "203.0.113.7"
    assert "480" in summary.summary


def test_malformed_lines_are_counted_reported_and_stored_as_one_event(
    session: Session, tmp_path: Path
) -> None:
    log = tmp_path / "audit.json"
    lines = [transaction(1), "{broken", "not json at all: 110101199003070011", transaction(2), '{"x": 1}']
    log.write_text("\n".join(lines) + "\n")
    report = service.ingest_waf(session, log, bus=None)
    assert (report.lines, report.stored, report.malformed, report.malformed_lines) == (5, 2, 3, [2, 3, 5])
    (event,) = _events(session, "waf.malformed")
    assert event.count == 3 and event.detail["lines"] == [2, 3, 5]
    assert "110101199003070011" not in str(event.detail) + event.summary


def test_an_unreadable_file_is_a_clear_error(session: Session, tmp_path: Path) -> None:
    with pytest.raises(AuditLogUnreadable) as caught:
        service.ingest_waf(session, tmp_path / "missing.json", bus=None)
    assert caught.value.status_code == 422 and "WAF" in caught.value.detail


def test_list_is_newest_first_and_filters_by_type_and_severity(session: Session, tmp_path: Path) -> None:
    log = tmp_path / "audit.json"
    log.write_text(
        transaction(1, second=1) + "\n"
        + transaction(2, second=2, status=200, rules=(("920350", "4", "Host header is a numeric IP address"),))
        + "\n"
    )  # fmt: skip
    service.ingest_waf(session, log, bus=None)
    rows, total = service.list_events(session)
    assert total == 2 and [r.event_type for r in rows] == ["waf.detected", "waf.blocked"]
    high, count = service.list_events(session, min_severity=service.Severity.HIGH)
    assert count == 1 and high[0].event_type == "waf.blocked"
    assert service.list_events(session, event_type="waf.detected")[1] == 1
