"""Rules and lifecycle of the item catalog: basic entries, implementation items, versions, validation.

Services flush, never commit. Publishing takes an immutable snapshot (a version), queues the upward
``up_task_*`` rows in the outbox and refreshes the search — all in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.catalog import codetables as ct
from zhengwu.catalog import events, licensetypes, national, rules
from zhengwu.catalog.errors import InvalidItem, ItemExists, ItemNotFound, VersionNotFound
from zhengwu.catalog.lifecycle import transition
from zhengwu.catalog.models import (
    TASK_STATE_OF,
    BasicItem,
    FeeProject,
    HandleItem,
    History,
    Material,
    NationalGuidePart,
    Question,
    Status,
    Synonym,
    TaskItem,
    Version,
)
from zhengwu.catalog.repository import CatalogRepository
from zhengwu.catalog.rules import BasicInfo, BodyInfo, FieldProblem
from zhengwu.catalog.search import forget_synonyms
from zhengwu.catalog.search.index import PUBLISHED_STAMP, SYNONYMS_STAMP, EntryData, index_item, unindex_item
from zhengwu.identity.requirements import AuthRequirement, ItemDemand
from zhengwu.kernel.codes import make_handle_item_code, make_task_code, validate_task_code, validate_uscc
from zhengwu.kernel.stamps import bump
from zhengwu.orgs import service as orgs
from zhengwu.orgs.errors import DepartmentNotFound
from zhengwu.orgs.models import Department

DIRECTORY = "directory"
TASK = "task"
_DERIVED = frozenset({"task_code", "task_state", "task_version", "task_guid", "division_code"})
_IDENTITY_FIELDS = ("dept_code", "catalog_code", "use_level")


def body_info(department: Department) -> BodyInfo:
    """The rules' view of an orgs department."""
    return BodyInfo(
        department.id, department.credit_code, department.name, department.division_code, department.level
    )


def basic_info(item: BasicItem) -> BasicInfo:
    """The rules' view of a basic entry."""
    return BasicInfo(
        item.id, item.catalog_code, item.task_name, item.task_type, item.use_level, item.by_law, item.status
    )


def all_bodies(session: Session) -> dict[str, BodyInfo]:
    """Every registered body by credit code (for bulk checks)."""
    rows, _ = orgs.list_departments(session, limit=10_000_000)
    return {d.credit_code: body_info(d) for d in rows}


def _one_body(session: Session, raw: Any) -> dict[str, BodyInfo]:
    verdict = validate_uscc(raw) if raw else None
    if verdict is None or not verdict.ok:
        return {}
    try:
        department = orgs.get_by_credit_code(session, verdict.value)
    except DepartmentNotFound:
        return {}
    return {department.credit_code: body_info(department)}


def _record(
    session: Session,
    kind: str,
    code: str,
    action: str,
    before: str | None,
    after: str,
    version: int,
    actor: str | None,
    reason: str | None = None,
    *,
    department_id: str | None = None,
) -> None:
    # Every catalog write goes through here: its change-log record commits or rolls back with it. An
    # implementation item's record names its department, as other capabilities' records do, so that the
    # change log can be read per department; a basic catalog item belongs to none.
    record_change(session, actor=actor, action=f"catalog.{kind}.{action}", entity=f"catalog.{kind}",
                  entity_id=code, department_id=department_id, before={"status": before} if before else None,
                  after={"status": after, "version": version, "reason": reason})  # fmt: skip
    session.add(
        History(
            kind=kind,
            code=code,
            action=action,
            from_status=before,
            to_status=after,
            version=version,
            actor=actor,
            reason=reason,
        )
    )


# basic catalog ----------------------------------------------------------------------------------


def get_directory(session: Session, catalog_code: str) -> BasicItem:
    """A basic catalog entry, or ItemNotFound."""
    item = CatalogRepository(session).basic(catalog_code)
    if item is None:
        raise ItemNotFound("基本目录事项不存在")
    return item


def list_directory(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    task_type: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[BasicItem], int]:
    """A page of basic catalog entries."""
    return CatalogRepository(session).list_basic(
        q=q, status=status, task_type=task_type, offset=offset, limit=limit
    )


