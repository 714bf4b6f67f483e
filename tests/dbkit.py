"""Test databases shared by the suite's fixtures: a migrated database per xdist worker (SQLite by
default, PostgreSQL when ZHENGWU_TEST_DATABASE_URL names one) and rolled-back connections."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

_template_lock = threading.Lock()
_template: Path | None = None


def _sqlite_template() -> Path:
    """A SQLite file migrated to head once per test process: running every migration costs seconds of CPU,
    and the suite wants a fresh migrated database hundreds of times."""
    global _template
    with _template_lock:
        if _template is None:
            from zhengwu.kernel.migrate import upgrade

            path = Path(tempfile.mkdtemp(prefix="zw-template-")) / "template.db"
            upgrade(f"sqlite:///{path.as_posix()}")
            _template = path
        return _template


def migrate_fresh(url: str) -> None:
    """Bring a database to the head revision. A SQLite file that does not exist yet becomes a copy of the
    per-process template (the same schema, as the migrations read no settings); anything else is migrated.
    Tests of the migrations themselves call ``upgrade`` and never this."""
    from zhengwu.kernel.migrate import upgrade

    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if path is None or path.exists():
        upgrade(url)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(_sqlite_template())
    target = sqlite3.connect(path)
    try:
        source.backup(target)  # the online backup API: a consistent copy whatever the journal mode
    finally:
        target.close()
        source.close()


def worker_name() -> str:
    """The xdist worker running this process ("main" without xdist)."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


#: Roles whose database is in use in this process: on PostgreSQL the role names the database, so two
#: fixtures with one role would drop each other's (a CI run lost "city" that way).
_ROLES_IN_USE: set[str] = set()


def migrated_database(tmp_path_factory: pytest.TempPathFactory, role: str = "") -> Iterator[str]:
    """Yield the URL of a freshly migrated database for this worker (and role); drop it afterwards."""
    if role in _ROLES_IN_USE:
        raise RuntimeError(
            f"the database role {role!r} is already in use: give each fixture a role of its own"
        )
    _ROLES_IN_USE.add(role)
    try:
        yield from _migrated_database(tmp_path_factory, role)
    finally:
        _ROLES_IN_USE.discard(role)


def _migrated_database(tmp_path_factory: pytest.TempPathFactory, role: str) -> Iterator[str]:
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
    migrate_fresh(url)
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


def scratch_database(database_url: str, tmp_path: Path, suffix: str = "scratch") -> Iterator[str]:
    """An empty database of the same kind as the test database (its own PostgreSQL database, named after
    it with ``suffix``), for tests that must migrate or commit freely; dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{(tmp_path / f'{suffix}.db').as_posix()}"
        return
    server, _, name = database_url.rpartition("/")
    scratch = f"{name}_{suffix}"
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


def live_app(database_url: str, data_dir: Path) -> Any:
    """A node's app over a database whose rows are committed for real (``migrated_database``)."""
    from zhengwu.kernel.config import Settings
    from zhengwu.main import create_app

    return create_app(Settings(data_dir=data_dir, database_url=database_url, log_json=True))


@contextmanager
def served(app: Any) -> Iterator[Any]:
    """``app`` served in this process (lifespan included, server errors answered as 500s, not raised)
    through a test client; its engine closed afterwards."""
    from fastapi.testclient import TestClient

    from zhengwu.kernel.node import node_of

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        node_of(app).engine.dispose()
