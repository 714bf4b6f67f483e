"""Shared fixtures: a migrated test database (SQLite by default, PostgreSQL when
ZHENGWU_TEST_DATABASE_URL names one), a rolled-back session per test, an app and a client.

Isolation follows SQLAlchemy's "join an external transaction" recipe: each test runs inside a
connection-level transaction that is rolled back, and the code under test commits only SAVEPOINTs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from clockkit import FakeClock
from dbkit import migrated_database, rolled_back
from leakscan import LEAK_LOG, install_scanner
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.node import NODE_INFO, Node

# No per-example deadline: the suite asserts no timings (benchmarks do), and a loaded CI machine
# would turn a slow example into a "flaky" failure. CI replays a fixed sequence of examples, so a
# red CI always reproduces; local runs keep exploring new ones.
hypothesis_settings.register_profile("zhengwu", deadline=None)
hypothesis_settings.register_profile("zhengwu-ci", deadline=None, derandomize=True, database=None)
hypothesis_settings.load_profile("zhengwu-ci" if os.environ.get("ZHENGWU_CI") else "zhengwu")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for this test worker."""
    yield from migrated_database(tmp_path_factory)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The migrated test database's engine."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    yield from rolled_back(engine)


@pytest.fixture(scope="session")
def bare_node(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Node:
    """A node with identity's configuration only, for tests that call services without an app: their
    sessions carry it as a node's sessions do (no process-wide configuration exists)."""
    from prometheus_client import CollectorRegistry

    from zhengwu.identity.wiring import configure
    from zhengwu.kernel.events import EventBus
    from zhengwu.kernel.files import FileStore
    from zhengwu.kernel.session import make_session_factory

    data = tmp_path_factory.mktemp("identity")
    node = Node(
        settings=Settings(data_dir=data),
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=EventBus(),
        files=FileStore(data / "files"),
        metrics=CollectorRegistry(),
    )
    configure(node)
    return node


@pytest.fixture
def session_factory(connection: Connection, bare_node: Node) -> sessionmaker[Session]:
    """Sessions bound to the test connection; their commits become SAVEPOINT releases. An app built by
    the test takes the factory over (``Node.use_sessions``); until then its sessions carry the bare node."""
    return sessionmaker(
        bind=connection,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
        info={NODE_INFO: bare_node},
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for repository/service tests (rolled back with the connection)."""
    s = session_factory()
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Node settings for a test app (province node, Hebei)."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, log_json=True, log_level="DEBUG")


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Any]:
    """The app with its sessions joined to the per-test transaction."""
    from zhengwu.kernel.node import node_of
    from zhengwu.main import create_app

    application = create_app(settings)
    node = node_of(application)
    own_engine = node.engine
    node.use_sessions(session_factory)
    yield application
    # The app's own engine may have opened pooled connections (background work, probes).
    own_engine.dispose()


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """A TestClient that reports server errors as responses (so envelopes can be asserted)."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """Freeze the kernel clock for the test (restored afterwards); ``clock.advance(minutes=5)`` moves it."""
    from zhengwu.kernel.clock import set_clock

    fake = FakeClock()
    set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches the database, so CI can run them again on PostgreSQL.

    Tests marked slow run first: xdist hands them out early instead of leaving one worker busy with a
    minutes-long test after the other has finished (the SQLite pass must stay under ten minutes).
    """
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# --- conventions §2: the whole suite runs at DEBUG with its log lines scanned (tests/leakscan.py) ---


def pytest_configure(config: pytest.Config) -> None:
    """Run the whole suite with DEBUG logging scanned for leaks."""
    install_scanner()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any log line or error body leaked personal data."""
    if LEAK_LOG:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"PERSONAL DATA LEAKED INTO LOGS ({len(LEAK_LOG)} lines):", red=True)
            for line in LEAK_LOG[:20]:
                reporter.write_line("  " + line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
