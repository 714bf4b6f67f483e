"""Bulk import of catalog entries: validate every row, commit the good ones in chunks, report the rest.

A row is all or nothing: an item and its materials, fees, questions and handling items are written in
the same transaction, and a chunk that fails as a whole is retried row by row so that one bad row
never takes good ones with it. New items go in with ``executemany``; rows for items that exist already
take the service path (update, and publish when asked). With ``publish`` the import also writes a
version, the upward outbox rows and the search entries of every item, like publishing one by one.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import events, national, rules, service
from zhengwu.catalog.importexport.formats import CONTROL_COLUMNS
from zhengwu.catalog.importexport.readers import Progress, Record, read_file
from zhengwu.catalog.models import (
    FeeProject,
    HandleItem,
    History,
    Material,
    Question,
    Status,
    TaskItem,
    Version,
)
from zhengwu.catalog.repository import CatalogRepository
from zhengwu.catalog.rules import BasicInfo, BodyInfo, FieldProblem
from zhengwu.catalog.search.index import BulkIndexer, EntryData
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import CodeError, make_handle_item_code, validate_task_code
from zhengwu.kernel.db import new_id
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import unit_of_work

log = get_logger("zhengwu.catalog.import")

KNOWN_COLUMNS = frozenset(ct.LABELS) | CONTROL_COLUMNS | {"dept_code", "catalog_code", "use_level"}
_TASK_COLUMNS = [c.name for c in TaskItem.__table__.columns]
_CHILD_MODELS: dict[str, type[Any]] = {
    "materials": Material,
    "fee_projects": FeeProject,
    "questions": Question,
    "handle_items": HandleItem,
}
_CHILD_COLUMNS = {key: [c.name for c in model.__table__.columns] for key, model in _CHILD_MODELS.items()}


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to import: publish the items (versions, outbox, search) or keep them as drafts."""

    publish: bool = False
    chunk_size: int = 2000
    actor: str = "import"
    # Leave items that exist already untouched (re-running a seed) instead of updating them.
    skip_existing: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """One refused row: where, which field, why (Chinese)."""

    where: str
    row: int
    field: str
    reason: str