def create_directory(session: Session, data: Mapping[str, Any], *, actor: str | None) -> BasicItem:
    """Add a draft basic catalog entry (every element of up_task_directory is required)."""
    checked = rules.check_directory(data, complete=True)
    if not checked.ok:
        raise InvalidItem.of(checked.problems)
    values = checked.values
    if CatalogRepository(session).basic(values["catalog_code"]) is not None:
        raise ItemExists("该基本编码已在基本目录中", extra={"field": "catalog_code"})
    item = BasicItem(**values, status=Status.DRAFT, task_version=0, dirty=True, updated_by=actor)
    session.add(item)
    session.flush()
    _record(session, DIRECTORY, item.catalog_code, "create", None, Status.DRAFT, 0, actor)
    return item


def update_directory(
    session: Session, catalog_code: str, data: Mapping[str, Any], *, actor: str | None
) -> BasicItem:
    """Change elements of a basic entry (not its code); published entries need publishing again."""
    item = get_directory(session, catalog_code)
    transition(item.status, "update")
    if "catalog_code" in data and data["catalog_code"] not in (None, item.catalog_code):
        raise InvalidItem.of([FieldProblem("catalog_code", "immutable", "基本编码不能修改")])
    merged = national.directory_snapshot(item) | {k: v for k, v in data.items() if k != "catalog_code"}
    checked = rules.check_directory(merged, complete=True)
    if not checked.ok:
        raise InvalidItem.of(checked.problems)
    changed = False
    for name, value in checked.values.items():
        if name != "catalog_code" and getattr(item, name) != value:
            setattr(item, name, value)
            changed = True
    if changed:
        item.dirty = True
        item.updated_by = actor
        session.flush()
        _record(
            session,
            DIRECTORY,
            item.catalog_code,
            "update",
            item.status,
            item.status,
            item.task_version,
            actor,
        )
    return item


def publish_directory(
    session: Session, catalog_code: str, *, actor: str | None, upward: bool = True
) -> BasicItem:
    """Publish a basic entry: a new immutable version, an up_task_directory outbox record (not with
    ``upward=False``: a change pushed down by the upper node)."""
    item = get_directory(session, catalog_code)
    before = item.status
    after = transition(before, "publish", dirty=item.dirty or item.task_version == 0)
    first = item.task_version == 0
    item.status = after
    if item.dirty or first:
        item.task_version += 1
        snapshot = national.directory_snapshot(item)
        session.add(
            Version(
                kind=DIRECTORY,
                code=item.catalog_code,
                version=item.task_version,
                snapshot=snapshot,
                published_by=actor,
            )
        )
    else:
        snapshot = national.directory_snapshot(item)
    item.dirty = False
    session.flush()
    events.emit_directory(session, snapshot, first=first, upward=upward)
    _record(session, DIRECTORY, item.catalog_code, "publish", before, after, item.task_version, actor)
    return item


def change_directory_state(
    session: Session,
    catalog_code: str,
    action: str,
    *,
    actor: str | None,
    reason: str | None = None,
    upward: bool = True,
) -> BasicItem:
    """Suspend or cancel a basic entry; published ones are reported upward with the new 事项状态 (not
    with ``upward=False``: a change pushed down by the upper node)."""
    item = get_directory(session, catalog_code)
    before = item.status
    item.status = transition(before, action)
    session.flush()
    if item.task_version > 0:
        events.emit_directory(session, national.directory_snapshot(item), first=False, upward=upward)
    _record(
        session, DIRECTORY, item.catalog_code, action, before, item.status, item.task_version, actor, reason
    )
    return item


# implementation items ---------------------------------------------------------------------------


def get_task(session: Session, task_code: str) -> TaskItem:
    """An implementation item's working copy, or ItemNotFound."""
    item = CatalogRepository(session).task(task_code)
    if item is None:
        raise ItemNotFound("实施清单事项不存在")
    return item


def list_tasks(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    dept_code: str | None = None,
    dept_codes: Sequence[str] | None = None,
    catalog_code: str | None = None,
    division: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[TaskItem], int]:
    """A page of implementation items (staff view, every state)."""
    return CatalogRepository(session).list_tasks(
        q=q,
        status=status,
        dept_code=dept_code,
        dept_codes=dept_codes,
        catalog_code=catalog_code,
        division=division,
        offset=offset,
        limit=limit,
    )


