"""The portal's search: the person's words through the vocabulary, then the catalog, one entry per item.

Keywords of the phrases found come first, each keyword contributing its exact item (or its best three
names); what the query says besides the phrases, and the query as typed, follow. The same item name is
shown once with the places that offer it (the catalog's grouped search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from zhengwu.catalog.search import SearchFilters
from zhengwu.catalog.search.grouped import Place, RankedName, places_of, rank_names
from zhengwu.portal.vocabulary import Vocabulary

PER_KEYWORD = 3


@dataclass(frozen=True, slots=True)
class Group:
    """One item name found, and the filter conditions under which its places are read."""

    name: RankedName
    conditions: Sequence[ColumnElement[bool]]


@dataclass
class Found:
    """The groups of a search (every one, best first) and how the query was understood."""

    groups: list[Group]
    phrases: tuple[str, ...] = ()
    implied: dict[str, Any] = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shown:
    """A group on the page: the item name, its places, and how many places there are in all."""

    task_name: str
    places: list[Place]
    total: int
    match: str


def find(session: Session, q: str, filters: SearchFilters, vocabulary: Vocabulary, *, scope: str) -> Found:
    """Every item name matching ``q`` under ``filters``, vocabulary keywords first."""
    match = vocabulary.understand(q)
    groups: dict[int, Group] = {}
    whole = rank_names(session, q, filters, scope=scope) if q.strip() else None
    implied: dict[str, Any] = dict(whole.implied) if whole else {}
    if "division" in implied and not filters.division:
        # A place word (石家庄 护照) narrows the vocabulary's keywords too.
        filters = SearchFilters(
            division=implied["division"],
            department=filters.department,
            task_type=filters.task_type,
            service_object=filters.service_object,
        )

    def add(names: list[RankedName], conditions: Sequence[ColumnElement[bool]]) -> None:
        for name in names:
            # Names listed only because a place or department word matched mean nothing next to real matches.
            if name.match == "filter" and groups:
                continue
            groups.setdefault(name.name_id, Group(name, conditions))

    for keyword in match.keywords:
        ranked = rank_names(session, keyword, filters, scope=scope)
        exact = [n for n in ranked.names if n.match == "exact"]
        add(exact[:1] if exact else ranked.names[:PER_KEYWORD], ranked.conditions)
    if match.phrases and match.rest:
        ranked = rank_names(session, match.rest, filters, scope=scope)
        add([n for n in ranked.names if n.match != "filter"], ranked.conditions)
    if whole is not None:
        add(whole.names, whole.conditions)
    elif not q.strip():
        ranked = rank_names(session, "", filters, scope=scope)
        groups.update((n.name_id, Group(n, ranked.conditions)) for n in ranked.names)
    found = Found(list(groups.values()), match.phrases, implied)
    if not found.groups and q.strip():
        found.suggestions = vocabulary.suggestions(q)
    return found


def page(session: Session, found: Found, offset: int, limit: int, *, places: int = 200) -> list[Shown]:
    """The groups of one page with their places."""
    shown = []
    for group in found.groups[offset : offset + limit]:
        rows = places_of(session, group.name.name_id, group.conditions, limit=places)
        shown.append(Shown(group.name.task_name, rows, group.name.count, group.name.match))
    return shown
