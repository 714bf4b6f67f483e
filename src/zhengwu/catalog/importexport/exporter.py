"""Export the catalog in the formats the importer reads (JSON lines or XLSX), working copies included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import national
from zhengwu.catalog.models import BasicItem, TaskItem
from zhengwu.kernel.session import unit_of_work

BATCH = 1000
XLSX_MAX_ROWS = 1_048_575  # Excel's limit minus the header row; longer tables continue on another sheet
Progress = Callable[[int], None]

_SHEETS = {
    "materials": ("申请材料", ("task_code", "order_num", *ct.MATERIAL_FIELDS)),
    "fee_projects": ("收费项目", ("task_code", "order_num", *ct.FEE_FIELDS)),
    "questions": ("常见问题", ("task_code", "order_num", *ct.QUESTION_FIELDS)),
    "handle_items": ("业务办理项", ("task_code", "order_num", *ct.HANDLE_ITEM_FIELDS)),
}
_TASK_COLUMNS = tuple(c for c in ct.GUIDE_FIELDS if c != "task_guid")


@dataclass
class ExportReport:
    """What an export wrote."""

    directory: int = 0
    items: int = 0
    seconds: float = 0.0


def count_items(factory: sessionmaker[Session]) -> int:
    """How many implementation items an export will write (for progress bars)."""
    with unit_of_work(factory) as session:
        return session.scalar(select(func.count()).select_from(TaskItem)) or 0


def _directory(session: Session) -> Iterator[dict[str, Any]]:
    for item in session.scalars(select(BasicItem).order_by(BasicItem.catalog_code)):
        yield national.directory_snapshot(item)


def _items(factory: sessionmaker[Session]) -> Iterator[dict[str, Any]]:
    last = ""
    while True:
        with unit_of_work(factory) as session:
            batch = session.scalars(
                select(TaskItem).where(TaskItem.task_code > last).order_by(TaskItem.task_code).limit(BATCH)
            ).all()
            snapshots = [national.task_snapshot(item) for item in batch]
        if not snapshots:
            return
        yield from snapshots
        last = snapshots[-1]["task_code"]


def export_file(
    factory: sessionmaker[Session], path: Path, *, fmt: str = "jsonl", progress: Progress | None = None
) -> ExportReport:
    """Write every basic entry and implementation item to ``path`` (``jsonl`` or ``xlsx``)."""
    started = time.perf_counter()
    if fmt == "xlsx":
        report = _export_xlsx(factory, path, progress)
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            report = _export_jsonl(factory, handle, progress)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    report.seconds = time.perf_counter() - started
    return report


def _export_jsonl(factory: sessionmaker[Session], handle: IO[str], progress: Progress | None) -> ExportReport:
    report = ExportReport()
    with unit_of_work(factory) as session:
        for row in _directory(session):
            handle.write(json.dumps({"_table": "up_task_directory", **row}, ensure_ascii=False) + "\n")
            report.directory += 1
    for snapshot in _items(factory):
        handle.write(json.dumps(snapshot, ensure_ascii=False) + "\n")
        report.items += 1
        if progress is not None and report.items % 1000 == 0:
            progress(report.items)
    if progress is not None:
        progress(report.items)
    return report


class _SheetWriter:
    """Appends rows to a sheet, continuing on ``title(2)`` … past Excel's row limit."""

    def __init__(self, workbook: Any, title: str, columns: tuple[str, ...]) -> None:
        self.workbook = workbook
        self.title = title
        self.columns = columns
        self.part = 0
        self.rows = XLSX_MAX_ROWS
        self.sheet: Any = None

    def append(self, values: list[Any]) -> None:
        if self.rows >= XLSX_MAX_ROWS:
            self.part += 1
            name = self.title if self.part == 1 else f"{self.title}({self.part})"
            self.sheet = self.workbook.create_sheet(name)
            self.sheet.append(list(self.columns))
            self.rows = 0
        self.sheet.append(values)
        self.rows += 1


def _export_xlsx(factory: sessionmaker[Session], path: Path, progress: Progress | None) -> ExportReport:
    from openpyxl import Workbook

    report = ExportReport()
    workbook = Workbook(write_only=True)
    directory = _SheetWriter(workbook, "基本目录", ct.DIRECTORY_FIELDS)
    tasks = _SheetWriter(workbook, "实施清单", _TASK_COLUMNS)
    children = {key: _SheetWriter(workbook, title, cols) for key, (title, cols) in _SHEETS.items()}
    with unit_of_work(factory) as session:
        for row in _directory(session):
            directory.append([row.get(c) for c in ct.DIRECTORY_FIELDS])
            report.directory += 1
    for snapshot in _items(factory):
        tasks.append([snapshot.get(c) for c in _TASK_COLUMNS])
        for key, writer in children.items():
            for child in snapshot[key]:
                values = {**child, "task_code": snapshot["task_code"]}
                writer.append([values.get(c) for c in writer.columns])
        report.items += 1
        if progress is not None and report.items % 1000 == 0:
            progress(report.items)
    for writer in (directory, tasks, *children.values()):
        if writer.sheet is None:
            writer.append([None] * len(writer.columns))
    workbook.save(path)
    if progress is not None:
        progress(report.items)
    return report
