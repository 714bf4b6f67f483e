"""Database foundation: declarative base with a naming convention, portable column types, engines.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL is production. Types here pick the
better native type per dialect (JSON → JSONB on PostgreSQL) and keep every timestamp UTC-aware.
"""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import time
import uuid
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, String, Table, TypeDecorator, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from zhengwu.kernel.logging import get_logger

_log = get_logger("zhengwu.db")

#: How long a SQLite connection of the node waits for another's write lock before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

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


def new_ordered_id() -> str:
    """A 32-hex identifier that sorts by creation time (UUIDv7 layout: 48 bits of Unix milliseconds, 80
    random bits), for rows whose order matters where the time columns hold whole seconds."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


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
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# SQLite allows one writer. A deferred transaction that reads and later writes fails at once with
# "database is locked" when another writer committed in between (its snapshot is stale; busy_timeout
# cannot help). Transactions that may write therefore begin IMMEDIATE and queue for the write lock up
# front (ADR 0009); work that only reads (GET/HEAD/OPTIONS requests, a login's password check) runs
# inside read_only_transactions() and begins deferred, so it never waits for a writer.
_write_intent: ContextVar[bool] = ContextVar("zhengwu_sqlite_write_intent", default=True)
# The write locks this call stack holds, per database file: (file, info dict of the holding connection,
# generation of its BEGIN). Another write unit on the same file opened underneath in the same call
# stack would wait on that lock for the whole busy timeout, i.e. on itself (ADR 0007); it begins
# deferred instead and may only read. Replaced, never mutated: copies of the context share the tuple.
_write_holders: ContextVar[tuple[tuple[str, dict[Any, Any], int], ...]] = ContextVar(
    "zhengwu_sqlite_write_holders", default=()
)
_generation = itertools.count(1)
_HELD = "zhengwu_write_lock"
_NESTED = "zhengwu_nested_unit"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")  # REPLACE, cut to the prefix length


class NestedWriteUnit(RuntimeError):
    """A unit of work tried to write while an enclosing one in the same call stack holds SQLite's write
    lock: it would wait for itself until the busy timeout. A programming error (ADR 0009)."""


class _WriteIntent:
    # A plain context manager rather than a @contextmanager generator: entered on every request
    # (kernel.admission), where the generator's machinery cost a few microseconds.
    __slots__ = ("_token", "_writes")

    def __init__(self, writes: bool) -> None:
        self._writes = writes

    def __enter__(self) -> None:
        self._token = _write_intent.set(self._writes)

    def __exit__(self, *_exc: object) -> None:
        _write_intent.reset(self._token)


def read_only_transactions(read_only: bool = True) -> AbstractContextManager[None]:
    """Within this block, SQLite transactions begin deferred (for work that only reads).

    Set in the task or thread that runs the work: ``kernel.admission`` sets it per request, and the
    thread-pool workers that run sync endpoints and dependencies inherit it with the copied context.
    """
    return _WriteIntent(not read_only)


def begins_immediate() -> bool:
    """Whether a SQLite transaction begun here would take the write lock up front."""
    return _write_intent.get()


def _sqlite_on_begin(conn: Any) -> None:
    if not _write_intent.get():
        conn.exec_driver_sql("BEGIN")
        return
    database = str(conn.engine.url.database)
    # Holders whose transaction ended (their connection's generation moved on) no longer count.
    live = tuple(h for h in _write_holders.get() if h[1].get(_HELD) == h[2])
    if any(h[0] == database and h[1] is not conn.info for h in live):
        conn.exec_driver_sql("BEGIN")
        conn.info[_NESTED] = True
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    generation = next(_generation)
    conn.info[_HELD] = generation
    _write_holders.set((*live, (database, conn.info, generation)))


def _sqlite_on_end(conn: Any) -> None:
    conn.info.pop(_HELD, None)
    conn.info.pop(_NESTED, None)


def _sqlite_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info.pop(_HELD, None)
    record.info.pop(_NESTED, None)


def _sqlite_before_execute(
    conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    if conn.info.get(_NESTED) and statement.lstrip()[:6].upper() in _WRITES:
        raise NestedWriteUnit(
            "a nested unit of work writes while its caller holds the SQLite write lock (ADR 0009)"
        )


def is_database_busy(exc: BaseException) -> bool:
    """SQLite stayed locked past busy_timeout, or the connection pool had nothing to give in time:
    the request can be tried again later (503), it is not a fault of the request or of the code."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


# Connections per engine (pool_size + max_overflow). kernel.admission admits at most this many minus
# CONNECTION_RESERVE requests and gives AnyIO as many threads as connections (ADR 0009 has the sums).
POOL_SIZE = {"postgresql": 10, "sqlite": 8}
MAX_OVERFLOW = {"postgresql": 20, "sqlite": 8}


def pool_capacity(engine: Engine) -> int:
    """How many connections the engine's pool hands out at most (1 for a shared single connection)."""
    if isinstance(engine.pool, StaticPool):
        return 1
    size = getattr(engine.pool, "size", None)
    overflow = getattr(engine.pool, "_max_overflow", 0)
    if callable(size):
        return int(size()) + max(int(overflow), 0)
    return POOL_SIZE.get(engine.dialect.name, 5) + MAX_OVERFLOW.get(engine.dialect.name, 10)


