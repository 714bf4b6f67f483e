"""``zhengwu exchange``: status, resend, refuse, abnormal feedback, log verification, joining, lower nodes
and the interface self-test.

Heavy modules are imported inside the commands so that other ``zhengwu`` commands start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhengwu.commands.node import load_settings, open_node
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.exchange import rights as exchange_rights

if TYPE_CHECKING:
    from zhengwu.exchange.runtime import ExchangeRuntime

app = typer.Typer(help="数据共享交换 / data exchange with the upper and lower nodes.", no_args_is_help=True)
nodes_app = typer.Typer(help="下级节点接入管理 / lower nodes that joined this node.", no_args_is_help=True)
log_app = typer.Typer(help="交换日志 / the hash-chained exchange log.", no_args_is_help=True)
schedule_app = typer.Typer(
    help="交换计划 / per national table: frequency (realtime, every N minutes, daily window) and priority.",
    no_args_is_help=True,
)
app.add_typer(nodes_app, name="nodes")
app.add_typer(log_app, name="log")
app.add_typer(schedule_app, name="schedule")

console = Console()
err = Console(stderr=True)


@contextmanager
def _runtime() -> Iterator[ExchangeRuntime]:
    from zhengwu.exchange.servicekeys import RUNTIME
    from zhengwu.kernel.errors import DomainError

    with open_node(load_settings()) as node:
        try:
            yield node.services.provide(RUNTIME)
        except DomainError as exc:
            err.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(1) from exc


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Per topic: pending, sent, acknowledged, rejected, dead and lag; uplink; open abnormal feedback."""
    from zhengwu.exchange import service
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        data = service.status(session, runtime)
        feedback, _total = service.list_feedback(session, limit=20)
        data["recent_feedback"] = [
            {"id": f.id, "topic": f.topic, "row_guid": f.row_guid, "key": f.business_key, "code": f.error_code,
             "reason": f.reason, "received_at": f.received_at.isoformat()}
            for f in feedback
        ]  # fmt: skip
    if as_json:
        _json(data)
        return
    uplink = data["uplink"] or {}
    console.print(
        f"节点 node: {data['node_id']} ({data['tier']}, {data['division_code']})  传输 transport: {data['transport']}  "
        f"上级 upstream: {data['upstream_url'] or '—'}  接入 uplink: {uplink.get('status', '未接入 not joined')}"
    )
    table = Table(title="出站队列 / outbox by topic")
    for column in ("topic", "pending", "sent", "acknowledged", "rejected", "dead", "lag (s)", "retry at"):
        table.add_column(column)
    for t in data["topics"]:
        table.add_row(
            t["topic"], str(t["pending"]), str(t["sent"]), str(t["acknowledged"]), str(t["rejected"]), str(t["dead"]),
            "—" if t["lag_seconds"] is None else f"{t['lag_seconds']:.1f}", t["retry_at"] or "—",
        )  # fmt: skip
    console.print(table)
    console.print(f"未处理的异常反馈 open abnormal feedback: {data['open_feedback']}")
    for f in data["recent_feedback"]:
        console.print(
            f"  [{f['code']}] {f['topic']} {f['key'] or f['row_guid']}: {f['reason']}  (id {f['id']})"
        )


