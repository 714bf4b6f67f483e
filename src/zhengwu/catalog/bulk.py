"""Fast multi-row INSERT for the bulk paths (import, demo seed): SQLAlchemy's own type conversion, one
``executemany`` on the driver.

Core ``insert(table)`` with a list of dicts spends more time per row in parameter handling than the
database spends storing it. Here the per-column bind processors that SQLAlchemy would apply are
looked up once per table and dialect and applied in a tight loop; the statement goes straight to the
DBAPI cursor in the dialect's paramstyle. Works on SQLite and PostgreSQL alike. Rows can be converted
to driver tuples ahead of time (in the import's worker processes) and inserted later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table

Processor = Callable[[Any], Any]
Row = tuple[Any, ...]


class TableRows:
    """Converts dicts to driver tuples for one table, column order and dialect; knows its INSERT."""

    def __init__(self, dialect: Dialect, table: Table, columns: Sequence[str]) -> None:
        self.table = table.name
        self.columns = tuple(columns)
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        # Identifiers come from the table definition and are quoted by the dialect; values are parameters.
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in self.columns)}) "  # noqa: S608
            f"VALUES ({', '.join(mark for _ in self.columns)})"
        )
        processors = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in self.columns]
        self._convert: list[tuple[int, Processor]] = [
            (i, p) for i, p in enumerate(processors) if p is not None
        ]
        cols = self.columns
        self._pick: Callable[[Mapping[str, Any]], Row] = (
            itemgetter(*cols) if len(cols) > 1 else (lambda row: (row[cols[0]],))
        )

    def convert(self, row: Mapping[str, Any]) -> Row:
        """One driver tuple. A None value stays SQL NULL (JSON columns of the bulk paths are never None)."""
        values = self._pick(row)
        if not self._convert:
            return values
        converted = list(values)
        for i, process in self._convert:
            if converted[i] is not None:
                converted[i] = process(converted[i])
        return tuple(converted)


_WRITERS: dict[tuple[str, str, tuple[str, ...]], TableRows] = {}


def table_rows(dialect: Dialect, table: Table, columns: Sequence[str]) -> TableRows:
    """The (cached) converter of a table for these columns and this dialect."""
    key = (dialect.name, table.name, tuple(columns))
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS[key] = TableRows(dialect, table, columns)
    return writer


def insert_tuples(connection: Connection, writer: TableRows, rows: Sequence[Row]) -> int:
    """Insert rows already converted by ``writer``."""
    if rows:
        connection.exec_driver_sql(writer.sql, list(rows))
    return len(rows)


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (dicts with the same keys, column names) into ``table``; returns the count."""
    if not rows:
        return 0
    writer = table_rows(connection.dialect, table, tuple(rows[0]))
    return insert_tuples(connection, writer, [writer.convert(row) for row in rows])
