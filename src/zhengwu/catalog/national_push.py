"""Catalog changes the upper node pushes down (下发), applied to this node's basic catalog.

* ``dn_task_directory`` (national DDL): a basic catalog entry. ``I``/``U`` create or change the entry
  and publish it (事项状态 2 suspends it, 3 cancels it); ``D`` cancels it (a published entry is never
  deleted, only cancelled).
* ``dn_task_{general|public|check|handle|punish}_basic``: an implementation item of a national body. Its
  basic-catalog elements (基本编码, 事项名称, 事项类型, 设定依据; 行使层级 for a new entry) become the
  basic entry, and the item itself is kept as the national guide of that 基本编码 (below). Such an item
  being withdrawn (``D`` or 事项状态 3) leaves the basic entry as it is and drops the kept guide.
* The item's other rows (``GUIDE_TABLES``: extend, materials, fees, questions) are applied to the item
  the push concerns, by its 实施编码: when this node holds that item, into its working copy (through
  ``update_task``; the department that owns it publishes); otherwise — the usual case, a national
  body's item no department here owns — into the kept national guide (``catalog_national_guide``),
  which the local items of the same 基本编码 show as the national guide they implement
  (``service.national_guide``, the ``national_guide`` of an item's public guide). A row whose
  实施编码 is invalid, or that the item's rules refuse, is refused and fed back up.

Everything goes through the catalog service (rules, versions, history, change log) — except the
``up_task_directory`` row a local change reports upward: the upper node made this change, so reporting
it would echo it back up as this node's own (and on to the national node, a loop of one's own push). A row the rules refuse is refused with the reason, each row in a savepoint of its
own. Applying the same row twice changes nothing the second time (no new version). Afterwards the
cross-tier check of the items under the touched 基本编码 runs; its result goes into the exchange's
apply log (``kernel.topics.note``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.catalog import service
from zhengwu.catalog.models import Status
from zhengwu.catalog.repository import CatalogRepository
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.topics import RowError, note

DIRECTORY_TABLE: Final = "dn_task_directory"
BASIC_TABLES: Final = (
    "dn_task_general_basic", "dn_task_public_basic", "dn_task_check_basic", "dn_task_handle_basic",
    "dn_task_punish_basic",
)  # fmt: skip
#: The rest of a national body's item guide (extend, materials, fees, questions): applied to the item
#: they concern (``apply_guide``) and passed on to every lower node with the basic rows, so every tier
#: holds the whole national guide.
GUIDE_TABLES: Final = (
    "dn_task_general_extend", "dn_task_general_material", "dn_task_general_fee_project",
    "dn_task_general_questions", "dn_task_public_extend", "dn_task_public_material",
    "dn_task_public_fee_project", "dn_task_public_questions", "dn_task_check_questions",
    "dn_task_handle_material", "dn_task_handle_questions", "dn_task_punish_questions",
)  # fmt: skip
ACTOR: Final = "upper:catalog-push"
_ENTRY_FIELDS: Final = (
    "task_name",
    "task_type",
    "use_level",
    "by_law",
    "plan_effective_date",
    "plan_cancel_date",
)
_FROM_ITEM: Final = ("task_name", "task_type", "by_law")
_SHOWN: Final = 5


def _refusal(exc: DomainError) -> RowError:
    problems = exc.extra.get("errors") if isinstance(exc.extra, dict) else None
    column = problems[0].get("field") if problems and isinstance(problems[0], dict) else None
    return RowError(exc.instance_code[:100], f"本节点基本目录未能应用：{exc.detail}"[:2000], column)


def _entry(session: Session, code: str, data: Mapping[str, Any], state: str | None) -> bool:
    """Make the basic entry ``code`` say ``data`` in 事项状态 ``state`` (None: keep its state); True when
    anything changed."""
    item = CatalogRepository(session).basic(code)
    if state == "3":
        if item is None or item.status == Status.CANCELLED:
            return False
        service.change_directory_state(
            session, code, "cancel", actor=ACTOR, reason="上级下发：取消", upward=False
        )
        return True
    before = None if item is None else (item.status, item.task_version)
    if item is None:
        item = service.create_directory(session, {"catalog_code": code, **data}, actor=ACTOR)
    else:
        item = service.update_directory(session, code, data, actor=ACTOR)
    if item.dirty or item.status == Status.DRAFT or (state == "1" and item.status == Status.SUSPENDED):
        item = service.publish_directory(session, code, actor=ACTOR, upward=False)
    if state == "2" and item.status == Status.PUBLISHED:
        item = service.change_directory_state(
            session, code, "suspend", actor=ACTOR, reason="上级下发：暂停", upward=False
        )
    return before != (item.status, item.task_version)


def _guide_part(table_name: str) -> str:
    """dn_task_general_fee_project → fee_project; a basic table → basic."""
    part = table_name.split("_", 3)[3]
    return "basic" if part == "basic" else part


def _keep_guide(session: Session, inbound: Any, *, remove: bool) -> str:
    return service.apply_pushed_guide(session, str(inbound.row.get("task_code") or "").strip(),
                                      _guide_part(inbound.table_name), inbound.row, remove=remove, actor=ACTOR)  # fmt: skip


def _apply(session: Session, rows: Sequence[Any], *, basic_rows: bool) -> Mapping[str, RowError]:
    refused: dict[str, RowError] = {}
    touched: list[str] = []
    changed = 0
    # In the order the upper node published them: the last change of an entry wins.
    for inbound in sorted(rows, key=lambda r: r.order):
        row = inbound.row
        code = str(row.get("catalog_code") or "").strip()
        state: str | None = str(row.get("task_state") or "1").strip()
        if inbound.operation == "D":
            state = "3"
        if basic_rows:
            if state == "3":
                try:  # a national body withdrew its item: the basic entry stays, its kept guide goes
                    with session.begin_nested():
                        _keep_guide(session, inbound, remove=True)
                except DomainError as exc:
                    refused[inbound.row_guid] = _refusal(exc)
                continue
            state = None  # nor does its suspension suspend the entry
        fields = _FROM_ITEM if basic_rows else _ENTRY_FIELDS
        data = {name: row[name] for name in fields if name in row}
        if basic_rows and CatalogRepository(session).basic(code) is None:
            data["use_level"] = row.get("use_level")
        try:
            with session.begin_nested():
                changed += _entry(session, code, data, state)
                if basic_rows:
                    _keep_guide(session, inbound, remove=False)
        except DomainError as exc:
            refused[inbound.row_guid] = _refusal(exc)
            continue
        touched.append(code)
    if touched:
        issues = service.validate_codes(session, touched)
        divergent = [i for i in issues if i.kind == "divergence"]
        summary = f"基本目录变更 {changed} 项；跨层级一致性检查（{len(set(touched))} 个基本编码）：不一致 {len(divergent)} 处"
        others = len(issues) - len(divergent)
        if others:
            summary += f"，其他问题 {others} 处"
        note(session, summary)
        for issue in issues[:_SHOWN]:
            note(session, f"{issue.task_code} {issue.reason}")
    return refused


def apply_directory(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
    """Table hook of ``dn_task_directory``."""
    return _apply(session, rows, basic_rows=False)


def apply_basic(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
    """Table hook of ``dn_task_general_basic`` and ``dn_task_public_basic``."""
    return _apply(session, rows, basic_rows=True)


def apply_guide(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
    """Table hook of the ``GUIDE_TABLES``: each row applied to the item it concerns (module docstring);
    the same row twice changes nothing; ``D`` removes the material, fee or question."""
    refused: dict[str, RowError] = {}
    outcomes = {"item": 0, "national": 0, "unchanged": 0}
    for inbound in sorted(rows, key=lambda r: r.order):
        try:
            with session.begin_nested():
                outcomes[_keep_guide(session, inbound, remove=inbound.operation == "D")] += 1
        except DomainError as exc:
            refused[inbound.row_guid] = RowError(
                exc.instance_code[:100], f"本节点未能应用事项指南：{exc.detail}"[:2000], None
            )
    if outcomes["item"] or outcomes["national"]:
        note(session, f"事项指南：本节点事项工作稿更新 {outcomes['item']} 项（待部门发布），"
                      f"国家部门事项指南更新 {outcomes['national']} 项，未变 {outcomes['unchanged']} 项")  # fmt: skip
    return refused
