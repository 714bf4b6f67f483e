"""The node and its typed service registry (kernel.node, ADR 0012)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.node import (
    CurrentNode,
    Node,
    ServiceKey,
    ServiceMissing,
    ServiceRegistry,
    attach,
    node_of,
    service_in,
)
from zhengwu.kernel.session import make_session_factory

GREETING: ServiceKey[str] = ServiceKey("tests.greeting")
COUNT: ServiceKey[int] = ServiceKey("tests.count")


def _node(tmp_path: Path) -> Node:
    settings = Settings(data_dir=tmp_path)
    engine = make_engine(f"sqlite:///{(tmp_path / 'node.db').as_posix()}")
    return Node(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        bus=EventBus(),
        files=FileStore(tmp_path / "files"),
        metrics=CollectorRegistry(),
    )


def test_a_service_is_registered_once_and_provided_by_its_key() -> None:
    services = ServiceRegistry()
    assert services.put(GREETING, "你好") == "你好"
    assert services.provide(GREETING) == "你好" and GREETING in services and COUNT not in services
    with pytest.raises(ValueError, match=r"tests\.greeting"):
        services.put(GREETING, "again")
    with pytest.raises(ServiceMissing, match=r"tests\.count"):
        services.provide(COUNT)
    assert services.get(COUNT) is None
    assert services.names() == ["tests.greeting"]


def test_keys_compare_by_identity_not_by_name() -> None:
    services = ServiceRegistry()
    services.put(GREETING, "a")
    twin: ServiceKey[str] = ServiceKey("tests.greeting")
    assert services.get(twin) is None
    services.put(twin, "b")
    assert (services.provide(GREETING), services.provide(twin)) == ("a", "b")


def test_tests_replace_and_remove_collaborators() -> None:
    services = ServiceRegistry()
    with pytest.raises(ServiceMissing):
        services.replace(COUNT, 1)
    services.put(COUNT, 1)
    services.replace(COUNT, 2)
    assert services.provide(COUNT) == 2
    services.remove(COUNT)
    services.remove(COUNT)  # removing what is absent is harmless
    assert services.get(COUNT) is None


def test_routes_reach_the_attached_node(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node.services.put(GREETING, "你好")
    app = FastAPI()

    @app.get("/greeting")
    def greeting(current: CurrentNode) -> dict[str, str]:
        return {"greeting": current.services.provide(GREETING), "node": current.settings.node_id}

    with pytest.raises(RuntimeError, match="no node attached"):
        node_of(app)
    attach(app, node)
    assert node_of(app) is node
    with TestClient(app) as client:
        assert client.get("/greeting").json() == {"greeting": "你好", "node": "hebei"}
    node.close()


def test_a_unit_of_work_commits_or_rolls_back(tmp_path: Path) -> None:
    with _node(tmp_path) as node:
        with node.unit() as session:
            session.execute(text("CREATE TABLE t (v INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(ZeroDivisionError), node.unit() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            _ = 1 / 0
        with node.unit() as session:
            assert session.execute(text("SELECT v FROM t")).scalars().all() == [1]


def test_a_session_reaches_an_optional_service_of_its_node(tmp_path: Path) -> None:
    with _node(tmp_path) as node:
        node.services.put(GREETING, "你好")
        with node.unit() as session:
            assert service_in(session, GREETING) == "你好" and service_in(session, COUNT) is None
        # A session its node did not open (a script's): no node, so no optional collaborator either.
        with make_session_factory(node.engine)() as stray:
            assert service_in(stray, GREETING) is None


def test_the_application_node_has_every_capability_installed(app: FastAPI) -> None:
    from zhengwu.catalog.jobs import IMPORT_RUNNER
    from zhengwu.exchange.servicekeys import AUTHORIZER, RUNTIME
    from zhengwu.identity.servicekeys import ITEM_REQUIREMENTS, NOTIFIER, OIDC, REAL_NAME_VERIFIER
    from zhengwu.ops.routes import SCRAPE_GAUGES

    node = node_of(app)
    for key in (IMPORT_RUNNER, RUNTIME, AUTHORIZER, NOTIFIER, OIDC, REAL_NAME_VERIFIER, ITEM_REQUIREMENTS):
        assert key in node.services, key
    assert SCRAPE_GAUGES in node.services
    # A PostgreSQL node also watches its WAL archive (ops.walarchive); SQLite has none.
    archive = {"wal_archive"} if node.engine.dialect.name == "postgresql" else set()
    assert set(node.health_probes) == {"pki", "identity", "oidc", "exchange"} | archive
