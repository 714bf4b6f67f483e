"""``zhengwu security``: ingest the WAF's audit log, list security events.

Exit codes: 0 done; 1 a failure the operator must fix (an unreadable file, no database). An ingest
that met malformed lines still exits 0: the lines are counted, reported and stored as an event.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zhengwu.commands.node import node_unit
from zhengwu.commands.seals import ReportingGroup, settings
from zhengwu.kernel.clock import BEIJING

app = typer.Typer(
    cls=ReportingGroup,
    help="安全保障 / security: WAF audit log ingestion, security events.",
    no_args_is_help=True,
)
events_app = typer.Typer(cls=ReportingGroup, help="安全事件 / security events.", no_args_is_help=True)
app.add_typer(events_app, name="events")
console = Console()


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@app.command("ingest-waf")
def ingest_waf(
    path: Annotated[Path, typer.Argument(help="ModSecurity JSON audit log (SecAuditLogFormat JSON).")],
    allowance: Annotated[
        int, typer.Option(help="Events kept one by one per source, type and minute; the rest are summarised.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read the new lines of the WAF audit log into security events (again: continues where it stopped)."""
    from zhengwu.security import service

    with node_unit(settings()) as (node, session):
        report = service.ingest_waf(session, path, bus=node.bus, allowance=max(1, allowance))
    if as_json:
        _out(report.as_dict())
        return
    console.print(
        f"读取 {report.lines} 行 / lines: {report.stored} 条事件 / events, "
        f"{report.summarised} 条汇总为 {report.summaries} 条 / summarised, "
        f"{report.duplicates} 条已导入过 / already stored, {report.malformed} 行无法解析 / malformed"
    )
    if report.malformed:
        shown = ", ".join(str(n) for n in report.malformed_lines[:20])
        more = " …" if report.malformed > 20 else ""
        console.print(f"[yellow]无法解析的行号 / malformed lines: {shown}{more}[/yellow]")
    if report.restarted:
        console.print(
            "[yellow]文件已被替换或截断，已从头读取 / the file was rotated: read from its start[/yellow]"
        )


@app.command("posture")
def list_posture(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summaries as JSON.")] = False,
) -> None:
    """This node's own security posture, and the newest summary each lower node reported."""
    from zhengwu.security import upward

    config = settings()
    with node_unit(config) as (_node, session):
        own = upward.posture(session, config)
        lower = upward.postures(session)
    if as_json:
        _out({"node": own, "lower_nodes": lower})
        return
    table = Table(title="安全态势 / security posture")
    for column in (
        "节点",
        "版本",
        "24 小时事件（严重/高/中）",
        "证书（有效/已过期/即将到期）",
        "审计链",
        "上报时间（北京时间）",
    ):
        table.add_column(column)
    for row in [{"node_id": config.node_id, **own}, *lower]:
        events, certs = row["events_24h"], row["certificates"]
        table.add_row(
            escape(row["node_id"]),
            escape(row["version"]),
            f"{events['critical']}/{events['high']}/{events['medium']}",
            f"{certs['valid']}/{certs['expired']}/{len(certs['expiring_soon'])}",
            {"intact": "完整", "broken": "校验失败", "unverified": "未校验"}.get(
                row["audit_chain"]["state"], "未知"
            ),
            datetime.fromisoformat(row["reported_at"]).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@events_app.command("list")
def list_events(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    event_type: Annotated[str | None, typer.Option("--type", help="Only this event type.")] = None,
    min_severity: Annotated[
        str | None, typer.Option("--min-severity", help="info, low, medium, high or critical.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the events as JSON.")] = False,
) -> None:
    """The node's security events, newest first."""
    from zhengwu.security import service
    from zhengwu.security.routes import read
    from zhengwu.security.severity import Severity

    try:
        floor = Severity(min_severity) if min_severity else None
    except ValueError:
        console.print(f"[red]未知的严重程度 / unknown severity: {escape(min_severity or '')}[/red]")
        raise typer.Exit(1) from None
    with node_unit(settings()) as (_node, session):
        rows, total = service.list_events(session, limit=limit, event_type=event_type, min_severity=floor)
        events = [read(row).model_dump(mode="json") for row in rows]
    if as_json:
        _out({"total": total, "events": events})
        return
    table = Table(title=f"安全事件 / security events ({len(events)} / {total})")
    for column in ("时间（北京时间）", "严重程度", "类型", "来源", "次数", "摘要"):
        table.add_column(column)
    for row, event in zip(rows, events, strict=True):
        table.add_row(
            row.occurred_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            event["severity_label"],
            event["type_label"],
            escape(
                f"{event['origin'] + ' · ' if event['origin'] else ''}{event['source']} {event['peer'] or ''}".strip()
            ),
            str(event["count"]),
            escape(event["summary"]),
        )
    console.print(table)
