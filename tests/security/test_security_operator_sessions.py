"""Operator sessions: one second factor for several privileged commands, like sudo's timestamp (issue 15).

After a code was accepted the terminal keeps a secret (file mode 600, only its digest in the database);
later commands of the same operator on the same terminal run without a code until the session expires,
the operator logs out, or the account no longer stands behind it. A secret presented elsewhere is refused
and ends the session. Every step is in the authentication audit.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clikit import invoke
from dbkit import scratch_database, worker_name
from operator_kit import CODE, NOW, as_operator, code, enrol, events, operator_node, staff
from zhengwu.audit.models import AuditChange
from zhengwu.commands.operator import session_file
from zhengwu.identity import operator as operator_module
from zhengwu.identity.models import Account, AccountStatus, OperatorSession, StaffBinding
from zhengwu.kernel import clock
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.session import unit_of_work

SEAL = "河北省市场监督管理局行政审批专用章"


@pytest.fixture
def node(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A SQLite node, or (``indirect`` parameter "postgresql") a PostgreSQL one of its own when
    ZHENGWU_TEST_DATABASE_URL names a server."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield from operator_node(tmp_path, monkeypatch, ZHENGWU_SECURITY__CLI_SESSION_MINUTES="10")
        return
    base = os.environ.get("ZHENGWU_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        pytest.skip("the PostgreSQL case needs ZHENGWU_TEST_DATABASE_URL")
    for url in scratch_database(f"{base}_{worker_name()}", tmp_path, suffix="operator"):
        yield from operator_node(tmp_path, monkeypatch, url, ZHENGWU_SECURITY__CLI_SESSION_MINUTES="10")


@pytest.fixture
def root(node: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A platform administrator with a TOTP on a node with a department and a PKI; returns the secret."""
    assert invoke("pki", "init").exit_code == 0
    assert invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                  "--division", "130000").exit_code == 0  # fmt: skip
    assert staff("root", "platform_admin").exit_code == 0
    return enrol("root")


def create_seal(monkeypatch: pytest.MonkeyPatch, login: str | None, otp: str | None, name: str = SEAL) -> Any:
    return as_operator(
        monkeypatch, login, otp, "seals", "create", "--department", CODE, "--name", name, "--json"
    )


def the_file() -> Path:
    return session_file(Settings(), operator_module.here())


def sessions(node: Any) -> list[OperatorSession]:
    with unit_of_work(node) as session:
        found = list(session.scalars(select(OperatorSession).order_by(OperatorSession.created_at)))
        session.expunge_all()
    return found


