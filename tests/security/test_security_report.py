"""``zhengwu security report``: the live state of the controls, and a control not met named as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clikit import cli_node, invoke


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    yield from cli_node(tmp_path, monkeypatch, ZHENGWU_NODE_ID="hebei")


def _report() -> tuple[int, dict[str, Any]]:
    done = invoke("security", "report", "--json")
    return done.exit_code, json.loads(done.output)


def test_a_development_node_reports_each_control(node: Any) -> None:
    code, report = _report()
    controls = report["controls"]
    assert set(controls) == {
        "keys_wrapped",
        "algorithms",
        "staff_second_factor",
        "three_administrators_apart",
        "audit_chains",
        "transport",
    }
    assert controls["audit_chains"]["ok"] and controls["audit_chains"]["chains"] >= 4
    assert controls["staff_second_factor"] == {"ok": True, "staff": 0, "with_totp": 0, "without_totp": []}
    # Not production, not https: the transport control is not met, so the report exits 1.
    assert controls["transport"]["ok"] is False and report["ok"] is False and code == 1


def test_staff_without_a_second_factor_are_named(node: Any) -> None:
    from typer.testing import CliRunner

    from zhengwu.cli import app
    from zhengwu.kernel.session import unit_of_work
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    code = government_credit_code("130000", 9001)
    with unit_of_work(node) as session:
        orgs.add_department(
            session,
            DepartmentCreate(credit_code=code, name="河北省政务服务管理办公室", division_code="130000"),
        )
    added = CliRunner().invoke(
        app,
        ["users", "add-staff", "--login-name", "ops.one", "--name", "运维一", "--department", code,
         "--role", "platform_admin", "--password-stdin"],
        input="Zhengwu-Report-2026!\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    _code, report = _report()
    factor = report["controls"]["staff_second_factor"]
    assert factor["ok"] is False and factor["without_totp"] == ["ops.one"] and factor["staff"] == 1
    # An account granted two of the 三员 roles before the rule existed is named.
    from sqlalchemy import select

    from zhengwu.identity.models import Account, StaffBinding

    with unit_of_work(node) as session:
        account = session.scalars(select(Account).where(Account.login_name == "ops.one")).one()
        binding = session.scalars(select(StaffBinding).where(StaffBinding.account_id == account.id)).one()
        binding.roles = ["platform_admin", "security_admin"]
        account_id = account.id
    _code, report = _report()
    assert report["controls"]["three_administrators_apart"] == {
        "ok": False,
        "accounts_holding_two": [account_id],
    }