def derive_task_code(body: BodyInfo, level: int, catalog_code: str) -> str:
    """实施编码 = body credit code + level + 基本编码 (standards §1.2), never typed by anyone."""
    return make_task_code(body.credit_code, level, catalog_code)


def _basic_lookup(session: Session, raw: Any) -> dict[str, BasicInfo]:
    verdict_code = str(raw or "").strip()
    item = CatalogRepository(session).basic(verdict_code) if verdict_code else None
    return {item.catalog_code: basic_info(item)} if item is not None else {}


def _check_no_typed_code(data: Mapping[str, Any], derived: str | None) -> list[FieldProblem]:
    given = data.get("task_code")
    if given in (None, "") or derived is None:
        return []
    verdict = validate_task_code(given)
    if verdict.ok and verdict.value == derived:
        return []
    return [
        FieldProblem(
            "task_code",
            "derived",
            f"实施编码由实施主体、行使层级和基本编码派生，应为 {derived}，与填写的不一致",
            "the implementation code is derived and does not match the given one",
        )
    ]


def create_task(session: Session, data: Mapping[str, Any], *, actor: str | None) -> TaskItem:
    """A body claims a basic entry: a draft implementation item whose 实施编码 is derived."""
    checked, body, basic = rules.check_task(
        data,
        bodies=_one_body(session, data.get("dept_code")),
        basics=_basic_lookup(session, data.get("catalog_code")),
        complete=False,
    )
    task_code = None
    if body is not None and basic is not None and checked.values.get("use_level"):
        task_code = derive_task_code(body, int(checked.values["use_level"]), basic.catalog_code)
    problems = (
        checked.problems + _check_no_typed_code(data, task_code) + _license_types(session, checked.values)
    )
    if problems or task_code is None or body is None or basic is None:
        raise InvalidItem.of(problems)
    if CatalogRepository(session).task(task_code) is not None:
        raise ItemExists(
            "该实施主体已在此层级认领该事项", extra={"field": "task_code", "task_code": task_code}
        )
    item = TaskItem(
        task_code=task_code,
        basic_item_id=basic.id,
        department_id=body.id,
        division_code=body.division_code,
        status=Status.DRAFT,
        task_version=0,
        dirty=True,
        updated_by=actor,
    )
    _apply(item, checked.values, provided=set(checked.values))
    session.add(item)
    session.flush()
    _record(
        session, TASK, task_code, "create", None, Status.DRAFT, 0, actor, department_id=item.department_id
    )
    return item


def _apply(item: TaskItem, values: Mapping[str, Any], *, provided: set[str]) -> bool:
    """Copy normalised values onto the item; child lists are matched by name to keep their row ids."""
    changed = False
    for name in ct.GUIDE_FIELDS:
        if name in _DERIVED or name not in provided:
            continue
        value = values.get(name)
        if getattr(item, name) != value:
            setattr(item, name, value)
            changed = True
    children: list[tuple[str, type[Any], str]] = [
        ("materials", Material, "material_name"),
        ("fee_projects", FeeProject, "fee_name"),
        ("questions", Question, "question"),
        ("handle_items", HandleItem, "handle_item_name"),
    ]
    for key, model, title in children:
        if key not in provided:
            continue
        current = {getattr(c, title): c for c in getattr(item, key)}
        result = []
        for row in values.get(key) or []:
            child = current.pop(row[title], None) or model()
            for f, v in row.items():
                if f == "task_handle_item":
                    continue
                if getattr(child, f, None) != v:
                    setattr(child, f, v)
                    changed = True
            result.append(child)
        if current:
            changed = True
        if [id(c) for c in result] != [id(c) for c in getattr(item, key)]:
            changed = True
        setattr(item, key, result)
    if "handle_items" in provided:
        _number_handle_items(item)
    return changed


