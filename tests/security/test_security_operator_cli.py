"""Privileged commands name their staff operator and take that person's TOTP code (issue 15, 等保 8.1.4.1.d).

With ``ZHENGWU_SECURITY__CLI_SECOND_FACTOR=true`` (always so on a production node): an empty node is set up
by break-glass (recorded), then every privileged command needs an operator holding the command's right
under the staff-rights policy — 三员 included — and a code of theirs; refusals and wrong codes are recorded
and count toward lockout; the change records name the person and the OS account.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from clikit import cli_node, invoke
from operator_kit import CODE, as_operator, code, enrol, events, operator_node, staff
from zhengwu.audit.models import AuditChange
from zhengwu.identity.models import Account, AuthEvent
from zhengwu.kernel.session import unit_of_work
from zhengwu.seed import government_credit_code


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Without operator sessions: each command takes a code of its own (test_security_operator_sessions).
    yield from operator_node(tmp_path, monkeypatch, ZHENGWU_SECURITY__CLI_SESSION_MINUTES="0")


def test_break_glass_then_operator_with_second_factor(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty node: nobody could authorise, so setting it up is break-glass, recorded each time.
    assert invoke("pki", "init").exit_code == 0
    added = invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                   "--division", "130000")  # fmt: skip
    assert added.exit_code == 0, added.output
    for login, role in (("root", "platform_admin"), ("auditor", "audit_admin"), ("guard", "security_admin")):
        made = staff(login, role)
        assert made.exit_code == 0, made.output
    glass = events(node, "break_glass")
    assert [e.detail["command"] for e in glass] == ["pki init", "departments add", *["users add-staff"] * 3]
    assert all(e.detail["os_user"] for e in glass)
    root, auditor = enrol("root"), enrol("auditor")

    # Now someone could authorise: creating staff needs an operator.
    refused = staff("late", "seal_admin")
    assert refused.exit_code == 1 and "须指明执行的工作人员" in refused.output
    assert events(node, "permission_denied")[-1].detail["reason"] == "no_operator"

    # A wrong code: refused, recorded, counted toward lockout; the seal is not made.
    wrong = as_operator(monkeypatch, "root", "000000", "seals", "create", "--department", CODE, "--name",
                        "河北省市场监督管理局行政审批专用章", "--json")  # fmt: skip
    assert wrong.exit_code == 1 and "动态验证码" in wrong.output
    with unit_of_work(node) as session:
        root_account = session.scalars(select(Account).where(Account.login_name == "root")).one()
        assert root_account.failed_logins == 1
        root_id = root_account.id
        assert session.scalar(select(AuditChange).where(AuditChange.action.like("seal%"))) is None

    # The right operator and code: done, and the records name the person and the OS account.
    made = as_operator(monkeypatch, "root", code(root), "seals", "create", "--department", CODE, "--name",
                       "河北省市场监督管理局行政审批专用章", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    es_id = json.loads(made.stdout.strip().splitlines()[-1])["es_id"]
    with unit_of_work(node) as session:
        actors = set(session.scalars(select(AuditChange.actor).where(AuditChange.action.like("seal%"))))
    assert actors and all(a.startswith(f"account:{root_id} cli:") for a in actors), actors
    (passed,) = events(node, "privileged_cli")
    assert passed.account_id == root_id and passed.detail["command"] == "seals create"

    # The same code twice is a replay.
    again = as_operator(monkeypatch, "root", code(root), "seals", "suspend", es_id, "--reason", "测试")
    assert again.exit_code == 1

    # 三员: the audit administrator, with a good code, cannot revoke a seal.
    audit = as_operator(monkeypatch, "auditor", code(auditor), "seals", "revoke", es_id, "--reason", "测试")
    assert audit.exit_code == 1 and "没有" in audit.output
    denied = events(node, "permission_denied")[-1]
    assert denied.detail["reason"] == "no_right" and denied.detail["right"] == "seals.manage"
    # Nor can the security administrator's colleague without a factor, nor an unknown name.
    for login in ("guard", "nobody"):
        other = as_operator(monkeypatch, login, "123456", "seals", "revoke", es_id, "--reason", "测试")
        assert other.exit_code == 1
    # No operator at all.
    bare = as_operator(monkeypatch, None, None, "seals", "revoke", es_id, "--reason", "测试")
    assert bare.exit_code == 1 and "--operator" in bare.output
    with unit_of_work(node) as session:
        statuses = set(session.scalars(select(AuditChange.action).where(AuditChange.entity_id == es_id)))
    assert not any("revoke" in s or "suspend" in s for s in statuses), statuses

    # The next code of root's works for a revocation (each code once).
    done = as_operator(monkeypatch, "root", code(root, 1), "seals", "revoke", es_id, "--reason", "测试")
    assert done.exit_code == 0, done.output


def test_wrong_codes_lock_the_operator_out(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                  "--division", "130000").exit_code == 0  # fmt: skip
    assert staff("root", "platform_admin").exit_code == 0
    secret = enrol("root")
    for _ in range(5):
        assert as_operator(monkeypatch, "root", "000000", "identity", "keys", "rotate").exit_code == 1
    assert len(events(node, "lockout")) == 1
    locked = as_operator(monkeypatch, "root", code(secret), "identity", "keys", "rotate")
    assert locked.exit_code == 1  # a right code does not open a locked account
    assert events(node, "privileged_cli") == []


def test_without_enforcement_commands_run_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = cli_node(tmp_path, monkeypatch)
    factory = next(nodes)
    monkeypatch.delenv("ZHENGWU_OPERATOR", raising=False)
    assert invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                  "--division", "130000").exit_code == 0  # fmt: skip
    with unit_of_work(factory) as session:
        assert session.scalar(select(AuthEvent).where(AuthEvent.event_type == "break_glass")) is None
    nodes.close()


def test_a_department_right_reaches_only_its_departments(node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    other = government_credit_code("130000", 14)
    for code_, name in ((CODE, "河北省市场监督管理局"), (other, "河北省公安厅")):
        assert invoke("departments", "add", "--credit-code", code_, "--name", name,
                      "--division", "130000").exit_code == 0  # fmt: skip
    assert invoke("pki", "init").exit_code == 0
    assert staff("root", "platform_admin").exit_code == 0
    assert staff("sealer", "seal_admin").exit_code == 0  # in CODE's department only
    root, sealer = enrol("root"), enrol("sealer")
    made = as_operator(monkeypatch, "root", code(root), "seals", "create", "--department", other, "--name",
                       "河北省公安厅行政审批专用章", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    es_id = json.loads(made.stdout.strip().splitlines()[-1])["es_id"]
    # The seal administrator of another department holds seals.manage, but not for this seal.
    # (Each code once, in step order: -1, 0, +1 of the fixed clock.)
    refused = as_operator(
        monkeypatch, "sealer", code(sealer, -1), "seals", "revoke", es_id, "--reason", "测试"
    )
    assert refused.exit_code == 1 and "该部门" in refused.output
    denied = events(node, "permission_denied")[-1]
    assert denied.detail["reason"] == "department" and denied.detail["command"] == "seals revoke"
    # Nor make one there; in their own department they can.
    elsewhere = as_operator(monkeypatch, "sealer", code(sealer, 0), "seals", "create", "--department", other,
                            "--name", "河北省公安厅合同专用章")  # fmt: skip
    assert elsewhere.exit_code == 1
    own = as_operator(monkeypatch, "sealer", code(sealer, 1), "seals", "create", "--department", CODE,
                      "--name", "河北省市场监督管理局合同专用章")  # fmt: skip
    assert own.exit_code == 0, own.output


def test_routine_commands_run_as_the_service_identity(
    node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhengwu.audit.models import AuditSignedHead
    from zhengwu.commands import operator as operator_commands

    assert invoke("pki", "init").exit_code == 0  # break-glass: nobody could authorise yet
    monkeypatch.setenv("ZHENGWU_BACKUP_KEY_FILE", str(tmp_path / "keys" / "backup.key"))
    # The test's OS user owns the data directory: it is the node's service identity.
    backup = invoke("backup", "create", "--to", str(tmp_path / "offsite"), "--json")
    assert backup.exit_code == 0, backup.output
    (run,) = events(node, "service_cli")
    assert run.detail["command"] == "backup create" and run.account_id is None and run.detail["reason"]
    # The minutely WAF ingest and the chain-head seal store their own result, no service_cli event.
    sealed = invoke("audit", "seal", "--json")
    assert sealed.exit_code == 0, sealed.output
    with unit_of_work(node) as session:
        heads = len(session.scalars(select(AuditSignedHead)).all())
    assert heads > 0
    log = tmp_path / "modsec.json"
    log.write_text("")
    assert invoke("security", "ingest-waf", str(log)).exit_code == 0
    assert len(events(node, "service_cli")) == 1

    # Another OS account (a person's own) is refused and recorded; nothing is sealed.
    monkeypatch.setattr(operator_commands, "_data_owner", lambda _settings: os.getuid() + 1)
    refused = invoke("audit", "seal", "--json")
    assert refused.exit_code == 1 and "服务账号" in refused.output
    assert events(node, "permission_denied")[-1].detail["reason"] == "not_service_account"
    assert invoke("security", "ingest-waf", str(log)).exit_code == 1
    assert invoke("backup", "create", "--to", str(tmp_path / "offsite")).exit_code == 1
    with unit_of_work(node) as session:
        assert len(session.scalars(select(AuditSignedHead)).all()) == heads


def test_the_calendar_is_a_privileged_command(
    node: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke("departments", "add", "--credit-code", CODE, "--name", "河北省市场监督管理局",
                  "--division", "130000").exit_code == 0  # fmt: skip
    assert staff("root", "platform_admin").exit_code == 0
    assert staff("clerk", "case_handler").exit_code == 0
    root, clerk = enrol("root"), enrol("clerk")
    days = tmp_path / "calendar.csv"
    days.write_text("2027-02-06,workday\n2027-02-10,holiday\n")
    bare = as_operator(monkeypatch, None, None, "calendar", "import", str(days))
    assert bare.exit_code == 1 and "--operator" in bare.output
    handler = as_operator(monkeypatch, "clerk", code(clerk), "calendar", "import", str(days))
    assert handler.exit_code == 1 and "工作日历" in handler.output
    done = as_operator(monkeypatch, "root", code(root), "calendar", "import", str(days))
    assert done.exit_code == 0, done.output
    with unit_of_work(node) as session:
        root_id = session.scalars(select(Account.id).where(Account.login_name == "root")).one()
        (actor,) = session.scalars(select(AuditChange.actor).where(AuditChange.action == "calendar.import"))
    assert actor.startswith(f"account:{root_id} cli:")