@app.command("feedback")
def feedback(
    all_: Annotated[bool, typer.Option("--all", help="Include resent/resolved entries.")] = False,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List abnormal feedback (rows the upper node refused, with reasons)."""
    from zhengwu.exchange import service
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        rows, total = service.list_feedback(
            session, status=None if all_ else "open", topic=topic, limit=10_000
        )
        items = [
            {"id": f.id, "source": f.source, "topic": f.topic, "table": f.table_name, "row_guid": f.row_guid,
             "key": f.business_key, "code": f.error_code, "reason": f.reason, "status": f.status}
            for f in rows
        ]  # fmt: skip
    if as_json:
        for item in items:
            _json(item)
        return
    table = Table(title=f"异常反馈 / abnormal feedback ({total})")
    for column in ("id", "topic", "key", "code", "reason", "status"):
        table.add_column(column)
    for i in items:
        table.add_row(
            i["id"], str(i["topic"]), str(i["key"] or i["row_guid"]), i["code"], i["reason"], i["status"]
        )
    console.print(table)


@app.command("applied")
def applied(
    outcome: Annotated[
        str | None,
        typer.Option(help="Only applied, stored, refused or refused_below (fed back by a lower node)."),
    ] = None,
    table: Annotated[str | None, typer.Option(help="Only this national table (dn_task_directory …).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many entries.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List what became of the rows the upper node pushed down, newest first."""
    from zhengwu.exchange import applying
    from zhengwu.kernel.session import unit_of_work

    if outcome is not None and outcome not in applying.OUTCOMES:
        err.print(f"--outcome must be one of {', '.join(applying.OUTCOMES)}")
        raise typer.Exit(2)
    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        rows, total = applying.list_applied(session, outcome=outcome, table=table, limit=limit)
        items = [applying.as_dict(r) for r in rows]
    if as_json:
        for item in items:
            _json(item)
        return
    labels = {"applied": "已应用", "stored": "已接收", "refused": "应用失败", "refused_below": "下级应用失败"}
    table_view = Table(title=f"下发数据应用记录 / downward rows applied ({total})")
    for column in ("seq", "time", "peer", "table", "key", "op", "outcome", "passed on", "reason / notes"):
        table_view.add_column(column)
    for i in items:
        remark = i["reason"] or "；".join(i["notes"])
        table_view.add_row(
            str(i["seq"]), i["at"][:19], i["peer"], i["table"], str(i["business_key"] or i["row_guid"]),
            str(i["cd_operation"] or ""), labels.get(i["outcome"], i["outcome"]),
            "是" if i["forwarded"] else "", remark or "",
        )  # fmt: skip
    console.print(table_view)


@app.command("resend")
@privileged(exchange_rights.OPERATE)
def resend(
    dead: Annotated[bool, typer.Option("--dead", help="Requeue dead-lettered rows.")] = False,
    rejected: Annotated[bool, typer.Option("--rejected", help="Resend every open refused row.")] = False,
    feedback_id: Annotated[str | None, typer.Option("--feedback", help="Resend one refused row.")] = None,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
) -> None:
    """Requeue dead rows and/or resend refused rows as new rows after their data was fixed."""
    if not (dead or rejected or feedback_id):
        err.print("nothing to do: pass --dead, --rejected or --feedback ID")
        raise typer.Exit(2)
    from zhengwu.exchange import service
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        result: dict[str, int] = {}
        actor = operator_actor("cli")
        if dead:
            result["requeued"] = service.resend_dead(session, topic=topic, actor=actor)
        if rejected or feedback_id:
            result.update(
                service.resend_feedback(
                    session, runtime.registry, feedback_id=feedback_id, topic=topic, actor=actor
                )
            )
    console.print(" ".join(f"{k}={v}" for k, v in result.items()))


@app.command("refuse")
@privileged(exchange_rights.OPERATE)
def refuse(
    row_guid: Annotated[str, typer.Argument(help="row_guid of a lower node's row this node accepted.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to the node that made the row).")],
) -> None:
    """Refuse a lower node's row after it was accepted: it leaves the aggregate, is not passed upward
    if it has not gone yet, and the abnormal feedback travels down to the node where the row was made."""
    import getpass

    from zhengwu.exchange import tiers
    from zhengwu.kernel.session import unit_of_work

    if not reason.strip():
        err.print("--reason must say why")
        raise typer.Exit(2)
    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        count = tiers.refuse_received(
            session, runtime, row_guid, reason.strip()[:2000], actor=operator_actor(getpass.getuser())
        )
    console.print(f"refused={count}")


@log_app.command("verify")
def log_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the SM3 chain of the exchange log; exit 1 and say where when it was tampered with."""
    from zhengwu.exchange import service
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        verdict = service.verify_log(session)
    if as_json:
        _json(
            {
                "ok": verdict.ok,
                "entries": verdict.entries,
                "head_seq": verdict.head_seq,
                "head_hash": verdict.head_hash,
                "problems": [asdict(p) for p in verdict.problems],
            }
        )
    elif verdict.ok:
        console.print(
            f"交换日志完整 / exchange log intact: {verdict.entries} entries, head {verdict.head_hash}"
        )
    else:
        for p in verdict.problems:
            console.print(f"[red]seq {p.seq} {p.kind}[/red]: {p.message_zh} / {p.message}")
    if not verdict.ok:
        raise typer.Exit(1)


@app.command("selftest")
def selftest_command(
    against: Annotated[
        str | None,
        typer.Option("--against", help="Peer node URL (the upstream this node joined): signed round trip."),
    ] = None,
    ddl: Annotated[
        Path | None, typer.Option("--ddl", help="Folder of the national DDL to compare the table specs with.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Interface self-test (联调): table specs and signing keys; with --against, a signed round trip of
    sample rows of every national table. Exit status 1 when a check fails."""
    from zhengwu.exchange import selftest

    with _runtime() as runtime:
        report = selftest.run(runtime, against=against, ddl=ddl)
    if as_json:
        _json(report.as_dict())
    else:
        sys.stdout.write(report.as_text() + "\n")
    if not report.ok:
        raise typer.Exit(1)


@app.command("join")
@privileged(exchange_rights.OPERATE)
def join_upstream(
    renew: Annotated[
        bool, typer.Option("--renew", help="Request a new certificate although one is active.")
    ] = False,
) -> None:
    """Join the upstream node: the first call sends a certificate request, the next installs the certificate."""
    from zhengwu.exchange import join as joining

    with _runtime() as runtime:
        outcome = joining.join(runtime, renew=renew)
    console.print(f"{outcome.status}: {outcome.message}")
    if outcome.request_id:
        console.print(f"  申请编号 request id: {outcome.request_id}")
    if outcome.ca_fingerprint:
        console.print(f"  上级交换 CA 指纹 (SM3), compare out of band: {outcome.ca_fingerprint}")
    if outcome.certificate_fingerprint:
        console.print(f"  本节点交换证书指纹 certificate: {outcome.certificate_fingerprint}")
    if outcome.status == "refused":
        raise typer.Exit(1)


@nodes_app.command("list")
def nodes_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Join requests and lower nodes."""
    from zhengwu.exchange import join as joining
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        items = [
            {"request_id": n.id, "node_id": n.node_id, "node_name": n.node_name, "division_code": n.division_code,
             "tier": n.tier, "status": n.status, "fingerprint": n.fingerprint,
             "key_fingerprint": n.key_fingerprint, "source_address": n.source_address,
             "not_after": n.not_after.isoformat() if n.not_after else None,
             "requested_at": n.requested_at.isoformat()}
            for n in joining.list_nodes(session)
        ]  # fmt: skip
    if as_json:
        for item in items:
            _json(item)
        return
    table = Table(title="下级节点 / lower nodes")
    for column in (
        "node_id",
        "node_name",
        "division",
        "tier",
        "status",
        "request id",
        "source",
        "key",
        "not after",
    ):
        table.add_column(column)
    for i in items:
        table.add_row(i["node_id"], i["node_name"], i["division_code"], i["tier"], i["status"], i["request_id"],
                      i["source_address"] or "—", str(i["key_fingerprint"])[:16], i["not_after"] or "—")  # fmt: skip
    console.print(table)


@nodes_app.command("approve")
@privileged(exchange_rights.OPERATE)
def nodes_approve(
    node_id: Annotated[str, typer.Argument(help="Node id or request id.")],
    certificate: Annotated[
        Path | None,
        typer.Option(
            "--certificate",
            help="PEM certificate (then its issuers) the node holds from an external CA trusted for exchange.",
        ),
    ] = None,
) -> None:
    """Approve a pending join request: issue the node's exchange certificate, or pin the external one."""
    from zhengwu.exchange import join as joining
    from zhengwu.kernel.session import unit_of_work

    pem = None
    if certificate is not None:
        try:
            pem = certificate.read_bytes()
        except OSError as exc:
            err.print(f"[red]无法读取证书文件 {certificate}：{exc.strerror}[/red]")
            raise typer.Exit(2) from exc
    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        node = joining.approve(session, runtime, node_id, actor=operator_actor("cli"), certificate_pem=pem)
        console.print(
            f"已批准 approved: {node.node_id} certificate {node.fingerprint} valid until {node.not_after}"
        )


@nodes_app.command("revoke")
@privileged(exchange_rights.OPERATE)
def nodes_revoke(
    node_id: Annotated[str, typer.Argument(help="Node id or request id.")],
    reason: Annotated[
        str, typer.Option(help="Recorded reason (key_compromise, cessation_of_operation, ...).")
    ] = ("cessation_of_operation"),
) -> None:
    """Revoke a node's exchange certificate; the CRL is re-issued at once."""
    from zhengwu.exchange import join as joining
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        node = joining.revoke(session, runtime, node_id, reason=reason, actor=operator_actor("cli"))
        console.print(f"已撤销 revoked: {node.node_id} ({node.fingerprint})")


@app.command("seed-registries")
@privileged(exchange_rights.OPERATE)
def seed_registries(
    people: Annotated[int, typer.Option(help="Synthetic persons.")] = 2_000,
    companies: Annotated[int, typer.Option(help="Synthetic legal persons (each with a licence).")] = 500,
) -> None:
    """Load the deterministic synthetic registries the verification services answer from (demo/test nodes)."""
    from zhengwu.kernel.session import unit_of_work
    from zhengwu.seed.registries import seed_registries as seed

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        added = seed(session, runtime.settings, people_count=people, companies_count=companies)
    console.print(" ".join(f"{k}={v}" for k, v in added.items()))


@schedule_app.command("list")
def schedule_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every upward table's frequency and priority (set by an operator, or the default)."""
    from zhengwu.exchange import schedule
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        rules = [r.as_dict() for r in schedule.list_rules(session, schedule.tables_of(runtime.registry))]
    if as_json:
        for rule in rules:
            _json(rule)
        return
    table = Table(title="交换计划 / exchange schedules (priority: higher first)")
    for column in ("table", "frequency", "priority", "set by operator"):
        table.add_column(column)
    for r in rules:
        table.add_row(r["table"], r["description"], str(r["priority"]), "是" if r["configured"] else "默认")
    console.print(table)


@schedule_app.command("set")
@privileged(exchange_rights.OPERATE)
def schedule_set(
    table: Annotated[str, typer.Argument(help="National table, e.g. up_pro_process.")],
    mode: Annotated[str, typer.Option("--mode", help="realtime | interval | window")] = "realtime",
    every: Annotated[int | None, typer.Option("--every", help="interval: minutes (1–1440).")] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="window: HH:MM-HH:MM, Beijing time (may span midnight).")
    ] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="1–9, higher first.")] = None,
) -> None:
    """Set a table's frequency and priority (the relay follows it from its next pass)."""
    from zhengwu.exchange import schedule
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        rule = schedule.set_rule(
            session, table, mode=mode, every_minutes=every, window=window, priority=priority, actor=operator_actor("cli"),
            known_tables=schedule.tables_of(runtime.registry),
        )  # fmt: skip
    console.print(f"{rule.table}: {rule.describe()}，优先级 priority {rule.priority}")