def _number_handle_items(item: TaskItem) -> None:
    used = {int(h.task_handle_item[31:]) for h in item.handle_items if h.task_handle_item}
    next_seq = 1
    for handle in item.handle_items:
        if handle.task_handle_item and handle.task_handle_item.startswith(item.task_code):
            continue
        while next_seq in used:
            next_seq += 1
        handle.task_handle_item = make_handle_item_code(item.task_code, next_seq)
        used.add(next_seq)


def update_task(session: Session, task_code: str, data: Mapping[str, Any], *, actor: str | None) -> TaskItem:
    """Change guide elements of an implementation item; the code-defining fields cannot change."""
    item = get_task(session, task_code)
    transition(item.status, "update")
    problems = [
        FieldProblem(
            name,
            "immutable",
            f"{ct.label(name)}决定实施编码，不能修改；如需变更请取消本事项并重新认领",
            f"{name} defines the implementation code and cannot change",
        )
        for name in _IDENTITY_FIELDS
        if name in data and data[name] not in (None, "") and str(data[name]).strip() != getattr(item, name)
    ]
    problems += _check_no_typed_code(data, item.task_code)
    body, basic = _body_and_basic(session, item)
    current = national.task_snapshot(item)
    merged = {**current, **{k: v for k, v in data.items() if k not in _IDENTITY_FIELDS}}
    checked, _, _ = rules.check_task(merged, bodies={}, basics={}, complete=False, body=body, basic=basic)
    problems += checked.problems
    if "materials" in data:
        problems += _license_types(session, checked.values)
    if problems:
        raise InvalidItem.of(problems)
    provided = {k for k in data if k not in _IDENTITY_FIELDS and k not in _DERIVED}
    if _apply(item, checked.values, provided=provided):
        item.dirty = True
        item.updated_by = actor
        session.flush()
        if item.status == Status.PUBLISHED:  # its live row is what the home page counts by theme
            bump(session, PUBLISHED_STAMP)
        _record(
            session,
            TASK,
            item.task_code,
            "update",
            item.status,
            item.status,
            item.task_version,
            actor,
            department_id=item.department_id,
        )
    return item


def _license_types(session: Session, values: Mapping[str, Any]) -> list[FieldProblem]:
    """Materials naming a license type this node does not define (checked only where licenses exist)."""
    return [
        FieldProblem(
            f"materials[{index}].license_type_code",
            "unknown_license_type",
            f"申请材料第{index}项：可替代的电子证照类型不存在：{code[:30]}",
            "no license type with that code",
        )
        for index, code in licensetypes.unknown(session, values.get("materials") or [])
    ]


def _body_and_basic(session: Session, item: TaskItem) -> tuple[BodyInfo, BasicInfo]:
    department = orgs.get_department(session, item.department_id)
    basic = CatalogRepository(session).basic_by_id(item.basic_item_id)
    if basic is None:  # the foreign key makes this impossible; guard for type checkers
        raise ItemNotFound("基本目录事项不存在")
    return body_info(department), basic_info(basic)


def check_complete(session: Session, item: TaskItem) -> list[FieldProblem]:
    """Every problem that blocks publishing (required elements, level, codes, basic entry state)."""
    body, basic = _body_and_basic(session, item)
    checked, _, _ = rules.check_task(
        national.task_snapshot(item), bodies={}, basics={}, complete=True, body=body, basic=basic
    )
    problems = list(checked.problems)
    if basic.status != Status.PUBLISHED:
        problems.append(
            FieldProblem(
                "catalog_code",
                "catalog_not_published",
                "基本目录事项尚未发布（或已暂停、取消），不能发布实施清单",
            )
        )
    return problems


def publish_task(session: Session, task_code: str, *, actor: str | None) -> TaskItem:
    """Publish: check completeness, snapshot a new version, queue up_task_* rows, refresh the search."""
    item = get_task(session, task_code)
    before = item.status
    after = transition(before, "publish", dirty=item.dirty or item.task_version == 0)
    problems = check_complete(session, item)
    if problems:
        raise InvalidItem.of(problems, detail="事项要素不完整或有误，不能发布")
    repo = CatalogRepository(session)
    previous = repo.version(TASK, item.task_code, item.task_version) if item.task_version else None
    item.status = after
    if item.dirty or item.task_version == 0:
        item.task_version += 1
        snapshot = national.task_snapshot(item)
        session.add(
            Version(
                kind=TASK,
                code=item.task_code,
                version=item.task_version,
                snapshot=snapshot,
                published_by=actor,
            )
        )
        events.emit_task_version(session, previous.snapshot if previous else None, snapshot)
    else:
        snapshot = national.task_snapshot(item)
        events.emit_task_state(session, snapshot)
    item.dirty = False
    item.updated_by = actor
    session.flush()
    index_item(session, EntryData.of(snapshot | {"id": item.id}))
    _record(
        session,
        TASK,
        item.task_code,
        "publish",
        before,
        after,
        item.task_version,
        actor,
        department_id=item.department_id,
    )
    return item


