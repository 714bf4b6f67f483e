"""The authentication audit trail (等保 8.1.4.3): every success, failure, lockout, MFA step and logout.

Rows form the chain ``identity.auth`` of the audit capability (``zhengwu.audit.chain``): each hash is
SM3(previous hash ‖ canonical event), appends lock the chain's head so the chain stays linear under
concurrency, and ``zhengwu audit verify`` walks it with every other chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from zhengwu.audit import chain
from zhengwu.identity.models import AuthEvent
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import current_trace_id, get_logger
from zhengwu.kernel.metrics import CounterSpec, count

log = get_logger("zhengwu.identity.audit")

AUTH_CHAIN: Final = "identity.auth"

#: Authentication events by type (login, mfa, lockout, logout …) and outcome, counted when they commit.
AUTH_EVENTS: Final = CounterSpec(
    "zhengwu_identity_auth_events",
    "Authentication events recorded (login, mfa, lockout …)",
    ("event", "outcome"),
)


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from (for audit and rate limits)."""

    ip: str | None = None
    user_agent: str | None = None


NO_META = RequestMeta()


def _body(event: AuthEvent) -> dict[str, Any]:
    return {
        "at": event.occurred_at,
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


CHAIN: Final = chain.ChainSpec(AUTH_CHAIN, AuthEvent, _body, label="认证审计 / authentication audit")


def lock_audit_chain(db: Session) -> None:
    """Take the audit chain's lock now (first statement of a write transaction: no stale SQLite snapshot)."""
    chain.lock(db, AUTH_CHAIN)


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
    )
    link = chain.append(db, AUTH_CHAIN, _body(event))
    event.seq, event.prev_hash, event.hash = link.seq, link.prev_hash, link.hash
    db.add(event)
    count(db, AUTH_EVENTS, event=event_type, outcome="success" if success else "failure")
    # Only ids and the event type: never identifiers typed by the user.
    log.info("auth_event", event_type=event_type, success=success, account_id=account_id)
    if event_type == "lockout":
        # A security event (conventions §16), read by zhengwu.security's signal buffer; no subject.
        log.warning(
            "identity_account_locked", security_event=True, reason=str((detail or {}).get("during", "login"))
        )
    return event


def verify_chain(db: Session) -> chain.Verdict:
    """Recompute every hash; a modified, deleted or inserted row breaks the chain at that point."""
    return chain.verify(db, CHAIN)


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
