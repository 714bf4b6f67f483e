"""``zhengwu users add-staff``: the first administrator of a fresh node, and every later staff account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of

PASSWORD = "Staff-Passw0rd!2026"


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A migrated node of its own with one department (the CLI commits for real)."""
    from dbkit import migrate_fresh
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    url = f"sqlite:///{(tmp_path / 'staff.db').as_posix()}"
    migrate_fresh(url)
    monkeypatch.setenv("ZHENGWU_DATABASE_URL", url)
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(tmp_path / "data"))
    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        orgs.add_department(
            session,
            DepartmentCreate(
                credit_code=government_credit_code("130000", 9001),
                name="河北省政务服务管理办公室",
                division_code="130000",
            ),
        )
    engine.dispose()
    return Settings()


def _add(*args: str, password: str = PASSWORD) -> object:
    from zhengwu.cli import app

    return CliRunner().invoke(app, ["users", "add-staff", *args, "--password-stdin"], input=password + "\n")


def test_the_first_administrator_is_created_and_can_log_in(node: Settings) -> None:
    from fastapi.testclient import TestClient

    from zhengwu.identity.models import AuthEvent, StaffBinding
    from zhengwu.main import create_app
    from zhengwu.seed import government_credit_code

    code = government_credit_code("130000", 9001)
    result = _add(
        "--login-name", "zwb.admin", "--name", "王建国", "--department", code,
        "--role", "platform_admin", "--role", "identity_admin", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    created = json.loads(result.stdout.strip().splitlines()[0])  # type: ignore[attr-defined]
    assert created["login_name"] == "zwb.admin" and created["roles"] == ["identity_admin", "platform_admin"]
    assert PASSWORD not in result.output  # type: ignore[attr-defined]
    assert "动态验证码" in result.output  # type: ignore[attr-defined] - admins are told to enrol a second factor
    app = create_app(node)
    with TestClient(app) as client:
        login = client.post("/api/v1/identity/login", json={"identifier": "zwb.admin", "password": PASSWORD})
        assert login.status_code == 200, login.text
    with node_of(app).session_factory() as db:
        binding = db.scalar(select(StaffBinding).where(StaffBinding.account_id == created["account_id"]))
        assert binding is not None and binding.department_id == created["department_id"]
        event = db.scalar(select(AuthEvent).where(AuthEvent.event_type == "register_staff"))
        assert event is not None and event.success
    node_of(app).engine.dispose()


def test_bad_input_is_refused_and_nothing_is_created(node: Settings) -> None:
    from zhengwu.identity.models import Account, AuthEvent
    from zhengwu.kernel.db import make_engine
    from zhengwu.kernel.session import make_session_factory, unit_of_work
    from zhengwu.seed import government_credit_code

    code = government_credit_code("130000", 9001)
    base = ["--name", "王建国", "--department", code]
    typo = _add("--login-name", "a1", *base, "--role", "platfrom_admin")
    assert typo.exit_code == 2 and "platfrom_admin" in typo.output  # type: ignore[attr-defined]
    weak = _add("--login-name", "weak.admin", *base, "--role", "admin", password="123456")
    assert weak.exit_code == 1 and "密码" in weak.output  # type: ignore[attr-defined]
    nowhere = _add(
        "--login-name", "lost.admin", "--name", "王建国", "--department", "x" * 32, "--role", "admin"
    )
    assert nowhere.exit_code == 1  # type: ignore[attr-defined]
    assert _add("--login-name", "twice", *base, "--role", "admin").exit_code == 0  # type: ignore[attr-defined]
    again = _add("--login-name", "twice", *base, "--role", "seal_admin")
    assert again.exit_code == 1  # type: ignore[attr-defined]
    engine = make_engine(node.database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        logins = set(session.scalars(select(Account.login_name)))
        refused = session.scalars(
            select(AuthEvent).where(AuthEvent.event_type == "register_staff", AuthEvent.success.is_(False))
        ).all()
    engine.dispose()
    assert logins == {"twice"}
    assert refused  # the weak password's refusal is audited


def test_two_of_the_three_administrator_roles_are_refused(node: Settings) -> None:
    from zhengwu.seed import government_credit_code

    result = _add(
        "--login-name", "sec.audit", "--name", "李安全", "--department", government_credit_code("130000", 9001),
        "--role", "security_admin", "--role", "audit_admin",
    )  # fmt: skip
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "三员" in result.output and "未创建" in result.output  # type: ignore[attr-defined]
