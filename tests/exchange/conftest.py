"""Fixtures for exchange tests: a second (peer) database and in-process province + national nodes.

The province's HTTP transport, join and verification clients talk to the national app through a
TestClient, so signed batches, receipts and queries cross a real ASGI boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from exchange_nodes import Node, join_nodes, make_node, node_settings
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from dbkit import migrated_database, rolled_back
from zhengwu.kernel.db import make_engine


@pytest.fixture(scope="session")
def peer_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second migrated database (the other node of two-node tests)."""
    yield from migrated_database(tmp_path_factory, "peer")


@pytest.fixture(scope="session")
def peer_engine(peer_database_url: str) -> Iterator[Engine]:
    """Engine of the peer database."""
    eng = make_engine(peer_database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def peer_connection(peer_engine: Engine) -> Iterator[Connection]:
    """A rolled-back transaction on the peer database."""
    yield from rolled_back(peer_engine)


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
