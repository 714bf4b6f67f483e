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

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def _head(db: Session) -> AuthChainHead:
    head = db.execute(
        select(AuthChainHead).where(AuthChainHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuthChainHead(id=1, last_seq=0, last_hash=GENESIS)
        db.add(head)
        db.flush()
    return head


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
    db.add(event)
    db.flush()
    head.last_seq = event.seq
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
    if head is not None and head.last_hash != prev:
        # Rows removed from the end: the head remembers the last hash.
        return ChainVerdict(False, checked, head.last_seq)
    return ChainVerdict(True, checked)


def events_for_account(
    db: Session, account_id: str, *, limit: int = 50, before_seq: int | None = None
) -> list[AuthEvent]:
    """An account's own events, newest first (a citizen can see logins and who read their data)."""
    query = select(AuthEvent).where(AuthEvent.account_id == account_id)
    if before_seq is not None:
        query = query.where(AuthEvent.seq < before_seq)
    return list(db.scalars(query.order_by(AuthEvent.seq.desc()).limit(limit)))


def recent_failures(
    db: Session, *, since: datetime, ip: str | None = None, subject_index: str | None = None
) -> int:
    """How many failed login attempts came from ``ip`` or named ``subject_index`` since ``since``."""
    from sqlalchemy import func

    query = (
        select(func.count())
        .select_from(AuthEvent)
        .where(AuthEvent.occurred_at >= since, AuthEvent.success.is_(False), AuthEvent.event_type == "login")
    )
    if ip is not None:
        query = query.where(AuthEvent.ip == ip)
    if subject_index is not None:
        query = query.where(AuthEvent.subject_index == subject_index)
    return int(db.scalar(query) or 0)
