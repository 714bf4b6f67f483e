"""The change log (变更日志): every administrative write, in the same transaction as the write itself.

A service calls ``record_change`` right where it changes an object, with the session it writes with; the
record commits or rolls back with the change. Records are chained (``audit.changes``) and minimised
(``audit.minimise``): no ID number, phone or secret is ever stored in clear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit import chain
from zhengwu.audit.minimise import minimise
from zhengwu.audit.models import AuditChange
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import current_trace_id

CHANGES: Final = "audit.changes"
SYSTEM: Final = "system"


def _body(row: AuditChange) -> dict[str, Any]:
    return {
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "department_id": row.department_id,
        "before": row.before,
        "after": row.after,
        "trace": row.trace_id,
    }


CHAIN: Final = chain.ChainSpec(CHANGES, AuditChange, _body, label="变更日志 / change log")


def actor_of(account_id: str | None, *, cli: bool = False) -> str:
    """How an actor is named in the log: ``account:<id>``, ``client:<id>``, ``cli`` or ``system``."""
    if account_id:
        plain = ":" in account_id or account_id in ("cli", SYSTEM)
        return account_id if plain else f"account:{account_id}"
    return "cli" if cli else SYSTEM


def record_change(
    session: Session,
    *,
    actor: str | None,
    action: str,
    entity: str,
    entity_id: str,
    department_id: str | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditChange:
    """Record one change in the caller's transaction (never commits; rolls back with the change).

    The row is linked into the chain just before the commit (``chain.append_at_commit``): its ``seq`` and
    hash are unset until then."""
    row = AuditChange(
        at=utcnow(),
        actor=(actor or SYSTEM)[:64],
        action=action[:64],
        entity=entity[:64],
        entity_id=str(entity_id)[:128],
        department_id=department_id,
        before=minimise(before),
        after=minimise(after),
        trace_id=current_trace_id(),
    )
    chain.append_at_commit(session, CHAIN, row)
    return row


def list_changes(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    department_ids: Sequence[str] | None = None,
    before_seq: int | None = None,
    limit: int = 50,
) -> list[AuditChange]:
    """Changes, newest first, optionally of one entity type / object / set of departments."""
    query = select(AuditChange)
    if entity is not None:
        query = query.where(AuditChange.entity == entity)
    if entity_id is not None:
        query = query.where(AuditChange.entity_id == entity_id)
    if department_ids is not None:
        query = query.where(AuditChange.department_id.in_(list(department_ids)))
    if before_seq is not None:
        query = query.where(AuditChange.seq < before_seq)
    return list(session.scalars(query.order_by(AuditChange.seq.desc()).limit(limit)))
