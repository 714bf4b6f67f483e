"""``zhengwu catalog``: import, export and cross-tier validation of the item catalog.

Exit status: 0 when everything went in (or nothing was found), 1 when rows were rejected (import) or
problems were found (validate), 2 when the file or the configuration cannot be used at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import rights as catalog_rights
from zhengwu.commands.node import load_settings, open_node
from zhengwu.commands.operator import privileged

app = typer.Typer(
    help="事项管理库 / item catalog: import, export, validate.", no_args_is_help=True, add_completion=False
)
out = Console()
err = Console(stderr=True)


class ExportFormat(StrEnum):
    """Export file formats."""

    JSONL = "jsonl"
    XLSX = "xlsx"


@contextmanager
def _factory() -> Iterator[sessionmaker[Session]]:
    with open_node(load_settings()) as node:
        yield node.session_factory


@app.command("import")
@privileged(catalog_rights.PLATFORM)
def import_command(
    file: Annotated[
        Path, typer.Argument(help="JSON lines or XLSX file (national column names or Chinese headers).")
    ],
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Write refused rows here (.csv, or .jsonl for JSON lines)."),
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish the items (versions, upward outbox rows, search).")
    ] = False,
    chunk_size: Annotated[int, typer.Option(min=1, max=50_000, help="Rows per transaction.")] = 2000,
    workers: Annotated[
        int | None,
        typer.Option(min=0, max=32, help="Processes preparing JSON lines (default: CPUs - 1 for big files)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import catalog entries: every row is validated, good rows are committed, the rest reported."""
    from zhengwu.catalog.errors import ImportRefused
    from zhengwu.catalog.importexport import ImportOptions, Reject, RejectWriter, detect, import_file
    from zhengwu.catalog.importexport.importer import default_workers

    try:
        detected = detect(file)
    except ImportRefused as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    writer: RejectWriter | None = None
    handle = None
    if rejects is not None:
        writer, handle = RejectWriter.open(rejects)
    shown: list[Reject] = []

    def on_reject(reject: Reject) -> None:
        if writer is not None:
            writer.write(reject)
        if len(shown) < 10:
            shown.append(reject)

    columns: list[Any] = [TextColumn("[bold]导入[/bold]"), BarColumn(), TaskProgressColumn()]
    if detected.kind == "jsonl":
        columns += [DownloadColumn(), TimeRemainingColumn()]
    try:
        with _factory() as factory, Progress(*columns, console=err, transient=True) as progress:
            task = progress.add_task("import", total=detected.size if detected.kind == "jsonl" else None)
            report = import_file(
                factory,
                file,
                options=ImportOptions(
                    publish=publish,
                    chunk_size=chunk_size,
                    workers=default_workers(file) if workers is None else workers,
                ),
                on_reject=on_reject,
                progress=lambda done: progress.update(task, completed=done),
            )
    except ImportRefused as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    finally:
        if handle is not None:
            handle.close()
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False) + "\n")
    else:
        _print_import(report.as_dict(), shown, rejects)
    if report.rejected_rows:
        raise typer.Exit(1)


def _print_import(summary: dict[str, Any], shown: list[Any], rejects: Path | None) -> None:
    out.print(
        f"读取 {summary['rows']} 行：新增 {summary['inserted']}，更新 {summary['updated']}，未变 {summary['unchanged']}，"
        f"取消 {summary['cancelled']}，基本目录新增 {summary['directory_created']} / 更新 {summary['directory_updated']}，"
        f"拒绝 {summary['rejected_rows']} 行（{summary['rejects']} 处问题），用时 {summary['seconds']} 秒"
    )
    if summary["unknown_columns"]:
        out.print(f"[yellow]未识别的列（已忽略）：{'、'.join(summary['unknown_columns'])}[/yellow]")
    if shown:
        table = Table(title="被拒绝的行（前10处）")
        for column in ("位置", "字段", "原因"):
            table.add_column(column)
        for reject in shown:
            table.add_row(reject.where, reject.field, reject.reason)
        out.print(table)
        if rejects is not None:
            out.print(f"完整的拒绝报告：{rejects}")


@app.command("export")
def export_command(
    output: Annotated[Path, typer.Argument(help="File to write.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or xlsx.")] = ExportFormat.JSONL,
) -> None:
    """Export the basic catalog and every implementation item (working copies) with national column names."""
    from zhengwu.catalog.importexport import count_items, export_file

    with _factory() as factory:
        total = count_items(factory)
        with Progress(
            TextColumn("[bold]导出[/bold]"), BarColumn(), TaskProgressColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("export", total=total)
            report = export_file(
                factory, output, fmt=fmt.value, progress=lambda done: progress.update(task, completed=done)
            )
    out.print(
        f"已导出基本目录 {report.directory} 项、实施清单 {report.items} 项到 {output}（{report.seconds:.1f} 秒）"
    )


@app.command("validate")
def validate_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per finding.")] = False,
) -> None:
    """Report every divergence of the unified elements across tiers and every missing required element."""
    from zhengwu.catalog.service import validate_catalog
    from zhengwu.kernel.session import unit_of_work

    kinds = {"divergence": "不一致", "missing": "缺要素", "invalid": "编码错误"}
    found = 0
    with _factory() as factory, unit_of_work(factory) as session:
        for issue in validate_catalog(session):
            found += 1
            if as_json:
                sys.stdout.write(json.dumps(issue.as_dict(), ensure_ascii=False, default=str) + "\n")
                continue
            data = issue.as_dict()
            out.print(
                f"[bold][{kinds.get(issue.kind, issue.kind)}][/bold] {issue.task_code}  "
                f"{data['label']}（{issue.field}）：{issue.reason}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            if issue.kind == "divergence":
                out.print(f"    本事项：{_short(issue.value)}", markup=False, highlight=False, soft_wrap=True)
                out.print(
                    f"    对照 {issue.other_task_code}：{_short(issue.other_value)}",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
    if not as_json:
        out.print(f"发现 {found} 处问题" if found else "未发现问题：各层级统一要素一致，必填要素齐全")
    if found:
        raise typer.Exit(1)


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = "、".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 300 else text[:299] + "…"
