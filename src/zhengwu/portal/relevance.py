"""Relevance of the portal search: the share of everyday queries that find an expected item in the
first five distinct results (the test set is ``tests/portal/relevance.tsv``; bench and tests use this)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from zhengwu.catalog.search import SearchFilters, search
from zhengwu.portal import finder
from zhengwu.portal.vocabulary import Vocabulary

TOP = 5


@dataclass(frozen=True, slots=True)
class Case:
    """One query and the item names any of which counts as found."""

    query: str
    expected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A case, the first distinct names shown, and whether an expected one is among them."""

    case: Case
    top: tuple[str, ...]
    found: bool


def read_cases(path: Path) -> list[Case]:
    """The cases of a relevance file (``查询<TAB>事项、事项``; ``#`` comments)."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        query, expected = line.split("\t")
        cases.append(Case(query.strip(), tuple(e.strip() for e in expected.split("、") if e.strip())))
    return cases


def portal_top(session: Session, vocabulary: Vocabulary, scope: str) -> Callable[[str], tuple[str, ...]]:
    """The first distinct item names the portal shows for a query."""

    def top(query: str) -> tuple[str, ...]:
        found = finder.find(session, query, SearchFilters(), vocabulary, scope=scope)
        return tuple(g.name.task_name for g in found.groups[:TOP])

    return top


def catalog_top(session: Session, scope: str) -> Callable[[str], tuple[str, ...]]:
    """The baseline: the first distinct item names of the catalog's own search (no vocabulary)."""

    def top(query: str) -> tuple[str, ...]:
        names: dict[str, None] = {}
        offset = 0
        while len(names) < TOP:
            result = search(session, query, SearchFilters(), offset=offset, limit=200, scope=scope)
            names.update(dict.fromkeys(h.task_name for h in result.hits))
            offset += 200
            if offset >= result.total:
                break
        return tuple(list(names)[:TOP])

    return top


def measure(cases: Sequence[Case], top: Callable[[str], tuple[str, ...]]) -> list[Outcome]:
    """Run every case."""
    outcomes = []
    for case in cases:
        shown = top(case.query)
        outcomes.append(Outcome(case, shown, any(e in shown for e in case.expected)))
    return outcomes


def share(outcomes: Sequence[Outcome]) -> float:
    """The share of cases found (0 for no cases)."""
    return sum(o.found for o in outcomes) / len(outcomes) if outcomes else 0.0
