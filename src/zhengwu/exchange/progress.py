"""Connection progress (应上尽上): per lower node and department, what exists there against what arrived.

What exists is what the lower node says it holds: each node counts its published items, decided cases,
valid licenses and natural persons' accounts per department (the capabilities' ``Census`` declarations)
and reports the counts upward as a small row of its own (``exchange_progress``, like the node status of
``ops.reporting``); the upper node keeps the newest report per sender. What arrived is read from the
upper node's own exchange tables: accepted objects from the aggregate (its current, not deleted, state),
received and refused rows from the inbox with the refusals' reasons, lag and last contact from the
receiving statistics. Departments are those the national rows name (``dept_code``, ``org_code``,
``issue_dept_code``).

Counts are of objects (one item, case, license, user), rates are of rows (every row received counts,
including updates). A node's report carries, besides its own counts, the newest counts its own lower
nodes reported to it (each with its ``origin``), so a province's numbers at the national node cover its
cities and counties, whose rows it relays under its name; each sender's numbers are also split by the
node that made the objects (``origins``: exists from the counts' origin, accepted, received and refused
from the origin the exchange checked). Pages and the API read :func:`current`, which keeps the result
until something it reads changes or ``progress_cache_seconds`` pass.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, delete, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.exchange.models import (
    ExchangeAggregate,
    ExchangeInbox,
    ExchangeNode,
    ExchangeProgressCount,
    ExchangeTopicStats,
)
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.topics import TopicRegistry
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import new_id
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import ReceivedRow, RowError

TOPIC: Final = "exchange.progress"
TABLE: Final = "exchange_progress"
TOP_REASONS: Final = 5


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of object counted, the national tables that carry it and their department columns."""

    name: str
    label: str
    tables: tuple[str, ...]
    department: str | None
    department_name: str | None


KINDS: Final = (
    Kind("items", "事项", ("up_task_general_basic", "up_task_public_basic"), "dept_code", "dept_name"),
    Kind("cases", "办件", ("up_pro_accept",), "org_code", "org_name"),
    Kind("licenses", "电子证照", ("up_lic_data",), "issue_dept_code", "issue_dept"),
    Kind("users", "自然人用户", ("up_uc_province_user",), None, None),
)
LABELS: Final = {k.name: k.label for k in KINDS}


# --- the lower node: count and report -----------------------------------------------------------------


def census(session: Session, registry: TopicRegistry) -> list[dict[str, Any]]:
    """This node's counts per kind and department."""
    result: list[dict[str, Any]] = []
    for kind, functions in sorted(registry.censuses().items()):
        merged: Counter[str] = Counter()
        for count in functions:
            merged.update({str(code or ""): int(n) for code, n in count(session).items()})
        result.extend({"kind": kind, "department": code, "count": n} for code, n in sorted(merged.items()))
    return result


def subtree(session: Session, settings: Settings, registry: TopicRegistry) -> list[dict[str, Any]]:
    """This node's counts and those its lower nodes last reported, each with the node it is about."""
    own = [{**item, "origin": settings.node_id} for item in census(session, registry)]
    lower = [
        {"kind": r.kind, "department": r.department_code, "count": r.count, "origin": r.origin}
        for r in session.scalars(
            select(ExchangeProgressCount)
            .where(ExchangeProgressCount.origin != settings.node_id)
            .order_by(
                ExchangeProgressCount.origin,
                ExchangeProgressCount.kind,
                ExchangeProgressCount.department_code,
            )
        )
    ]
    return own + lower


def report(session: Session, registry: TopicRegistry, settings: Settings) -> dict[str, Any]:
    """Queue this node's counts, and its lower nodes', for the upper node (in the caller's transaction)."""
    now = utcnow().isoformat(timespec="microseconds")
    key = f"{settings.node_id}:{now}"
    row: dict[str, Any] = {
        "node_id": settings.node_id,
        "node_name": settings.node_name,
        "tier": settings.tier.value,
        "division_code": settings.division_code,
        "reported_at": now,
        "report_key": key,
        "counts": subtree(session, settings, registry),
    }
    emit(session, TOPIC, row, key=key)
    return row


