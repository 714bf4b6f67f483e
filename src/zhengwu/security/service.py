"""Recording security events and ingesting the WAF's audit log; takes the session, never commits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.events import EventBus, publish_on
from zhengwu.security import repository
from zhengwu.security.errors import AuditLogUnreadable
from zhengwu.security.events import SecurityEventRecorded
from zhengwu.security.models import SecurityEvent, WafCursor
from zhengwu.security.severity import Severity
from zhengwu.security.waf import Flood, FloodGate, Malformed, WafRecord, parse_line

#: Event types and what people read for them.
EVENT_TYPES: Final[dict[str, str]] = {
    "waf.blocked": "Web 应用防火墙拦截了请求",
    "waf.detected": "Web 应用防火墙发现可疑请求（已放行）",
    "waf.malformed": "WAF 审计日志中有无法解析的行",
    "node.rate_limited": "请求频率超过限制",
    "identity.locked": "账号因多次登录失败被锁定",
    "exchange.document_refused": "拒收了签名或格式无效的交换文档",
    "audit.chain_broken": "审计链校验失败",
    "audit.chain_verified": "审计链校验通过",
    "integrity.changed": "程序文件与签名清单不一致（防篡改）",
    "integrity.manifest_invalid": "防篡改清单无效或签名不符",
    "integrity.asset_refused": "拒绝提供未通过完整性校验的页面资源（防篡改）",
    "security.signals_overflowed": "安全信号缓冲区溢出（已计数汇总）",
}

#: Line numbers of malformed lines kept in one event (the count is always complete).
MAX_LINE_NUMBERS: Final = 1000


@dataclass(frozen=True, slots=True)
class NewEvent:
    """What a source reports; ``detail`` must hold no personal data."""

    event_type: str
    severity: Severity
    source: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    peer: str | None = None
    occurred_at: datetime | None = None
    last_at: datetime | None = None
    count: int = 1
    source_key: str | None = None


def record(session: Session, new: NewEvent, *, bus: EventBus | None) -> SecurityEvent:
    """Store one event (or flood summary) and publish it."""
    if new.event_type not in EVENT_TYPES:
        raise ValueError(f"unknown security event type {new.event_type!r}")
    at = new.occurred_at or utcnow()
    row = SecurityEvent(
        event_type=new.event_type,
        severity=new.severity.value,
        source=new.source[:64],
        peer=new.peer[:64] if new.peer else None,
        occurred_at=at,
        last_at=new.last_at or at,
        count=new.count,
        summary=new.summary[:500],
        detail=new.detail,
        source_key=new.source_key,
    )
    session.add(row)
    session.flush()
    publish_on(
        bus,
        session,
        SecurityEventRecorded(
            event_id=row.id,
            event_type=row.event_type,
            severity=row.severity,
            source=row.source,
            count=row.count,
        ),
    )
    return row


@dataclass
class IngestReport:
    """What one ingest of an audit log did: every line is accounted for."""

    path: str
    start_offset: int = 0
    end_offset: int = 0
    lines: int = 0
    records: int = 0
    stored: int = 0
    summarised: int = 0  # records counted into flood summaries
    summaries: int = 0  # summary rows written
    duplicates: int = 0  # records already stored by an earlier ingest
    malformed: int = 0
    ignored: int = 0  # transactions no rule matched (a 502 while the node restarts, the node's own 403)
    malformed_lines: list[int] = field(default_factory=list)
    restarted: bool = False  # the file was replaced or truncated: read from its start

    def as_dict(self) -> dict[str, Any]:
        """The report for --json."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _complete_lines(handle: BinaryIO, offset: int) -> Iterator[tuple[bytes, int]]:
    """(line, offset after it) for each line ending in a newline; a line still being written is left."""
    handle.seek(offset)
    for raw in handle:
        if not raw.endswith(b"\n"):
            return
        offset += len(raw)
        yield raw, offset


def _summary(record: WafRecord) -> str:
    attacks = "、".join(a.removeprefix("attack-") for a in record.attacks) or "规则匹配"
    verb = "拦截" if record.blocked else "告警"
    return f"WAF {verb}：{record.method} {record.path[:200]}（{attacks}）"


def _detail(record: WafRecord) -> dict[str, Any]:
    return {
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "rules": list(record.rule_ids),
        "attacks": list(record.attacks),
        "anomaly_score": record.anomaly_score,
        "messages": list(record.messages),
        "line": record.line,
    }


def _flood_event(flood: Flood) -> NewEvent:
    verb = "拦截" if flood.event_type == "waf.blocked" else "告警"
    return NewEvent(
        event_type=flood.event_type,
        severity=flood.severity,
        source="waf",
        peer=flood.peer,
        occurred_at=flood.first.occurred_at,
        last_at=flood.last.occurred_at,
        count=flood.count,
        summary=f"WAF {verb}（汇总）：同一来源 {flood.count} 次超出逐条记录上限",
        detail={
            "summarised": True,
            "rules": sorted(flood.rule_ids),
            "attacks": sorted(flood.attacks),
            "first_line": flood.first.line,
            "last_line": flood.last.line,
        },
    )


