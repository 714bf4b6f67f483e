"""``zhengwu cases`` (list and show cases) and ``zhengwu calendar`` (the working-day overrides)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from zhengwu.cases.rights import CALENDAR
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.commands.seals import ReportingGroup, console, fail_with, node_session, read_file, settings

app = typer.Typer(cls=ReportingGroup, help="办件 / cases: list and show.", no_args_is_help=True)
calendar_app = typer.Typer(
    cls=ReportingGroup, help="工作日历 / the working-day calendar overrides.", no_args_is_help=True
)


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


@app.command("list")
def list_cases(
    department: Annotated[
        str | None, typer.Option("--department", help="部门统一社会信用代码 / USCC.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="办件状态 / status, e.g. submitted.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List cases, soonest deadline first (optionally one department's, one status)."""
    from zhengwu.cases import machine, service
    from zhengwu.cases.views import case_read
    from zhengwu.orgs import service as orgs

    if status is not None and status not in machine.LABELS:
        fail_with(f"未知的办件状态：{status}", f"unknown status; one of {', '.join(machine.LABELS)}")
    with node_session(settings()) as session:
        scope = [orgs.get_by_credit_code(session, department).id] if department else None
        rows, total = service.queue(
            session, department_ids=scope, statuses=[status] if status else None, due=None, limit=limit
        )
        listed = [case_read(session, c, with_history=False).model_dump(mode="json") for c in rows]
    if as_json:
        _print_json({"total": total, "cases": listed})
        return
    table = Table()
    table.add_column("办件编号 case no", no_wrap=True)
    for header in ("事项 item", "申请人 applicant", "状态 status", "办结期限 deadline", ""):
        table.add_column(header)
    for row in listed:
        due = {"overdue": "已超期", "soon": "即将到期"}.get(row["due"] or "", "")
        table.add_row(
            row["case_no"] or "（草稿）",
            row["task_name"],
            row["applicant_name"],
            row["status_label"],
            row["deadline"] or "",
            due,
        )
    console.print(table)
    console.print(f"共 {total} 件 / {total} cases")


@app.command("show")
def show_case(
    case_no: Annotated[str, typer.Argument(help="办件编号 / the case number.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one case with its history."""
    from zhengwu.cases import service
    from zhengwu.cases.views import case_read

    with node_session(settings()) as session:
        body = case_read(session, service.get_case(session, case_no)).model_dump(mode="json")
    if as_json:
        _print_json(body)
        return
    console.print(f"[bold]{body['case_no']}[/bold]  {body['task_name']}", soft_wrap=True)
    console.print(f"申请人 applicant: {body['applicant_name']}    状态 status: {body['status_label']}")
    console.print(f"当前环节 step: {body['step']}    办结期限 deadline: {body['deadline'] or '—'}")
    table = Table("#", "操作 action", "环节 step", "人员 actor", "意见 opinion", "时间 at (UTC)")
    for h in body["history"]:
        table.add_row(str(h["seq"]), h["action"], h["step"] or "", h["actor"], h["opinion"] or "", h["at"])
    console.print(table)


@calendar_app.command("import")
@privileged(CALENDAR)
def import_calendar(
    file: Annotated[
        Path, typer.Argument(help="每行“YYYY-MM-DD,workday|holiday” / one DATE,workday|holiday a line.")
    ],
) -> None:
    """Import working-day overrides (e.g. next year's holiday arrangement before the library knows it)."""
    from zhengwu.cases import service

    text = read_file(file, "日历文件 / calendar file").decode("utf-8-sig", errors="replace")
    with node_session(settings()) as session:
        count = service.import_calendar(session, text, actor=operator_actor("cli"))
    console.print(f"已导入 {count} 天 / {count} days imported")


@app.command("fields")
def item_fields(
    task_code: Annotated[str, typer.Argument(help="事项实施编码 / the item's task code.")],
    set_from: Annotated[
        Path | None,
        typer.Option(
            "--set", help='JSON 文件 {"fields": [...]}，见 docs/cases.md / a JSON definition to store.'
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show an item's own form fields, or store them from a JSON file (validated; audited)."""
    from zhengwu.audit.changes import actor_of
    from zhengwu.cases import service
    from zhengwu.cases.fields import TYPES

    raw: Any = None
    if set_from is not None:
        try:
            raw = json.loads(read_file(set_from, "表单定义文件 / fields file").decode("utf-8-sig"))
        except ValueError as exc:
            fail_with(f"表单定义文件不是有效的 JSON：{exc}", "the file is not valid JSON")
    with node_session(settings()) as session:
        if raw is not None:
            fields = service.set_item_fields(session, task_code, raw, actor=actor_of(None, cli=True))
        else:
            fields = service.item_fields(session, task_code)
    if as_json:
        _print_json(fields.as_json())
        return
    if set_from is not None:
        console.print(f"已保存 {len(fields.fields)} 个字段 / {len(fields.fields)} fields stored")
    table = Table("代码 code", "名称 label", "类型 type", "必填 required", "限制 limits")
    for f in fields.fields:
        shown = f.as_json()
        limits = "、".join(shown.get("options", [])) or " ~ ".join(
            str(shown[k]) for k in ("min", "max") if k in shown
        )
        table.add_row(f.code, f.label, TYPES[f.type], "是" if f.required else "否", limits)
    console.print(table)