def change_task_state(
    session: Session, task_code: str, action: str, *, actor: str | None, reason: str | None = None
) -> TaskItem:
    """Suspend (暂停) or cancel (取消) an implementation item; it leaves the public search."""
    item = get_task(session, task_code)
    before = item.status
    item.status = transition(before, action)
    item.updated_by = actor
    session.flush()
    if item.task_version > 0:
        latest = CatalogRepository(session).version(TASK, item.task_code, item.task_version)
        snapshot = dict(latest.snapshot) if latest else national.task_snapshot(item)
        snapshot["task_state"] = TASK_STATE_OF[item.status]
        events.emit_task_state(session, snapshot)
    unindex_item(session, item.id)
    _record(
        session,
        TASK,
        item.task_code,
        action,
        before,
        item.status,
        item.task_version,
        actor,
        reason,
        department_id=item.department_id,
    )
    return item


def delete_task(session: Session, task_code: str, *, actor: str | None) -> None:
    """Delete a draft that was never published (anything published can only be cancelled)."""
    item = get_task(session, task_code)
    transition(item.status, "delete", published_before=item.task_version > 0)
    _record(
        session,
        TASK,
        item.task_code,
        "delete",
        item.status,
        "deleted",
        0,
        actor,
        department_id=item.department_id,
    )
    session.delete(item)
    session.flush()


def get_public_item(session: Session, task_code: str) -> dict[str, Any]:
    """The latest published guide (as the national columns) with the current 事项状态."""
    # The item's header and its version's snapshot in one query: the guide is the snapshot, so the
    # item's child rows (four more queries, half a guide page's CPU) are not loaded.
    found = CatalogRepository(session).published_header(task_code, TASK)
    if found is None or found[0].task_version == 0 or found[1] is None:
        raise ItemNotFound("事项不存在或尚未发布")
    item = found[0]
    snapshot = dict(found[1])
    snapshot["task_state"] = TASK_STATE_OF[item.status]
    inherited = national_guide(session, item.catalog_code)
    if inherited:  # the national bodies' guide this item implements, when the upper node pushed one
        snapshot["national_guide"] = inherited
    return snapshot


def published_guide(session: Session, task_code: str) -> tuple[TaskItem, dict[str, Any]] | None:
    """An item (without its child rows) and its latest published guide, in one light query; None when
    the item does not exist or was never published. For applying (cases), where it runs per submission."""
    found = CatalogRepository(session).published_header(task_code, TASK)
    if found is None or found[0].task_version == 0 or found[1] is None:
        return None
    return found[0], dict(found[1])


def access_demand(session: Session, code: str) -> ItemDemand | None:
    """What signing in for a published item demands, by 实施编码 or 业务办理项编码 (None: no such item).

    Read from the published version, so a draft edit of the level takes effect only when published.
    """
    repo = CatalogRepository(session)
    item = repo.task(code)
    name_suffix = ""
    if item is None:
        found = session.execute(
            select(TaskItem.task_code, HandleItem.handle_item_name)
            .join(HandleItem, HandleItem.task_id == TaskItem.id)
            .where(HandleItem.task_handle_item == code)
        ).first()
        if found is None:
            return None
        item = repo.task(found[0])
        name_suffix = f"（{found[1]}）"
    if item is None or item.task_version == 0:
        return None
    version = repo.version(TASK, item.task_code, item.task_version)
    if version is None:
        return None
    guide = version.snapshot
    return ItemDemand(
        code=code,
        name=f"{guide.get('task_name') or item.task_name}{name_suffix}",
        requirement=AuthRequirement(guide.get("auth_level"), guide.get("auth_max_age")),
    )


