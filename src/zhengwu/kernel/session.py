"""One request (or one job) = one transaction; only the edge commits.

Routes declare ``session: DbSession`` — ``Depends(get_session, scope="function")`` — so that the commit
happens *before* the response is sent: a failing commit answers 500 instead of a 200 that lied.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.node import node_of


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay usable after commit (responses are built from them)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def get_session(request: Request) -> Iterator[Session]:
    """Yield the request's session; commit when the endpoint returns, roll back on any error."""
    with unit_of_work(node_of(request).session_factory) as session:
        yield session


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
