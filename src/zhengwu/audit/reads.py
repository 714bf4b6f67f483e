"""The read audit of personal data (读取审计, conventions §Personal data 3).

Wherever staff or a machine reads a person's data — a verification answer, a staff view of an account,
userinfo released to a client — the service calls ``record_read`` in the same transaction as the read's
answer. The person lists the records with ``reads_of`` (``GET /api/v1/identity/me/reads``).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from zhengwu.audit import chain
from zhengwu.audit.models import AuditRead
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.logging import current_trace_id, scrub

READS: Final = "audit.reads"


def _body(row: AuditRead) -> dict[str, object]:
    return {
        "at": row.at,
        "subject": row.subject_account_id,
        "reader": row.reader,
        "purpose": row.purpose,
        "what": row.what,
        "trace": row.trace_id,
    }


CHAIN: Final = chain.ChainSpec(READS, AuditRead, _body, label="读取审计 / personal-data reads")


def record_read(session: Session, subject_account_id: str, reader: str, purpose: str, what: str) -> AuditRead:
    """Record that ``reader`` read ``what`` of the person ``subject_account_id`` for ``purpose``.

    ``reader`` names the reader (``account:<id>``, ``client:<id>``, ``node:<id>``); ``what`` names the data
    read (``account.profile``, ``verification.real_name``, ``userinfo:phone``), never the data itself.
    Linked into the chain just before the commit (``chain.append_at_commit``).
    """
    row = AuditRead(
        at=utcnow(),
        subject_account_id=subject_account_id,
        reader=scrub(reader[:128]),
        purpose=scrub(purpose[:64]),
        what=scrub(what[:128]),
        trace_id=current_trace_id(),
    )
    chain.append_at_commit(session, CHAIN, row)
    return row


def _of(subject_account_id: str, excluding: str | None) -> list[ColumnElement[bool]]:
    where = [AuditRead.subject_account_id == subject_account_id]
    if excluding:
        where.append(~AuditRead.what.startswith(excluding, autoescape=True))
    return where


def reads_of(
    session: Session,
    subject_account_id: str,
    *,
    offset: int = 0,
    limit: int = 50,
    excluding: str | None = None,
) -> list[AuditRead]:
    """Who read the person's data, newest first (``excluding``: leave out what starts with this prefix,
    for a caller that lists those reads from a more precise log of its own)."""
    query = (
        select(AuditRead)
        .where(*_of(subject_account_id, excluding))
        .order_by(AuditRead.seq.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(query))


def count_reads_of(session: Session, subject_account_id: str, *, excluding: str | None = None) -> int:
    """How many reads of the person's data are recorded."""
    query = select(func.count()).select_from(AuditRead).where(*_of(subject_account_id, excluding))
    return int(session.scalar(query) or 0)
