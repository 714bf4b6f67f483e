"""Every query of the security capability."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.security.models import SecurityEvent, WafCursor
from zhengwu.security.severity import Severity


def known_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` are already stored as source keys."""
    wanted = list(keys)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):  # bounded IN lists for SQLite
        chunk = wanted[start : start + 500]
        found.update(
            session.scalars(select(SecurityEvent.source_key).where(SecurityEvent.source_key.in_(chunk)))
        )
    return found


def cursor(session: Session, path: str) -> WafCursor | None:
    """The ingest cursor of ``path``."""
    return session.get(WafCursor, path)


def _filtered(event_type: str | None, min_severity: Severity | None) -> list[object]:
    where: list[object] = []
    if event_type:
        where.append(SecurityEvent.event_type == event_type)
    if min_severity is not None:
        allowed = [s.value for s in Severity if s.rank >= min_severity.rank]
        where.append(SecurityEvent.severity.in_(allowed))
    return where


def page(
    session: Session,
    *,
    offset: int,
    limit: int,
    event_type: str | None = None,
    min_severity: Severity | None = None,
) -> tuple[Sequence[SecurityEvent], int]:
    """Events newest first, and how many match."""
    where = _filtered(event_type, min_severity)
    total = session.scalar(select(func.count()).select_from(SecurityEvent).where(*where)) or 0  # type: ignore[arg-type]
    rows = session.scalars(
        select(SecurityEvent)
        .where(*where)  # type: ignore[arg-type]
        .order_by(SecurityEvent.occurred_at.desc(), SecurityEvent.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return rows, int(total)
