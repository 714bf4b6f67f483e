"""/_status under a burst: it skips the admission gate, so it must not hold a connection while the health
probes take theirs (a burst of calls each holding one and waiting for a second emptied the pool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from dbkit import migrate_fresh
from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of


def test_the_status_route_gives_its_connection_back_before_the_probes(tmp_path: Path) -> None:
    from zhengwu.main import create_app

    url = f"sqlite:///{(tmp_path / 'status.db').as_posix()}"
    migrate_fresh(url)
    app = create_app(Settings(data_dir=tmp_path, database_url=url))
    node = node_of(app)
    seen: list[int] = []

    def held() -> dict[str, Any]:
        seen.append(node.engine.pool.checkedout())  # type: ignore[attr-defined]
        return {"ok": True}

    node.health_probes["zz_pool"] = held
    try:
        with TestClient(app) as client:
            body = client.get("/_status").json()
        assert body["migration_revision"] and body["dependencies"]["zz_pool"]["ok"]
        assert body["dependencies"]["database"] == {"ok": True, "dialect": "sqlite"}
        assert seen == [0], "the request still held its connection while the probes ran"
    finally:
        node.engine.dispose()
