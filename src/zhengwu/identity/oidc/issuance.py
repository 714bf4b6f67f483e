"""Audit records of token issuance, written with group commit so that the token endpoint stays fast.

A token response is sent only after its issuance row is committed (no token without its audit record);
rows that arrive while one batch commits are written together in the next transaction. Each batch also
appends one event to the identity core's SM3 hash chain that commits to the digest of its rows, so a
removed or altered issuance row is detectable.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.db import new_id
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.identity.oidc.issuance")

_Item = tuple[list[dict[str, Any]], asyncio.AbstractEventLoop, asyncio.Future[None]]


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
    """Group-commits issuance rows from async handlers on one writer thread."""

    def __init__(self, session_factory: Callable[[], Callable[[], Session]], max_batch: int = 256) -> None:
        self._factory = session_factory
        self._max = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def record(self, records: list[dict[str, Any]]) -> None:
        """Queue rows and wait until they are committed (raises if the commit failed)."""
        if not records:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put((_rows(records, current_trace_id()), loop, future))
        await future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="oidc-issuance", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            rows = list(item[0])
            while len(rows) < self._max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
                rows.extend(nxt[0])
            error: BaseException | None = None
            try:
                session = self._factory()()
                try:
                    session.execute(insert(OidcIssuance), rows)
                    _chain(session, rows)
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
                finally:
                    session.close()
            except Exception as exc:  # reported to every waiting request
                log.error("issuance_write_failed", error_type=type(exc).__name__, rows=len(rows))
                error = exc
            for _, loop, future in batch:
                loop.call_soon_threadsafe(_settle, future, error)

    def close(self) -> None:
        """Stop the writer thread after the queued batches."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError("issuance record could not be written"))