# versions, history, diff ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryView:
    """An entry's lifecycle actions and its versions."""

    actions: Sequence[History]
    versions: Sequence[Version]


def history(session: Session, kind: str, code: str) -> HistoryView:
    """Actions and versions of an entry (ItemNotFound when nothing is known about it)."""
    repo = CatalogRepository(session)
    actions = repo.history(kind, code)
    if not actions:
        raise ItemNotFound()
    return HistoryView(actions=actions, versions=repo.versions(kind, code))


# guides pushed down from the upper node ----------------------------------------------------------

#: A pushed guide table's part → the item's child list and the column naming one of its rows.
GUIDE_PARTS: dict[str, tuple[str, str]] = {
    "material": ("materials", "material_name"),
    "fee_project": ("fee_projects", "fee_name"),
    "questions": ("questions", "question"),
}


def _part_key(part: str, row: Mapping[str, Any]) -> str:
    if part not in GUIDE_PARTS:
        return ""
    title = str(row.get(GUIDE_PARTS[part][1]) or "").strip()
    if not title:
        raise InvalidItem.of(
            [FieldProblem(GUIDE_PARTS[part][1], "required", "名称不能为空", "title missing")]
        )
    return hashlib.sha256(title.encode()).hexdigest()


def _pushed_into_item(session: Session, item: TaskItem, part: str, row: Mapping[str, Any], *, remove: bool,
                      actor: str) -> bool:  # fmt: skip
    """A pushed guide row about an item of this node: its working copy changes through ``update_task``
    (rules, history, change log); publishing stays with the department that owns the item."""
    if part == "extend":
        if remove:
            return False  # the extend columns are the item's own; a withdrawn extend row clears nothing
        data: dict[str, Any] = {f: row.get(f) for f in ct.EXTEND_FIELDS if f in row and f != "task_guid"}
    else:
        key, title = GUIDE_PARTS[part]
        fields = national.CHILD_LISTS[key]
        name = str(row.get(title) or "").strip()
        rows = [{f: c.get(f) for f in ("order_num", *fields)} for c in national.task_snapshot(item)[key]]
        kept = [r for r in rows if r.get(title) != name]
        if not remove:
            pushed = {f: row.get(f) for f in ("order_num", *fields) if f in row and f != "task_handle_item"}
            old = next((r for r in rows if r.get(title) == name), {})
            kept.append({**old, **pushed, title: name})
            kept.sort(key=lambda r: int(r.get("order_num") or 0))
        data = {key: kept}
    before = national.content_key(national.task_snapshot(item))
    update_task(session, item.task_code, data, actor=actor)
    return national.content_key(national.task_snapshot(item)) != before


def apply_pushed_guide(
    session: Session, task_code: str, part: str, row: Mapping[str, Any], *, remove: bool, actor: str
) -> str:
    """Apply one pushed part (``basic``, ``extend``, ``material``, ``fee_project``, ``questions``) of the
    guide of item ``task_code``: into that item when this node holds it (``"item"``), else into the kept
    national guide (``"national"``); ``"unchanged"`` when it already said so. Idempotent."""
    checked = validate_task_code(task_code)
    if not checked.ok:
        raise InvalidItem.of([FieldProblem("task_code", "invalid", "实施编码无效", "invalid task_code")])
    item = CatalogRepository(session).task(task_code)
    if item is not None:
        if part == "basic":
            return "unchanged"  # the basic columns of a local item are its department's to set
        return (
            "item" if _pushed_into_item(session, item, part, row, remove=remove, actor=actor) else "unchanged"
        )
    repo = CatalogRepository(session)
    if remove and part == "basic":
        gone = repo.national_parts(task_code=task_code)
        for part_row in gone:
            session.delete(part_row)
        changed = bool(gone)
    else:
        key = _part_key(part, row)
        found = repo.national_part(task_code, part, key)
        content = {
            k: v for k, v in row.items() if k not in ("row_guid", "cd_batch", "cd_time", "cd_operation")
        }
        if remove:
            changed = found is not None
            if found is not None:
                session.delete(found)
        elif found is None:
            session.add(NationalGuidePart(task_code=task_code, catalog_code=task_code[19:31], part=part,
                                          part_key=key, order_num=int(row.get("order_num") or 1),
                                          content=content, updated_by=actor))  # fmt: skip
            changed = True
        else:
            changed = found.content != content
            if changed:
                found.content = content
                found.order_num = int(row.get("order_num") or 1)
                found.updated_by = actor
    if changed:
        session.flush()
        record_change(session, actor=actor, action="catalog.national_guide." + ("remove" if remove else "apply"),
                      entity="catalog.national_guide", entity_id=task_code, before=None,
                      after={"part": part, "removed": remove})  # fmt: skip
    return "national" if changed else "unchanged"


