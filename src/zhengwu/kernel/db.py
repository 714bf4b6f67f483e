"""Database foundation: declarative base with a naming convention, portable column types, engines.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is production. Types here pick the
better native type per dialect (JSON → JSONB on PostgreSQL) and keep every timestamp UTC-aware.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, Table, TypeDecorator, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; tables are named ``<capability>_<entity>``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


PortableJSON = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as UTC with tzinfo (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use kernel.clock.utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    """A new random identifier (UUID4 as 32 hex characters)."""
    return uuid.uuid4().hex


class IdMixin:
    """String primary key (32 hex) — portable and safe to expose."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs; SQLAlchemy's documented recipe turns it
    # off here and emits BEGIN itself (see the "begin" listener below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # The busy timeout first: "journal_mode=WAL" takes a lock, and a new connection opened while another
    # one commits must wait for it, not fail ("database is locked" when a pool grows under load).
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, echo: bool = False, static_pool: bool = False) -> Engine:
    """Create an engine with the per-dialect settings this project relies on."""
    # Statement errors would quote their parameters (personal data) in their text, which reaches logs.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        if static_pool or url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def dialect_insert(session: Session, table: Any) -> Any:
    """``INSERT`` with ON CONFLICT support (``on_conflict_do_nothing`` / ``_do_update``) for the
    session's dialect: SQLite or PostgreSQL."""
    name = session.get_bind().dialect.name
    target: Table = table.__table__ if hasattr(table, "__table__") else table
    return postgresql.insert(target) if name == "postgresql" else sqlite.insert(target)
