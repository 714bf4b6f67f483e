"""Bulk import of catalog entries: validate every row, commit the good ones in chunks, report the rest.

A row is all or nothing: an item and its materials, fees, questions and handling items are written in
the same transaction, and a chunk that fails as a whole is retried row by row so that one bad row
never takes good ones with it. New items go in with ``executemany``; rows for items that exist already
take the service path (update, and publish when asked). With ``publish`` the import also writes a
version, the upward outbox rows and the search entries of every item, like publishing one by one.
"""

from __future__ import annotations

import csv
import gc
import json
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import national, rules, service
from zhengwu.catalog.bulk import insert_tuples
from zhengwu.catalog.importexport.formats import detect
from zhengwu.catalog.importexport.prepare import (
    Outcome,
    Prepared,
    Preparer,
    Refused,
    note_columns,
    prepare_lines,
    worker_init,
    writers,
)
from zhengwu.catalog.importexport.readers import (
    Progress,
    Record,
    has_child_tables,
    jsonl_batches,
    parse_line,
    read_file,
)
from zhengwu.catalog.models import Status
from zhengwu.catalog.repository import CatalogRepository
from zhengwu.catalog.rules import BasicInfo, BodyInfo, FieldProblem
from zhengwu.catalog.search.index import BulkIndexer
from zhengwu.kernel.codes import validate_task_code
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import current_trace_id, get_logger
from zhengwu.kernel.session import unit_of_work

log = get_logger("zhengwu.catalog.import")

