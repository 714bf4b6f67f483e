"""``zhengwu security``: ingest-waf reports every line, events list shows people and scripts the events;
``zhengwu audit verify`` turns a broken chain into a critical security event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from security_kit import transaction
from sqlalchemy import select, update

from clikit import cli_node, invoke
from zhengwu.audit import changes
from zhengwu.audit.models import AuditChange
from zhengwu.kernel.session import unit_of_work
from zhengwu.security.models import SecurityEvent


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei")


def test_ingest_reports_and_lists_events_for_people_and_scripts(node: Any, tmp_path: Path) -> None:
    log = tmp_path / "modsec_audit.json"
    log.write_text("".join(transaction(n, second=n % 20) + "\n" for n in range(30)) + "{garbage\n")
    report = invoke("security", "ingest-waf", str(log), "--allowance", "5", "--json")
    assert report.exit_code == 0, report.output
    figures = json.loads(report.output)
    assert (figures["lines"], figures["stored"], figures["summarised"], figures["summaries"]) == (
        31,
        5,
        25,
        1,
    )
    assert figures["malformed"] == 1 and figures["malformed_lines"] == [31]
    again = invoke("security", "ingest-waf", str(log))
    assert again.exit_code == 0 and "读取 0 行" in again.output
    listed = json.loads(invoke("security", "events", "list", "--json").output)
    assert listed["total"] == 7 and sum(e["count"] for e in listed["events"]) == 31
    text = invoke("security", "events", "list", "--min-severity", "high")
    assert (
        text.exit_code == 0 and "高" in text.output and "拦截" in text.output and "203.0.113.7" in text.output
    )
    assert "2026-12-06" in text.output and "secret" not in text.output  # 22:00 UTC is the next day in Beijing
    bad = invoke("security", "events", "list", "--min-severity", "urgent")
    assert bad.exit_code == 1 and "未知的严重程度" in bad.output


def test_a_missing_audit_log_is_one_clear_sentence(node: Any, tmp_path: Path) -> None:
    missing = invoke("security", "ingest-waf", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "无法读取 WAF 审计日志文件" in missing.output
    assert "Traceback" not in missing.output


def test_audit_verify_records_a_broken_chain_as_a_critical_event(node: Any) -> None:
    with unit_of_work(node) as session:
        for n in range(3):
            changes.record_change(
                session, actor="cli", action="test.change", entity="test", entity_id=f"e{n}"
            )
    with unit_of_work(node) as session:
        session.execute(update(AuditChange).where(AuditChange.seq == 2).values(actor="someone-else"))
    assert invoke("audit", "verify").exit_code == 1
    with unit_of_work(node) as session:
        (event,) = session.scalars(
            select(SecurityEvent).where(SecurityEvent.event_type == "audit.chain_broken")
        )
        assert event.severity == "critical" and event.detail == {
            "chain": "audit.changes",
            "seq": 2,
            "kind": "edited",
        }
