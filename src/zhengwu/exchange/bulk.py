"""Driver-level bulk writes for the hot paths (inbox, aggregate), on SQLite and PostgreSQL.

SQLAlchemy's per-row parameter processing costs more than the insert itself at thousands of rows per
second, so these statements go to the DBAPI ``executemany`` with values already in storage form:
JSON as text (``::jsonb`` on PostgreSQL), timestamps as SQLAlchemy stores them on SQLite (naive UTC
``YYYY-MM-DD HH:MM:SS.ffffff``) and as aware datetimes on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.exchange.canonical import dumps_text


def is_postgres(session: Session) -> bool:
    """True when the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def timestamp(session: Session, moment: datetime) -> Any:
    """A UTC timestamp in the form the driver stores for a ``UTCDateTime`` column."""
    if is_postgres(session):
        return moment.astimezone(UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def json_text(value: Any) -> str | None:
    """JSON text of a value (None stays SQL NULL)."""
    return None if value is None else dumps_text(value)


def insert_many(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    json_columns: frozenset[str] = frozenset(),
    conflict: str = "",
) -> None:
    """``INSERT INTO table (columns) VALUES (...)`` for every row, with an optional ON CONFLICT clause."""
    if not rows:
        return
    pg = is_postgres(session)
    marks = ", ".join(("%s::jsonb" if c in json_columns else "%s") if pg else "?" for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {conflict}"  # noqa: S608 - fixed names
    session.connection().exec_driver_sql(sql, [tuple(r) for r in rows])
