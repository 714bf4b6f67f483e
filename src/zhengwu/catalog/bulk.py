"""Fast multi-row INSERT for the bulk paths (import, demo seed): SQLAlchemy's own type conversion, one
``executemany`` on the driver.

Core ``insert(table)`` with a list of dicts spends more time per row in parameter handling than the
database spends storing it. Here the per-column bind processors that SQLAlchemy would apply are
looked up once per table and dialect and applied in a tight loop; the statement goes straight to the
DBAPI cursor in the dialect's paramstyle. Works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

Processor = Callable[[Any], Any] | None
_PLANS: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[Processor]]] = {}


def _plan(connection: Connection, table: Table, columns: tuple[str, ...]) -> tuple[str, list[Processor]]:
    dialect = connection.dialect
    key = (dialect.name, table.name, columns)
    cached = _PLANS.get(key)
    if cached is not None:
        return cached
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    # Identifiers come from the table definition and are quoted by the dialect; values are parameters.
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(mark for _ in columns)})"
    )
    processors: list[Processor] = [
        table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    _PLANS[key] = (sql, processors)
    return sql, processors


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys, column names) into ``table``; returns the count.

    A None value is sent as SQL NULL without its column's processor (JSON columns of the bulk paths
    are never None).
    """
    if not rows:
        return 0
    columns = tuple(rows[0])
    sql, processors = _plan(connection, table, columns)
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    converted = [(i, p) for i, p in enumerate(processors) if p is not None]
    if not converted:
        data: list[Any] = [pick(row) for row in rows]
    else:
        data = []
        for row in rows:
            values = list(pick(row))
            for i, process in converted:
                if values[i] is not None:
                    values[i] = process(values[i])
            data.append(tuple(values))
    connection.exec_driver_sql(sql, data)
    return len(rows)
