"""Fixtures for exchange tests: a second (peer) database and in-process province + national nodes.

The province's HTTP transport, join and verification clients talk to the national app through a
TestClient, so signed batches, receipts and queries cross a real ASGI boundary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from exchange_nodes import Node, join_nodes, make_node, node_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.db import make_engine


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def peer_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second migrated database (the other node of two-node tests)."""
    from zhengwu.kernel.migrate import upgrade

    base = os.environ.get("ZHENGWU_TEST_DATABASE_URL")
    if base and base.startswith("postgresql"):
        admin_url, _, name = base.rpartition("/")
        dbname = f"{name}_{_worker()}_peer"
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
    path = tmp_path_factory.mktemp("peer") / "peer.db"
    url = f"sqlite:///{path.as_posix()}"
    upgrade(url)
    yield url


@pytest.fixture(scope="session")
def peer_engine(peer_database_url: str) -> Iterator[Engine]:
    """Engine of the peer database."""
    eng = make_engine(peer_database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def peer_connection(peer_engine: Engine) -> Iterator[Connection]:
    """A rolled-back transaction on the peer database."""
    conn = peer_engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        if trans.is_active:
            trans.rollback()
        conn.close()


@pytest.fixture
def peer_session_factory(peer_connection: Connection) -> sessionmaker[Session]:
    """Sessions of the peer node joined to its rolled-back transaction."""
    return sessionmaker(
        bind=peer_connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def national(
    tmp_path: Path, peer_database_url: str, peer_session_factory: sessionmaker[Session]
) -> Iterator[Node]:
    """The national node (peer database)."""
    node = make_node(node_settings(tmp_path, peer_database_url, national=True), peer_session_factory)
    yield node
    node.client.close()


@pytest.fixture
def province(tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]) -> Iterator[Node]:
    """The Hebei province node (main test database), not yet joined."""
    node = make_node(node_settings(tmp_path, database_url, national=False), session_factory)
    yield node
    node.client.close()


@pytest.fixture
def joined(province: Node, national: Node) -> tuple[Node, Node]:
    """Province and national nodes after a completed join."""
    join_nodes(province, national)
    return province, national
