"""The public search: find item names by full text, then page through their implementation items.

A million implementation items share a few thousand names, so relevance is decided on the names
(exact name first, then names starting with the query, then full-text rank, then substring matches)
and the items of each name are read in index order with the filters applied (division, department,
type, level, service object, online depth). Words of a query that name no item but a place or a
department (``石家庄 护照``, ``公安 户口``) become filters.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from zhengwu.catalog import codetables as ct
from zhengwu.catalog.models import SearchDept, SearchEntry, SearchName, Synonym
from zhengwu.catalog.search.backend import FullText, like_pattern
from zhengwu.catalog.search.postgres import PostgresFullText
from zhengwu.catalog.search.sqlite import SqliteFullText
from zhengwu.catalog.search.tokens import ParsedQuery, name_key, normalize, parse_query
from zhengwu.kernel.codes import divisions

MAX_NAMES = 500
SYNONYM_TTL = 30.0  # seconds a process keeps the synonym table before reading it again


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Filters of the public search (all optional)."""

    division: str | None = None
    department: str | None = None
    task_type: str | None = None
    level: int | None = None
    service_object: str | None = None  # "person" (个人) or "legal" (法人)
    online_depth: int | None = None

    @property
    def on_entries(self) -> bool:
        """True when some filter applies to individual items (so per-name counts must be computed)."""
        return any(
            v is not None
            for v in (
                self.division,
                self.department,
                self.task_type,
                self.level,
                self.service_object,
                self.online_depth,
            )
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One implementation item found."""

    task_code: str
    task_name: str
    catalog_code: str
    task_type: str
    use_level: str
    dept_code: str
    dept_name: str
    division_code: str
    match: str  # exact | prefix | token | substring | filter


@dataclass
class SearchResult:
    """A page of hits, the total, and how the query was understood."""

    hits: list[SearchHit]
    total: int
    query: str
    implied: dict[str, Any] = field(default_factory=dict)


def backend_for(session: Session) -> FullText:
    """The full-text implementation for the session's database."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return SqliteFullText()
    if name == "postgresql":
        return PostgresFullText()
    raise RuntimeError(f"catalog search supports SQLite and PostgreSQL, not {name}")


_synonym_cache: tuple[float, dict[str, str]] | None = None


def synonyms(session: Session) -> dict[str, str]:
    """The synonym table (term → canonical), cached for a few seconds per process."""
    global _synonym_cache
    now = time.monotonic()
    if _synonym_cache is not None and now - _synonym_cache[0] < SYNONYM_TTL:
        return _synonym_cache[1]
    rows = session.execute(select(Synonym.term, Synonym.canonical)).all()
    table = {normalize(t): normalize(c) for t, c in rows if normalize(t) and normalize(c)}
    _synonym_cache = (now, table)
    return table


def forget_synonyms() -> None:
    """Drop the cached synonym table (after a change)."""
    global _synonym_cache
    _synonym_cache = None


def division_range(code: str) -> tuple[str, str]:
    """The half-open range of division codes inside a division (130000 → 13…, 130100 → 1301…)."""
    if code.endswith("0000"):
        prefix = code[:2]
    elif code.endswith("00"):
        prefix = code[:4]
    else:
        return code, code + "\x7f"
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _entry_conditions(filters: SearchFilters, departments: Sequence[str] | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.division:
        low, high = division_range(filters.division)
        conditions.append(and_(SearchEntry.division_code >= low, SearchEntry.division_code < high))
    if filters.department:
        conditions.append(SearchEntry.dept_code == filters.department)
    if departments is not None:
        conditions.append(SearchEntry.dept_code.in_(departments))
    if filters.task_type:
        conditions.append(SearchEntry.task_type == filters.task_type)
    if filters.level:
        conditions.append(SearchEntry.level == filters.level)
    if filters.service_object:
        bit = ct.OBJECT_PERSON if filters.service_object == "person" else ct.OBJECT_LEGAL
        conditions.append(SearchEntry.object_mask.op("&")(bit) != 0)
    if filters.online_depth:
        conditions.append(SearchEntry.depth_mask.op("&")(1 << filters.online_depth) != 0)
    return conditions


@cache
def _place_names(scope: str) -> dict[str, str]:
    """Current division names (and short forms, 石家庄市 → 石家庄) inside ``scope`` → division code."""
    prefix = "" if scope == "000000" else division_range(scope)[0]
    names: dict[str, str] = {}
    for code in sorted(divisions.current_codes()):
        if not code.startswith(prefix):
            continue
        name = divisions.name_of(code)
        if not name:
            continue
        names.setdefault(name, code)
        for suffix in ("自治县", "自治州", "新区", "市", "县", "区", "省"):
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                names.setdefault(name[: -len(suffix)], code)
                break
    return names


class _Ranker:
    """Orders candidate names: exact name, then prefix, then full-text rank, then substring-only."""

    def __init__(self, query: ParsedQuery) -> None:
        self.keys = {name_key(t) for t in query.texts}

    def key(self, row: Any, score: float | None) -> tuple[int, float, int, str]:
        name = row.name_key
        if name in self.keys:
            tier = 0
        elif any(name.startswith(k) for k in self.keys):
            tier = 1
        elif score is not None:
            tier = 2
        else:
            tier = 3
        return tier, score if score is not None else 0.0, len(name), name

    @staticmethod
    def label(tier: int) -> str:
        return ("exact", "prefix", "token", "substring")[tier]


def _candidate_names(session: Session, backend: FullText, query: ParsedQuery) -> list[tuple[Any, int]]:
    scores = dict(backend.match_names(session, query, MAX_NAMES))
    ids = set(scores)
    for text in query.texts:
        ids.update(backend.substring_names(session, text.replace(" ", ""), MAX_NAMES))
    if not ids:
        return []
    rows = (
        session.connection()
        .execute(_NAME_COLUMNS.where(SearchName.id.in_(ids), SearchName.item_count > 0))
        .all()
    )
    ranker = _Ranker(query)
    keyed = sorted(((ranker.key(r, scores.get(r.id)), r) for r in rows), key=lambda kr: kr[0])
    return [(r, k[0]) for k, r in keyed[:MAX_NAMES]]


def _all_names(session: Session) -> list[tuple[Any, int]]:
    rows = (
        session.connection()
        .execute(
            _NAME_COLUMNS.where(SearchName.item_count > 0).order_by(SearchName.name_key).limit(MAX_NAMES * 20)
        )
        .all()
    )
    return [(r, 4) for r in rows]


# Core statements (no ORM): the search runs a handful of them per request.
_NAME_COLUMNS = select(
    SearchName.id, SearchName.name_key, SearchName.task_name, SearchName.item_count, SearchName.task_types
)


def _split_words(
    session: Session, backend: FullText, query: ParsedQuery, scope: str, synonym_table: dict[str, str]
) -> tuple[ParsedQuery, str | None, list[str] | None, list[str]]:
    """Move words that match no name but a place or a department into filters."""
    places = _place_names(scope)
    kept: list[str] = []
    division: str | None = None
    departments: set[str] | None = None
    dept_words: list[str] = []
    for word in query.text.split(" "):
        if not word:
            continue
        single = parse_query(word, synonym_table)
        if backend.match_names(session, single, 1) or backend.substring_names(session, word, 1):
            kept.append(word)
            continue
        if word in places and division is None:
            division = places[word]
            continue
        found = session.scalars(
            select(SearchDept.dept_code).where(SearchDept.dept_name.like(like_pattern(word), escape="\\"))
        ).all()
        if found:
            departments = set(found) if departments is None else departments & set(found)
            dept_words.append(word)
            continue
        kept.append(word)
    remaining = parse_query(" ".join(kept), synonym_table)
    return remaining, division, sorted(departments) if departments is not None else None, dept_words


@dataclass
class MatchedNames:
    """The item names a query matches, with the filters its place and department words implied.

    ``names`` is None when the query holds only punctuation: there is nothing to look for.
    """

    names: list[Any] | None
    query: str
    filters: SearchFilters
    departments: list[str] | None = None
    implied: dict[str, Any] = field(default_factory=dict)


def match_names(session: Session, q: str, filters: SearchFilters | None, *, scope: str) -> MatchedNames:
    """Candidate names for ``q``: words first, then place and department words taken as filters.

    Shared by the flat search and the grouped one so that both rank and narrow the same way.
    """
    filters = filters or SearchFilters()
    backend = backend_for(session)
    table = synonyms(session)
    query = parse_query(q, table)
    implied: dict[str, Any] = {}
    departments: list[str] | None = None
    if query.empty and q.strip():
        return MatchedNames(None, query.text, filters)
    if query.empty:
        names = _all_names(session)
    else:
        names = _candidate_names(session, backend, query)
        if not names:
            remaining, division, departments, dept_words = _split_words(session, backend, query, scope, table)
            if division and not filters.division:
                filters = SearchFilters(**{**_as_dict(filters), "division": division})
                implied["division"] = division
            if departments is not None:
                implied["departments"] = dept_words
            if division or departments is not None:
                names = (
                    _all_names(session) if remaining.empty else _candidate_names(session, backend, remaining)
                )
    if filters.task_type:
        # Names whose items have other types only cannot match: drop them before touching entries.
        names = [(row, tier) for row, tier in names if filters.task_type in row.task_types.split("^")]
    return MatchedNames(names, query.text, filters, departments, implied)


def search(
    session: Session,
    q: str,
    filters: SearchFilters | None = None,
    *,
    offset: int = 0,
    limit: int = 20,
    scope: str = "000000",
) -> SearchResult:
    """Search published implementation items; ``scope`` is the node's division (for place words)."""
    matched = match_names(session, q, filters, scope=scope)
    if matched.names is None:
        return SearchResult(hits=[], total=0, query=matched.query)  # only punctuation: nothing to look for
    names, filters, departments = matched.names, matched.filters, matched.departments
    conditions = _entry_conditions(filters, departments)
    uniform_type = filters.task_type is not None and all(
        row.task_types == filters.task_type for row, _ in names
    )
    only_type = _as_dict(filters).keys() - {"task_type"}
    if uniform_type and departments is None and not any(_as_dict(filters)[k] for k in only_type):
        conditions = []  # every item of these names has that type: the stored counts are exact
    counts = _counts(session, names, conditions)
    hits, total = _page(session, names, counts, conditions, offset, limit)
    return SearchResult(hits=hits, total=total, query=matched.query, implied=matched.implied)


def _as_dict(filters: SearchFilters) -> dict[str, Any]:
    return {
        "division": filters.division,
        "department": filters.department,
        "task_type": filters.task_type,
        "level": filters.level,
        "service_object": filters.service_object,
        "online_depth": filters.online_depth,
    }


def _counts(
    session: Session, names: list[tuple[Any, int]], conditions: list[ColumnElement[bool]]
) -> dict[int, int]:
    if not conditions:
        return {row.id: row.item_count for row, _ in names}
    ids = [row.id for row, _ in names]
    counts: dict[int, int] = {}
    # Chunked IN lists keep statements small on both databases.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = (
            session.connection()
            .execute(
                select(SearchEntry.name_id, func.count())
                .where(SearchEntry.name_id.in_(chunk), *conditions)
                .group_by(SearchEntry.name_id)
            )
            .all()
        )
        counts.update({int(r[0]): int(r[1]) for r in rows})
    return counts


def _page(
    session: Session,
    names: list[tuple[Any, int]],
    counts: dict[int, int],
    conditions: list[ColumnElement[bool]],
    offset: int,
    limit: int,
) -> tuple[list[SearchHit], int]:
    total = sum(counts.get(row.id, 0) for row, _ in names)
    hits: list[SearchHit] = []
    skip = offset
    for row, tier in names:
        if len(hits) >= limit:
            break
        count = counts.get(row.id, 0)
        if skip >= count:
            skip -= count
            continue
        want = limit - len(hits)
        entries = (
            session.connection()
            .execute(
                select(
                    SearchEntry.task_code,
                    SearchEntry.catalog_code,
                    SearchEntry.task_type,
                    SearchEntry.level,
                    SearchEntry.dept_code,
                    SearchEntry.dept_name,
                    SearchEntry.division_code,
                )
                .where(SearchEntry.name_id == row.id, *conditions)
                .order_by(SearchEntry.division_code, SearchEntry.task_code)
                .offset(skip)
                .limit(want)
            )
            .all()
        )
        skip = 0
        label = "filter" if tier == 4 else _Ranker.label(tier)
        hits.extend(
            SearchHit(
                task_code=e.task_code,
                task_name=row.task_name,
                catalog_code=e.catalog_code,
                task_type=e.task_type,
                use_level=str(e.level),
                dept_code=e.dept_code,
                dept_name=e.dept_name,
                division_code=e.division_code,
                match=label,
            )
            for e in entries
        )
    return hits, total