def national_guide(session: Session, catalog_code: str) -> list[dict[str, Any]]:
    """The guides national bodies keep for a 基本编码 (pushed down from above), one per national item:
    what a local item of that 基本编码 implements. Material, fee and question lists in guide order."""
    guides: dict[str, dict[str, Any]] = {}
    for found in CatalogRepository(session).national_parts(catalog_code=catalog_code):
        guide = guides.setdefault(found.task_code, {"task_code": found.task_code, "basic": None, "extend": None,
                                                    "materials": [], "fee_projects": [], "questions": []})  # fmt: skip
        if found.part in GUIDE_PARTS:
            guide[GUIDE_PARTS[found.part][0]].append(dict(found.content))
        else:
            guide[found.part] = dict(found.content)
    return list(guides.values())


def get_version(session: Session, kind: str, code: str, number: int) -> Version:
    """One immutable version."""
    version = CatalogRepository(session).version(kind, code, number)
    if version is None:
        raise VersionNotFound()
    return version


def diff_versions(session: Session, kind: str, code: str, old: int, new: int) -> list[dict[str, Any]]:
    """Field-level differences between two versions of an entry."""
    return national.diff(
        get_version(session, kind, code, old).snapshot, get_version(session, kind, code, new).snapshot
    )


# validation across tiers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding of ``catalog validate``."""

    kind: str  # divergence | missing | invalid
    catalog_code: str
    task_code: str
    field: str
    reason: str
    other_task_code: str | None = None
    value: Any = None
    other_value: Any = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "catalog_code": self.catalog_code,
            "task_code": self.task_code,
            "field": self.field,
            "label": ct.label(self.field),
            "reason": self.reason,
        }
        if self.kind == "divergence":
            data.update(other_task_code=self.other_task_code, value=self.value, other_value=self.other_value)
        return data


def unified_value(row: Mapping[str, Any], name: str) -> Any:
    """The comparable value of a unified element (materials as 名称（必要性） lists, review standards)."""
    if name == "materials":
        return [
            f"{m['material_name']}（{ct.IS_NEED.get(m.get('is_need') or '1', '')}）" for m in row["materials"]
        ]
    if name == "accept_stand":
        return [
            f"{m['material_name']}：{m['accept_stand']}" for m in row["materials"] if m.get("accept_stand")
        ]
    value = row.get(name)
    return value.strip() if isinstance(value, str) else value


def _check_row(row: Mapping[str, Any]) -> Iterator[Issue]:
    code, catalog = row["task_code"], row["catalog_code"]
    for name in rules.required_fields(row.get("task_type")):
        if row.get(name) in (None, ""):
            yield Issue(
                "missing", catalog, code, name, f"缺少必填要素：{ct.label(name)}（状态：{row['status']}）"
            )
    try:
        derived = make_task_code(row["dept_code"], int(row["use_level"]), catalog)
    except ValueError as exc:
        yield Issue(
            "invalid", catalog, code, "task_code", f"无法由实施主体、层级和基本编码派生实施编码：{exc}"
        )
        return
    if derived != code:
        yield Issue("invalid", catalog, code, "task_code", f"实施编码与派生结果 {derived} 不一致")


def validate_catalog(session: Session) -> Iterator[Issue]:
    """Every divergence of the unified elements across tiers and every missing required element."""
    repo = CatalogRepository(session)
    for batch in repo.tasks_for_validation():
        group: list[dict[str, Any]] = []
        for row in batch:
            if group and group[0]["catalog_code"] != row["catalog_code"]:
                yield from _check_group(group)
                group = []
            group.append(row)
        if group:
            yield from _check_group(group)


