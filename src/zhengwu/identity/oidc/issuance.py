"""Audit records of token issuance, written with group commit so that the token endpoint stays fast.

A token response is sent only after its issuance row is committed (no token without its audit record);
rows of concurrent requests are written together in one transaction (group commit). The rows are
covered by an event of the identity core's SM3 hash chain (one per batch on the
transactional path, one per second on the fast path) that commits to the digest of the rows, so a
removed or altered issuance row is detectable.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Engine, Table, insert
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.identity.oidc.secrets import ordered_id
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.db import SQLITE_BUSY_TIMEOUT_MS, Base, KeptSqliteConnection
from zhengwu.kernel.logging import current_trace_id, get_logger

if TYPE_CHECKING:  # imported by the PostgreSQL writer only: a SQLite node never pays for it
    import psycopg

log = get_logger("zhengwu.identity.oidc.issuance")

# A Core insert of the table: no ORM unit of work on the hot path.
_TABLE = Table(OidcIssuance.__tablename__, Base.metadata)
_INSERT = insert(_TABLE)
_CHAIN_KEYS = ("id", "jti", "client_id", "grant_type", "account_id")


def _rows(records: list[dict[str, Any]], trace_id: str | None) -> list[dict[str, Any]]:
    return [{"id": ordered_id(), "trace_id": trace_id, **r} for r in records]


def write_issuance(session: Session, records: list[dict[str, Any]], *, trace_id: str | None = None) -> None:
    """Insert issuance rows and their chain event in the caller's transaction (never commits)."""
    if not records:
        return
    rows = _rows(records, trace_id or current_trace_id())
    session.execute(insert(OidcIssuance), rows)
    _chain(session, rows)


def _chain(session: Session, rows: list[dict[str, Any]]) -> None:
    digest = sm3("\n".join(f"{r['id']}|{r['jti']}|{r['client_id']}" for r in rows).encode()).hex()
    clients = sorted({r["client_id"] for r in rows})
    record_auth_event(
        session,
        "token_issued",
        success=True,
        client_id=clients[0] if len(clients) == 1 else None,
        account_id=rows[0]["account_id"] if len(rows) == 1 else None,
        detail={
            "count": len(rows),
            "grant_types": sorted({r["grant_type"] for r in rows}),
            "rows_sm3": digest,
        },
    )


