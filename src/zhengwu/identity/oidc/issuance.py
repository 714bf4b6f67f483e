"""Audit records of token issuance, written with group commit so that the token endpoint stays fast.

A token response is sent only after its issuance row is committed (no token without its audit record);
rows of concurrent requests are written together in one transaction (group commit). The rows are
covered by an event of the identity core's SM3 hash chain (one per batch on the
transactional path, one per second on the fast path) that commits to the digest of the rows, so a
removed or altered issuance row is detectable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.identity.oidc.secrets import random_id
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.db import Base
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.identity.oidc.issuance")

# A Core insert of the table: no ORM unit of work on the hot path.
_INSERT = insert(Table(OidcIssuance.__tablename__, Base.metadata))
_CHAIN_KEYS = ("id", "jti", "client_id", "grant_type", "account_id")


def _rows(records: list[dict[str, Any]], trace_id: str | None) -> list[dict[str, Any]]:
    return [{"id": random_id(), "trace_id": trace_id, **r} for r in records]


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


class IssuanceRecorder:
    """Group commit: one writer thread commits a batch while the event loop gathers the next one.

    The first row waits for one commit; rows that arrive during a commit go into the following one, so
    batches grow with the load and the loop never blocks on the database (sqlite3 and psycopg release
    the GIL while they wait for the disk or the server).
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
        self._writing = False
        self._executor: ThreadPoolExecutor | None = None
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
            self._start(loop)
        await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending[: self._max], self._pending[self._max :]
        rows = [row for item, _ in batch for row in item]
        chained = (
            [*self._unchained, *rows] if time.monotonic() - self._last_chain >= self._checkpoint else None
        )
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oidc-issuance")
        self._writing = True
        work = self._executor.submit(self._write, rows, chained)
        work.add_done_callback(
            lambda done: loop.call_soon_threadsafe(self._done, loop, batch, rows, chained, done)
        )

    def _write(self, rows: list[dict[str, Any]], chained: list[dict[str, Any]] | None) -> None:
        session = self._factory()()
        try:
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
        error = done.exception()
        if error is not None:
            log.error("issuance_write_failed", error_type=type(error).__name__, rows=len(rows))
        elif chained is not None:
            self._unchained = []
            self._last_chain = time.monotonic()
        else:
            self._unchained.extend({k: r[k] for k in _CHAIN_KEYS} for r in rows)
        for _, future in batch:
            _settle(future, error)
        if self._pending:
            self._start(loop)

    def close(self) -> None:
        """Stop the writer thread (queued batches are finished first)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError("issuance record could not be written"))
