"""The authentication audit trail (等保 8.1.4.3): every success, failure, lockout, MFA step and logout.

Rows are hash-chained with SM3 (each hash covers the previous one), and appends lock the chain head so
the chain stays linear under concurrency. The security/audit capability will generalise this trail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, event, func, or_, select, update
from sqlalchemy.orm import Session, SessionTransaction

from zhengwu.identity.models import AuthChainHead, AuthEvent
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.logging import current_trace_id, get_logger

log = get_logger("zhengwu.identity.audit")

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from (for audit and rate limits)."""

    ip: str | None = None
    user_agent: str | None = None


NO_META = RequestMeta()


def _digest(prev_hash: str, event: AuthEvent) -> str:
    body = {
        "prev": prev_hash,
        "at": event.occurred_at.isoformat(),
        "type": event.event_type,
        "ok": bool(event.success),
        "account": event.account_id,
        "session": event.session_id,
        "client": event.client_id,
        "subject": event.subject_index,
        "ip": event.ip,
        "ua": event.user_agent,
        "detail": event.detail or {},
        "trace": event.trace_id,
    }
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return sm3(canonical.encode()).hex()


_HEAD_KEY = "zhengwu.identity.chain_head"
_LOCK_HEAD = (
    update(AuthChainHead)
    .where(AuthChainHead.id == 1)
    .values(last_seq=AuthChainHead.last_seq)
    .returning(AuthChainHead)
)


def _head(db: Session) -> AuthChainHead:
    # The lock lasts until the transaction ends: take it once per transaction and remember the row.
    cached: AuthChainHead | None = db.info.get(_HEAD_KEY)
    if cached is not None and cached in db:
        return cached
    # A no-op UPDATE rather than SELECT ... FOR UPDATE: it is a real lock on SQLite too (the database
    # write lock, waited for with busy_timeout when it is the transaction's first statement).
    head = db.execute(_LOCK_HEAD, execution_options={"synchronize_session": False}).scalar_one_or_none()
    if head is None:
        head = AuthChainHead(id=1, last_seq=0, last_hash=GENESIS)
        db.add(head)
        db.flush()
    db.info[_HEAD_KEY] = head
    return head


def lock_audit_chain(db: Session) -> None:
    """Take the audit chain's lock now (first statement of a write transaction: no stale SQLite snapshot)."""
    _head(db)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(db: Session, transaction: SessionTransaction) -> None:
    # Savepoints end too; only the end of the outermost transaction releases the lock.
    if transaction.parent is None:
        db.info.pop(_HEAD_KEY, None)


def record_auth_event(
    db: Session,
    event_type: str,
    *,
    success: bool,
    account_id: str | None = None,
    session_id: str | None = None,
    client_id: str | None = None,
    subject_index: str | None = None,
    meta: RequestMeta = NO_META,
    detail: dict[str, Any] | None = None,
) -> AuthEvent:
    """Append one event to the chain in the caller's transaction (never commits)."""
    head = _head(db)
    event = AuthEvent(
        occurred_at=utcnow(),
        event_type=event_type,
        success=success,
        account_id=account_id,
        session_id=session_id,
        client_id=client_id,
        subject_index=subject_index,
        ip=meta.ip,
        user_agent=(meta.user_agent or "")[:200] or None,
        detail=detail or {},
        trace_id=current_trace_id(),
        prev_hash=head.last_hash,
    )
    event.hash = _digest(head.last_hash, event)
    # No flush here: the unit of work inserts events in the order they were added, at the caller's flush.
    db.add(event)
    # last_seq counts the chained events, so that a deleted row is detected even at the end of the chain.
    head.last_seq = (head.last_seq or 0) + 1
    head.last_hash = event.hash
    # Only ids and the event type: never identifiers typed by the user.
    log.info("auth_event", event_type=event_type, success=success, account_id=account_id)
    return event


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """Result of checking the chain: ok, number of rows checked and the first broken sequence number."""

    ok: bool
    checked: int
    broken_at: int | None = None


