"""Keeps the search tables in step with published items (one at a time, or in bulk for imports)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zhengwu.catalog import codetables as ct
from zhengwu.catalog.bulk import insert_rows
from zhengwu.catalog.models import SearchDept, SearchEntry, SearchName, table_of
from zhengwu.catalog.search.tokens import document_tokens, name_key
from zhengwu.kernel.stamps import bump

#: Raised with every change of the published items (kernel.stamps): pages that count them keep counts.
PUBLISHED_STAMP = "catalog.published"
#: Raised with every change of the search's synonyms (what a query finds changes with them).
SYNONYMS_STAMP = "catalog.synonyms"

_PERSON = ct.PERSON_TYPES
_LEGAL = ct.LEGAL_TYPES


def object_mask(server_type: str | None) -> int:
    """Bit 0 个人, bit 1 法人 from a 服务对象 value such as ``1^2``."""
    codes = set((server_type or "").split("^"))
    return (ct.OBJECT_PERSON if codes & _PERSON else 0) | (ct.OBJECT_LEGAL if codes & _LEGAL else 0)


def depth_mask(depth: str | None) -> int:
    """Bit n for each 网上办理深度 n in a value such as ``3^4^5``."""
    mask = 0
    for part in (depth or "").split("^"):
        if part.isdigit() and 1 <= int(part) <= 8:
            mask |= 1 << int(part)
    return mask


def themes_of(values: Mapping[str, Any]) -> list[str]:
    """Words people search an item by besides its name: themes (自然人/法人主题) and the result (营业执照)."""
    found: list[str] = []
    for key in ("user_topic_type", "corp_topic_type", "result_name"):
        for raw in str(values.get(key) or "").split("^"):
            part = raw.strip()
            if part and part not in found:
                found.append(part)
    return found


@dataclass(frozen=True, slots=True)
class EntryData:
    """What the search keeps of one published implementation item."""

    task_id: str
    task_code: str
    task_name: str
    catalog_code: str
    dept_code: str
    dept_name: str
    division_code: str
    task_type: str
    level: int
    object_mask: int
    depth_mask: int
    themes: tuple[str, ...]

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> EntryData:
        """From an item (model or mapping) with national column names plus id and division_code."""
        return cls(
            task_id=values["id"],
            task_code=values["task_code"],
            task_name=values["task_name"],
            catalog_code=values["catalog_code"],
            dept_code=values["dept_code"],
            dept_name=values["dept_name"],
            division_code=values["division_code"],
            task_type=values["task_type"],
            level=int(values["use_level"]),
            object_mask=object_mask(values.get("server_type")),
            depth_mask=depth_mask(values.get("online_handle_depth")),
            themes=tuple(themes_of(values)),
        )

    def row(self, name_id: int) -> dict[str, Any]:
        """The catalog_search_entry row."""
        return {
            "task_id": self.task_id,
            "task_code": self.task_code,
            "name_id": name_id,
            "catalog_code": self.catalog_code,
            "dept_code": self.dept_code,
            "dept_name": self.dept_name,
            "division_code": self.division_code,
            "task_type": self.task_type,
            "level": self.level,
            "object_mask": self.object_mask,
            "depth_mask": self.depth_mask,
        }


NameCache = dict[str, tuple[int, frozenset[str], frozenset[str]]]  # key → id, keywords, task types


def _name_id(
    session: Session, name: str, keywords: Iterable[str], task_type: str, cache: NameCache | None = None
) -> int:
    key = name_key(name)
    wanted = list(keywords)
    if cache is not None and key in cache:
        cached_id, cached_words, cached_types = cache[key]
        if cached_words.issuperset(wanted) and task_type in cached_types:
            return cached_id
    row = session.execute(
        select(SearchName.id, SearchName.themes, SearchName.task_types).where(SearchName.name_key == key)
    ).first()
    if row is None:
        try:
            with session.begin_nested():
                new_id = session.execute(
                    insert(SearchName)
                    .values(
                        name_key=key,
                        task_name=name,
                        themes="^".join(wanted),
                        tokens=document_tokens(name, *wanted),
                        item_count=0,
                        task_types=task_type,
                    )
                    .returning(SearchName.id)
                ).scalar_one()
        except IntegrityError:
            # Another transaction created the same name meanwhile (PostgreSQL): use theirs.
            return _name_id(session, name, wanted, task_type, cache)
        if cache is not None:
            cache[key] = (int(new_id), frozenset(wanted), frozenset({task_type}))
        return int(new_id)
    name_id = int(row[0])
    known = row[1].split("^") if row[1] else []
    types = row[2].split("^") if row[2] else []
    changes: dict[str, str] = {}
    missing = [t for t in wanted if t not in known]
    if missing:
        known = known + missing
        changes.update(themes="^".join(known), tokens=document_tokens(name, *known))
    if task_type not in types:
        types = sorted({*types, task_type})
        changes["task_types"] = "^".join(types)
    if changes:
        session.execute(update(SearchName).where(SearchName.id == name_id).values(**changes))
    if cache is not None:
        cache[key] = (name_id, frozenset(known), frozenset(types))
    return name_id


def _bump_dept(session: Session, dept_code: str, dept_name: str, delta: int) -> None:
    if delta == 0:
        return
    updated = session.execute(
        update(SearchDept)
        .where(SearchDept.dept_code == dept_code)
        .values(item_count=SearchDept.item_count + delta, dept_name=dept_name)
    )
    if getattr(updated, "rowcount", 0) == 0 and delta > 0:
        session.execute(insert(SearchDept).values(dept_code=dept_code, dept_name=dept_name, item_count=delta))


def _bump_name(session: Session, name_id: int, delta: int) -> None:
    session.execute(
        update(SearchName).where(SearchName.id == name_id).values(item_count=SearchName.item_count + delta)
    )


def index_item(session: Session, data: EntryData) -> None:
    """Put (or refresh) one published item in the search."""
    name_id = _name_id(session, data.task_name, data.themes, data.task_type)
    old = session.execute(
        select(SearchEntry.name_id, SearchEntry.dept_code, SearchEntry.dept_name).where(
            SearchEntry.task_id == data.task_id
        )
    ).first()
    bump(session, PUBLISHED_STAMP)
    if old is None:
        session.execute(insert(SearchEntry).values(**data.row(name_id)))
        _bump_name(session, name_id, 1)
        _bump_dept(session, data.dept_code, data.dept_name, 1)
        return
    session.execute(
        update(SearchEntry).where(SearchEntry.task_id == data.task_id).values(**data.row(name_id))
    )
    if old.name_id != name_id:
        _bump_name(session, old.name_id, -1)
        _bump_name(session, name_id, 1)
    if old.dept_code != data.dept_code:
        _bump_dept(session, old.dept_code, old.dept_name, -1)
        _bump_dept(session, data.dept_code, data.dept_name, 1)


def unindex_item(session: Session, task_id: str) -> None:
    """Take an item out of the search (suspended, cancelled)."""
    old = session.execute(
        select(SearchEntry.name_id, SearchEntry.dept_code, SearchEntry.dept_name).where(
            SearchEntry.task_id == task_id
        )
    ).first()
    bump(session, PUBLISHED_STAMP)  # also when it was not indexed: its row changed status
    if old is None:
        return
    session.execute(delete(SearchEntry).where(SearchEntry.task_id == task_id))
    _bump_name(session, old.name_id, -1)
    _bump_dept(session, old.dept_code, old.dept_name, -1)


class BulkIndexer:
    """Adds many new published items at once (imports): cached name ids, executemany, summed counters."""

    def __init__(self) -> None:
        self.names: NameCache = {}

    def add(self, session: Session, items: Iterable[EntryData]) -> int:
        """Index items that are not in the search yet; returns how many were added."""
        rows: list[dict[str, Any]] = []
        per_name: Counter[int] = Counter()
        per_dept: Counter[tuple[str, str]] = Counter()
        for data in items:
            name_id = _name_id(session, data.task_name, data.themes, data.task_type, self.names)
            rows.append(data.row(name_id))
            per_name[name_id] += 1
            per_dept[(data.dept_code, data.dept_name)] += 1
        if not rows:
            return 0
        bump(session, PUBLISHED_STAMP)
        insert_rows(session.connection(), table_of(SearchEntry), rows)
        connection = session.connection()
        # One executemany per counter table instead of a statement (or two) per name and department: an
        # import chunk touches a hundred or more departments.
        connection.execute(
            update(SearchName)
            .where(SearchName.id == bindparam("b_id"))
            .values(item_count=SearchName.item_count + bindparam("b_delta")),
            [{"b_id": i, "b_delta": n} for i, n in per_name.items()],
        )
        _bump_depts(connection, per_dept)
        return len(rows)


def _bump_depts(connection: Connection, per_dept: Counter[tuple[str, str]]) -> None:
    """What ``_bump_dept`` does for each (code, name) in turn, in three statements: a department's count
    grows by its items under every name, and it keeps the name it was last seen with."""
    totals: dict[str, tuple[str, int]] = {}
    for (code, name), n in per_dept.items():
        totals[code] = (name, totals.get(code, ("", 0))[1] + n)
    stored = set(
        connection.scalars(select(SearchDept.dept_code).where(SearchDept.dept_code.in_(list(totals))))
    )
    known = [{"b_code": c, "b_name": nm, "b_delta": n} for c, (nm, n) in totals.items() if c in stored]
    fresh = [
        {"dept_code": c, "dept_name": nm, "item_count": n}
        for c, (nm, n) in totals.items()
        if c not in stored and n > 0
    ]
    if known:
        connection.execute(
            update(SearchDept)
            .where(SearchDept.dept_code == bindparam("b_code"))
            .values(item_count=SearchDept.item_count + bindparam("b_delta"), dept_name=bindparam("b_name")),
            known,
        )
    if fresh:
        connection.execute(insert(SearchDept), fresh)
