"""``zhengwu webhooks``: the department systems' case webhooks — endpoints, the delivery log, replay."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from zhengwu.cases import rights as case_rights
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.commands.seals import ReportingGroup, console, fail_with, node_session, settings

app = typer.Typer(
    cls=ReportingGroup, help="办件推送 / case webhooks to department systems.", no_args_is_help=True
)


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


@app.command("register")
@privileged(case_rights.WEBHOOKS)
def register(
    client_id: Annotated[str, typer.Argument(help="接入应用 client_id（须已绑定部门）.")],
    url: Annotated[str, typer.Option("--url", help="推送地址 / the endpoint URL.")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="只推送这种事件（可重复，如 case.submitted）；不指定为全部事件."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Register (or re-register with a new secret) a department system's endpoint; prints the secret once."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.cases.webhooks import service

    with node_session(settings()) as session:
        done = service.register(
            session, client_id, url, actor=operator_actor(actor_of(None, cli=True)), event_types=event
        )
        out = {
            "client_id": client_id,
            "url": done.endpoint.url,
            "event_types": done.endpoint.event_types,
            "secret": done.secret,
            "schemes": ["v1", "v1sm3"],
        }
    if as_json:
        _print_json(out)
        return
    console.print(f"已登记推送地址 {out['url']}；密钥（只显示这一次）：{out['secret']}")


@app.command("list")
def list_deliveries(
    status: Annotated[str | None, typer.Option("--status", help="pending / delivered / dead.")] = None,
    client_id: Annotated[str | None, typer.Option("--client", help="只看这个接入应用.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The delivery log, newest first: status, attempts, last status code and times."""
    from zhengwu.cases.webhooks import service

    if status is not None and status not in ("pending", "delivered", "dead"):
        fail_with(f"未知的投递状态：{status}", "status is one of pending, delivered, dead")
    with node_session(settings()) as session:
        rows = [
            d.as_json() for d in service.deliveries(session, status=status, client_id=client_id, limit=limit)
        ]
        totals = service.counts(session)
    if as_json:
        _print_json({"counts": totals, "deliveries": rows})
        return
    table = Table()
    for header in ("投递 delivery", "应用 client", "事件 type", "办件 case", "状态 status", "次数 attempts",
                   "状态码 code", "最近 last (UTC)"):  # fmt: skip
        table.add_column(header)
    labels = {"pending": "待投递", "delivered": "已送达", "dead": "已放弃"}
    for r in rows:
        table.add_row(
            r["id"],
            r["client_id"],
            r["type"],
            r["case_no"],
            labels.get(r["status"], r["status"]),
            str(r["attempts"]),
            "" if r["last_status_code"] is None else str(r["last_status_code"]),
            r["last_attempt_at"] or "",
        )
    console.print(table)


@app.command("replay")
@privileged(case_rights.WEBHOOKS)
def replay(
    delivery_id: Annotated[str | None, typer.Argument(help="投递编号 / the delivery id.")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="重投所有已放弃的投递 / every dead delivery.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Queue a delivery (or every dead one) again; the worker sends it with the same webhook-id."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.cases.webhooks import service

    if (delivery_id is None) == (not dead):
        fail_with("请给出一个投递编号，或者 --dead", "give a delivery id or --dead (not both)")
    with node_session(settings()) as session:
        ids = service.replay(
            session, delivery_id=delivery_id, dead=dead, actor=operator_actor(actor_of(None, cli=True))
        )
    if as_json:
        _print_json({"replayed": ids})
        return
    console.print(f"已重新排队 {len(ids)} 条投递")
