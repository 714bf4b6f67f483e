"""Names of the full-text structures the catalog migration creates outside the ORM, and the autogenerate filter.

SQLite gets two FTS5 tables over ``catalog_search_name`` (jieba tokens with ``unicode61``, the raw name
with ``trigram``) kept in step by triggers; PostgreSQL gets a GIN index on ``to_tsvector('simple',
tokens)`` and a ``pg_trgm`` GIN index on the name. Autogenerate cannot describe these (an FTS5 table
reflects as several shadow tables), so they are not mapped, and :func:`register_autogenerate_filter`
(called by the migration that creates them) keeps ``alembic revision --autogenerate`` and the
models-match-migrations test from proposing to drop them.
"""

from __future__ import annotations

from typing import Any

FTS_TABLE = "catalog_search_name_fts"
TRIGRAM_TABLE = "catalog_search_name_trgm"  # over name_key (normalised name)
# FTS5 shadow tables (https://sqlite.org/fts5.html#shadow_tables); external content ⇒ no *_content.
_SHADOW_SUFFIXES = ("", "_data", "_idx", "_docsize", "_config", "_content")
UNMAPPED_SQLITE_TABLES = frozenset(
    f"{base}{suffix}" for base in (FTS_TABLE, TRIGRAM_TABLE) for suffix in _SHADOW_SUFFIXES
)
PG_TSV_INDEX = "ix_catalog_search_name_tsv"
PG_TRGM_INDEX = "ix_catalog_search_name_trgm"
UNMAPPED_PG_INDEXES = frozenset({PG_TSV_INDEX, PG_TRGM_INDEX})

_registered = False


def _is_unmapped(op: Any) -> bool:
    from alembic.operations import ops

    if isinstance(op, ops.DropTableOp):
        return op.table_name in UNMAPPED_SQLITE_TABLES
    if isinstance(op, ops.DropIndexOp):
        return str(op.index_name) in UNMAPPED_PG_INDEXES
    return False


def _drop_unmapped(container: Any) -> None:
    from alembic.operations import ops

    kept = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            _drop_unmapped(op)
            if not op.ops:
                continue
        elif _is_unmapped(op):
            continue
        kept.append(op)
    container.ops[:] = kept


def register_autogenerate_filter() -> None:
    """Hook a last-priority comparator into Alembic that forgets the unmapped search structures (idempotent)."""
    global _registered
    if _registered:
        return
    from alembic.autogenerate import comparators
    from alembic.util import DispatchPriority, PriorityDispatchResult

    def forget_unmapped(_context: Any, upgrade_ops: Any, _schemas: Any) -> PriorityDispatchResult:
        _drop_unmapped(upgrade_ops)
        return PriorityDispatchResult.CONTINUE

    # alembic.autogenerate.comparators is Alembic's documented registry for third-party comparators.
    comparators.dispatch_for("schema", subgroup="zhengwu_catalog_search", priority=DispatchPriority.LAST)(
        forget_unmapped
    )
    _registered = True
