"""Demo accounts: deterministic, idempotent, usable, and printed without identity numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from sqlalchemy import func, select

from nodekit import demo_template
from zhengwu.commands.node import open_node
from zhengwu.identity import mfa, service
from zhengwu.identity.models import Account, StaffBinding
from zhengwu.kernel.codes.citizen_id import validate_citizen_id
from zhengwu.seed import DEMO_ACCOUNTS, seed_demo
from zhengwu.seed.accounts import CITIZENS, DEMO_PASSWORD, DEMO_TOTP_SECRET, ENTERPRISES, STAFF_PASSWORD


def test_demo_identities_are_valid_and_fictional() -> None:
    for citizen in CITIZENS:
        assert validate_citizen_id(citizen.id_number).ok and citizen.id_number.startswith("13")
        assert citizen.name.startswith("演示")
    text = "\n".join(DEMO_ACCOUNTS)
    assert len(DEMO_ACCOUNTS) >= 10 and DEMO_PASSWORD in text
    assert not re.search(r"(?<!\d)\d{17}[\dX](?!\d)", text), "no identity number is printed"


def test_seed_twice_and_log_in(tmp_path: Path) -> None:
    # The first seed is the per-process template's (a child process, under its node's secret, which
    # the settings here share); the second runs here.
    demo = demo_template()
    demo.copy_to(tmp_path / "demo.db")
    url = f"sqlite:///{(tmp_path / 'demo.db').as_posix()}"
    settings = demo.settings(tmp_path, url)
    first = demo.summary
    assert first["accounts_added"] >= 10
    assert seed_demo(settings)["accounts_added"] == 0
    with open_node(settings) as node, node.unit() as session:
        demo1 = service.authenticate_password(session, "demo1", DEMO_PASSWORD)
        assert demo1.display_name == "演示用户一"
        by_phone = service.authenticate_password(session, CITIZENS[1].phone, DEMO_PASSWORD)
        assert by_phone.login_name == "demo2"
        legal = service.authenticate_password(session, ENTERPRISES[0].credit_code, DEMO_PASSWORD)
        assert legal.kind == "legal" and legal.display_name == "演示科技有限公司"
        demo3 = service.authenticate_password(session, "demo3", DEMO_PASSWORD)
        assert demo3.totp_enabled
        assert mfa.verify_second_factor(session, demo3, pyotp.TOTP(DEMO_TOTP_SECRET).now()) == "otp"
        staff = service.authenticate_password(session, "admin-xzsp", STAFF_PASSWORD)
        assert staff.kind == "staff"
        bindings = session.scalar(select(func.count()).select_from(StaffBinding))
        assert bindings == session.scalar(
            select(func.count()).select_from(Account).where(Account.kind == "staff")
        )
        assert bindings == 4  # the province kinds; 国务院办公厅 only exists on the national node
        entities = service.agent_authorizations(session, demo1.id)
        assert [e.name for _, e in entities] == ["演示商贸有限公司"]
