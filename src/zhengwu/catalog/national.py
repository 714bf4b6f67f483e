"""The national vocabulary: guides and catalog entries as dicts keyed by ``up_task_*`` column names.

Snapshots (stored in versions, served by the public API, exported) and outbox payloads are built here,
as is the diff between two snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from zhengwu.catalog import codetables as ct
from zhengwu.catalog.models import TASK_STATE_OF, BasicItem, TaskItem

CHILD_LISTS: dict[str, tuple[str, ...]] = {
    "materials": ct.MATERIAL_FIELDS,
    "fee_projects": ct.FEE_FIELDS,
    "questions": ct.QUESTION_FIELDS,
    "handle_items": ct.HANDLE_ITEM_FIELDS,
}
# National child tables per list (handle items travel inside the basic rows as task_handle_item).
CHILD_TABLES = {"materials": "material", "fee_projects": "fee_project", "questions": "questions"}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def directory_snapshot(item: BasicItem, *, version: int | None = None) -> dict[str, Any]:
    """A basic catalog entry as an ``up_task_directory`` row (without exchange control fields)."""
    data = {name: _plain(getattr(item, name, None)) for name in ct.DIRECTORY_FIELDS}
    data["task_state"] = TASK_STATE_OF[item.status]
    data["task_version"] = version if version is not None else item.task_version
    return data


def guide_snapshot(
    values: Mapping[str, Any],
    *,
    task_guid: str,
    status: str,
    version: int,
    division_code: str,
    children: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Any]:
    """The whole guide of an implementation item from plain values (the bulk importer's path)."""
    data: dict[str, Any] = {name: _plain(values.get(name)) for name in ct.GUIDE_FIELDS}
    data["task_guid"] = task_guid
    data["task_state"] = TASK_STATE_OF[status]
    data["task_version"] = version
    data["division_code"] = division_code
    for key, fields in CHILD_LISTS.items():
        data[key] = [
            {"row_guid": row["id"], "order_num": row["order_num"], **{f: _plain(row.get(f)) for f in fields}}
            for row in children.get(key, ())
        ]
    return data


def task_snapshot(item: TaskItem, *, version: int | None = None) -> dict[str, Any]:
    """The whole guide of an implementation item: basic + extend columns and the child lists."""
    values = {name: getattr(item, name, None) for name in ct.GUIDE_FIELDS}
    children = {
        key: [
            {"id": c.id, "order_num": c.order_num, **{f: getattr(c, f, None) for f in fields}}
            for c in getattr(item, key)
        ]
        for key, fields in CHILD_LISTS.items()
    }
    return guide_snapshot(
        values,
        task_guid=item.id,
        status=item.status,
        version=version if version is not None else item.task_version,
        division_code=item.division_code,
        children=children,
    )


_CONTENT_SKIP = frozenset({"task_code", "task_state", "task_version", "task_guid"})
_CONTENT_FIELDS = tuple(f for f in ct.GUIDE_FIELDS if f not in _CONTENT_SKIP)


def content_key(guide: Mapping[str, Any]) -> tuple[Any, ...]:
    """What makes two guides the same content (elements and child rows, not ids, states or versions).

    Takes a snapshot or the normalised values of ``rules.check_task``; an import row whose key equals
    the stored item's is unchanged and skips the update path.
    """
    scalars = tuple(_plain(guide.get(f)) for f in _CONTENT_FIELDS)
    lists = tuple(
        tuple(
            tuple(_plain(row.get(f)) for f in fields if f != "task_handle_item")
            for row in sorted(guide.get(key) or (), key=lambda r: r.get("order_num") or 0)
        )
        for key, fields in CHILD_LISTS.items()
    )
    return scalars, lists


# Columns that differ in type between the catalog's vocabulary and the national DDL: the 承诺办结时限单位
# is an int column in up_task_*_basic (the catalog keeps the code as text, like 法定办结时限单位), and
# datetime columns travel as Beijing ``yyyyMMddHHmmss`` (conventions §13).
_INT_COLUMNS = frozenset({"promise_type"})
_DATE_COLUMNS = frozenset({"plan_effective_date", "plan_cancel_date"})
# Columns of the *_general_* tables that the *_public_* tables do not have.
_NOT_PUBLIC = {"basic": ("power_source",), "extend": ("limit_explain",)}


def _national(payload: dict[str, Any]) -> dict[str, Any]:
    for name in _INT_COLUMNS:
        value = payload.get(name)
        if isinstance(value, str) and value.isdigit():
            payload[name] = int(value)
    for name in _DATE_COLUMNS:
        value = payload.get(name)
        if isinstance(value, str) and value:
            payload[name] = date.fromisoformat(value[:10]).strftime("%Y%m%d000000")
        elif isinstance(value, date):
            payload[name] = value.strftime("%Y%m%d000000")
    return payload


def with_names(guide: Mapping[str, Any]) -> dict[str, Any]:
    """A guide for people: ``handle_area_name`` beside the 通办范围 code (a guide published before the
    column became a code may still hold the name itself)."""
    data = dict(guide)
    value = data.get("handle_area")
    if value in ct.HANDLE_AREAS:
        data["handle_area_name"] = ct.HANDLE_AREAS[value]
    else:
        code = next((k for k, v in ct.HANDLE_AREAS.items() if v == value), None)
        data["handle_area"], data["handle_area_name"] = (code, value) if code else (value, None)
    return data


def topic(family: str, table: str) -> str:
    """Outbox topic of a national table (``catalog.up_task_general_basic`` …)."""
    return f"catalog.up_task_{family}_{table}" if family else f"catalog.up_task_{table}"


def directory_payload(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The ``up_task_directory`` row of a directory snapshot (national types)."""
    return _national({name: snapshot.get(name) for name in ct.DIRECTORY_FIELDS})


# The national sources disagree on NOT NULL for these (docs/national-tables.md: we send within the
# stricter rule); the catalog lets them be empty, so the row fills them by a documented rule.
NO_PROMISE_EXPLAIN = "无"
NO_STATUTORY_LIMIT = "无法定办结时限，按承诺办结时限填报"


def basic_payload(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The ``up_task_*_basic`` row of a guide snapshot.

    Filled where the stricter national DDL demands a value the catalog may lack: an empty 承诺办结时限
    说明 is sent as "无"; a 公共服务 item without a statutory time limit sends its promised limit as
    the statutory one, saying so in 法定办结时限说明.
    """
    payload = {name: snapshot.get(name) for name in ct.BASIC_FIELDS}
    if snapshot.get("task_type") == ct.PUBLIC_SERVICE_TYPE:
        for name in _NOT_PUBLIC["basic"]:
            payload.pop(name, None)
        if payload.get("anticipate_day") is None and payload.get("promise_day") is not None:
            payload["anticipate_day"] = payload["promise_day"]
            payload["anticipate_type"] = payload.get("promise_type")
            payload["anticipate_explain"] = payload.get("anticipate_explain") or NO_STATUTORY_LIMIT
    if not (payload.get("promise_explain") or "").strip():
        payload["promise_explain"] = NO_PROMISE_EXPLAIN
    return _national(payload)


def extend_payload(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The ``up_task_*_extend`` row of a guide snapshot."""
    payload = {"task_code": snapshot.get("task_code")}
    payload.update({name: snapshot.get(name) for name in ct.EXTEND_FIELDS})
    if snapshot.get("task_type") == ct.PUBLIC_SERVICE_TYPE:
        for name in _NOT_PUBLIC["extend"]:
            payload.pop(name, None)
    return payload


def child_payload(snapshot: Mapping[str, Any], key: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """A ``*_material`` / ``*_fee_project`` / ``*_questions`` row; ``row_key`` is its stable identity."""
    payload = {
        "task_code": snapshot.get("task_code"),
        "task_guid": snapshot.get("task_guid"),
        "task_handle_item": None,
        "order_num": row.get("order_num"),
        "row_key": row.get("row_guid"),
    }
    payload.update({f: row.get(f) for f in CHILD_LISTS[key] if f != "license_type_code"})
    return payload


def child_changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], key: str
) -> list[tuple[str, dict[str, Any]]]:
    """(operation, row) for the rows of one child list: I new, U changed, D gone; unchanged rows are skipped."""
    before = {r["row_guid"]: r for r in (old or {}).get(key, [])}
    after = {r["row_guid"]: r for r in new.get(key, [])}
    changes: list[tuple[str, dict[str, Any]]] = []
    for guid, row in after.items():
        if guid not in before:
            changes.append(("I", row))
        elif before[guid] != row:
            changes.append(("U", row))
    changes.extend(("D", row) for guid, row in before.items() if guid not in after)
    return changes


def _child_label(key: str, row: Mapping[str, Any]) -> str:
    title = {"materials": "material_name", "fee_projects": "fee_name", "questions": "question"}.get(
        key, "handle_item_name"
    )
    return str(row.get(title) or row.get("order_num"))


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Field-level differences between two snapshots (child rows matched by their name)."""
    changes: list[dict[str, Any]] = []
    ignore = {"task_version", "task_guid"}
    for name in sorted(set(old) | set(new)):
        if name in ignore or name in CHILD_LISTS:
            continue
        if old.get(name) != new.get(name):
            changes.append(
                {"field": name, "label": ct.label(name), "old": old.get(name), "new": new.get(name)}
            )
    for key, fields in CHILD_LISTS.items():
        if key not in old and key not in new:
            continue
        before = {_child_label(key, r): r for r in old.get(key, [])}
        after = {_child_label(key, r): r for r in new.get(key, [])}
        for label_text in sorted(set(before) | set(after)):
            a, b = before.get(label_text), after.get(label_text)
            where = f"{key}[{label_text}]"
            if a is None:
                changes.append(
                    {"field": where, "label": ct.label(key), "old": None, "new": _strip(b, fields)}
                )
            elif b is None:
                changes.append(
                    {"field": where, "label": ct.label(key), "old": _strip(a, fields), "new": None}
                )
            else:
                for f in ("order_num", *fields):
                    if a.get(f) != b.get(f):
                        changes.append(
                            {"field": f"{where}.{f}", "label": ct.label(f), "old": a.get(f), "new": b.get(f)}
                        )
    return changes


def _strip(row: Mapping[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    if row is None:
        return None
    return {f: row.get(f) for f in ("order_num", *fields)}
