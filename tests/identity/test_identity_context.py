"""Identity's configuration belongs to a node: two nodes in one process keep two (issue 10, ADR 0012)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.audit.apart import factory_of
from zhengwu.identity import service
from zhengwu.identity.context import for_node, of
from zhengwu.identity.errors import AccountLocked, InvalidCredentials
from zhengwu.identity.wiring import configure
from zhengwu.kernel.config import IdentitySettings, SecuritySettings, Settings
from zhengwu.kernel.events import EventBus
from zhengwu.kernel.files import FileStore
from zhengwu.kernel.node import Node
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"


def _node(connection: Connection, tmp_path: Path, name: str, *, secret: str, lockout: int) -> Node:
    """A node whose sessions join the test transaction, configured with its own secret and lockout."""
    settings = Settings(
        data_dir=tmp_path / name,
        security=SecuritySettings(secret_key=secret),
        identity=IdentitySettings(lockout_threshold=lockout),
    )
    factory = sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    node = Node(
        settings=settings,
        engine=connection.engine,
        session_factory=factory,
        bus=EventBus(),
        files=FileStore(tmp_path / name / "files"),
        metrics=CollectorRegistry(),
    )
    configure(node)
    return node


@pytest.fixture
def nodes(connection: Connection, tmp_path: Path) -> tuple[Node, Node]:
    return (
        _node(connection, tmp_path, "a", secret="node-a-secret-0123456789abcdefgh", lockout=2),
        _node(connection, tmp_path, "b", secret="node-b-secret-0123456789abcdefgh", lockout=5),
    )


def test_each_nodes_sessions_carry_its_own_configuration(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    with a.session_factory() as sa, b.session_factory() as sb:
        assert of(sa) is for_node(a) and of(sb) is for_node(b)
        assert (of(sa).lockout_threshold, of(sb).lockout_threshold) == (2, 5)
        number = nth_citizen_id(1)
        assert service.citizen_index(of(sa).keys, number) != service.citizen_index(of(sb).keys, number)
        # A unit of work beside a session (audit written apart) is still the same node's.
        with factory_of(sa)() as apart:
            assert of(apart) is for_node(a)


def test_a_person_registered_on_one_node_is_unknown_to_the_other_keys(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    number = nth_citizen_id(3)
    with a.session_factory() as sa:
        person = service.register_natural_person(
            sa, name="演示用户三", id_number=number, phone=nth_phone(3), password=PASSWORD
        )
        sa.commit()
        assert service.find_account_by_citizen_id(sa, number) is person
    with b.session_factory() as sb:
        # Same database, other secret: node B's blind index of the number names no row.
        assert service.find_account_by_citizen_id(sb, number) is None


def test_each_node_locks_accounts_after_its_own_threshold(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    locked: dict[str, bool] = {}
    for node, n in ((a, 4), (b, 5)):
        with node.session_factory() as db:
            service.register_natural_person(
                db, name="演示用户四", id_number=nth_citizen_id(n), phone=nth_phone(n), password=PASSWORD
            )
            db.commit()
            for _ in range(2):
                with pytest.raises((InvalidCredentials, AccountLocked)):
                    service.authenticate_password(db, nth_phone(n), "Wrong-Passw0rd")
                db.commit()
            db.expire_all()
            account = service.resolve_identifier(db, nth_phone(n))
            assert account is not None
            locked[node.settings.security.secret_key.get_secret_value()[:6]] = (
                account.locked_until is not None
            )
    assert locked == {"node-a": True, "node-b": False}


def test_a_session_opened_outside_a_node_has_no_identity_configuration(connection: Connection) -> None:
    with Session(bind=connection) as stray, pytest.raises(RuntimeError, match="node"):
        of(stray)
