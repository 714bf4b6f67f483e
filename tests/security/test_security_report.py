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
    # No staff yet, but privileged commands do not ask for the operator's second factor here.
    assert controls["staff_second_factor"] == {
        "ok": False, "staff": 0, "with_totp": 0, "without_totp": [], "cli_second_factor": False,
        "cli_privileged_30d": 0, "cli_break_glass_30d": 0,
        "cli_sessions_30d": {"opened": 0, "commands": 0, "open_now": 0,
                             "ended": {"expiry": 0, "logout": 0, "other_terminal": 0, "account_change": 0}},
    }  # fmt: skip
    # Not production, not https: the transport control is not met, so the report exits 1.
    transport = controls["transport"]
    assert transport["ok"] is False and report["ok"] is False and code == 1
    assert transport["forwarded_allow_ips"] == "127.0.0.1" and transport["forwarded_trust_narrow"] is True
    assert "TLCP" in transport["tls_termination"] and "not observable" in transport["tls_termination"]
    assert transport["tlcp_gateway"]["configured"] is False


def test_the_cli_second_factor_and_proxy_trust_are_reported(
    node: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZHENGWU_SECURITY__CLI_SECOND_FACTOR", "true")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    from zhengwu.seed import government_credit_code

    added = invoke("departments", "add", "--credit-code", government_credit_code("130000", 9002), "--name",
                   "河北省网络安全中心", "--division", "130000")  # fmt: skip
    assert added.exit_code == 0, added.output
    _code, report = _report()
    factor, transport = report["controls"]["staff_second_factor"], report["controls"]["transport"]
    assert factor["ok"] is True and factor["cli_second_factor"] is True and factor["cli_break_glass_30d"] == 1
    assert transport["forwarded_allow_ips"] == "*" and transport["forwarded_trust_narrow"] is False


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