@dataclass
class ImportReport:
    """What an import did."""

    format: str = ""
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    cancelled: int = 0
    directory_created: int = 0
    directory_updated: int = 0
    rejected_rows: int = 0
    rejects: int = 0
    unknown_columns: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Throughput over all rows read."""
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "format": self.format,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "cancelled": self.cancelled,
            "directory_created": self.directory_created,
            "directory_updated": self.directory_updated,
            "rejected_rows": self.rejected_rows,
            "rejects": self.rejects,
            "unknown_columns": dict(self.unknown_columns.most_common(20)),
            "seconds": round(self.seconds, 3),
        }


class RejectWriter:
    """Writes the rejects report: CSV (UTF-8 with BOM, opens in Excel) or JSON lines by file suffix."""

    HEADER = ("位置", "行号", "字段", "字段名称", "原因")

    def __init__(self, handle: IO[str], *, as_json: bool) -> None:
        self.handle = handle
        self.as_json = as_json
        self.writer = None if as_json else csv.writer(handle)
        if self.writer is not None:
            self.writer.writerow(self.HEADER)

    @classmethod
    def open(cls, path: Path) -> tuple[RejectWriter, IO[str]]:
        """Open a report file for writing."""
        as_json = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
        handle = path.open("w", encoding="utf-8" if as_json else "utf-8-sig", newline="")
        return cls(handle, as_json=as_json), handle

    def write(self, reject: Reject) -> None:
        """Add one line."""
        label = ct.label(reject.field.split(".")[-1].split("[")[0]) if reject.field else ""
        if self.as_json:
            line = {"where": reject.where, "row": reject.row, "field": reject.field, "label": label}
            line["reason"] = reject.reason
            self.handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        elif self.writer is not None:
            self.writer.writerow((reject.where, reject.row, reject.field, label, reject.reason))


RejectSink = Callable[[Reject], None]


@dataclass
class _Prepared:
    record: Record
    task: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    snapshot: dict[str, Any] | None
    entry: EntryData | None


class _Context:
    """Lookups shared by the whole import (bodies, basic entries, codes seen in this file)."""

    def __init__(self, session: Session) -> None:
        self.bodies: dict[str, BodyInfo] = service.all_bodies(session)
        self.basics: dict[str, BasicInfo] = CatalogRepository(session).basic_infos()
        self.seen: dict[str, int] = {}  # 实施编码 → row that brought it (duplicates across chunks)
        self.indexer = BulkIndexer()


class Importer:
    """One import run over records; commits through a session factory, chunk by chunk."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        options: ImportOptions | None = None,
        on_reject: RejectSink | None = None,
    ) -> None:
        self.factory = factory
        self.options = options or ImportOptions()
        self.on_reject = on_reject
        self.report = ImportReport()
        self._context: _Context | None = None

    def _unit(self) -> AbstractContextManager[Session]:
        return unit_of_work(self.factory)

    def _reject(self, record: Record, problems: Iterable[FieldProblem]) -> None:
        self.report.rejected_rows += 1
        for problem in problems:
            self.report.rejects += 1
            if self.on_reject is not None:
                self.on_reject(Reject(record.where, record.row, problem.field, problem.reason_zh))

    def run(self, records: Iterable[Record]) -> ImportReport:
        """Import every record; returns the report (rejects went to the sink)."""
        started = time.perf_counter()
        with self._unit() as session:
            self._context = _Context(session)
        pending: list[Record] = []
        for record in records:
            self.report.rows += 1
            if record.kind == "error":
                self._reject(record, [FieldProblem(record.field, "read", record.reason)])
                continue
            self._note_columns(record.data)
            if record.kind == "directory":
                self._flush(pending)
                pending = []
                self._directory(record)
            elif record.kind == "task":
                pending.append(record)
                if len(pending) >= self.options.chunk_size:
                    self._flush(pending)
                    pending = []
            else:
                self._reject(record, [FieldProblem("_table", "kind", "该表的记录须与实施清单一起导入")])
        self._flush(pending)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _note_columns(self, data: Mapping[str, Any]) -> None:
        for key in data:
            if key not in KNOWN_COLUMNS and key not in national.CHILD_LISTS:
                self.report.unknown_columns[str(key)[:40]] += 1

    # basic catalog ------------------------------------------------------------------------------

    def _directory(self, record: Record) -> None:
        assert self._context is not None
        checked = rules.check_directory(record.data, complete=True)
        if not checked.ok:
            self._reject(record, checked.problems)
            return
        code = checked.values["catalog_code"]
        try:
            with self._unit() as session:
                existing = CatalogRepository(session).basic(code)
                if existing is None:
                    item = service.create_directory(session, record.data, actor=self.options.actor)
                    self.report.directory_created += 1
                else:
                    item = service.update_directory(session, code, record.data, actor=self.options.actor)
                    self.report.directory_updated += 1
                if (
                    self.options.publish
                    and (item.dirty or item.task_version == 0)
                    and item.status != Status.CANCELLED
                ):
                    item = service.publish_directory(session, code, actor=self.options.actor)
                self._context.basics[code] = service.basic_info(item)
        except DomainError as exc:
            self._reject(record, _problems_of(exc))

    # implementation items ----------------------------------------------------------------------

    def _flush(self, records: list[Record]) -> None:
        if not records:
            return
        assert self._context is not None
        context = self._context
        prepared: list[_Prepared] = []
        codes: dict[str, Record] = {}
        for record in records:
            if record.operation == "D":  # 前置库 deletion: the item is cancelled (事项状态 3)
                cancel_problems = self._cancel(record)
                if cancel_problems:
                    self._reject(record, cancel_problems)
                continue
            result = self._prepare(record, context)
            if isinstance(result, list):
                self._reject(record, result)
                continue
            code = result.task["task_code"]
            if code in codes:
                first = codes[code]
                self._reject(
                    record,
                    [FieldProblem("task_code", "duplicate", f"实施编码 {code} 与{first.where}重复")],
                )
                continue
            codes[code] = record
            prepared.append(result)
        with self._unit() as session:
            existing = CatalogRepository(session).existing_task_codes(codes)
        fresh = [p for p in prepared if p.task["task_code"] not in existing]
        existing_rows = [(p.record, p.task["task_code"]) for p in prepared if p.task["task_code"] in existing]
        if fresh:
            try:
                with self._unit() as session:
                    self._insert(session, fresh)
                self.report.inserted += len(fresh)
            except SQLAlchemyError as exc:
                log.warning("catalog_import_chunk_failed", error=type(exc).__name__, rows=len(fresh))
                # The indexer's cached name ids may refer to rows the rollback removed.
                context.indexer = BulkIndexer()
                for one in fresh:
                    self._insert_one(one)
        for record, code in existing_rows:
            if self.options.skip_existing:
                self.report.unchanged += 1
            else:
                self._update_existing(record, code)
            context.seen[code] = record.row
        for p in fresh:
            context.seen[p.task["task_code"]] = p.record.row

    def _insert_one(self, prepared: _Prepared) -> None:
        assert self._context is not None
        try:
            with self._unit() as session:
                self._insert(session, [prepared])
            self.report.inserted += 1
        except SQLAlchemyError as exc:
            self._context.indexer = BulkIndexer()
            self._reject(
                prepared.record,
                [
                    FieldProblem(
                        "task_code", "database", f"写入数据库失败（{type(exc).__name__}），该行未导入"
                    )
                ],
            )

    def _prepare(self, record: Record, context: _Context) -> _Prepared | list[FieldProblem]:
        data = record.data
        checked, body, basic = rules.check_task(
            data, bodies=context.bodies, basics=context.basics, complete=True
        )
        problems = list(checked.problems)
        values = checked.values
        task_code: str | None = None
        if body is not None and basic is not None and values.get("use_level"):
            try:
                task_code = service.derive_task_code(body, int(values["use_level"]), basic.catalog_code)
            except CodeError as exc:
                problems.append(
                    FieldProblem("task_code", exc.verdict.code, f"无法派生实施编码：{exc.verdict.reason_zh}")
                )
        given = data.get("task_code")
        if task_code and given not in (None, ""):
            verdict = validate_task_code(given)
            if not verdict.ok or verdict.value != task_code:
                problems.append(
                    FieldProblem(
                        "task_code",
                        "derived",
                        f"实施编码应由实施主体、行使层级和基本编码派生为 {task_code}，与填写的不一致",
                    )
                )
        if self.options.publish and basic is not None and basic.status != Status.PUBLISHED:
            problems.append(
                FieldProblem(
                    "catalog_code", "catalog_not_published", "基本目录事项尚未发布，不能发布实施清单"
                )
            )
        if task_code and task_code in context.seen:
            problems.append(
                FieldProblem(
                    "task_code", "duplicate", f"实施编码 {task_code} 与第{context.seen[task_code]}行重复"
                )
            )
        if problems or task_code is None or body is None or basic is None:
            return problems
        return self._build(record, values, task_code, body, basic)

    def _cancel(self, record: Record) -> list[FieldProblem]:
        code = record.data.get("task_code")
        verdict = validate_task_code(code) if code else None
        if verdict is None or not verdict.ok:
            return [FieldProblem("task_code", "required", "删除（取消）记录须给出有效的实施编码")]
        try:
            with self._unit() as session:
                item = service.get_task(session, verdict.value)
                if item.status != Status.CANCELLED:
                    service.change_task_state(
                        session, verdict.value, "cancel", actor=self.options.actor, reason="前置库删除记录"
                    )
            self.report.cancelled += 1
        except DomainError as exc:
            return _problems_of(exc)
        return []

    def _build(
        self, record: Record, values: dict[str, Any], task_code: str, body: BodyInfo, basic: BasicInfo
    ) -> _Prepared:
        now = utcnow()
        task_id = new_id()
        publish = self.options.publish
        status = Status.PUBLISHED if publish else Status.DRAFT
        task = dict.fromkeys(_TASK_COLUMNS)
        for name in (*ct.BASIC_FIELDS, *ct.EXTEND_FIELDS):
            if name in values:
                task[name] = values[name]
        task.update(
            id=task_id,
            task_code=task_code,
            basic_item_id=basic.id,
            department_id=body.id,
            division_code=body.division_code,
            status=status,
            task_version=1 if publish else 0,
            dirty=not publish,
            created_at=now,
            updated_at=now,
            updated_by=self.options.actor,
        )
        children: dict[str, list[dict[str, Any]]] = {}
        for key, columns in _CHILD_COLUMNS.items():
            rows = []
            for seq, row in enumerate(values.get(key) or [], 1):
                full = dict.fromkeys(columns)
                full.update({k: v for k, v in row.items() if k in full})
                full["id"] = new_id()
                full["task_id"] = task_id
                if key == "handle_items":
                    full["task_handle_item"] = make_handle_item_code(task_code, seq)
                rows.append(full)
            children[key] = rows
        snapshot = None
        entry = None
        if publish:
            snapshot = national.guide_snapshot(
                task,
                task_guid=task_id,
                status=status,
                version=1,
                division_code=body.division_code,
                children=children,
            )
            entry = EntryData.of(snapshot | {"id": task_id})
        return _Prepared(record, task, children, snapshot, entry)

    def _insert(self, session: Session, rows: list[_Prepared]) -> None:
        assert self._context is not None
        session.execute(insert(TaskItem), [p.task for p in rows])
        for key, model in _CHILD_MODELS.items():
            children = [c for p in rows for c in p.children[key]]
            if children:
                session.execute(insert(model), children)
        now = utcnow()
        action = "publish" if self.options.publish else "create"
        history = [
            {
                "id": new_id(),
                "kind": service.TASK,
                "code": p.task["task_code"],
                "action": action,
                "from_status": None,
                "to_status": p.task["status"],
                "version": p.task["task_version"],
                "actor": self.options.actor,
                "reason": "批量导入",
                "at": now,
            }
            for p in rows
        ]
        session.execute(insert(History), history)
        if self.options.publish:
            versions = [
                {
                    "id": new_id(),
                    "kind": service.TASK,
                    "code": p.task["task_code"],
                    "version": 1,
                    "snapshot": p.snapshot,
                    "published_at": now,
                    "published_by": self.options.actor,
                }
                for p in rows
            ]
            session.execute(insert(Version), versions)
            events.emit_many(
                session, (m for p in rows if p.snapshot for m in events.version_messages(None, p.snapshot))
            )
            self._context.indexer.add(session, (p.entry for p in rows if p.entry is not None))

    def _update_existing(self, record: Record, code: str) -> None:
        data = {
            k: v
            for k, v in record.data.items()
            if k not in ("dept_code", "catalog_code", "use_level", "task_code")
        }
        try:
            with self._unit() as session:
                before = service.get_task(session, code)
                dirty_before, version_before = before.dirty, before.task_version
                item = service.update_task(session, code, data, actor=self.options.actor)
                changed = item.dirty and (not dirty_before or item.task_version != version_before)
                if self.options.publish and (item.dirty or item.task_version == 0):
                    service.publish_task(session, code, actor=self.options.actor)
                    changed = True
            if changed:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        except DomainError as exc:
            self._reject(record, _problems_of(exc))


