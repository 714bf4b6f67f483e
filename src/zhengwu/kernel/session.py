"""One request (or one job) = one transaction; only the edge commits.

Routes declare ``session: DbSession`` — ``Depends(get_session, scope="function")`` — so that the commit
happens *before* the response is sent: a failing commit answers 500 instead of a 200 that lied.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from zhengwu.kernel.node import node_of


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay usable after commit (responses are built from them)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Yield the request's session; commit when the endpoint returns, roll back on any error.

    An async dependency: making a session opens no connection, so it is made in the event loop, and only
    its end (commit or rollback, then close) takes a worker thread — one thread hand-off per request
    instead of two (each costs more CPU than a cheap endpoint's own work on a busy machine)."""
    session = node_of(request).session_factory()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(_end, session, False)
        raise
    await run_in_threadpool(_end, session, True)


def _end(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session, scope="function")]


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The same rule for CLI commands and workers: commit at the end, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
