"""Test databases shared by the suite's fixtures: a migrated database per xdist worker (SQLite by
default, PostgreSQL when ZHENGWU_TEST_DATABASE_URL names one) and rolled-back connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine


def worker_name() -> str:
    """The xdist worker running this process ("main" without xdist)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def migrated_database(tmp_path_factory: pytest.TempPathFactory, role: str = "") -> Iterator[str]:
    """Yield the URL of a freshly migrated database for this worker (and role); drop it afterwards."""
    from zhengwu.kernel.migrate import upgrade

    suffix = f"_{role}" if role else ""
    base = os.environ.get("ZHENGWU_TEST_DATABASE_URL")
    if base and base.startswith("postgresql"):
        # One database per worker (and role) so that migrations and committed e2e data never collide.
        admin_url, _, name = base.rpartition("/")
        dbname = f"{name}_{worker_name()}{suffix}"
        admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        url = f"{admin_url}/{dbname}"
        upgrade(url)
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()
        return
    path = tmp_path_factory.mktemp(f"db{suffix}") / "test.db"
    url = f"sqlite:///{path.as_posix()}"
    upgrade(url)
    yield url


def rolled_back(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back afterwards."""
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        if trans.is_active:
            trans.rollback()
        conn.close()


def scratch_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the test database (its own PostgreSQL database), for
    migration tests that must upgrade and downgrade freely; dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{(tmp_path / 'scratch.db').as_posix()}"
        return
    server, _, name = database_url.rpartition("/")
    scratch = f"{name}_scratch"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
        yield f"{server}/{scratch}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    finally:
        admin.dispose()
