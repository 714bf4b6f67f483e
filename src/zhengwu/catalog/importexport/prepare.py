"""Per-row preparation of imported implementation items, without a database (runs in worker processes).

A row becomes either a :class:`Prepared` item — the ``catalog_task`` row, its child rows, and when
publishing the version snapshot and search entry — or a list of field problems. Everything here is a
pure function of the row and the lookups (bodies, basic entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import national, rules
from zhengwu.catalog.importexport.readers import Record
from zhengwu.catalog.models import (
    FeeProject,
    HandleItem,
    Material,
    Question,
    Status,
    TaskItem,
    new_row_ids,
    table_of,
)
from zhengwu.catalog.rules import BasicInfo, BodyInfo, FieldProblem
from zhengwu.catalog.search.index import EntryData
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import CodeError, make_handle_item_code, make_task_code, validate_task_code

TASK_COLUMNS = [c.name for c in table_of(TaskItem).columns]
CHILD_MODELS: dict[str, type[Any]] = {
    "materials": Material,
    "fee_projects": FeeProject,
    "questions": Question,
    "handle_items": HandleItem,
}
CHILD_COLUMNS = {key: [c.name for c in table_of(model).columns] for key, model in CHILD_MODELS.items()}
_GUIDE = (*ct.BASIC_FIELDS, *ct.EXTEND_FIELDS)
_CHILD_TEMPLATES = {key: dict.fromkeys(columns) for key, columns in CHILD_COLUMNS.items()}


@dataclass
class Prepared:
    """An item ready to insert: its rows, and for publishing its snapshot and search entry."""

    where: str
    row: int
    task: dict[str, Any]
    children: dict[str, list[dict[str, Any]]]
    snapshot: dict[str, Any] | None
    entry: EntryData | None

    @property
    def task_code(self) -> str:
        """The derived 实施编码."""
        return str(self.task["task_code"])


@dataclass
class Refused:
    """A row that cannot be imported, with every problem found in it."""

    where: str
    row: int
    problems: list[FieldProblem]


class Preparer:
    """Validates rows and builds their database rows from the bodies and basic entries it was given."""

    def __init__(
        self, bodies: dict[str, BodyInfo], basics: dict[str, BasicInfo], *, publish: bool, actor: str
    ) -> None:
        self.bodies = bodies
        self.basics = basics
        self.publish = publish
        self.actor = actor

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
        ids = iter(new_row_ids(1 + sum(len(rows) for rows in lists)))
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
        children: dict[str, list[dict[str, Any]]] = {}
        for (key, template), given in zip(_CHILD_TEMPLATES.items(), lists, strict=True):
            rows = []
            # Rows from rules.check_task carry exactly the child table's element columns and order_num.
            for seq, row in enumerate(given, 1):
                full = {**template, **row, "id": next(ids), "task_id": task_id}
                if key == "handle_items":
                    full["task_handle_item"] = make_handle_item_code(task_code, seq)
                rows.append(full)
            children[key] = rows
        snapshot = None
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
            entry = EntryData.of(snapshot | {"id": task_id})
        return Prepared(record.where, record.row, task, children, snapshot, entry)
