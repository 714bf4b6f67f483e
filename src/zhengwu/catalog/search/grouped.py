"""The public search grouped by item: one entry per item name with the places that offer it.

A basic item is implemented by every county that has the department, so a flat list of implementation
items shows the same name dozens of times. People pick the item first and the place second: this module
ranks the names exactly as :func:`engine.search` does and reads, for the names of one page only, the
places (departments and divisions) offering each. It also answers the portal's home page: published
items by theme (自然人/法人主题分类), ordered by how many places offer them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from zhengwu.catalog.models import SearchEntry, Status, TaskItem
from zhengwu.catalog.search.engine import (
    SearchFilters,
    _counts,
    _entry_conditions,
    match_names,
)


@dataclass(frozen=True, slots=True)
class Place:
    """One implementation item of a grouped name: where it is offered and by whom."""

    task_code: str
    dept_name: str
    division_code: str
    level: int


@dataclass(frozen=True, slots=True)
class RankedName:
    """A matching item name, how well it matched, and how many implementation items pass the filters."""

    name_id: int
    task_name: str
    task_types: tuple[str, ...]
    match: str  # exact | prefix | token | substring | filter
    count: int


@dataclass
class RankedNames:
    """Every matching name with a non-zero count, best first, and how the query was understood."""

    names: list[RankedName]
    query: str
    implied: dict[str, Any] = field(default_factory=dict)
    conditions: list[ColumnElement[bool]] = field(default_factory=list)


_LABELS = ("exact", "prefix", "token", "substring", "filter")


def rank_names(
    session: Session, q: str, filters: SearchFilters | None = None, *, scope: str = "000000"
) -> RankedNames:
    """The names matching ``q`` under ``filters`` (same ranking and place/department words as ``search``)."""
    matched = match_names(session, q, filters, scope=scope)
    if matched.names is None:
        return RankedNames([], matched.query)
    names, departments = matched.names, matched.departments
    conditions = _entry_conditions(matched.filters, departments)
    counts = _counts(session, names, conditions)
    ranked = [
        RankedName(
            name_id=row.id,
            task_name=row.task_name,
            task_types=tuple(t for t in row.task_types.split("^") if t),
            match=_LABELS[tier],
            count=counts.get(row.id, 0),
        )
        for row, tier in names
        if counts.get(row.id, 0) > 0
    ]
    return RankedNames(ranked, matched.query, matched.implied, conditions)


def places_of(
    session: Session, name_id: int, conditions: Sequence[ColumnElement[bool]], *, limit: int = 200
) -> list[Place]:
    """The implementation items of one name under the same filters, in division order."""
    rows = (
        session.connection()
        .execute(
            select(SearchEntry.task_code, SearchEntry.dept_name, SearchEntry.division_code, SearchEntry.level)
            .where(SearchEntry.name_id == name_id, *conditions)
            .order_by(SearchEntry.level, SearchEntry.division_code, SearchEntry.task_code)
            .limit(limit)
        )
        .all()
    )
    return [Place(r.task_code, r.dept_name, r.division_code, int(r.level)) for r in rows]


@dataclass(frozen=True, slots=True)
class ThemeItem:
    """An item name under a theme, with the number of places offering it and one of its task codes."""

    task_name: str
    places: int
    task_code: str


def items_by_theme(
    session: Session, *, legal: bool = False, per_theme: int = 6
) -> dict[str, list[ThemeItem]]:
    """Published items grouped by 自然人主题分类 (or 法人主题分类), most widely offered first."""
    column = TaskItem.corp_topic_type if legal else TaskItem.user_topic_type
    rows = session.execute(
        select(column, TaskItem.task_name, func.count(), func.min(TaskItem.task_code))
        .where(TaskItem.status == Status.PUBLISHED, column.is_not(None))
        .group_by(column, TaskItem.task_name)
    ).all()
    themes: dict[str, list[ThemeItem]] = {}
    for topic, name, count, code in rows:
        for theme in str(topic).split("^"):
            if theme.strip():
                themes.setdefault(theme.strip(), []).append(ThemeItem(name, int(count), code))
    return {
        theme: sorted(items, key=lambda i: (-i.places, i.task_name))[:per_theme]
        for theme, items in sorted(themes.items(), key=lambda kv: (-sum(i.places for i in kv[1]), kv[0]))
    }


def departments_in(session: Session, division: str, *, limit: int = 200) -> list[tuple[str, str]]:
    """Departments with published items in exactly this division (the search's department filter)."""
    rows = session.execute(
        select(SearchEntry.dept_code, SearchEntry.dept_name)
        .where(SearchEntry.division_code == division)
        .distinct()
        .order_by(SearchEntry.dept_name)
        .limit(limit)
    ).all()
    return [(r.dept_code, r.dept_name) for r in rows]
