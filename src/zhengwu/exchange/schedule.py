"""Exchange schedules (交换频率): per national table, when its rows leave and how they rank.

A table goes in real time (the default), every N minutes or within a daily window (北京时间). "Every N
minutes" holds rows back until the oldest pending one is N minutes old and then sends the whole backlog:
no state beyond the outbox, so a restart changes nothing. A window lets rows leave only between its start
and end (a window ending before it starts runs over midnight).

Priority (1–9, higher first) orders the relay's rounds, and a table of higher priority whose rows appear
while a lower one is being sent cuts that table's streak after the batch in flight: a flood of case rows
(``up_pro_*``, priority 3 by default) delays a catalog row (``up_task_*``, 7) by one batch at most. The
lower table keeps its turn in every round, so it is slowed, never starved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.exchange import exlog
from zhengwu.exchange.errors import ScheduleInvalid
from zhengwu.exchange.models import ExchangeSchedule
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.events import OutboxRecord, OutboxStatus

REALTIME: Final = "realtime"
INTERVAL: Final = "interval"
WINDOW: Final = "window"
MODES: Final = (REALTIME, INTERVAL, WINDOW)
MODE_LABELS: Final = {REALTIME: "实时", INTERVAL: "定时（每 N 分钟）", WINDOW: "每日时段"}
DEFAULT_PRIORITY: Final = 5
# Catalog rows are few and others wait for them (a case names its item); case rows come in floods.
_DEFAULT_BY_PREFIX: Final = (("up_task_", 7), ("dn_", 7), ("up_lic_", 5), ("up_uc_", 5), ("up_pro_", 3))
_HHMM: Final = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def default_priority(table: str) -> int:
    """The priority of a table no operator has set."""
    return next((p for prefix, p in _DEFAULT_BY_PREFIX if table.startswith(prefix)), DEFAULT_PRIORITY)


@dataclass(frozen=True, slots=True)
class Rule:
    """The schedule of one table."""

    table: str
    mode: str = REALTIME
    every_minutes: int | None = None
    window_start: str | None = None
    window_end: str | None = None
    priority: int = DEFAULT_PRIORITY
    configured: bool = False

    def open_at(self, now: datetime, oldest_pending: datetime | None) -> bool:
        """Whether rows of the table may leave at ``now`` (UTC) given the age of its oldest pending row."""
        if self.mode == INTERVAL:
            if oldest_pending is None:
                return True
            return now - oldest_pending >= timedelta(minutes=self.every_minutes or 0)
        if self.mode == WINDOW and self.window_start and self.window_end:
            clock = now.astimezone(BEIJING).time()
            start, end = _hhmm(self.window_start), _hhmm(self.window_end)
            if start <= end:
                return start <= clock < end
            return clock >= start or clock < end
        return True

    def describe(self) -> str:
        """How an operator reads the rule (Chinese)."""
        if self.mode == INTERVAL:
            return f"每 {self.every_minutes} 分钟"
        if self.mode == WINDOW:
            return f"每日 {self.window_start}–{self.window_end}（北京时间）"
        return "实时"

    def as_dict(self) -> dict[str, Any]:
        """The rule as JSON."""
        return {
            "table": self.table,
            "mode": self.mode,
            "every_minutes": self.every_minutes,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "priority": self.priority,
            "configured": self.configured,
            "description": self.describe(),
        }


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class Plan:
    """The schedules in force for one relay pass: topic → rule, through the topic's national table."""

    def __init__(self, rules: dict[str, Rule], registry: TopicRegistry) -> None:
        self._rules = rules
        self._registry = registry

    def table_of(self, topic: str) -> str:
        """The national table a topic carries (the topic itself when it is not registered)."""
        spec = self._registry.get(topic)
        return spec.table if spec is not None else topic

    def rule(self, topic: str) -> Rule:
        """The rule of a topic's table (real time at the default priority when none is set)."""
        table = self.table_of(topic)
        return self._rules.get(table) or Rule(table, priority=default_priority(table))

    def priority(self, topic: str) -> int:
        """The topic's priority."""
        return self.rule(topic).priority

    def order(self, topics: Iterable[str]) -> list[str]:
        """Higher priority first, then by name (a stable round-robin order)."""
        return sorted(topics, key=lambda t: (-self.priority(t), t))

    def open_topics(
        self, topics: Iterable[str], oldest: dict[str, datetime | None], now: datetime | None = None
    ) -> list[str]:
        """The topics whose schedule lets rows leave now (``oldest``: each topic's oldest pending row)."""
        moment = now or utcnow()
        return [t for t in topics if self.rule(t).open_at(moment, oldest.get(t))]

    def needs_age(self, topic: str) -> bool:
        """Whether deciding needs the topic's oldest pending row (interval tables only)."""
        return self.rule(topic).mode == INTERVAL


def load(session: Session, registry: TopicRegistry) -> Plan:
    """The plan from the operators' schedules."""
    rules = {
        row.table_name: Rule(
            row.table_name, row.mode, row.every_minutes, row.window_start, row.window_end, row.priority, True
        )
        for row in session.scalars(select(ExchangeSchedule))
    }
    return Plan(rules, registry)


