"""``zhengwu ops``: the statuses lower nodes report, and this node's own report upward."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhengwu.commands.node import load_settings, node_unit
from zhengwu.kernel.clock import BEIJING
from zhengwu.ops import reporting

app = typer.Typer(help="运维 / operations: node statuses reported upward.", no_args_is_help=True)
console = Console()

_STATUS = {"ok": "正常", "degraded": "降级", "stale": "失联"}


def _archive(row: dict[str, Any]) -> str:
    if row.get("wal_archive_failing"):
        return "失败"
    lag = row.get("wal_archive_lag_seconds")
    return "—" if lag is None else f"{lag:.0f}"


@app.command()
def nodes(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The newest status of every node below this one: the lower nodes that report to it and, passed
    on by them, the nodes beneath (经由: the direct lower node a status came through)."""
    settings = load_settings()
    with node_unit(settings) as (_node, session):
        rows = reporting.nodes(session, settings)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "节点 / node",
        "层级",
        "经由 / via",
        "状态",
        "版本",
        "积压 / pending",
        "延迟 s",
        "死信",
        "备份 s",
        "WAL 归档 s",
        "上报时间（北京时间）",
    )
    for row in rows:
        table.add_row(
            f"{row['node_name']} ({row['node_id']})",
            row["tier"],
            row["via"] or "直连",
            _STATUS.get(row["status"], row["status"]),
            row["version"],
            str(row["outbox_pending"]),
            f"{row['lag_seconds']:.0f}",
            str(row["dead_letters"]),
            "—" if row["backup_age_seconds"] is None else f"{row['backup_age_seconds']:.0f}",
            _archive(row),
            datetime.fromisoformat(row["reported_at"]).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command()
def report() -> None:
    """Queue this node's status for the upper node now (the worker does it every ZHENGWU_OPS__STATUS_MINUTES)."""
    settings = load_settings()
    with node_unit(settings) as (_node, session):
        row = reporting.report(session, settings)
    console.print(f"已排队上报 / status queued: {row['status_key']}")


_STEP_OK = {True: "通过", False: "失败"}


@app.command()
def probe(
    url: Annotated[
        str | None, typer.Option("--url", help="The node to walk (default: ZHENGWU_PUBLIC_URL).")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="What to search for (default: ZHENGWU_OPS__PROBE_QUERY).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Walk the public citizen journey (home → search → guide → license verification) against a running node."""
    from zhengwu.ops import probe as journey

    settings = load_settings()
    result = journey.run(
        url or journey.target(settings),
        query=query or settings.ops.probe_query,
        timeout=settings.ops.probe_timeout_seconds,
    )
    if as_json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        table = Table("步骤 / step", "结果", "HTTP", "耗时 s", "说明")
        for step in result.steps:
            shown = "跳过" if step.detail == "skipped" else _STEP_OK[step.ok]
            table.add_row(step.label, shown, str(step.status or "—"), f"{step.seconds:.3f}", step.detail)
        console.print(table)
        console.print(f"{_STEP_OK[result.ok]} / {'pass' if result.ok else 'fail'} · {result.seconds:.3f} s")
    if not result.ok:
        raise typer.Exit(1)