def test_one_code_then_commands_without_one(node: Any, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = create_seal(monkeypatch, "root", code(root))
    assert made.exit_code == 0, made.output
    es_id = json.loads(made.stdout.strip().splitlines()[-1])["es_id"]

    # The terminal keeps only a random secret, readable by its user alone; the database its digest.
    path = the_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = path.read_text()
    assert "root" not in secret and len(secret) >= 40
    (row,) = sessions(node)
    assert row.token_hash == sm3(secret.encode()).hex() and secret not in row.token_hash
    assert row.expires_at == NOW + timedelta(minutes=10) and row.ended_at is None
    (opened,) = events(node, "operator_session")
    assert opened.session_id == row.id and opened.detail["command"] == "seals create"

    # Back to back, no code: named or not (no prompt: an empty code would be refused).
    suspended = as_operator(monkeypatch, "root", None, "seals", "suspend", es_id, "--reason", "测试")
    assert suspended.exit_code == 0, suspended.output
    resumed = as_operator(monkeypatch, None, None, "seals", "resume", es_id)
    assert resumed.exit_code == 0, resumed.output
    runs = events(node, "privileged_cli")
    assert [e.detail.get("via") for e in runs] == [None, "session", "session"]
    assert {e.session_id for e in runs[1:]} == {row.id}
    with unit_of_work(node) as session:
        root_id = session.scalars(select(Account.id).where(Account.login_name == "root")).one()
        actors = set(session.scalars(select(AuditChange.actor).where(AuditChange.entity_id == es_id)))
    assert actors and all(a.startswith(f"account:{root_id} cli:") for a in actors), actors
    assert sessions(node)[0].uses == 2

    # The session proves the person, not a right: the rights are still decided per command.
    notice = as_operator(monkeypatch, None, None, "security", "notices", "ack", "nonexistent")
    assert notice.exit_code == 1 and "没有" in notice.output
    assert events(node, "permission_denied")[-1].detail["reason"] == "no_right"

    status = invoke("operator", "status", "--json")
    shown = json.loads(status.stdout)
    assert shown["open"] is True and shown["operator"] == "root" and shown["uses"] == 2

    # Logout ends it: the next command needs an operator and a code again.
    assert "已结束" in invoke("operator", "logout").output
    assert not path.exists() and sessions(node)[0].end_reason == "logout"
    again = as_operator(monkeypatch, None, None, "seals", "suspend", es_id, "--reason", "测试")
    assert again.exit_code == 1 and "--operator" in again.output
    assert json.loads(invoke("operator", "status", "--json").stdout) == {"open": False}
    assert "没有" in invoke("operator", "logout").output


def test_an_expired_session_asks_for_a_code(node: Any, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_seal(monkeypatch, "root", code(root)).exit_code == 0
    clock.set_clock(lambda: NOW + timedelta(minutes=10, seconds=1))
    late = create_seal(monkeypatch, None, None, name="河北省市场监督管理局合同专用章")
    assert late.exit_code == 1 and "--operator" in late.output
    (ended,) = events(node, "operator_session_end")
    assert ended.detail["reason"] == "expired" and sessions(node)[0].end_reason == "expired"
    assert not the_file().exists()
    # A fresh code opens a fresh session.
    fresh = create_seal(monkeypatch, "root", code(root, 21), name="河北省市场监督管理局合同专用章")
    assert fresh.exit_code == 0, fresh.output
    assert [s.ended_at is None for s in sessions(node)] == [False, True]


def _disable(account: Account, _binding: StaffBinding) -> None:
    account.status = AccountStatus.DISABLED


def _lock(account: Account, _binding: StaffBinding) -> None:
    account.locked_until = NOW + timedelta(minutes=15)


def _reset_factor(account: Account, _binding: StaffBinding) -> None:
    account.totp_enabled_at = None


def _new_roles(_account: Account, binding: StaffBinding) -> None:
    binding.roles = ["platform_admin", "seal_admin"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_disable, "disabled"),
        (_lock, "locked"),
        (_reset_factor, "factor_changed"),
        (_new_roles, "rights_changed"),
    ],
)
def test_a_changed_account_ends_its_sessions(
    node: Any,
    root: str,
    monkeypatch: pytest.MonkeyPatch,
    change: Callable[[Account, StaffBinding], None],
    reason: str,
) -> None:
    assert create_seal(monkeypatch, "root", code(root)).exit_code == 0
    with unit_of_work(node) as session:
        account = session.scalars(select(Account).where(Account.login_name == "root")).one()
        binding = session.scalars(select(StaffBinding).where(StaffBinding.account_id == account.id)).one()
        change(account, binding)
    refused = as_operator(monkeypatch, "root", None, "identity", "keys", "rotate")
    assert refused.exit_code == 1  # asked for a code: an empty one is refused
    (ended,) = events(node, "operator_session_refused")
    assert ended.detail["reason"] == reason and ended.success is False
    assert sessions(node)[0].end_reason == reason
    assert len(events(node, "privileged_cli")) == 1