#: Elements of an implementation item that the basic catalog entry defines.
_FROM_BASIC = ("task_name", "task_type", "by_law")


def validate_codes(session: Session, catalog_codes: Sequence[str]) -> list[Issue]:
    """The cross-tier check of the implementation items of these 基本编码 only (after a change of their
    basic entries, e.g. one pushed by the national node), plus each item against its basic entry."""
    codes = sorted(set(catalog_codes))
    if not codes:
        return []
    repo = CatalogRepository(session)
    issues: list[Issue] = []
    for batch in repo.tasks_for_validation(catalog_codes=codes):
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in batch:
            groups.setdefault(row["catalog_code"], []).append(row)
        for code, group in groups.items():
            issues.extend(_check_group(group))
            basic = repo.basic(code)
            if basic is None:
                continue
            for row in group:
                for name in _FROM_BASIC:
                    mine, theirs = unified_value(row, name), getattr(basic, name)
                    theirs = theirs.strip() if isinstance(theirs, str) else theirs
                    if mine not in (None, "") and mine != theirs:
                        issues.append(
                            Issue(
                                "divergence", code, row["task_code"], name,
                                f"{ct.label(name)}与基本目录不一致", value=mine, other_value=theirs,
                            )
                        )  # fmt: skip
    return issues


def _check_group(group: list[dict[str, Any]]) -> Iterator[Issue]:
    # Reference: the highest tier (lowest level), then the smallest code — deterministic.
    reference = group[0]
    for row in group:
        yield from _check_row(row)
    for row in group[1:]:
        for name in ct.UNIFIED_FIELDS:
            a, b = unified_value(reference, name), unified_value(row, name)
            if a != b and b not in (None, "", []):  # an empty element is reported as missing instead
                yield Issue(
                    "divergence",
                    row["catalog_code"],
                    row["task_code"],
                    name,
                    f"{ct.label(name)}与{ct.LEVELS.get(int(reference['use_level']), '')}实施清单不一致",
                    other_task_code=reference["task_code"],
                    value=b,
                    other_value=a,
                )


# synonyms ---------------------------------------------------------------------------------------


def list_synonyms(session: Session) -> Sequence[Synonym]:
    """The synonym table."""
    return CatalogRepository(session).synonyms()


def set_synonym(session: Session, term: str, canonical: str, *, actor: str | None = None) -> Synonym:
    """Add or change a synonym (term → canonical wording); the change log records who and what."""
    term, canonical = term.strip(), canonical.strip()
    problems = []
    if not 1 <= len(term) <= 50:
        problems.append(FieldProblem("term", "length", "同义词应为1–50个字符"))
    if not 1 <= len(canonical) <= 100 or canonical == term:
        problems.append(FieldProblem("canonical", "length", "规范用语应为1–100个字符且不同于同义词"))
    if problems:
        raise InvalidItem.of(problems)
    repo = CatalogRepository(session)
    synonym = repo.synonym(term)
    before = None if synonym is None else {"canonical": synonym.canonical}
    if synonym is None:
        synonym = Synonym(term=term, canonical=canonical)
        session.add(synonym)
    else:
        synonym.canonical = canonical
    session.flush()
    record_change(session, actor=actor, action="catalog.synonym.set", entity="catalog.synonym", entity_id=term,
                  before=before, after={"canonical": canonical})  # fmt: skip
    forget_synonyms()
    bump(session, SYNONYMS_STAMP)
    return synonym


def delete_synonym(session: Session, term: str, *, actor: str | None = None) -> None:
    """Remove a synonym (recorded in the change log)."""
    synonym = CatalogRepository(session).synonym(term.strip())
    if synonym is None:
        raise ItemNotFound("同义词不存在")
    record_change(session, actor=actor, action="catalog.synonym.delete", entity="catalog.synonym",
                  entity_id=synonym.term, before={"canonical": synonym.canonical})  # fmt: skip
    session.execute(delete(Synonym).where(Synonym.term == synonym.term))
    forget_synonyms()
    bump(session, SYNONYMS_STAMP)
