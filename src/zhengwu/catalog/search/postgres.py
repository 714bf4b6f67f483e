"""PostgreSQL implementation of the full-text interface: tsvector('simple') + GIN, pg_trgm for substrings."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from zhengwu.catalog.search.backend import like_pattern
from zhengwu.catalog.search.tokens import ParsedQuery, Variant

# The expression must be written exactly as in the index (ix_catalog_search_name_tsv) to use it.
TSV = "to_tsvector('simple'::regconfig, tokens)"


def _lexeme(token: str) -> str:
    # Tokens are \w+ runs (tokens.py), so they contain no quote or backslash; quoting keeps them literal.
    return "'" + token.replace("'", "''").replace("\\", "\\\\") + "'"


def _variant(variant: Variant) -> str:
    groups = []
    for group in variant:
        alternatives = ["(" + " & ".join(_lexeme(t) for t in alt) + ")" for alt in group]
        groups.append("(" + " | ".join(alternatives) + ")")
    return " & ".join(groups)


def tsquery_expression(query: ParsedQuery) -> str:
    """The ``to_tsquery`` text of a parsed query."""
    return " | ".join("(" + _variant(v) + ")" for v in query.variants)


class PostgresFullText:
    """GIN indexes ``ix_catalog_search_name_tsv`` (tokens) and ``ix_catalog_search_name_trgm`` (name_key)."""

    dialect = "postgresql"

    def match_names(self, session: Session, query: ParsedQuery, limit: int) -> list[tuple[int, float]]:
        """Names matching the tokens, by ts_rank (negated: lower is better)."""
        if query.empty:
            return []
        rows = session.execute(
            text(
                f"SELECT id, ts_rank({TSV}, q) AS score FROM catalog_search_name, "  # noqa: S608 - constant
                f"to_tsquery('simple'::regconfig, :q) AS q WHERE {TSV} @@ q ORDER BY score DESC, id LIMIT :limit"
            ),
            {"q": tsquery_expression(query), "limit": limit},
        ).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def substring_names(self, session: Session, needle: str, limit: int) -> list[int]:
        """Names containing the text (pg_trgm serves LIKE for 3+ characters; shorter ones scan the small table)."""
        if not needle:
            return []
        rows = session.execute(
            # Backslash is PostgreSQL's default LIKE escape; an explicit ESCAPE clause would hide the pattern
            # from the pg_trgm index.
            text("SELECT id FROM catalog_search_name WHERE name_key LIKE :p LIMIT :limit"),
            {"p": like_pattern(needle), "limit": limit},
        ).all()
        return [int(r[0]) for r in rows]
