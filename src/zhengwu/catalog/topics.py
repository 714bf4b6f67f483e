"""The catalog's exchange topics (``kernel.topics``): the national ``up_task_*`` rows it sends upward, and
the ``dn_task_*`` rows it applies when the upper node pushes them down (``catalog.national_push``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.catalog import national_push
from zhengwu.kernel.codes import validate_catalog_code, validate_task_code
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.topics import Census, CodeCheck, Declaration, TableHook, TopicDeclaration

_TASK_TABLES = (
    "up_task_general_basic", "up_task_public_basic", "up_task_directory", "dn_task_directory",
    *national_push.BASIC_TABLES,
)  # fmt: skip
_DIRECTORY_TABLES = ("up_task_directory", "dn_task_directory")


def declarations(settings: Settings) -> list[Declaration]:
    """National code checks of the task tables; child rows keyed by ``row_key`` (catalog.events); basic,
    extend and directory rows rebuilt from the current catalog when an operator resends them."""
    declared: list[Declaration] = []
    for table in _TASK_TABLES:
        declared.append(CodeCheck(table, "catalog_code", validate_catalog_code, "基本编码"))
        if table not in _DIRECTORY_TABLES:
            declared.append(CodeCheck(table, "task_code", validate_task_code, "实施编码"))
    declared.append(CodeCheck("up_task_general_material", "task_code", validate_task_code, "实施编码"))
    for family in ("general", "public"):
        for table in ("material", "fee_project", "questions"):
            declared.append(TopicDeclaration(f"catalog.up_task_{family}_{table}", key_column="row_key"))
        declared.append(TopicDeclaration(f"catalog.up_task_{family}_basic", refresh=_refresh("basic")))
        declared.append(TopicDeclaration(f"catalog.up_task_{family}_extend", refresh=_refresh("extend")))
    declared.append(TopicDeclaration("catalog.up_task_directory", refresh=_refresh("directory")))
    declared.append(Census("items", published_items))
    # Catalog pushes from the upper node reach every lower node: each tier applies them and passes them on.
    for table in (national_push.DIRECTORY_TABLE, *national_push.BASIC_TABLES, *national_push.GUIDE_TABLES):
        declared.append(TopicDeclaration(f"catalog.{table}", route_column="*"))
    declared.append(TableHook(national_push.DIRECTORY_TABLE, national_push.apply_directory))
    declared.extend(TableHook(table, national_push.apply_basic) for table in national_push.BASIC_TABLES)
    declared.extend(TableHook(table, national_push.apply_guide) for table in national_push.GUIDE_TABLES)
    return declared


def published_items(session: Session) -> dict[str, int]:
    """Published implementation items per implementing department (``dept_code``): the 应上尽上 base."""
    from sqlalchemy import func, select

    from zhengwu.catalog.models import Status, TaskItem

    rows = session.execute(
        select(TaskItem.dept_code, func.count())
        .where(TaskItem.status == Status.PUBLISHED)
        .group_by(TaskItem.dept_code)
    )
    return {str(code or ""): int(n) for code, n in rows}


def _refresh(kind: str) -> Callable[[Session, str], dict[str, Any] | None]:
    """The current national row of a catalog item (None when it no longer exists)."""

    def refresh(session: Session, key: str) -> dict[str, Any] | None:
        from zhengwu.catalog import national, service

        try:
            if kind == "directory":
                return national.directory_snapshot(service.get_directory(session, key))
            snapshot = national.task_snapshot(service.get_task(session, key))
        except DomainError:
            return None
        if kind == "basic":
            return national.basic_payload(snapshot)
        return national.extend_payload(snapshot)

    return refresh
