"""Seal events are published by the service (ADR 0012): the CLI and the API, which build the same node,
emit the same typed event to the same subscribers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zhengwu import main
from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.node import Node, node_of
from zhengwu.seals.events import SealCreated, SealEvent, SealStatusChanged
from zhengwu.seed import government_credit_code

runner = CliRunner()


@pytest.fixture
def node_dir(tmp_path: Path) -> dict[str, str]:
    from dbkit import migrate_fresh

    url = f"sqlite:///{(tmp_path / 'node.db').as_posix()}"
    migrate_fresh(url)
    return {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(tmp_path), "ZHENGWU_LOG_LEVEL": "WARNING"}


@pytest.fixture
def heard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SealEvent]]:
    """Every seal event published on any node built in this test (server or CLI), via main.subscribe."""
    seen: list[SealEvent] = []
    wired = main.subscribe

    def subscribe(node: Node) -> None:
        wired(node)
        for kind in (SealCreated, SealStatusChanged):
            node.bus.subscribe(kind, lambda _db, event: seen.append(event))

    monkeypatch.setattr(main, "subscribe", subscribe)
    yield seen


def _cli(env: dict[str, str], *args: str) -> Any:
    from zhengwu.cli import app

    result = runner.invoke(app, ["--help"] if not args else list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _staff_token(session: Session, department_id: str) -> str:
    from zhengwu.identity import service as identity

    account = identity.register_staff(
        session,
        name="用印管理员",
        login_name=f"seal{secrets.token_hex(4)}",
        password="Seal-Passw0rd-2026",
        department_id=department_id,
        roles=["seal_admin"],
    )
    return str(identity.start_session(session, account, amr=["pwd", "otp"]).token)


def test_suspending_from_the_cli_and_the_api_publishes_the_same_event(
    node_dir: dict[str, str], heard: list[SealEvent]
) -> None:
    code = government_credit_code("130000", 13)
    _cli(node_dir, "pki", "init", "--json")
    _cli(
        node_dir,
        "departments",
        "add",
        "--credit-code",
        code,
        "--name",
        "河北省市场监督管理局",
        "--division",
        "130000",
    )
    _cli(node_dir, "seals", "create", "--department", code, "--name", "河北省市场监督管理局行政审批专用章")
    _cli(node_dir, "seals", "create", "--department", code, "--name", "河北省市场监督管理局合同专用章")
    assert [type(e) for e in heard] == [SealCreated, SealCreated]
    first, second = (e.es_id for e in heard)
    heard.clear()

    _cli(node_dir, "seals", "suspend", first, "--reason", "核查")
    settings = Settings(
        database_url=node_dir["ZHENGWU_DATABASE_URL"], data_dir=Path(node_dir["ZHENGWU_DATA_DIR"])
    )
    app = main.create_app(settings)
    node = node_of(app)
    try:
        with node.unit() as session:
            from zhengwu.orgs import service as orgs

            token = _staff_token(session, orgs.get_by_credit_code(session, code).id)
        with TestClient(app) as client:
            client.cookies.set("zw_session", token)
            answered = client.post(f"/api/v1/seals/{second}/suspend", json={"reason": "核查"})
            assert answered.status_code == 200, answered.text
    finally:
        node.close()

    from_cli, from_api = heard
    assert type(from_cli) is type(from_api) is SealStatusChanged
    assert from_cli.topic == from_api.topic == "seals.SealStatusChanged"
    assert (from_cli.es_id, from_api.es_id) == (first, second)
    same = ("department_id", "status", "reason")
    assert [getattr(from_cli, f) for f in same] == [getattr(from_api, f) for f in same]
    assert from_api.status == "suspended" and from_api.reason == "核查"
    assert from_cli.actor.startswith("cli") and from_api.actor.startswith("account:")


def test_the_bus_delivers_by_type_inside_the_transaction(session: Session) -> None:
    bus = EventBus()
    got: list[tuple[Session, SealEvent]] = []
    bus.subscribe(SealStatusChanged, lambda db, event: got.append((db, event)))
    event = SealStatusChanged(es_id="1", department_id="d", status="suspended", reason=None, actor="a")
    bus.publish(session, SealCreated(es_id="1", department_id="d", status="active", reason=None, actor="a"))
    assert got == [] and bus.subscribers(SealCreated) == 0
    bus.publish(session, event)
    assert got == [(session, event)] and bus.subscribers(SealStatusChanged) == 1


def test_an_event_class_must_name_its_topic() -> None:
    from dataclasses import dataclass

    from zhengwu.kernel.events import DomainEvent

    with pytest.raises(TypeError, match="topic"):

        @dataclass(frozen=True)
        class Unnamed(DomainEvent):
            pass


def test_server_and_cli_nodes_subscribe_alike(node_dir: dict[str, str]) -> None:
    from zhengwu.commands.node import open_node
    from zhengwu.identity.events import UserLoggedOut

    settings = Settings(
        database_url=node_dir["ZHENGWU_DATABASE_URL"], data_dir=Path(node_dir["ZHENGWU_DATA_DIR"])
    )
    server = node_of(main.create_app(settings))
    with open_node(settings) as cli:
        # OIDC's back-channel logout listens on both: a session ended from the CLI logs out its clients too.
        assert server.bus.subscribers(UserLoggedOut) == cli.bus.subscribers(UserLoggedOut) == 1
    server.close()