def report_if_due(factory: sessionmaker[Session], registry: TopicRegistry, settings: Settings) -> bool:
    """Queue a count report when one is due (the worker's housekeeping)."""
    minutes = settings.exchange.progress_minutes
    # The 前置库 holds the national tables only: the report travels over the HTTP exchange.
    if not settings.upstream_url or minutes == 0 or settings.exchange.transport != "http":
        return False
    with unit_of_work(factory) as session:
        newest = session.scalar(select(func.max(OutboxRecord.created_at)).where(OutboxRecord.topic == TOPIC))
        if newest is not None and (utcnow() - newest).total_seconds() < minutes * 60:
            return False
        report(session, registry, settings)
    return True


def apply_reports(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
    """Keep the newest report of each sender whole (a department gone from it is gone here too); an
    older report arriving late changes nothing."""
    newest: dict[str, tuple[datetime, list[Any]]] = {}
    for inbound in rows:
        try:
            at = datetime.fromisoformat(str(inbound.row["reported_at"]))
        except (KeyError, ValueError):
            continue  # a report without its time says nothing usable; the next one will
        counts = inbound.row.get("counts")
        if at.tzinfo is None or not isinstance(counts, list):
            continue
        if inbound.sender not in newest or at > newest[inbound.sender][0]:
            newest[inbound.sender] = (at, counts)
    now = utcnow()
    for sender, (at, counts) in newest.items():
        held = session.scalar(
            select(func.max(ExchangeProgressCount.reported_at)).where(ExchangeProgressCount.sender == sender)
        )
        if held is not None and _aware(held) >= at:
            continue
        session.execute(delete(ExchangeProgressCount).where(ExchangeProgressCount.sender == sender))
        kept: dict[tuple[str, str, str], int] = {}
        for item in counts:
            if not isinstance(item, Mapping) or item.get("kind") not in LABELS:
                continue
            try:
                n = max(0, int(item.get("count") or 0))
            except (TypeError, ValueError):
                continue
            origin = str(item.get("origin") or sender)[:63]
            kept[(origin, str(item["kind"]), str(item.get("department") or "")[:64])] = n
        session.add_all(
            ExchangeProgressCount(
                id=new_id(),
                sender=sender[:63],
                origin=origin,
                kind=kind,
                department_code=code,
                count=n,
                reported_at=at,
                received_at=now,
            )
            for (origin, kind, code), n in kept.items()
        )
    session.flush()
    return {}


def _aware(value: Any) -> datetime:
    # Aggregates over a UTC column come back as naive text on SQLite (func.max bypasses the column type).
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the upper node: what arrived --------------------------------------------------------------------


def _json_text(column: Any, key: str | None) -> ColumnElement[str]:
    if key is None:
        return literal("")
    return func.coalesce(column[key].as_string(), "")


def _blank() -> dict[str, Any]:
    return {"exists": None, "accepted": 0, "received": 0, "rejected": 0}


def _finish(numbers: dict[str, Any]) -> dict[str, Any]:
    exists, accepted, received = numbers["exists"], numbers["accepted"], numbers["received"]
    numbers["coverage"] = round(accepted / exists, 4) if exists else None
    numbers["rejection_rate"] = round(numbers["rejected"] / received, 4) if received else None
    return numbers


def _top(reasons: Counter[tuple[str, str]], limit: int = TOP_REASONS) -> list[dict[str, Any]]:
    # Per code, the commonest wording names it.
    by_code: Counter[str] = Counter()
    wording: dict[str, Counter[str]] = defaultdict(Counter)
    for (code, reason), n in reasons.items():
        by_code[code] += n
        wording[code][reason] += n
    return [
        {"code": code, "reason": wording[code].most_common(1)[0][0], "count": n}
        for code, n in by_code.most_common(limit)
    ]


def compute(session: Session, settings: Settings) -> dict[str, Any]:
    """The progress of every lower node: per kind and department, exists / accepted / received /
    refused, coverage, rejection rate, top reasons, lag and last contact."""
    now = utcnow()
    nodes: dict[str, dict[str, Any]] = {}
    for node in session.scalars(select(ExchangeNode).order_by(ExchangeNode.requested_at)):
        if node.status in ("pending", "superseded", "expired") and node.node_id in nodes:
            continue
        nodes[node.node_id] = {"node_id": node.node_id, "node_name": node.node_name,
                               "division_code": node.division_code, "tier": node.tier, "status": node.status}  # fmt: skip

    kinds: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(_blank))
    depts: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(_blank))
    )
    names: dict[tuple[str, str], str] = {}
    dept_reasons: dict[tuple[str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
    reported: dict[str, datetime] = {}
    origins: dict[str, set[str]] = defaultdict(set)
    # Per sender, per node the objects were made at (the sender itself or a node below it).
    by_origin: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(_blank))
    )
    inbox_origin = func.coalesce(ExchangeInbox.origin, ExchangeInbox.sender)

    for row in session.scalars(select(ExchangeProgressCount)):
        origins[row.sender].add(row.origin)
        total = kinds[row.sender][row.kind]
        total["exists"] = (total["exists"] or 0) + row.count
        mine = by_origin[row.sender][row.origin][row.kind]
        mine["exists"] = (mine["exists"] or 0) + row.count
        per = depts[row.sender][row.department_code][row.kind]
        per["exists"] = (per["exists"] or 0) + row.count
        reported[row.sender] = max(reported.get(row.sender, row.received_at), row.received_at)

    for kind in KINDS:
        agg_dept = _json_text(ExchangeAggregate.payload, kind.department)
        agg_name = _json_text(ExchangeAggregate.payload, kind.department_name)
        live = and_(ExchangeAggregate.table_name.in_(kind.tables), ExchangeAggregate.deleted.is_(False))
        for sender, origin, code, name, n in session.execute(
            select(
                ExchangeAggregate.sender, ExchangeAggregate.origin, agg_dept, func.max(agg_name), func.count()
            )
            .where(live)
            .group_by(ExchangeAggregate.sender, ExchangeAggregate.origin, agg_dept)
        ):
            kinds[sender][kind.name]["accepted"] += int(n)
            by_origin[sender][origin or sender][kind.name]["accepted"] += int(n)
            depts[sender][code][kind.name]["accepted"] += int(n)
            if name:
                names[(sender, code)] = str(name)
        # Applied rows take their department from the object they made (the inbox keeps no content).
        joined = and_(
            ExchangeAggregate.sender == ExchangeInbox.sender,
            ExchangeAggregate.origin == func.coalesce(ExchangeInbox.origin, ExchangeInbox.sender),
            ExchangeAggregate.table_name == ExchangeInbox.table_name,
            ExchangeAggregate.business_key == ExchangeInbox.business_key,
        )
        for sender, origin, code, n in session.execute(
            select(ExchangeInbox.sender, inbox_origin, agg_dept, func.count())
            .join(ExchangeAggregate, joined)
            .where(ExchangeInbox.table_name.in_(kind.tables), ExchangeInbox.status == "applied")
            .group_by(ExchangeInbox.sender, inbox_origin, agg_dept)
        ):
            kinds[sender][kind.name]["received"] += int(n)
            by_origin[sender][origin][kind.name]["received"] += int(n)
            depts[sender][code][kind.name]["received"] += int(n)
        inbox_dept = _json_text(ExchangeInbox.payload, kind.department)
        for sender, origin, code, error, reason, n in session.execute(
            select(ExchangeInbox.sender, inbox_origin, inbox_dept, ExchangeInbox.error_code, ExchangeInbox.reason,
                   func.count())
            .where(ExchangeInbox.table_name.in_(kind.tables), ExchangeInbox.status == "rejected")
            .group_by(ExchangeInbox.sender, inbox_origin, inbox_dept, ExchangeInbox.error_code, ExchangeInbox.reason)
        ):  # fmt: skip
            for numbers in (kinds[sender][kind.name], depts[sender][code][kind.name],
                            by_origin[sender][origin][kind.name]):  # fmt: skip
                numbers["received"] += int(n)
                numbers["rejected"] += int(n)
            dept_reasons[(sender, code)][(str(error or ""), str(reason or ""))] += int(n)

    # Every table, not only the counted ones: the node's overall refusals and their reasons.
    node_reasons: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for sender, error, reason, n in session.execute(
        select(ExchangeInbox.sender, ExchangeInbox.error_code, ExchangeInbox.reason, func.count())
        .where(ExchangeInbox.status == "rejected")
        .group_by(ExchangeInbox.sender, ExchangeInbox.error_code, ExchangeInbox.reason)
    ):
        node_reasons[sender][(str(error or ""), str(reason or ""))] += int(n)
    traffic: dict[str, dict[str, Any]] = {}
    for stats in session.scalars(select(ExchangeTopicStats)):
        entry = traffic.setdefault(stats.sender, {"received": 0, "rejected": 0, "last": None, "lag": None})
        entry["received"] += stats.received
        entry["rejected"] += stats.rejected
        if stats.last_received_at is not None and (
            entry["last"] is None or stats.last_received_at > entry["last"]
        ):
            entry["last"], entry["lag"] = stats.last_received_at, stats.last_lag_seconds

    senders = set(nodes) | set(kinds) | set(traffic) | set(reported)
    shown = []
    for sender in sorted(senders, key=lambda s: (nodes.get(s, {}).get("division_code", ""), s)):
        info = nodes.get(sender) or {"node_id": sender, "node_name": sender, "division_code": "", "tier": "",
                                     "status": "unregistered"}  # fmt: skip
        flow = traffic.get(sender, {"received": 0, "rejected": 0, "last": None, "lag": None})
        contact = max((t for t in (flow["last"], reported.get(sender)) if t is not None), default=None)
        departments = []
        for code in sorted(depts.get(sender, {})):
            departments.append(
                {
                    "department_code": code,
                    "department_name": names.get((sender, code), ""),
                    "kinds": {k.name: _finish(dict(depts[sender][code][k.name])) for k in KINDS},
                    "top_reasons": _top(dept_reasons.get((sender, code), Counter())),
                }
            )
        shown.append(
            {
                **info,
                "kinds": {k.name: _finish(dict(kinds[sender][k.name])) for k in KINDS},
                "received_rows": flow["received"],
                "rejected_rows": flow["rejected"],
                "rejection_rate": round(flow["rejected"] / flow["received"], 4) if flow["received"] else None,
                "top_reasons": _top(node_reasons.get(sender, Counter())),
                "lag_seconds": round(flow["lag"], 1) if flow["lag"] is not None else None,
                "last_contact": contact.isoformat() if contact is not None else None,
                "idle_seconds": round((now - contact).total_seconds(), 1) if contact is not None else None,
                "counts_reported_at": reported[sender].isoformat() if sender in reported else None,
                # The nodes below it whose counts its report carried (their rows come through it).
                "lower_nodes": sorted(origins.get(sender, set()) - {sender}),
                # The same numbers split by the node that made the objects (the sender and those below it).
                "origins": [
                    {"origin": origin, "kinds": {k.name: _finish(dict(split[k.name])) for k in KINDS}}
                    for origin, split in sorted(by_origin.get(sender, {}).items())
                ],
                "departments": departments,
            }
        )
    return {
        "generated_at": now.isoformat(),
        "node_id": settings.node_id,
        "node_name": settings.node_name,
        "tier": settings.tier.value,
        "kinds": [{"kind": k.name, "label": k.label, "tables": list(k.tables)} for k in KINDS],
        "nodes": shown,
    }


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """What changes when anything :func:`compute` reads changes: the newest inbox row (every row taken,
    applied or refused, is one), the newest count report, the joined nodes."""
    return (
        session.scalar(select(func.max(ExchangeInbox.seq))),
        session.scalar(select(func.max(ExchangeProgressCount.received_at))),
        session.scalar(select(func.count()).select_from(ExchangeProgressCount)),
        tuple(
            session.execute(select(ExchangeNode.node_id, ExchangeNode.status).order_by(ExchangeNode.node_id))
        ),
    )