def test_a_secret_taken_elsewhere_is_refused(node: Any, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_seal(monkeypatch, "root", code(root)).exit_code == 0
    mine = operator_module.here()
    source = the_file()
    for other in (replace(mine, terminal="/dev/pts/9 sid=4242"), replace(mine, os_user="intruder"),
                  replace(mine, host="elsewhere")):  # fmt: skip
        monkeypatch.setattr(operator_module, "here", lambda other=other: other)
        stolen = the_file()
        if source.exists():
            stolen.parent.mkdir(mode=0o700, exist_ok=True)
            shutil.copy2(source, stolen)
        taken = as_operator(monkeypatch, None, None, "identity", "keys", "rotate")
        assert taken.exit_code == 1 and "--operator" in taken.output
    # The first foreign use ended it for everyone, the terminal it was given to included.
    (refused,) = events(node, "operator_session_refused")
    assert refused.detail["reason"] == "foreign" and refused.detail["terminal"] == "/dev/pts/9 sid=4242"
    monkeypatch.setattr(operator_module, "here", lambda: mine)
    home = as_operator(monkeypatch, None, None, "identity", "keys", "rotate")
    assert home.exit_code == 1
    assert events(node, "privileged_cli")[-1].detail["command"] == "seals create"


def test_an_unsafe_secret_file_is_ignored(node: Any, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_seal(monkeypatch, "root", code(root)).exit_code == 0
    the_file().chmod(0o644)
    loose = as_operator(monkeypatch, None, None, "identity", "keys", "rotate")
    assert loose.exit_code == 1 and "权限不安全" in loose.output
    assert sessions(node)[0].uses == 0


def test_sessions_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = operator_node(tmp_path, monkeypatch, ZHENGWU_SECURITY__CLI_SESSION_MINUTES="0")
    node = next(factory)
    assert invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                  "--division", "130000").exit_code == 0  # fmt: skip
    assert staff("root", "platform_admin").exit_code == 0
    secret = enrol("root")
    assert as_operator(monkeypatch, "root", code(secret), "identity", "keys", "rotate").exit_code == 0
    assert sessions(node) == [] and not the_file().exists()
    assert as_operator(monkeypatch, "root", None, "identity", "keys", "rotate").exit_code == 1
    factory.close()


# The report's counts are SQL (count, group by, comparisons of time zone aware timestamps): the
# production database too.
@pytest.mark.parametrize("node", ["sqlite", "postgresql"], indirect=True)
def test_the_security_report_counts_the_sessions_of_its_period(
    node: Any, root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside the report's 30 days: opened and ended by logout, counted nowhere.
    clock.set_clock(lambda: NOW - timedelta(days=40))
    mine = operator_module.here()
    with unit_of_work(node) as session:
        account = session.scalars(select(Account).where(Account.login_name == "root")).one()
        me = operator_module.Operator(mine.os_user, account.id, "root", command="seals create")
        operator_module.end_session(session, operator_module.open_session(session, me, mine, 10), mine)
    clock.set_clock(lambda: NOW)

    # Opened with a code, used by two commands, ended by logout.
    made = create_seal(monkeypatch, "root", code(root))
    es_id = json.loads(made.stdout.strip().splitlines()[-1])["es_id"]
    assert as_operator(monkeypatch, None, None, "seals", "suspend", es_id, "--reason", "测试").exit_code == 0
    assert as_operator(monkeypatch, None, None, "seals", "resume", es_id).exit_code == 0
    assert "已结束" in invoke("operator", "logout").output
    # Opened, then expired under the next command.
    assert (
        create_seal(monkeypatch, "root", code(root, 1), name="河北省市场监督管理局合同专用章").exit_code == 0
    )
    later = NOW + timedelta(minutes=11)
    clock.set_clock(lambda: later)
    assert as_operator(monkeypatch, None, None, "seals", "suspend", es_id, "--reason", "测试").exit_code == 1

    with unit_of_work(node) as session:
        account = session.scalars(select(Account).where(Account.login_name == "root")).one()
        me = operator_module.Operator(mine.os_user, account.id, "root", command="seals create")
        stolen = operator_module.open_session(session, me, mine, 10)
        elsewhere = replace(mine, terminal="/dev/pts/9 sid=4242")
        assert operator_module.resume(session, token=stolen, command="x", rights=(), place=elsewhere,
                                      login=None) is None  # fmt: skip
        left_open = operator_module.open_session(session, me, mine, 10)
        changed = operator_module.open_session(session, me, mine, 10)
        account.locked_until = later + timedelta(minutes=15)
        assert operator_module.resume(session, token=changed, command="x", rights=(), place=mine,
                                      login=None) is None  # fmt: skip
        assert left_open

    done = invoke("security", "report", "--json")
    counted = json.loads(done.output)["controls"]["staff_second_factor"]["cli_sessions_30d"]
    assert counted == {
        "opened": 5,
        "commands": 2,
        "ended": {"expiry": 1, "logout": 1, "other_terminal": 1, "account_change": 1},
        "open_now": 1,
    }