def make_engine(url: str, *, echo: bool = False, static_pool: bool = False) -> Engine:
    """Create an engine with the per-dialect settings this project relies on."""
    # Statement errors would quote their parameters (personal data) in their text, which reaches logs.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
        if static_pool or url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            # Readers run side by side in WAL mode; writers queue for the one write lock anyway.
            kwargs["pool_size"] = POOL_SIZE["sqlite"]
            kwargs["max_overflow"] = MAX_OVERFLOW["sqlite"]
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = POOL_SIZE["postgresql"]
        kwargs["max_overflow"] = MAX_OVERFLOW["postgresql"]
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        event.listen(engine, "commit", _sqlite_on_end)
        event.listen(engine, "rollback", _sqlite_on_end)
        event.listen(engine, "checkin", _sqlite_on_checkin)
        event.listen(engine, "before_cursor_execute", _sqlite_before_execute)
    return engine


def dialect_insert(session: Session, table: Any) -> Any:
    """``INSERT`` with ON CONFLICT support (``on_conflict_do_nothing`` / ``_do_update``) for the
    session's dialect: SQLite or PostgreSQL."""
    return dialect_insert_for(session.get_bind().dialect.name, table)


def dialect_insert_for(name: str, table: Any) -> Any:
    """:func:`dialect_insert` for the dialect called ``name`` (``postgresql`` or ``sqlite``)."""
    target: Table = table.__table__ if hasattr(table, "__table__") else table
    return postgresql.insert(target) if name == "postgresql" else sqlite.insert(target)


class RawStatement:
    """A Core statement compiled once for the DBAPI driver of ``dialect``: its SQL text and what turns a
    dict of values into the driver's positional parameters (and a fetched tuple into a row).

    For the few hot paths that run on a driver connection of their own in the event loop (the public
    license verification, ``licenses.fastverify``): a SQLAlchemy ``Connection.execute`` costs tens of
    microseconds of Python per statement, more than the statement itself on SQLite. The values pass
    through the columns' own bind processors and the row's through their result processors, so what is
    stored and read is what the ORM would store and read. Literal values of the statement (``1.0`` in an
    expression, a constant ``True``) are bound as compiled.
    """

    def __init__(self, dialect: Any, statement: Any, *, columns: bool = False) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(statement.table.c.keys()) if columns else None
        )
        self.sql: str = compiled.string
        names = compiled.positiontup or []
        self._plan = [
            (
                name,
                compiled.binds[name].value if compiled.binds[name].value is not None else _REQUIRED,
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in names
        ]
        selected = getattr(statement, "selected_columns", None) if not columns else None
        self._fields = tuple(c.key for c in selected) if selected is not None else ()
        self._results = (
            tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected)
            if selected is not None
            else ()
        )

    def bind(self, values: dict[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters for ``values`` (every parameter named in the statement)."""
        out = []
        for name, default, process in self._plan:
            value = values[name] if default is _REQUIRED else values.get(name, default)
            out.append(process(value) if process is not None else value)
        return tuple(out)

    def row(self, found: tuple[Any, ...]) -> Any:
        """A fetched tuple as a row with attribute access, through the columns' result processors."""
        values = [v if p is None else p(v) for v, p in zip(found, self._results, strict=True)]
        return _Row(zip(self._fields, values, strict=True))


_REQUIRED: Any = object()


class _Row(dict[str, Any]):
    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class KeptSqliteConnection:
    """One driver connection of a SQLite node's pool, kept by a path that writes from the event loop.

    ``busy_timeout`` is 0 on it: the loop must never sleep in SQLite's busy handler while another
    connection holds the write lock; its user hands that work to a thread that may wait instead. It goes
    back to the pool (with the node's usual wait) on :meth:`reset`, or is discarded after an error.
    Used by the token issuance rows (``identity.oidc.issuance``) and the public license verification
    (``licenses.fastverify``).
    """

    def __init__(self, engine: Engine, *, name: str) -> None:
        self._engine = engine
        self._name = name
        self._connection: Any = None  # a PoolProxiedConnection while kept

    @property
    def kept(self) -> bool:
        """Whether a connection is kept now (tests: a broken one was discarded)."""
        return self._connection is not None

    def get(self) -> sqlite3.Connection:
        """The kept driver connection (taken from the pool on first use)."""
        if self._connection is None:
            connection = self._engine.raw_connection()
            driver: sqlite3.Connection = connection.driver_connection  # type: ignore[assignment]
            driver.execute("PRAGMA busy_timeout=0")
            self._connection = connection
        kept: sqlite3.Connection = self._connection.driver_connection
        return kept

    def reset(self, *, broken: bool = False) -> None:
        """Give the connection back (discard it after an error); the next :meth:`get` takes another."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if broken:
                connection.invalidate()
            else:
                connection.driver_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
                connection.close()
        except Exception as exc:  # closing a broken connection may fail too; it is gone either way
            _log.warning("kept_connection_close_failed", user=self._name, error_type=type(exc).__name__)
