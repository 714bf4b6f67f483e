"""``zhengwu licenses import`` and ``zhengwu licenses abnormal …``: historical import and the abnormal data
queue from the command line (registered on the ``licenses`` group by ``commands.licenses``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhengwu.commands.node import open_node
from zhengwu.commands.operator import departments_reached, ensure_department, privileged
from zhengwu.commands.seals import (
    ReportingGroup,
    actor,
    console,
    err_console,
    fail_with,
    node_and_session,
    settings,
)
from zhengwu.exchange import rights as exchange_rights
from zhengwu.licenses import rights as license_rights

abnormal_app = typer.Typer(
    cls=ReportingGroup, help="证照异常数据 / abnormal license data.", no_args_is_help=True
)
#: Exit status when some rows were refused (the rejects file says which and why).
EXIT_REJECTED = 3


def _print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, ensure_ascii=False, default=str) + "\n")


def _department_id(session: Any, credit_code: str | None) -> str | None:
    """The department named with --department (the operator must reach it), the node's only one, or
    None: each row's own department is derived (颁发机构代码, the identifier's issuer, the type's definer)."""
    from zhengwu.orgs import service as orgs

    if credit_code:
        department_id = orgs.get_by_credit_code(session, credit_code.strip().upper()).id
        ensure_department(session, license_rights.ISSUE, department_id)
        return department_id
    departments, total = orgs.list_departments(session, limit=2)
    return departments[0].id if total == 1 else None


def _reach_check(session: Any, right: Any) -> Any:
    """Refuses each row whose department the operator's ``right`` does not reach (None: no limit)."""
    reached = departments_reached(session, right)
    if reached is None:
        return None

    def check(department: Any) -> str | None:
        if department.id in reached:
            return None
        return f"您没有“{department.name}”的“{right.label}”权限，该行未导入"

    return check