def ingest_waf(
    session: Session,
    path: Path,
    *,
    bus: EventBus | None,
    allowance: int = 20,
    window_seconds: int = 60,
) -> IngestReport:
    """Read the new complete lines of a ModSecurity JSON audit log into security events.

    Every line ends up somewhere: an event of its own, a flood summary (more than ``allowance`` events
    of one peer and type in ``window_seconds``), a duplicate of an event stored before, or the count
    of malformed lines (one ``waf.malformed`` event per ingest naming their line numbers). A cursor
    remembers the offset, so the next ingest starts after the last complete line.
    """
    name = str(path.resolve())
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AuditLogUnreadable(detail_en=f"cannot open the audit log ({type(exc).__name__})") from exc
    with handle:
        stat = os.fstat(handle.fileno())
        head = sm3(handle.readline()).hex()
        cursor = repository.cursor(session, name)
        report = IngestReport(path=name)
        start, first_line = 0, 1
        if cursor is not None:
            same_file = cursor.inode == stat.st_ino and cursor.head_digest == head
            if same_file and cursor.offset <= stat.st_size:
                start, first_line = cursor.offset, cursor.line + 1
            else:
                report.restarted = True
        report.start_offset = report.end_offset = start
        gate = FloodGate(allowance=allowance, window_seconds=window_seconds)
        pending: list[WafRecord] = []
        number = first_line - 1
        for raw, after in _complete_lines(handle, start):
            number += 1
            report.lines += 1
            report.end_offset = after
            parsed = parse_line(number, raw)
            if parsed is None:
                continue
            if isinstance(parsed, Malformed):
                report.malformed += 1
                if len(report.malformed_lines) < MAX_LINE_NUMBERS:
                    report.malformed_lines.append(parsed.line)
                continue
            report.records += 1
            if not parsed.relevant:
                report.ignored += 1
                continue
            pending.append(parsed)
    known = repository.known_keys(session, {f"waf:{r.unique_id}" for r in pending})
    seen: set[str] = set()
    for item in pending:
        key = f"waf:{item.unique_id}"
        if key in known or key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        if gate.admit(item):
            record(session, _record_event(item, key), bus=bus)
            report.stored += 1
        else:
            report.summarised += 1
    for flood in gate.floods.values():
        record(session, _flood_event(flood), bus=bus)
        report.summaries += 1
    if report.malformed:
        record(
            session,
            NewEvent(
                event_type="waf.malformed",
                severity=Severity.LOW,
                source="waf",
                count=report.malformed,
                summary=f"WAF 审计日志有 {report.malformed} 行无法解析（行号见详情）",
                detail={"file": path.name, "lines": report.malformed_lines},
            ),
            bus=bus,
        )
    _advance(session, cursor, name, (stat.st_ino, head), report.end_offset, number)
    return report


def _record_event(item: WafRecord, key: str) -> NewEvent:
    return NewEvent(
        event_type=item.event_type,
        severity=item.severity,
        source="waf",
        peer=item.client,
        occurred_at=item.occurred_at,
        summary=_summary(item),
        detail=_detail(item),
        source_key=key,
    )


def _advance(
    session: Session, cursor: WafCursor | None, path: str, identity: tuple[int, str], offset: int, line: int
) -> None:
    inode, head = identity
    if cursor is None:
        cursor = WafCursor(path=path)
        session.add(cursor)
    cursor.inode, cursor.head_digest, cursor.offset, cursor.line = inode, head, offset, line
    cursor.updated_at = utcnow()
    session.flush()


def list_events(
    session: Session,
    *,
    offset: int = 0,
    limit: int = 50,
    event_type: str | None = None,
    min_severity: Severity | None = None,
) -> tuple[list[SecurityEvent], int]:
    """A page of events, newest first, and the number matching."""
    rows, total = repository.page(
        session, offset=offset, limit=limit, event_type=event_type, min_severity=min_severity
    )
    return list(rows), total


def chain_broken(
    session: Session, chain: str, seq: int | None, kind: str, *, bus: EventBus | None
) -> SecurityEvent:
    """Record that an audit hash chain no longer verifies (``zhengwu audit verify`` found the break)."""
    return record(
        session,
        NewEvent(
            event_type="audit.chain_broken",
            severity=Severity.CRITICAL,
            source="audit",
            summary=f"审计链 {chain} 校验失败（第 {seq} 条，{kind}）",
            detail={"chain": chain, "seq": seq, "kind": kind},
        ),
        bus=bus,
    )


def chain_verified(session: Session, chains: int, *, bus: EventBus | None) -> SecurityEvent:
    """Record that every audit hash chain verified (the posture summary reports the last outcome)."""
    return record(
        session,
        NewEvent(
            event_type="audit.chain_verified",
            severity=Severity.INFO,
            source="audit",
            summary=f"审计链校验通过（{chains} 条链）",
            detail={"chains": chains},
        ),
        bus=bus,
    )


def integrity_finding(session: Session, report: dict[str, Any], *, bus: EventBus | None) -> SecurityEvent:
    """Record what ``zhengwu security integrity`` found (a changed file or a manifest that does not verify)."""
    if not report["manifest_ok"]:
        return record(
            session,
            NewEvent(event_type="integrity.manifest_invalid", severity=Severity.CRITICAL, source="integrity",
                     summary=f"防篡改清单无法验证：{report['problem']}", detail={"problem": report["problem"]}),
            bus=bus,
        )  # fmt: skip
    changed, added, removed = report["changed"], report["added"], report["removed"]
    return record(
        session,
        NewEvent(
            event_type="integrity.changed", severity=Severity.HIGH, source="integrity",
            summary=f"程序文件被改动：改动 {len(changed)}、新增 {len(added)}、删除 {len(removed)} 个",
            detail={"changed": changed[:200], "added": added[:200], "removed": removed[:200],
                    "sealed_at": report["sealed_at"]},
        ),
        bus=bus,
    )  # fmt: skip