def validate(
    mode: str, every_minutes: int | None, window: str | None, priority: int | None
) -> tuple[int | None, str | None, str | None]:
    """(every_minutes, window_start, window_end) of a valid rule; ScheduleInvalid otherwise."""
    if mode not in MODES:
        raise ScheduleInvalid(f"交换频率无效：{mode}（可选 realtime、interval、window）")
    if priority is not None and not 1 <= priority <= 9:
        raise ScheduleInvalid("优先级应在 1 至 9 之间")
    if mode == INTERVAL:
        if every_minutes is None or not 1 <= every_minutes <= 24 * 60:
            raise ScheduleInvalid("定时上报须给出间隔分钟数（1 至 1440）")
        return every_minutes, None, None
    if mode == WINDOW:
        parts = (window or "").split("-")
        if len(parts) != 2 or not all(_HHMM.match(p) for p in parts) or parts[0] == parts[1]:
            raise ScheduleInvalid("每日时段格式应为 HH:MM-HH:MM（北京时间），起止不能相同")
        return None, parts[0], parts[1]
    return None, None, None


def set_rule(
    session: Session,
    table: str,
    *,
    mode: str,
    every_minutes: int | None = None,
    window: str | None = None,
    priority: int | None = None,
    actor: str,
    known_tables: Sequence[str],
) -> Rule:
    """Create or replace a table's schedule (logged in the exchange log)."""
    if table not in known_tables:
        raise ScheduleInvalid(f"未知的交换数据表：{table}")
    every, start, end = validate(mode, every_minutes, window, priority)
    row = session.get(ExchangeSchedule, table)
    if row is None:
        row = ExchangeSchedule(table_name=table)
        session.add(row)
    row.mode, row.every_minutes, row.window_start, row.window_end = mode, every, start, end
    row.priority = priority if priority is not None else (row.priority or default_priority(table))
    row.updated_by = actor[:100]
    row.updated_at = utcnow()
    session.flush()
    rule = Rule(table, mode, every, start, end, row.priority, True)
    exlog.append(session, direction="local", kind="schedule.set", detail={**rule.as_dict(), "actor": actor})
    return rule


def clear_rule(session: Session, table: str, *, actor: str) -> bool:
    """Back to real time at the default priority."""
    row = session.get(ExchangeSchedule, table)
    if row is None:
        return False
    session.delete(row)
    exlog.append(session, direction="local", kind="schedule.clear", detail={"table": table, "actor": actor})
    return True


def list_rules(session: Session, tables: Iterable[str]) -> list[Rule]:
    """Every table's rule, set or default."""
    configured = {r.table_name: r for r in session.scalars(select(ExchangeSchedule))}
    result = []
    for table in sorted(set(tables) | set(configured)):
        row = configured.get(table)
        result.append(
            Rule(table, row.mode, row.every_minutes, row.window_start, row.window_end, row.priority, True)
            if row is not None
            else Rule(table, priority=default_priority(table))
        )
    return result


# --- what the relay asks -------------------------------------------------------------------------------


def _oldest(session: Session, topic: str, statuses: tuple[str, ...]) -> datetime | None:
    # By sequence, on the outbox's (topic, status, seq) index: one probe, however long the backlog.
    value: datetime | None = session.scalar(
        select(OutboxRecord.created_at)
        .where(OutboxRecord.topic == topic, OutboxRecord.status.in_(statuses))
        .order_by(OutboxRecord.seq)
        .limit(1)
    )
    return value


def open_now(session: Session, plan: Plan, topics: Iterable[str], now: datetime) -> list[str]:
    """The topics whose schedule lets rows leave now, higher priority first."""
    result = []
    for topic in topics:
        rule = plan.rule(topic)
        oldest = _oldest(session, topic, _WAITING) if rule.mode == INTERVAL else None
        if rule.open_at(now, oldest):
            result.append(topic)
    return plan.order(result)


def first_waiting_above(
    session: Session, plan: Plan, topic: str, candidates: Iterable[str], now: datetime
) -> str | None:
    """A topic of higher priority than ``topic`` among ``candidates`` with a pending row that may leave
    now (None when there is none)."""
    floor = plan.priority(topic)
    for other in plan.order(c for c in candidates if plan.priority(c) > floor):
        rule = plan.rule(other)
        if rule.mode == WINDOW and not rule.open_at(now, None):
            continue
        oldest = _oldest(session, other, (OutboxStatus.PENDING,))
        if oldest is not None and rule.open_at(now, oldest):
            return other
    return None


_WAITING: Final = (OutboxStatus.PENDING, OutboxStatus.SENT)


def tables_of(registry: TopicRegistry) -> list[str]:
    """The tables a schedule can name: the national upward tables and those of registered topics."""
    from zhengwu.exchange.national import UP_TABLES

    names = set(UP_TABLES)
    for name in registry.names():
        spec = registry.get(name)
        if spec is not None:
            names.add(spec.table)
    return sorted(names)