class SqliteInsert:
    """Issuance rows into a SQLite file through one connection kept for the purpose, in the event loop.

    A batch through a Session costs a pool checkout, a unit of work and per-row parameter processing in
    Python: on the token endpoint that was half the CPU time of a request, and a writer thread doing it
    held the GIL while the event loop waited to sign. Here a batch is one prepared statement and a commit
    in WAL mode (tens of microseconds), with the columns' own bind processors applied so the stored
    values are those the ORM would store. ``busy_timeout`` is 0 in the loop: when another connection
    holds the write lock the batch goes to the writer thread, which waits for it.
    """

    def __init__(self, engine: Engine) -> None:
        table = _TABLE
        dialect = engine.dialect
        self.columns = [column.name for column in table.columns]
        self._processors = [
            column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns
        ]
        marks = ", ".join("?" * len(self.columns))
        # Names from the model, values bound: nothing from a request reaches the statement text.
        self._sql = f"INSERT INTO {table.name} ({', '.join(self.columns)}) VALUES ({marks})"  # noqa: S608
        self._kept = KeptSqliteConnection(engine, name="oidc.issuance")

    def _params(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        pairs = list(zip(self.columns, self._processors, strict=True))
        return [tuple(r[c] if p is None else p(r[c]) for c, p in pairs) for r in rows]

    def write(self, rows: list[dict[str, Any]], *, wait: bool) -> bool:
        """Insert and commit ``rows``; ``False`` (nothing written) if busy and ``wait`` is false."""
        params = self._params(rows)
        try:
            return self._write(self._kept.get(), params, wait=wait)
        except BaseException:
            self.reset(broken=True)
            raise

    def _write(self, db: sqlite3.Connection, params: list[tuple[Any, ...]], *, wait: bool) -> bool:
        if wait:
            db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                if wait:
                    raise
                return False  # another connection is writing: the writer thread will wait for it
            try:
                db.executemany(self._sql, params)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return True
        finally:
            if wait:
                db.execute("PRAGMA busy_timeout=0")

    def reset(self, *, broken: bool = False) -> None:
        """Give the connection back (discard it after an error); the next batch opens a new one."""
        self._kept.reset(broken=broken)


class PostgresInsert:
    """Issuance rows into PostgreSQL through an asyncio connection of psycopg, from the event loop.

    The round trip and the commit (with its WAL flush) are awaited, not waited for in a thread: a writer
    thread running psycopg's Python code competed with the loop for the GIL and doubled the CPU time of
    a token. A batch is one statement in one round trip whatever its size: the rows travel as one JSON
    document (serialised by orjson in C) that ``json_populate_recordset`` turns into table rows, and the
    connection is in autocommit mode, so the statement is its own transaction.
    """

    def __init__(self, engine: Engine) -> None:
        table = _TABLE
        self.columns = [column.name for column in table.columns]
        names = ", ".join(self.columns)
        self._sql = (  # names from the model, the rows one bound parameter
            f"INSERT INTO {table.name} ({names}) "  # noqa: S608
            f"SELECT {names} FROM json_populate_recordset(NULL::{table.name}, %s::json)"
        )
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert and commit ``rows`` (raises on failure, and the next batch reconnects)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection belongs to the loop that opened it
            self.reset()
        try:
            if self._connection is None:
                import psycopg

                self._connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                self._loop = loop
            await self._connection.execute(self._sql, (orjson.dumps(rows).decode(),))
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        """Close the connection without waiting (the server ends an unfinished transaction)."""
        connection, self._connection, self._loop = self._connection, None, None
        if connection is not None:
            connection.pgconn.finish()


def direct_writer_for(engine: Engine) -> SqliteInsert | PostgresInsert | None:
    # An in-memory SQLite (StaticPool) shares its one connection with every session: not ours to hold.
    if isinstance(engine.pool, StaticPool):
        return None
    if engine.dialect.name == "sqlite" and engine.dialect.paramstyle == "qmark":
        return SqliteInsert(engine)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PostgresInsert(engine)
    return None


class IssuanceRecorder:
    """Group commit: the rows of the requests of one event-loop turn are committed together.

    Each request waits for the commit of its row; rows that arrive while a batch is being written go
    into the following one, so batches grow with the load. With an engine of its own the recorder writes
    directly (:class:`SqliteInsert` in the loop, :class:`PostgresInsert` awaited in the loop); with
    sessions bound to one connection, as in the tests, and for every chain checkpoint it uses a Session
    in the writer thread.
    """

    def __init__(
        self,
        session_factory: Callable[[], Callable[[], Session]],
        max_batch: int = 256,
        checkpoint_seconds: float = 1.0,
    ) -> None:
        self._factory = session_factory
        self._max = max_batch
        self._checkpoint = checkpoint_seconds
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._scheduled = False
        self._writing = False
        self._executor: ThreadPoolExecutor | None = None
        self._direct_for: object = None
        self._direct: SqliteInsert | PostgresInsert | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Rows committed since the last chain event; at most ``checkpoint_seconds`` of them are not yet
        # covered by the hash chain (a crash leaves them recorded but unchained).
        self._unchained: list[dict[str, Any]] = []
        self._last_chain = time.monotonic()

    async def record(self, records: list[dict[str, Any]]) -> None:
        """Queue rows and wait until they are committed (raises if the commit failed)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((_rows(records, current_trace_id()), future))
        if not self._writing:
            # Flush after the other handlers of this loop turn have queued their rows too.
            self._schedule(loop)
        await future

    def _direct_writer(self) -> SqliteInsert | PostgresInsert | None:
        factory = self._factory()
        if factory is not self._direct_for:
            if self._direct is not None:
                self._direct.reset()
            bind = getattr(factory, "kw", {}).get("bind")
            self._direct = direct_writer_for(bind) if isinstance(bind, Engine) else None
            self._direct_for = factory
        return self._direct

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        due = time.monotonic() - self._last_chain >= self._checkpoint
        if self._writing or not (self._pending or (due and self._unchained)):
            return
        batch, self._pending = self._pending[: self._max], self._pending[self._max :]
        rows = [row for item, _ in batch for row in item]
        chained = [*self._unchained, *rows] if due else None
        direct = self._direct_writer() if chained is None else None
        if isinstance(direct, PostgresInsert):
            self._writing = True
            task = loop.create_task(self._write_async(loop, direct, batch, rows))
            # The loop keeps only a weak reference to a task: hold it until it is done.
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if isinstance(direct, SqliteInsert):
            try:
                written = direct.write(rows, wait=False)
            except Exception as exc:
                self._finish(loop, batch, rows, None, exc)
                return
            if written:
                self._finish(loop, batch, rows, None, None)
                return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oidc-issuance")
        self._writing = True
        work = self._executor.submit(self._write, rows, chained, direct)
        work.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._done, loop, batch, rows, chained, done)
        )

    async def _write_async(
        self,
        loop: asyncio.AbstractEventLoop,
        direct: PostgresInsert,
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]],
        rows: list[dict[str, Any]],
    ) -> None:
        error: BaseException | None = None
        try:
            await direct.write(rows)
        except Exception as exc:
            error = exc
        self._writing = False
        self._finish(loop, batch, rows, None, error)

    def _write(
        self, rows: list[dict[str, Any]], chained: list[dict[str, Any]] | None, direct: SqliteInsert | None
    ) -> None:
        if direct is not None:
            direct.write(rows, wait=True)
            return
        session = self._factory()()
        try:
            if rows:
                session.execute(_INSERT, rows)
            if chained is not None:
                _chain(session, chained)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _done(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]],
        rows: list[dict[str, Any]],
        chained: list[dict[str, Any]] | None,
        done: Future[None],
    ) -> None:
        self._writing = False
        self._finish(loop, batch, rows, chained, done.exception())

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]],
        rows: list[dict[str, Any]],
        chained: list[dict[str, Any]] | None,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            log.error("issuance_write_failed", error_type=type(error).__name__, rows=len(rows))
        elif chained is not None:
            self._unchained = []
            self._last_chain = time.monotonic()
        else:
            if not self._unchained:
                # Rows wait at most one checkpoint interval for their chain event, traffic or not.
                loop.call_later(self._checkpoint, self._schedule, loop)
            self._unchained.extend({k: r[k] for k in _CHAIN_KEYS} for r in rows)
        for _, future in batch:
            _settle(future, error)
        if self._pending:
            self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, loop)

    def close(self) -> None:
        """Stop the writer thread (queued batches are finished first), chain the rows not yet chained
        and release the connection."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._unchained:
            try:
                self._write([], self._unchained, None)
                self._unchained = []
            except Exception as exc:  # shutting down: report, the rows themselves are committed
                log.error("issuance_chain_failed", error_type=type(exc).__name__, rows=len(self._unchained))
        if self._direct is not None:
            self._direct.reset()
            self._direct, self._direct_for = None, None


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError("issuance record could not be written"))