def _rows(db: Session, batch: int = 1000) -> Iterator[AuthEvent]:
    last = 0
    while True:
        rows = db.scalars(
            select(AuthEvent).where(AuthEvent.seq > last).order_by(AuthEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(db: Session) -> ChainVerdict:
    """Recompute every hash; a modified, deleted or inserted row breaks the chain at that point."""
    prev = GENESIS
    checked = 0
    for row in _rows(db):
        if row.prev_hash != prev or _digest(prev, row) != row.hash:
            return ChainVerdict(False, checked, row.seq)
        prev = row.hash
        checked += 1
    head = db.get(AuthChainHead, 1)
    if head is not None and (head.last_hash != prev or head.last_seq != checked):
        # Rows removed from the end: the head remembers the last hash and how many events were chained.
        return ChainVerdict(False, checked, checked + 1)
    return ChainVerdict(True, checked)


def events_for_account(
    db: Session, account_id: str, *, limit: int = 50, before_seq: int | None = None
) -> list[AuthEvent]:
    """An account's own events, newest first (a citizen can see logins and who read their data)."""
    query = select(AuthEvent).where(AuthEvent.account_id == account_id)
    if before_seq is not None:
        query = query.where(AuthEvent.seq < before_seq)
    return list(db.scalars(query.order_by(AuthEvent.seq.desc()).limit(limit)))


_FAIL_BASE = (
    AuthEvent.occurred_at >= bindparam("since"),
    AuthEvent.success.is_(False),
    AuthEvent.event_type == "login",
)
_FROM_IP = AuthEvent.ip == bindparam("ip")
_FOR_SUBJECT = AuthEvent.subject_index == bindparam("subject")
_FAILURES = select(func.count(case((_FROM_IP, 1))), func.count(case((_FOR_SUBJECT, 1)))).where(
    *_FAIL_BASE, or_(_FROM_IP, _FOR_SUBJECT)
)
_SUBJECT_FAILURES = select(func.count()).where(*_FAIL_BASE, _FOR_SUBJECT)


_REGISTRATIONS = select(func.count()).where(
    AuthEvent.ip == bindparam("ip"),
    AuthEvent.event_type.in_(("register", "register_legal")),
    AuthEvent.occurred_at >= bindparam("since"),
)


def recent_registrations(db: Session, *, since: datetime, ip: str) -> int:
    """Registration attempts (successful or refused) from ``ip`` since ``since``."""
    return int(db.scalar(_REGISTRATIONS, {"since": since, "ip": ip}) or 0)


_SUBJECT_LOCKOUT = select(func.max(AuthEvent.occurred_at)).where(
    AuthEvent.subject_index == bindparam("subject"),
    AuthEvent.event_type == "lockout",
    AuthEvent.account_id.is_(None),
)


def unknown_subject_lockout(db: Session, subject_index: str) -> datetime | None:
    """When an identifier that names no account was last locked like an account would have been."""
    value: datetime | None = db.scalar(_SUBJECT_LOCKOUT, {"subject": subject_index})
    return value


def subject_failures(db: Session, *, since: datetime, subject_index: str) -> int:
    """Failed logins for ``subject_index`` since ``since``."""
    return int(db.scalar(_SUBJECT_FAILURES, {"since": since, "subject": subject_index}) or 0)


def recent_failures(db: Session, *, since: datetime, ip: str | None, subject_index: str) -> tuple[int, int]:
    """Failed logins since ``since`` from ``ip`` and for ``subject_index`` (one query, two counts)."""
    if ip is None:
        return 0, int(db.scalar(_SUBJECT_FAILURES, {"since": since, "subject": subject_index}) or 0)
    row = db.execute(_FAILURES, {"since": since, "ip": ip, "subject": subject_index}).one()
    return int(row[0] or 0), int(row[1] or 0)
