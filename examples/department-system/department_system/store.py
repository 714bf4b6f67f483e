"""The system's own small database (SQLite): the events it received, its view of the cases, the actions
its clerks took, their sessions, and the pull cursor.

Every write is one short transaction; the webhook receiver answers only after its row is committed, so
an event the node counts as delivered is never lost here.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

#: A clerk signs in again (through the node, usually without typing anything) after this long.
SESSION_HOURS = timedelta(hours=12)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    webhook_id TEXT PRIMARY KEY,          -- the node's id of the event: deduplicates push, pull and replays
    type TEXT NOT NULL,
    case_no TEXT NOT NULL,
    body TEXT NOT NULL,
    via TEXT NOT NULL,                    -- push or pull
    cursor INTEGER,                       -- the pull feed's cursor, when it came that way
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_case ON events (case_no, received_at);
CREATE TABLE IF NOT EXISTS cases (
    case_no TEXT PRIMARY KEY,
    task_code TEXT NOT NULL,
    task_name TEXT,
    applicant_name TEXT,
    status TEXT NOT NULL,
    event_at TEXT NOT NULL,               -- the node's timestamp of the latest event applied
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions (
    idempotency_key TEXT PRIMARY KEY,
    case_no TEXT NOT NULL,
    action TEXT NOT NULL,
    clerk_sub TEXT NOT NULL,
    clerk_name TEXT,
    http_status INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    state TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    sub TEXT NOT NULL,
    sid TEXT,
    name TEXT,
    id_token TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def now_iso() -> str:
    """UTC now, ISO 8601."""
    return datetime.now(UTC).isoformat()


class Store:
    """One SQLite file; a connection per call (the web server runs handlers in threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._conn() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE: writers queue instead of failing)."""
        with self._lock, self._conn() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Rows of a read."""
        with self._conn() as db:
            return list(db.execute(sql, args))

    # events ------------------------------------------------------------------------------------------

    def record_event(
        self, webhook_id: str, event: dict[str, Any], *, via: str, cursor: int | None = None
    ) -> bool:
        """Store an event and apply it to the case; False when this webhook-id was already processed."""
        data = event.get("data") or {}
        case_no = str(data.get("case_no") or "")
        stamp = str(event.get("timestamp") or "")
        with self.transaction() as db:
            seen = db.execute("SELECT cursor FROM events WHERE webhook_id = ?", (webhook_id,)).fetchone()
            if seen is not None:
                if cursor is not None and seen["cursor"] is None:
                    db.execute("UPDATE events SET cursor = ? WHERE webhook_id = ?", (cursor, webhook_id))
                return False
            db.execute(
                "INSERT INTO events (webhook_id, type, case_no, body, via, cursor, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (webhook_id, str(event.get("type")), case_no,
                 json.dumps(event, ensure_ascii=False), via, cursor, now_iso()),
            )  # fmt: skip
            if case_no:
                # Events can arrive out of order (retries, pull after push): the newest timestamp wins.
                db.execute(
                    "INSERT INTO cases (case_no, task_code, status, event_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (case_no) DO UPDATE SET status = excluded.status, event_at = excluded.event_at, "
                    "updated_at = excluded.updated_at WHERE excluded.event_at >= cases.event_at",
                    (case_no, str(data.get("task_code") or ""), str(data.get("status") or ""), stamp, now_iso()),
                )  # fmt: skip
        return True

    def events_of(self, case_no: str) -> list[dict[str, Any]]:
        """The events received for a case, oldest first."""
        rows = self.query("SELECT * FROM events WHERE case_no = ? ORDER BY received_at, rowid", (case_no,))
        return [dict(r) | {"event": json.loads(r["body"])} for r in rows]

    def cursor(self) -> int:
        """The last pull cursor processed."""
        rows = self.query("SELECT value FROM meta WHERE key = 'pull_cursor'")
        return int(rows[0]["value"]) if rows else 0

    def set_cursor(self, cursor: int) -> None:
        """Remember the pull cursor."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('pull_cursor', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(cursor),),
            )

    # cases -------------------------------------------------------------------------------------------

    def queue(self, status: str | None = None) -> list[sqlite3.Row]:
        """The cases this system knows, most recently changed first."""
        if status:
            return self.query("SELECT * FROM cases WHERE status = ? ORDER BY event_at DESC", (status,))
        return self.query("SELECT * FROM cases ORDER BY event_at DESC")

    def remember_case(self, case: dict[str, Any]) -> None:
        """What the node showed of a case (names for the queue; the status if it is newer news)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE cases SET task_name = ?, applicant_name = ? WHERE case_no = ?",
                (case.get("task_name"), case.get("applicant_name"), case.get("case_no")),
            )

    def record_action(
        self, key: str, case_no: str, action: str, clerk: dict[str, Any], http_status: int
    ) -> None:
        """A clerk's call to the node (its outcome), once per idempotency key."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO actions (idempotency_key, case_no, action, clerk_sub, clerk_name, http_status, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO UPDATE SET "
                "http_status = excluded.http_status, at = excluded.at",
                (key, case_no, action, clerk["sub"], clerk.get("name"), http_status, now_iso()),
            )

    def actions_of(self, case_no: str) -> list[sqlite3.Row]:
        """The clerks' calls for a case, oldest first."""
        return self.query("SELECT * FROM actions WHERE case_no = ? ORDER BY at", (case_no,))

    # logins and sessions -----------------------------------------------------------------------------

    def start_login(self, state: str, verifier: str, nonce: str) -> None:
        """A pending authorization request."""
        with self.transaction() as db:
            db.execute("DELETE FROM logins WHERE created_at < datetime('now', '-10 minutes')")
            db.execute(
                "INSERT INTO logins (state, verifier, nonce, created_at) VALUES (?, ?, ?, datetime('now'))",
                (state, verifier, nonce),
            )

    def finish_login(self, state: str) -> tuple[str, str] | None:
        """The verifier and nonce of a pending request, used once."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT verifier, nonce FROM logins WHERE state = ? AND created_at >= datetime('now', '-10 minutes')",
                (state,),
            ).fetchone()
            db.execute("DELETE FROM logins WHERE state = ?", (state,))
        return (row["verifier"], row["nonce"]) if row else None

    def open_session(self, sub: str, sid: str | None, name: str | None, id_token: str) -> str:
        """A clerk's session; returns its cookie value."""
        token = secrets.token_urlsafe(32)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (token, sub, sid, name, id_token, csrf, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, sub, sid, name, id_token, secrets.token_urlsafe(24), now_iso()),
            )
        return token

    def session(self, token: str) -> dict[str, Any] | None:
        """The clerk behind a cookie, if the session is open (sessions end at logout, ours or the node's)."""
        if not token:
            return None
        oldest = (datetime.now(UTC) - SESSION_HOURS).isoformat()
        rows = self.query("SELECT * FROM sessions WHERE token = ? AND created_at >= ?", (token, oldest))
        return dict(rows[0]) if rows else None

    def close_session(self, token: str) -> None:
        """Our own logout."""
        with self.transaction() as db:
            db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    def end_sessions(self, *, sid: str | None, sub: str | None) -> int:
        """Back-channel logout: the sessions of that node session (or of that person)."""
        with self.transaction() as db:
            if sid:
                done = db.execute("DELETE FROM sessions WHERE sid = ?", (sid,))
            else:
                done = db.execute("DELETE FROM sessions WHERE sub = ?", (sub or "",))
            return done.rowcount
