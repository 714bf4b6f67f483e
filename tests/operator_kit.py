"""Privileged commands run by a named staff operator with a TOTP code (``commands.operator``): a CLI node
that demands them, staff accounts with a confirmed second factor, and codes at a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clikit import cli_node, invoke, runner
from zhengwu.cli import app
from zhengwu.identity import mfa
from zhengwu.identity.models import Account, AuthEvent
from zhengwu.kernel import clock
from zhengwu.kernel.config import Settings
from zhengwu.kernel.session import unit_of_work
from zhengwu.seed import government_credit_code

NOW = datetime(2026, 12, 6, 4, 30, 15, tzinfo=UTC)
CODE = government_credit_code("130000", 13)


def operator_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None = None, **env: str
) -> Iterator[sessionmaker[Session]]:
    """A CLI node with ``ZHENGWU_SECURITY__CLI_SECOND_FACTOR=true`` (and ``env``) on ``url`` (default a
    SQLite file) and the kernel clock fixed at NOW."""
    clock.set_clock(lambda: NOW)
    try:
        yield from cli_node(tmp_path, monkeypatch, url, ZHENGWU_SECURITY__CLI_SECOND_FACTOR="true", **env)
    finally:
        clock.set_clock(None)


def staff(login: str, role: str, department: str = CODE) -> Any:
    """``users add-staff`` of ``login`` with ``role`` in ``department``."""
    return runner.invoke(
        app,
        ["users", "add-staff", "--login-name", login, "--name", "测试", "--department", department, "--role", role,
         "--password-stdin", "--json"],
        input="Zhengwu-Test-2026!\n",
    )  # fmt: skip


def enrol(login: str) -> str:
    """Give ``login`` a confirmed TOTP; returns the secret."""
    from zhengwu.commands.node import open_node

    with open_node(Settings()) as built, built.unit() as session:
        account = session.scalars(select(Account).where(Account.login_name == login)).one()
        secret, _uri = mfa.begin_enrolment(session, account)
        account.totp_enabled_at = NOW
    return secret


def code(secret: str, steps: int = 0) -> str:
    """The TOTP code ``steps`` periods from NOW (each code is taken once: use -1, 0, +1)."""
    return pyotp.TOTP(secret).at(NOW + timedelta(seconds=30 * steps))


def as_operator(monkeypatch: pytest.MonkeyPatch, login: str | None, otp: str | None, *args: str) -> Any:
    """Run ``zhengwu <args>`` as ``login`` with ``otp`` (None: unset)."""
    for name, value in (("ZHENGWU_OPERATOR", login), ("ZHENGWU_OPERATOR_OTP", otp)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return invoke(*args)


def events(node: Any, kind: str) -> list[AuthEvent]:
    """The node's authentication events of ``kind``."""
    with unit_of_work(node) as session:
        found = list(session.scalars(select(AuthEvent).where(AuthEvent.event_type == kind)))
        session.expunge_all()
    return found
