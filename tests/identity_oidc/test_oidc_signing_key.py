"""The node's first signing key exists before any request needs it, and requests never create one.

A code exchange holds the database's write lock when it signs the ID token; a key created then from a
second session would wait for that very lock (on SQLite: 500 for every first sign-in of a fresh node).
The started-node test of that case is in test_oidc_rp_authlib.py; ``zhengwu migrate`` in test_oidc_clients.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nodekit import database_urls
from zhengwu.identity.oidc.keys import KeyRing, SigningKeyMissing, ensure_signing_key
from zhengwu.identity.oidc.models import OidcSigningKey
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.node import node_of

pytestmark = pytest.mark.db


def _keys(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as db:
            return [(r.kid, r.status) for r in db.scalars(select(OidcSigningKey))]
    finally:
        engine.dispose()


def test_a_node_starting_on_a_database_without_a_key_makes_one_before_serving(tmp_path: Path) -> None:
    url = database_urls(tmp_path, ["startup"])["startup"]
    (tmp_path / "startup").mkdir(exist_ok=True)
    upgrade(url)  # the schema only, as a deployment running Alembic itself would leave it
    assert _keys(url) == []
    from zhengwu.main import create_app

    settings = Settings(data_dir=tmp_path / "startup", database_url=url, node_id="startup")
    for _ in range(2):  # a restart (or a second worker) keeps the key it finds
        app = create_app(settings)
        node_of(app).services.provide(OIDC).dispatcher.autostart = False
        with TestClient(app) as client:
            status = client.get("/_status").json()["dependencies"]["oidc"]
            assert status["ok"] is True and status["signing_kid"]
            assert client.get("/oidc/jwks").json()["keys"][0]["kid"] == status["signing_kid"]
        node_of(app).engine.dispose()
    ((kid, state),) = _keys(url)
    assert state == "active" and kid.startswith("startup-")


def test_the_key_ring_only_reads_and_says_what_is_missing(session: Session) -> None:
    node_keys = NodeKeys("test-secret-of-keyring-0123456789abcdef")
    for row in session.scalars(select(OidcSigningKey)):
        session.delete(row)
    session.flush()
    ring = KeyRing(node_keys)
    with pytest.raises(SigningKeyMissing, match="zhengwu migrate"):
        ring.current(lambda: session, session)
    assert session.scalar(select(func.count()).select_from(OidcSigningKey)) == 0
    made = ensure_signing_key(session, node_keys, "hebei")
    assert made is not None and ensure_signing_key(session, node_keys, "hebei") is None
    assert ring.current(lambda: session, session).kid == made.kid


def test_a_reload_reads_with_the_request_s_session_when_it_has_one(session: Session) -> None:
    node_keys = NodeKeys("test-secret-of-keyring-0123456789abcdef")
    ensure_signing_key(session, node_keys, "hebei")

    def no_second_session() -> Session:
        raise AssertionError("a second session was opened")

    assert KeyRing(node_keys).current(no_second_session, session).kid