@privileged(license_rights.ISSUE)
def import_licenses(
    source: Annotated[Path, typer.Argument(help="CSV or XLSX file, one license per row.")],
    type_code: Annotated[str, typer.Option("--type", help="License type code (21 characters).")],
    rejects: Annotated[Path, typer.Option("--rejects", help="Where to write refused rows (same format).")],
    files: Annotated[
        Path | None, typer.Option("--files", help="Folder holding the OFD files named in the 'file' column.")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(
            "--department",
            help="Issuing department's credit code for every row. Without it, on a node of several "
            "departments, each row's own: its 颁发机构代码 column, the identifier's issuer or the type's definer.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Import historical licenses; exit 0 when every row was taken, 3 when some went to the rejects file."""
    from zhengwu.licenses import importer

    if not source.is_file():
        fail_with(f"文件不存在：{source}", "no such file")
    if files is not None and not files.is_dir():
        fail_with(f"文件目录不存在：{files}", "no such folder")
    config = settings()
    table = importer.read_table(source)
    writer = importer.RejectsWriter(rejects, table.fmt, table.header)
    total = importer.Outcome()
    with open_node(config) as node:
        with node.unit() as session:
            p = importer.plan(session, type_code=type_code, department_id=_department_id(session, department),
                              header=table.header, actor=actor(), files_dir=files,
                              check_department=_reach_check(session, license_rights.ISSUE))  # fmt: skip
        progress = Progress(
            TextColumn("导入 importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, disable=as_json or not err_console.is_terminal,
        )  # fmt: skip
        with progress:
            task = progress.add_task("rows", total=table.total)
            for chunk in importer.chunks(table.rows):
                # One transaction per chunk: a stop half-way keeps what was done, and re-running is safe.
                with node.unit() as session:
                    outcome = importer.import_rows(session, config, p.bound(session), chunk, bus=node.bus)
                for line, cells, reason in outcome.rejects:
                    writer.add(cells, f"第{line}行：{reason}")
                total.add(outcome)
                progress.advance(task, len(chunk))
    writer.close()
    body = {**total.as_json(), "rejects_file": str(rejects), "batch_id": p.batch_id}
    if as_json:
        _print_json(body)
    else:
        console.print(
            f"导入 {total.imported} 条，重复跳过 {total.duplicates} 条，拒绝 {total.rejected} 条，"
            f"新分配标识 {total.allocated} 个"
        )
        for line, warning in total.warnings[:20]:
            err_console.print(f"[yellow]第{line}行：{warning}[/yellow]")
        if total.rejected:
            err_console.print(f"被拒绝的行已写入 {rejects}（末列为原因），修改后可重新导入")
    raise typer.Exit(EXIT_REJECTED if total.rejected else 0)


@abnormal_app.command("list")
@privileged(license_rights.MANAGE)
def list_abnormal(
    status: Annotated[
        str, typer.Option("--status", help="open, resubmitted, resolved, dismissed or all.")
    ] = "open",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List abnormal license data (refused import rows, refusals from the upper node) of the departments
    the operator reaches."""
    from zhengwu.licenses import abnormal
    from zhengwu.licenses.dataschemas import AbnormalRead

    with node_and_session(settings()) as (_node, session):
        rows, total = abnormal.list_entries(
            session,
            departments=departments_reached(session, license_rights.MANAGE),
            status=None if status == "all" else status,
            limit=limit,
        )
        items = [AbnormalRead.of(r).model_dump(mode="json") for r in rows]
    if as_json:
        _print_json({"total": total, "items": items})
        return
    table = Table("id", "来源 source", "状态 status", "证照类型 type", "原因 reason")
    for item in items:
        table.add_row(item["id"], item["source_label"], item["status_label"], item["type_code"] or "",
                      item["reason"][:60])  # fmt: skip
    console.print(table)
    console.print(f"共 {total} 条")


@abnormal_app.command("resubmit")
@privileged(license_rights.MANAGE)
def resubmit_abnormal(
    entry_id: Annotated[str, typer.Argument(help="The entry's id.")],
    face: Annotated[Path | None, typer.Option("--face", help="JSON file with corrected face fields.")] = None,
    holder_name: Annotated[str | None, typer.Option("--holder-name", help="Corrected holder name.")] = None,
    holder_code: Annotated[
        str | None, typer.Option("--holder-code", help="Corrected holder code (read from stdin with '-').")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Correct an entry's license data and resubmit it (import again, or report upward again)."""
    from zhengwu.commands.seals import read_file
    from zhengwu.licenses import abnormal

    fixed_face: dict[str, Any] | None = None
    if face is not None:
        try:
            fixed_face = json.loads(read_file(face, "照面数据"))
        except ValueError as exc:
            fail_with("照面数据不是有效的 JSON", str(exc))
        if not isinstance(fixed_face, dict):
            fail_with("照面数据应为 JSON 对象", "face data must be a JSON object")
    if holder_code == "-":
        holder_code = sys.stdin.readline().strip()
    config = settings()
    with node_and_session(config) as (node, session):
        entry = abnormal.get_entry(session, entry_id)
        ensure_department(session, license_rights.MANAGE, entry.department_id)
        fix = abnormal.Correction(face=fixed_face, holder_name=holder_name, holder_code=holder_code)
        done = abnormal.resubmit(session, config, entry, fix, actor=actor(), bus=node.bus)
        body = {"id": done.id, "status": done.status, "license_id": done.resubmitted_license_id}
    if as_json:
        _print_json(body)
    else:
        console.print(f"{body['id']}: 已更正重报 resubmitted · license_id {body['license_id']}")


@abnormal_app.command("dismiss")
@privileged(license_rights.MANAGE)
def dismiss_abnormal(
    entry_id: Annotated[str, typer.Argument(help="The entry's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it needs no resubmission (kept).")],
) -> None:
    """Close an entry without resubmitting it."""
    from zhengwu.licenses import abnormal

    with node_and_session(settings()) as (node, session):
        entry = abnormal.get_entry(session, entry_id)
        ensure_department(session, license_rights.MANAGE, entry.department_id)
        abnormal.dismiss(session, entry, reason=reason, actor=actor(), bus=node.bus)
    console.print(f"{entry_id}: 已忽略 dismissed")


@privileged(license_rights.PUSH_STATUS)
def push_status(
    identifier: Annotated[str, typer.Argument(help="The license's identifier (as reported upward).")],
    status: Annotated[str, typer.Option("--status", help="valid, suspended or revoked.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the lower node keeps it in the history).")],
    area: Annotated[
        str | None,
        typer.Option(
            "--area",
            help="The license's area code (certificate_area_code): it goes to the lower node of that area. "
            "Default: the license held here, else the area a lower node reported it with.",
        ),
    ] = None,
) -> None:
    """Upper node: send a license's status change down to the lower node of its area (licenses.dn_lic_status)."""
    from zhengwu.licenses import feedback

    if not identifier.strip() or not reason.strip():
        fail_with("请给出证照标识和原因", "identifier and reason are required")
    with node_and_session(settings()) as (_node, session):
        feedback.push_status(session, identifier, status, reason, area_code=area, actor=actor())
    console.print(f"{identifier.strip()}: 已排队下发 queued for the feed ({status})")


@privileged(exchange_rights.OPERATE)
def refuse(
    identifier: Annotated[str, typer.Argument(help="The license's identifier (certificate_source_id).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why the row is refused (the lower node shows it).")
    ],
    sender: Annotated[
        str | None, typer.Option("--from", help="The lower node that reported it, when several did.")
    ] = None,
) -> None:
    """Upper node: refuse a license row a lower node reported (dn_lic_data_error); it lands in that
    node's abnormal-data queue with the reason."""
    from zhengwu.exchange import service as exchange
    from zhengwu.licenses import feedback

    key, why = identifier.strip(), reason.strip()
    if not key or not why:
        fail_with("请给出证照标识和原因", "identifier and reason are required")
    with node_and_session(settings()) as (_node, session):
        rows, _ = exchange.received_rows(
            session, "up_lic_data", business_key=key, sender=(sender or "").strip() or None, limit=20
        )
        if not rows:
            fail_with("没有下级节点上报过该证照", f"no lower node reported {key}")
        if len(rows) > 1:
            senders = "、".join(sorted(r.origin for r in rows))
            fail_with(
                f"多个下级节点上报过该证照（{senders}），请用 --from 指定", "several senders: use --from"
            )
        [row] = rows
        feedback.refuse_reported(
            session, row.payload, sender=row.sender, row_guid=row.row_guid, reason=why, actor=actor()
        )
    console.print(f"{key}: 已排队退回 {row.sender} · refusal queued for the feed")


def register(app: typer.Typer) -> None:
    """Add the data-side commands to the ``licenses`` group."""
    app.command("import")(import_licenses)
    app.command("push-status")(push_status)
    app.command("refuse")(refuse)
    app.add_typer(abnormal_app, name="abnormal")
    from zhengwu.commands.licenses_grants import register as register_grants

    register_grants(app)