@schedule_app.command("clear")
@privileged(exchange_rights.OPERATE)
def schedule_clear(table: Annotated[str, typer.Argument(help="National table.")]) -> None:
    """Back to real time at the default priority."""
    from zhengwu.exchange import schedule
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        cleared = schedule.clear_rule(session, table, actor=operator_actor("cli"))
    console.print(
        f"{table}: {'已恢复实时 / back to real time' if cleared else '未设置计划 / no schedule was set'}"
    )


@app.command("progress")
def progress_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    xlsx: Annotated[
        Path | None, typer.Option("--xlsx", help="Write the assessment workbook (XLSX) to this file.")
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Queue this node's own counts for the upper node now.")
    ] = False,
) -> None:
    """Connection progress (应上尽上) of the lower nodes: objects there against accepted here, rejection
    rates and top reasons, lag, last contact."""
    from zhengwu.exchange import progress
    from zhengwu.kernel.session import unit_of_work

    with _runtime() as runtime, unit_of_work(runtime.session_factory) as session:
        if report:
            if not runtime.settings.upstream_url or runtime.settings.exchange.transport != "http":
                # The 前置库 holds the national tables only; a node without an upstream reports to nobody.
                err.print("[red]本节点没有经 HTTP 交换的上级节点，数量报告无处可报 / no HTTP upstream[/red]")
                raise typer.Exit(1)
            row = progress.report(session, runtime.registry, runtime.settings)
            console.print(f"已排队上报本节点数量 / counts queued: {len(row['counts'])} 行")
            return
        data = progress.compute(session, runtime.settings)
    if xlsx is not None:
        xlsx.write_bytes(progress.to_xlsx(data))
        console.print(f"已写入 / written: {xlsx}")
        return
    if as_json:
        _json(data)
        return
    if not data["nodes"]:
        console.print("尚无下级节点接入或上报数据 / no lower node yet.")
    for node in data["nodes"]:
        console.print(
            f"[bold]{node['node_name']}[/bold] ({node['node_id']})  最近联系 last contact: "
            f"{progress.beijing(node['last_contact']) or '—'}  延迟 lag: {node['lag_seconds'] or '—'} s"
        )
        table = Table()
        for column in (
            "类别 kind",
            "应上 exists",
            "入库 accepted",
            "覆盖 coverage",
            "接收 rows",
            "退回 refused",
            "退回率",
        ):
            table.add_column(column)
        for kind in data["kinds"]:
            n = node["kinds"][kind["kind"]]
            table.add_row(
                kind["label"], "—" if n["exists"] is None else str(n["exists"]), str(n["accepted"]),
                _pct(n["coverage"]), str(n["received"]), str(n["rejected"]), _pct(n["rejection_rate"]),
            )  # fmt: skip
        console.print(table)
        for reason in node["top_reasons"]:
            console.print(f"  [{reason['code']}] {reason['reason']} × {reason['count']}")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
