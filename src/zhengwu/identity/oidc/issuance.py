"""Audit records of token issuance, written with group commit so that the token endpoint stays fast.

A token response is sent only after its issuance row is committed (no token without its audit record);
rows of concurrent requests are written together in one transaction. The rows are
covered by an event of the identity core's SM3 hash chain (one per batch on the
transactional path, one per second on the fast path) that commits to the digest of the rows, so a
removed or altered issuance row is detectable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.db import Base, new_id
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.identity.oidc.issuance")

# A Core insert of the table: no ORM unit of work on the hot path.
_INSERT = insert(Table(OidcIssuance.__tablename__, Base.metadata))
_CHAIN_KEYS = ("id", "jti", "client_id", "grant_type", "account_id")


def _rows(records: list[dict[str, Any]], trace_id: str | None) -> list[dict[str, Any]]:
    return [{"id": new_id(), "trace_id": trace_id, **r} for r in records]


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
    """Group commit on the event loop: a batch is written as soon as every token request in flight is
    waiting for it, or after a short window (2 ms) at the latest.

    The flush runs in the loop thread itself (one short transaction per batch) rather than on a writer
    thread: a second Python thread would contend for the GIL with the request handlers and slow both.
    """

    def __init__(
        self,
        session_factory: Callable[[], Callable[[], Session]],
        max_batch: int = 256,
        checkpoint_seconds: float = 1.0,
        window_seconds: float = 0.002,
    ) -> None:
        self._factory = session_factory
        self._max = max_batch
        self._checkpoint = checkpoint_seconds
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._in_flight = 0
        self._window = window_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._checking = False
        # Rows committed since the last chain event; at most ``checkpoint_seconds`` of them are not yet
        # covered by the hash chain (a crash leaves them recorded but unchained).
        self._unchained: list[dict[str, Any]] = []
        self._last_chain = time.monotonic()

    def begin(self) -> None:
        """A token request started (it will wait for a flush if it issues a token)."""
        self._in_flight += 1

    def end(self) -> None:
        """A token request finished (or failed before issuing)."""
        self._in_flight -= 1
        if self._pending and not self._checking and len(self._pending) >= self._in_flight:
            self._flush_now()

    async def record(self, records: list[dict[str, Any]]) -> None:
        """Queue rows and wait until they are committed (raises if the commit failed)."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((_rows(records, current_trace_id()), future))
        if len(self._pending) >= self._max:
            self._flush_now()
        elif not self._checking and self._timer is None:
            # Handlers already scheduled in this loop turn run before the check and join the batch.
            self._checking = True
            loop.call_soon(self._check, loop)
        await future

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._checking = False
        if not self._pending:
            return
        if len(self._pending) >= self._in_flight:
            # Every request in flight is waiting for this commit: waiting longer gains nothing.
            self._flush_now()
        elif self._timer is None:
            # Others are still being handled: give them a short window to join.
            self._timer = loop.call_later(self._window, self._flush_now)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        rows = [row for item, _ in batch for row in item]
        error: BaseException | None = None
        chained = False
        try:
            session = self._factory()()
            try:
                session.execute(_INSERT, rows)
                if time.monotonic() - self._last_chain >= self._checkpoint:
                    _chain(session, [*self._unchained, *rows])
                    chained = True
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
            if chained:
                self._unchained = []
                self._last_chain = time.monotonic()
            else:
                self._unchained.extend({k: r[k] for k in _CHAIN_KEYS} for r in rows)
        except Exception as exc:  # reported to every waiting request
            log.error("issuance_write_failed", error_type=type(exc).__name__, rows=len(rows))
            error = exc
        for _, future in batch:
            _settle(future, error)

    def close(self) -> None:
        """Nothing to stop (no thread); pending rows are flushed by their own loop turn."""


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError("issuance record could not be written"))
