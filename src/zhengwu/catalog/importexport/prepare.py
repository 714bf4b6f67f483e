"""Per-row preparation of imported implementation items, without a database (can run in worker processes).

A row becomes either a :class:`Prepared` item — driver-ready tuples for every table it writes
(``catalog_task``, its child rows, its history row, and when publishing its version and upward outbox
rows) plus its search entry — or a list of field problems. Everything here is a pure function of the
row, the lookups (bodies, basic entries) and the database dialect, so that parsing, checking and
building can run in other processes while the importing one only writes.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import events, national, rules
from zhengwu.catalog.bulk import Row, TableRows, table_rows
from zhengwu.catalog.importexport.formats import CONTROL_COLUMNS
from zhengwu.catalog.importexport.readers import Record, parse_line
from zhengwu.catalog.models import (
    FeeProject,
    HandleItem,
    History,
    Material,
    Question,
    Status,
    TaskItem,
    Version,
    new_row_ids,
    table_of,
)
from zhengwu.catalog.rules import BasicInfo, BodyInfo, FieldProblem
from zhengwu.catalog.search.index import EntryData
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import CodeError, make_handle_item_code, make_task_code, validate_task_code
from zhengwu.kernel.events import OutboxRecord

TASK_COLUMNS = [c.name for c in table_of(TaskItem).columns]
CHILD_MODELS: dict[str, type[Any]] = {
    "materials": Material,
    "fee_projects": FeeProject,
    "questions": Question,
    "handle_items": HandleItem,
}
CHILD_COLUMNS = {key: [c.name for c in table_of(model).columns] for key, model in CHILD_MODELS.items()}
_GUIDE = ct.GUIDE_FIELDS
_CHILD_TEMPLATES = {key: dict.fromkeys(columns) for key, columns in CHILD_COLUMNS.items()}
_CHILD_TABLES = {key: table_of(model).name for key, model in CHILD_MODELS.items()}


@dataclass
class Prepared:
    """An item ready to insert: driver tuples per table (in ``TABLES`` order) and its search entry."""

    where: str
    row: int
    task_code: str
    rows: dict[str, list[Row]]
    entry: EntryData | None


@dataclass
class Refused:
    """A row that cannot be imported, with every problem found in it."""

    where: str
    row: int
    problems: list[FieldProblem]


HISTORY_COLUMNS = [c.name for c in table_of(History).columns]
VERSION_COLUMNS = [c.name for c in table_of(Version).columns]
OUTBOX_COLUMNS = [c.name for c in table_of(OutboxRecord).columns if c.name != "seq"]  # seq: the database's


def writers(dialect: Dialect) -> dict[str, TableRows]:
    """The converters of every table an import writes, in insertion order (parents before children)."""
    found = {"catalog_task": table_rows(dialect, table_of(TaskItem), TASK_COLUMNS)}
    for key, model in CHILD_MODELS.items():
        found[table_of(model).name] = table_rows(dialect, table_of(model), CHILD_COLUMNS[key])
    found["catalog_history"] = table_rows(dialect, table_of(History), HISTORY_COLUMNS)
    found["catalog_version"] = table_rows(dialect, table_of(Version), VERSION_COLUMNS)
    found["kernel_outbox"] = table_rows(dialect, table_of(OutboxRecord), OUTBOX_COLUMNS)
    return found


class Preparer:
    """Validates rows and builds their driver tuples from the bodies and basic entries it was given."""

    def __init__(
        self,
        bodies: dict[str, BodyInfo],
        basics: dict[str, BasicInfo],
        *,
        publish: bool,
        actor: str,
        dialect: Dialect,
        trace_id: str | None = None,
    ) -> None:
        self.bodies = bodies
        self.basics = basics
        self.publish = publish
        self.actor = actor
        self.trace_id = trace_id
        self.writers = writers(dialect)

    def prepare(self, record: Record) -> Prepared | Refused:
        """Check one implementation item row and build its rows (or say why not)."""
        data = record.data
        checked, body, basic = rules.check_task(data, bodies=self.bodies, basics=self.basics, complete=True)
        problems = list(checked.problems)
        values = checked.values
        task_code: str | None = None
        if body is not None and basic is not None and values.get("use_level"):
            try:
                task_code = make_task_code(body.credit_code, int(values["use_level"]), basic.catalog_code)
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
        if self.publish and basic is not None and basic.status != Status.PUBLISHED:
            problems.append(
                FieldProblem(
                    "catalog_code", "catalog_not_published", "基本目录事项尚未发布，不能发布实施清单"
                )
            )
        if problems or task_code is None or body is None or basic is None:
            return Refused(record.where, record.row, problems)
        return self._build(record, values, task_code, body, basic)

    def _build(
        self, record: Record, values: dict[str, Any], task_code: str, body: BodyInfo, basic: BasicInfo
    ) -> Prepared:
        now = utcnow()
        lists = [values.get(key) or [] for key in _CHILD_TEMPLATES]
        ids = iter(new_row_ids(2 + sum(len(rows) for rows in lists)))
        task_id = next(ids)
        status = Status.PUBLISHED if self.publish else Status.DRAFT
        task = dict.fromkeys(TASK_COLUMNS)
        for name in _GUIDE:
            if name in values:
                task[name] = values[name]
        task.update(
            id=task_id,
            task_code=task_code,
            basic_item_id=basic.id,
            department_id=body.id,
            division_code=body.division_code,
            status=status,
            task_version=1 if self.publish else 0,
            dirty=not self.publish,
            created_at=now,
            updated_at=now,
            updated_by=self.actor,
        )
        w = self.writers
        rows: dict[str, list[Row]] = {"catalog_task": [w["catalog_task"].convert(task)]}
        children: dict[str, list[dict[str, Any]]] = {}
        for (key, template), given in zip(_CHILD_TEMPLATES.items(), lists, strict=True):
            built = []
            # Rows from rules.check_task carry exactly the child table's element columns and order_num.
            for seq, row in enumerate(given, 1):
                full = {**template, **row, "id": next(ids), "task_id": task_id}
                if key == "handle_items":
                    full["task_handle_item"] = make_handle_item_code(task_code, seq)
                built.append(full)
            children[key] = built
            table = _CHILD_TABLES[key]
            rows[table] = [w[table].convert(r) for r in built]
        history = {
            "id": next(ids),
            "kind": "task",
            "code": task_code,
            "action": "publish" if self.publish else "create",
            "from_status": None,
            "to_status": status,
            "version": task["task_version"],
            "actor": self.actor,
            "reason": "批量导入",
            "at": now,
        }
        rows["catalog_history"] = [w["catalog_history"].convert(history)]
        entry = None
        if self.publish:
            snapshot = national.guide_snapshot(
                task,
                task_guid=task_id,
                status=status,
                version=1,
                division_code=body.division_code,
                children=children,
            )
            version = {
                "id": new_row_ids(1)[0],
                "kind": "task",
                "code": task_code,
                "version": 1,
                "snapshot": snapshot,
                "published_at": now,
                "published_by": self.actor,
            }
            rows["catalog_version"] = [w["catalog_version"].convert(version)]
            messages = events.version_messages(None, snapshot)
            rows["kernel_outbox"] = [
                w["kernel_outbox"].convert(row) for row in events.outbox_rows(messages, now, self.trace_id)
            ]
            entry = EntryData.of(snapshot | {"id": task_id})
        return Prepared(record.where, record.row, task_code, rows, entry)


# Worker processes -------------------------------------------------------------------------------

_worker: Preparer | None = None


def worker_init(preparer: Preparer) -> None:
    """Process-pool initializer (fork start method: the preparer is inherited, not pickled)."""
    global _worker
    _worker = preparer
    # Everything inherited from the importer stays alive for the worker's life: without this, every
    # full collection walks (and copy-on-write duplicates) the parent's whole heap again.
    gc.freeze()


Outcome = Prepared | Refused | Record


KNOWN_COLUMNS = frozenset(ct.LABELS) | CONTROL_COLUMNS | {"dept_code", "catalog_code", "use_level"}


def note_columns(counter: Counter[str], data: Mapping[str, Any]) -> None:
    """Count the columns of a row that are neither national columns nor known control fields."""
    for key in data:
        if key not in KNOWN_COLUMNS and key not in national.CHILD_LISTS:
            counter[str(key)[:40]] += 1


def prepare_lines(
    lines: list[tuple[int, bytes]], basics: dict[str, BasicInfo]
) -> tuple[list[Outcome], Counter[str]]:
    """Parse and prepare JSON lines in a worker; records it must not handle come back as they are."""
    assert _worker is not None, "worker_init was not called"
    _worker.basics = basics
    out: list[Outcome] = []
    unknown: Counter[str] = Counter()
    for number, raw in lines:
        record = parse_line(raw, number)
        if record is None:
            continue
        if record.kind == "task" and record.operation != "D":
            note_columns(unknown, record.data)
            out.append(_worker.prepare(record))
        else:
            out.append(record)
    return out, unknown
