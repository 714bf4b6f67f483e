"""``zhengwu licenses grants list|add|revoke``: the per-client grants (用证授权) from the command line
(registered on the ``licenses`` group by ``commands.licenses``). The operator at the console is the
platform's: the same service as the staff API, audited as ``cli:<account>``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from zhengwu.commands.seals import ReportingGroup, actor, console, fail_with, node_and_session, settings

grants_app = typer.Typer(
    cls=ReportingGroup, help="用证授权 / per-client grants of license types.", no_args_is_help=True
)


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


def _when(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is 北京时间 (what an operator in the province types)."""
    if text is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        fail_with(f"{option} 应为 ISO 8601 时间，例如 2027-12-31T23:59", f"{option}: ISO 8601 expected")
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


@grants_app.command("list")
def list_grants(
    client_id: Annotated[str | None, typer.Option("--client", help="Only this client id.")] = None,
    type_code: Annotated[str | None, typer.Option("--type", help="Only this license type code.")] = None,
    current: Annotated[bool, typer.Option("--current", help="Only grants in force now.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List grants, newest first."""
    from zhengwu.licenses import grants
    from zhengwu.licenses.grant_schemas import GrantRead

    with node_and_session(settings()) as (_node, session):
        rows, total = grants.list_grants(session, client_id=client_id, type_code=type_code, current_only=current,
                                         limit=limit)  # fmt: skip
        items = [GrantRead.of(g).model_dump(mode="json") for g in rows]
    if as_json:
        _print_json({"total": total, "items": items})
        return
    table = Table("id", "系统 client", "证照类型 type", "操作 operations", "用途 purpose", "状态 status")
    for item in items:
        table.add_row(item["id"], item["client_name"], item["type_code"], ",".join(item["operations"]),
                      item["purpose"][:40], item["status_label"])  # fmt: skip
    console.print(table)
    console.print(f"共 {total} 条")


@grants_app.command("add")
def add_grant(
    client_id: Annotated[str, typer.Option("--client", help="The department system's client id.")],
    type_code: Annotated[str, typer.Option("--type", help="License type code (21 characters).")],
    operations: Annotated[
        str, typer.Option("--operations", help="Comma-separated: query, download, verify.")
    ],
    purpose: Annotated[str, typer.Option("--purpose", help="What the grant is for (授权用途).")],
    valid_from: Annotated[
        str | None, typer.Option("--from", help="Start (ISO 8601; 北京时间 without a zone). Default: now.")
    ] = None,
    valid_until: Annotated[
        str | None,
        typer.Option("--until", help="End (ISO 8601; 北京时间 without a zone). Default: until revoked."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Grant a department system the use of one license type."""
    from zhengwu.licenses import grants
    from zhengwu.licenses.grant_schemas import GrantRead

    start, end = _when(valid_from, "--from"), _when(valid_until, "--until")
    with node_and_session(settings()) as (_node, session):
        grant = grants.add(session, client_id=client_id, type_code=type_code, operations=operations.split(","),
                           purpose=purpose, valid_from=start, valid_until=end, actor=actor())  # fmt: skip
        body = GrantRead.of(grant).model_dump(mode="json")
    if as_json:
        _print_json(body)
    else:
        console.print(f"{body['id']}: 已授权 granted · {body['client_name']} · {body['type_code']} · "
                      f"{','.join(body['operations'])}")  # fmt: skip


@grants_app.command("revoke")
def revoke_grant(
    grant_id: Annotated[str, typer.Argument(help="The grant's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the grant).")],
) -> None:
    """End a grant at once."""
    from zhengwu.licenses import grants

    with node_and_session(settings()) as (_node, session):
        grants.revoke(session, grant_id, reason=reason, actor=actor())
    console.print(f"{grant_id}: 已撤销 revoked")


def register(app: typer.Typer) -> None:
    """Add ``grants`` to the ``licenses`` group."""
    app.add_typer(grants_app, name="grants")