_CACHE: Final = "progress_cache"


def current(session: Session, runtime: ExchangeRuntime) -> dict[str, Any]:
    """:func:`compute`, kept in this process for the page, the API and the workbook: computing reads the
    whole inbox and aggregate, so it is done again only when something it reads changed (a new inbox
    row, count report or node state: :func:`_fingerprint`) or after ``progress_cache_seconds`` — an
    operator's refusal changes an inbox row in place and lag and idle times move with the clock. With
    the setting at 0, every request computes."""
    ttl = runtime.settings.exchange.progress_cache_seconds
    if ttl <= 0:
        return compute(session, runtime.settings)
    mark = _fingerprint(session)
    now = utcnow()
    held = runtime.extras.get(_CACHE)
    if isinstance(held, tuple) and held[0] == mark and (now - held[1]).total_seconds() < ttl:
        return dict(held[2])
    data = compute(session, runtime.settings)
    runtime.extras[_CACHE] = (mark, now, data)
    return dict(data)


# --- the periodic assessment report -------------------------------------------------------------------


def beijing(value: str | None) -> str:
    """An ISO timestamp as 北京时间 ``YYYY-MM-DD HH:MM:SS`` (empty when there is none)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def to_xlsx(data: Mapping[str, Any]) -> bytes:
    """The progress as a workbook: nodes, departments, refusal reasons (numbers as numbers)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "节点汇总"
    summary.append(
        [
            f"{data['node_name']} 接入进度（应上尽上）",
            f"生成时间（北京时间）：{beijing(data['generated_at'])}",
        ]
    )
    header = ["节点", "节点名称", "行政区划", "类别", "应上数", "已入库", "覆盖率", "接收条数", "退回条数", "退回率",
              "延迟（秒）", "最近联系（北京时间）"]  # fmt: skip
    summary.append(header)
    for node in data["nodes"]:
        for kind in data["kinds"]:
            n = node["kinds"][kind["kind"]]
            summary.append([
                node["node_id"], node["node_name"], node["division_code"], kind["label"], n["exists"], n["accepted"],
                n["coverage"], n["received"], n["rejected"], n["rejection_rate"], node["lag_seconds"],
                beijing(node["last_contact"]),
            ])  # fmt: skip
    detail = book.create_sheet("部门明细")
    detail.append(
        [
            "节点",
            "部门编码",
            "部门名称",
            "类别",
            "应上数",
            "已入库",
            "覆盖率",
            "接收条数",
            "退回条数",
            "退回率",
        ]
    )
    for node in data["nodes"]:
        for dept in node["departments"]:
            for kind in data["kinds"]:
                n = dept["kinds"][kind["kind"]]
                if n["exists"] is None and not n["accepted"] and not n["received"]:
                    continue
                detail.append([
                    node["node_id"], dept["department_code"], dept["department_name"], kind["label"], n["exists"],
                    n["accepted"], n["coverage"], n["received"], n["rejected"], n["rejection_rate"],
                ])  # fmt: skip
    reasons = book.create_sheet("退回原因")
    reasons.append(["节点", "部门编码", "异常代码", "原因", "条数"])
    for node in data["nodes"]:
        for item in node["top_reasons"]:
            reasons.append([node["node_id"], "（全部）", item["code"], item["reason"], item["count"]])
        for dept in node["departments"]:
            for item in dept["top_reasons"]:
                reasons.append(
                    [node["node_id"], dept["department_code"], item["code"], item["reason"], item["count"]]
                )
    for sheet in (summary, detail, reasons):
        for cell in sheet[2 if sheet is summary else 1]:
            cell.font = Font(bold=True)
        for column in ("G", "J"):
            for cell in sheet[column][1:]:
                if isinstance(cell.value, float) and sheet is not reasons:
                    cell.number_format = "0.00%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
