"""SQLite implementation of the full-text interface: FTS5 over jieba tokens, FTS5 trigram for substrings."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhengwu.catalog.search.backend import like_pattern
from zhengwu.catalog.search.ddl import FTS_TABLE, TRIGRAM_TABLE
from zhengwu.catalog.search.tokens import ParsedQuery, Variant

# SQLite 3.40's trigram tokenizer silently finds nothing for patterns under three characters
# (design/dependencies.md), so shorter substrings fall back to LIKE over the (small) names table.
TRIGRAM_MIN = 3


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _variant(variant: Variant) -> str:
    groups = []
    for group in variant:
        alternatives = ["(" + " AND ".join(_quote(t) for t in alt) + ")" for alt in group]
        groups.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(groups)


def fts_expression(query: ParsedQuery) -> str:
    """The FTS5 MATCH expression of a parsed query (every token quoted: no query syntax from users)."""
    return " OR ".join("(" + _variant(v) + ")" for v in query.variants)


class SqliteFullText:
    """FTS5 tables ``catalog_search_name_fts`` (unicode61 over tokens) and ``..._trgm`` (trigram)."""

    dialect = "sqlite"

    def match_names(self, session: Session, query: ParsedQuery, limit: int) -> list[tuple[int, float]]:
        """Names matching the tokens, by FTS5 bm25 rank."""
        if query.empty:
            return []
        rows = session.execute(
            text(
                f"SELECT rowid, rank FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q ORDER BY rank LIMIT :limit"  # noqa: S608 - constant names
            ),
            {"q": fts_expression(query), "limit": limit},
        ).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    def substring_names(self, session: Session, needle: str, limit: int) -> list[int]:
        """Names containing the text: trigram MATCH for 3+ characters, LIKE for 1–2."""
        if not needle:
            return []
        if len(needle) >= TRIGRAM_MIN:
            sql = f"SELECT rowid FROM {TRIGRAM_TABLE} WHERE {TRIGRAM_TABLE} MATCH :q LIMIT :limit"  # noqa: S608
            params: dict[str, object] = {"q": _quote(needle), "limit": limit}
        else:
            sql = "SELECT id FROM catalog_search_name WHERE name_key LIKE :p ESCAPE '\\' LIMIT :limit"
            params = {"p": like_pattern(needle), "limit": limit}
        return [int(r[0]) for r in session.execute(text(sql), params).all()]
