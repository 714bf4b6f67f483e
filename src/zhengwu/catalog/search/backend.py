"""The one interface of the full-text part of the search, implemented per database dialect."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from zhengwu.catalog.search.tokens import ParsedQuery


class FullText(Protocol):
    """Finds item names (rows of ``catalog_search_name``) by tokens and by substring."""

    dialect: str

    def match_names(self, session: Session, query: ParsedQuery, limit: int) -> list[tuple[int, float]]:
        """Names whose tokens match the query, best first, as (name id, score; lower is better)."""
        ...

    def substring_names(self, session: Session, text: str, limit: int) -> list[int]:
        """Names containing ``text`` (normalised, no spaces): trigram index for 3+ characters, LIKE below."""
        ...


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE wildcards escaped (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