def _problems_of(exc: DomainError) -> list[FieldProblem]:
    listed = exc.extra.get("errors")
    if isinstance(listed, list) and listed:
        return [
            FieldProblem(e.get("field", ""), e.get("code", ""), e.get("reason", exc.detail)) for e in listed
        ]
    return [FieldProblem(str(exc.extra.get("field", "")), exc.instance_code, exc.detail)]


def import_records(
    factory: sessionmaker[Session],
    records: Iterable[Record],
    *,
    options: ImportOptions | None = None,
    on_reject: RejectSink | None = None,
) -> ImportReport:
    """Import already-read records (the demo seed and tests use this directly)."""
    return Importer(factory, options, on_reject).run(records)


def import_file(
    factory: sessionmaker[Session],
    path: Path,
    *,
    options: ImportOptions | None = None,
    on_reject: RejectSink | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a JSON lines or XLSX file; raises ImportRefused when the file as a whole is unusable."""
    kind, _, records = read_file(path, progress)
    report = Importer(factory, options, on_reject).run(records)
    report.format = kind
    return report


def task_records(items: Iterable[Mapping[str, Any]], *, start: int = 1) -> Iterator[Record]:
    """Records for item dicts built in code (national column names)."""
    for number, item in enumerate(items, start):
        yield Record(where=f"第{number}条", row=number, kind="task", data=dict(item))


def directory_records(items: Iterable[Mapping[str, Any]], *, start: int = 1) -> Iterator[Record]:
    """Records for basic catalog dicts built in code."""
    for number, item in enumerate(items, start):
        yield Record(where=f"基本目录第{number}条", row=number, kind="directory", data=dict(item))
