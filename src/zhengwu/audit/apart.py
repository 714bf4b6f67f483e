"""Audit writes that must outlive a failed request (a refused login, a refused signature, a lockout).

The request's own transaction rolls back when it fails; committing it early to keep the audit row would
also keep whatever else the request had written. ``write_apart`` runs the audit write in a short unit of
work of its own, from the same session factory, and commits only that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.session import unit_of_work

T = TypeVar("T")


def factory_of(session: Session) -> sessionmaker[Session]:
    """A session factory bound like ``session`` (same engine), for a unit of work beside it."""
    bind = session.get_bind()
    if isinstance(bind, Connection):
        # A session joined to an outer transaction (tests): the unit of work commits a savepoint of it.
        return sessionmaker(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


def write_apart(session: Session, write: Callable[[Session], T]) -> T:
    """Run ``write`` in its own transaction, committed now, whatever becomes of ``session``'s.

    The request is failing, so what ``session`` wrote is lost anyway: it is rolled back first. That also
    releases the locks it holds — SQLite's one write lock, a chain head's row lock on PostgreSQL — which
    the separate transaction would otherwise wait for behind its own request.
    """
    if session.in_transaction():
        session.rollback()
    with unit_of_work(factory_of(session)) as apart:
        return write(apart)