# SQLite page cache for the import's connection: the default 2 MB makes every index insert of a
# multi-gigabyte catalog a page fault; 256 MB keeps the hot index pages resident.
BULK_CACHE_KIB = 256 * 1024


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to import: publish the items (versions, outbox, search) or keep them as drafts."""

    publish: bool = False
    chunk_size: int = 2000
    actor: str = "import"
    # Leave items that exist already untouched (re-running a seed) instead of updating them.
    skip_existing: bool = False
    # Worker processes preparing nested JSON lines (0: everything in this process).
    workers: int = 0


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


class _Context:
    """Lookups shared by the whole import (bodies, basic entries, codes seen in this file)."""

    def __init__(self, session: Session) -> None:
        self.bodies: dict[str, BodyInfo] = service.all_bodies(session)
        self.basics: dict[str, BasicInfo] = CatalogRepository(session).basic_infos()
        self.seen: dict[str, int] = {}  # 实施编码 → row that brought it (duplicates across chunks)
        self.indexer = BulkIndexer()
        self.dialect = session.get_bind().dialect


class Importer:
    """One import run; commits through a session factory, chunk by chunk."""

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

    @property
    def context(self) -> _Context:
        """The lookups (loaded when the run starts)."""
        if self._context is None:
            with self._unit() as session:
                self._context = _Context(session)
        return self._context

    @contextmanager
    def _unit(self) -> Iterator[Session]:
        with unit_of_work(self.factory) as session:
            connection = session.connection()
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            yield session

    def _preparer(self) -> Preparer:
        return Preparer(
            self.context.bodies,
            self.context.basics,
            publish=self.options.publish,
            actor=self.options.actor,
            dialect=self.context.dialect,
            trace_id=current_trace_id(),
        )

    def _reject(self, where: str, row: int, problems: Iterable[FieldProblem]) -> None:
        self.report.rejected_rows += 1
        for problem in problems:
            self.report.rejects += 1
            if self.on_reject is not None:
                self.on_reject(Reject(where, row, problem.field, problem.reason_zh))

    # driving ------------------------------------------------------------------------------------

    def run(self, records: Iterable[Record]) -> ImportReport:
        """Import every record in this process; returns the report (rejects went to the sink)."""
        started = time.perf_counter()
        pending: list[Record] = []
        for record in records:
            self.report.rows += 1
            if record.kind == "task" and record.operation != "D":
                self._note_columns(record.data)
                pending.append(record)
                if len(pending) >= self.options.chunk_size:
                    self._flush(pending)
                    pending = []
                continue
            self._flush(pending)
            pending = []
            self._other(record)
        self._flush(pending)
        self.report.seconds = time.perf_counter() - started
        return self.report

    def run_jsonl_parallel(self, path: Path, progress: Progress | None = None) -> ImportReport:
        """Import a nested JSON lines file while worker processes parse, check and build the rows."""
        started = time.perf_counter()
        context = multiprocessing.get_context("fork")
        preparer = self._preparer()
        # The heap built so far (models, lookups) lives for the whole run: frozen, full collections skip
        # it here and in the forked workers (where walking it would also copy every page it sits on).
        frozen_before = gc.get_freeze_count()
        gc.freeze()
        try:
            self._pipeline(path, progress, context, preparer)
        finally:
            if not frozen_before:  # a caller's own freeze (a server's start-up heap) stays in place
                gc.unfreeze()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _pipeline(
        self, path: Path, progress: Progress | None, context: BaseContext, preparer: Preparer
    ) -> None:
        inflight: deque[tuple[Future[tuple[list[Outcome], Counter[str]]], list[tuple[int, bytes]]]] = deque()
        # Workers inherit the preparer by fork; they never touch the parent's database connections and
        # leave through os._exit (multiprocessing), so no inherited handle is ever closed or used.
        with ProcessPoolExecutor(
            self.options.workers, mp_context=context, initializer=worker_init, initargs=(preparer,)
        ) as pool:
            for batch in jsonl_batches(path, self.options.chunk_size, progress):
                if self._pool_broken or any(b'"_table"' in raw for _, raw in batch):
                    # Basic catalog lines change the lookups: finish what is in flight, then go in order.
                    while inflight:
                        self._absorb(*inflight.popleft())
                    self._run_lines(batch)
                    continue
                inflight.append((pool.submit(prepare_lines, batch, dict(self.context.basics)), batch))
                while len(inflight) > self.options.workers + 1:
                    self._absorb(*inflight.popleft())
            while inflight:
                self._absorb(*inflight.popleft())

    _pool_broken = False

    def _run_lines(self, batch: list[tuple[int, bytes]]) -> None:
        self.run(r for r in (parse_line(raw, n) for n, raw in batch) if r is not None)

    def _absorb(
        self, future: Future[tuple[list[Outcome], Counter[str]]], batch: list[tuple[int, bytes]]
    ) -> None:
        try:
            outcomes, unknown = future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this process takes over the rest, nothing is lost.
            log.warning("catalog_import_worker_lost", rows=len(batch))
            self._pool_broken = True
            self._run_lines(batch)
            return
        self.report.unknown_columns.update(unknown)
        raw_lines = dict(batch)
        ready: list[Prepared] = []
        for outcome in outcomes:
            self.report.rows += 1
            if isinstance(outcome, Prepared):
                ready.append(outcome)
            elif isinstance(outcome, Refused):
                self._reject(outcome.where, outcome.row, outcome.problems)
            else:
                self._other(outcome)

        def data_of(row: int) -> dict[str, Any]:
            record = parse_line(raw_lines[row], row)
            return record.data if record is not None else {}

        self._commit(ready, data_of)

    def _other(self, record: Record) -> None:
        if record.kind == "error":
            self._reject(record.where, record.row, [FieldProblem(record.field, "read", record.reason)])
        elif record.kind == "directory":
            self._note_columns(record.data)
            self._directory(record)
        elif record.kind == "task":  # 前置库 deletion: the item is cancelled (事项状态 3)
            problems = self._cancel(record)
            if problems:
                self._reject(record.where, record.row, problems)
        else:
            self._reject(
                record.where, record.row, [FieldProblem("_table", "kind", "该表的记录须与实施清单一起导入")]
            )

    def _note_columns(self, data: Mapping[str, Any]) -> None:
        note_columns(self.report.unknown_columns, data)

    # basic catalog ------------------------------------------------------------------------------

    def _directory(self, record: Record) -> None:
        checked = rules.check_directory(record.data, complete=True)
        if not checked.ok:
            self._reject(record.where, record.row, checked.problems)
            return
        code = checked.values["catalog_code"]
        # Loaded before the unit opens: the lookups take a unit of their own, and a second unit inside
        # this one would wait for this one's SQLite write lock (ADR 0009).
        basics = self.context.basics
        try:
            with self._unit() as session:
                existing = CatalogRepository(session).basic(code)
                if existing is None:
                    item = service.create_directory(session, record.data, actor=self.options.actor)
                    self.report.directory_created += 1
                else:
                    before = national.directory_snapshot(existing)
                    item = service.update_directory(session, code, record.data, actor=self.options.actor)
                    if national.directory_snapshot(item) != before:
                        self.report.directory_updated += 1
                if (
                    self.options.publish
                    and (item.dirty or item.task_version == 0)
                    and item.status != Status.CANCELLED
                ):
                    item = service.publish_directory(session, code, actor=self.options.actor)
                basics[code] = service.basic_info(item)
        except DomainError as exc:
            self._reject(record.where, record.row, _problems_of(exc))

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

    # implementation items ----------------------------------------------------------------------

    def _flush(self, records: list[Record]) -> None:
        if not records:
            return
        preparer = self._preparer()
        ready: list[Prepared] = []
        by_row = {r.row: r for r in records}
        for record in records:
            outcome = preparer.prepare(record)
            if isinstance(outcome, Refused):
                self._reject(outcome.where, outcome.row, outcome.problems)
            else:
                ready.append(outcome)
        self._commit(ready, lambda row: by_row[row].data)

    def _commit(self, ready: list[Prepared], data_of: Callable[[int], dict[str, Any]]) -> None:
        """Write prepared items: duplicates refused, new ones in bulk, existing ones through the service."""
        if not ready:
            return
        context = self.context
        unique: list[Prepared] = []
        first_row: dict[str, Prepared] = {}
        for item in ready:
            code = item.task_code
            earlier = context.seen.get(code)
            if earlier is None and code in first_row:
                earlier = first_row[code].row
            if earlier is not None:
                self._reject(
                    item.where,
                    item.row,
                    [FieldProblem("task_code", "duplicate", f"实施编码 {code} 与第{earlier}行重复")],
                )
                continue
            first_row[code] = item
            unique.append(item)
        with self._unit() as session:
            existing = CatalogRepository(session).existing_task_codes(first_row)
        fresh = [p for p in unique if p.task_code not in existing]
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
        stored = {} if self.options.skip_existing or not existing else self._stored_content(existing)
        for item in unique:
            if item.task_code in existing:
                if self.options.skip_existing:
                    self.report.unchanged += 1
                else:
                    self._update_existing(item, data_of(item.row), stored.get(item.task_code))
            context.seen[item.task_code] = item.row

    def _stored_content(self, codes: Iterable[str]) -> dict[str, tuple[Any, bool]]:
        """Content keys of stored items and whether they need publishing (one query per 500 items)."""
        found: dict[str, tuple[Any, bool]] = {}
        wanted = list(codes)
        with self._unit() as session:
            repo = CatalogRepository(session)
            for start in range(0, len(wanted), 500):
                for item in repo.tasks_by_codes(wanted[start : start + 500]):
                    pending = item.dirty or item.task_version == 0 or item.status != Status.PUBLISHED
                    found[item.task_code] = (national.content_key(national.task_snapshot(item)), pending)
        return found

    def _insert_one(self, prepared: Prepared) -> None:
        try:
            with self._unit() as session:
                self._insert(session, [prepared])
            self.report.inserted += 1
        except SQLAlchemyError as exc:
            self.context.indexer = BulkIndexer()
            self._reject(
                prepared.where,
                prepared.row,
                [
                    FieldProblem(
                        "task_code", "database", f"写入数据库失败（{type(exc).__name__}），该行未导入"
                    )
                ],
            )

    def _insert(self, session: Session, rows: list[Prepared]) -> None:
        connection = session.connection()  # driver executemany of tuples the preparer converted
        for table, writer in writers(self.context.dialect).items():
            insert_tuples(connection, writer, [t for p in rows for t in p.rows.get(table, ())])
        if self.options.publish:
            self.context.indexer.add(session, (p.entry for p in rows if p.entry is not None))

    def _update_existing(
        self, item: Prepared, raw: Mapping[str, Any], stored: tuple[Any, bool] | None
    ) -> None:
        code = item.task_code
        if stored is not None:
            content, pending = stored
            checked, _, _ = rules.check_task(
                raw, bodies=self.context.bodies, basics=self.context.basics, complete=True
            )
            # Same content (and nothing to publish): no service round trip for an unchanged row.
            if national.content_key(checked.values) == content and not (self.options.publish and pending):
                self.report.unchanged += 1
                return
        data = {
            k: v for k, v in raw.items() if k not in ("dept_code", "catalog_code", "use_level", "task_code")
        }
        try:
            with self._unit() as session:
                before = service.get_task(session, code)
                dirty_before, version_before = before.dirty, before.task_version
                current = service.update_task(session, code, data, actor=self.options.actor)
                changed = current.dirty and (not dirty_before or current.task_version != version_before)
                if self.options.publish and (current.dirty or current.task_version == 0):
                    service.publish_task(session, code, actor=self.options.actor)
                    changed = True
            if changed:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        except DomainError as exc:
            self._reject(item.where, item.row, _problems_of(exc))


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
    options = options or ImportOptions()
    importer = Importer(factory, options, on_reject)
    if options.workers > 0 and parallel_possible(path):
        report = importer.run_jsonl_parallel(path, progress)
        report.format = "jsonl"
        return report
    kind, _, records = read_file(path, progress)
    report = importer.run(records)
    report.format = kind
    return report


def parallel_possible(path: Path) -> bool:
    """Worker processes prepare nested JSON lines files, where fork exists (Linux): not XLSX or 前置库 layouts."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return detect(path).kind == "jsonl" and not has_child_tables(path)


def default_workers(path: Path) -> int:
    """Worker processes for a file: one less than the CPUs (at most 3) for files over 16 MB, else none."""
    cpus = os.cpu_count() or 1
    try:
        big = path.stat().st_size > 16 * 1024 * 1024
    except OSError:
        return 0
    return min(3, cpus - 1) if big and cpus > 1 else 0


def task_records(items: Iterable[Mapping[str, Any]], *, start: int = 1) -> Iterator[Record]:
    """Records for item dicts built in code (national column names)."""
    for number, item in enumerate(items, start):
        yield Record(where=f"第{number}条", row=number, kind="task", data=dict(item))


def directory_records(items: Iterable[Mapping[str, Any]], *, start: int = 1) -> Iterator[Record]:
    """Records for basic catalog dicts built in code."""
    for number, item in enumerate(items, start):
        yield Record(where=f"基本目录第{number}条", row=number, kind="directory", data=dict(item))
