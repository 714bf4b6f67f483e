"""Deterministic demo accounts: fictional citizens, enterprises and one staff administrator per department kind.

Identity numbers are check-valid with Hebei area codes; names are visibly fictional (演示用户一 …); the
passwords are documented here and printed by ``zhengwu demo``. Seeding twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service
from zhengwu.identity.context import of
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account
from zhengwu.identity.protection import encrypt_field
from zhengwu.kernel.clock import utcnow
from zhengwu.seed.synthetic import citizen_id, enterprise_credit_code

DEMO_PASSWORD = "Demo-Passw0rd"  # noqa: S105 - documented demo password
STAFF_PASSWORD = "Staff-Passw0rd!"  # noqa: S105 - documented demo password
# RFC 6238 secret of 演示用户三's authenticator (a demo only: add it to any TOTP app to log in).
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105


@dataclass(frozen=True, slots=True)
class DemoCitizen:
    """One fictional natural person."""

    login_name: str
    name: str
    id_number: str
    phone: str
    level: RealNameLevel
    totp: bool = False


@dataclass(frozen=True, slots=True)
class DemoEnterprise:
    """One fictional enterprise and the citizen who administers it."""

    credit_code: str
    name: str
    legal_rep_name: str
    agent_login: str


CITIZENS = (
    DemoCitizen("demo1", "演示用户一", citizen_id("130102", date(1985, 3, 12), 11), "17000001001", RealNameLevel.SELF_DECLARED),
    DemoCitizen("demo2", "演示用户二", citizen_id("130104", date(1990, 7, 1), 22), "17000001002", RealNameLevel.REGISTRY_MATCHED),
    DemoCitizen("demo3", "演示用户三", citizen_id("130602", date(1978, 11, 23), 33), "17000001003", RealNameLevel.REAL_PERSON, totp=True),
    DemoCitizen("demo4", "演示用户四", citizen_id("130181", date(1966, 1, 5), 45), "17000001004", RealNameLevel.CERTIFICATE),
)  # fmt: skip
ENTERPRISES = (
    DemoEnterprise(enterprise_credit_code("130100", 101), "演示科技有限公司", "演示用户二", "demo2"),
    DemoEnterprise(enterprise_credit_code("130600", 102), "演示商贸有限公司", "演示用户一", "demo1"),
)
# One staff administrator per kind of department (matched on the department's name); the platform
# operator's (政务服务管理办公室) is the platform administrator, the others administer their department.
STAFF_KINDS = (
    ("admin-zwfw", "演示管理员政务办", "政务服务管理办公室", "platform_admin"),
    ("admin-xzsp", "演示管理员审批局", "行政审批局", "admin"),
    ("admin-scjg", "演示管理员市场监管", "市场监督管理局", "admin"),
    ("admin-ga", "演示管理员公安", "公安局", "admin"),
    ("admin-gb", "演示管理员国办", "国务院办公厅", "admin"),
)


def demo_account_lines() -> list[str]:
    """The lines ``zhengwu demo`` prints: who can log in, with which password, at which level."""
    lines = [
        f"自然人 {c.name}: 登录名 {c.login_name} / 密码 {DEMO_PASSWORD} (实名等级 {int(c.level)}"
        + (f", 动态验证码密钥 {DEMO_TOTP_SECRET})" if c.totp else ")")
        for c in CITIZENS
    ]
    lines += [
        f"法人 {e.name}: 统一社会信用代码 {e.credit_code} / 密码 {DEMO_PASSWORD} (经办人 {e.agent_login})"
        for e in ENTERPRISES
    ]
    lines += [
        f"工作人员 {name}（{kind}）: 登录名 {login} / 密码 {STAFF_PASSWORD} (动态验证码密钥 {DEMO_TOTP_SECRET})"
        for login, name, kind, _ in STAFF_KINDS
    ]
    return lines


def _by_login(session: Session, login: str) -> Account | None:
    return session.scalar(select(Account).where(Account.login_name == login))


def seed_demo_accounts(session: Session) -> int:
    """Create the demo accounts that are missing; returns how many were added."""
    from zhengwu.orgs.models import Department

    added = 0
    citizens: dict[str, Account] = {}
    for c in CITIZENS:
        account = _by_login(session, c.login_name) or service.find_account_by_citizen_id(session, c.id_number)
        if account is None:
            account = service.register_natural_person(
                session,
                name=c.name,
                id_number=c.id_number,
                phone=c.phone,
                password=DEMO_PASSWORD,
                real_name_level=c.level,
                source="demo",
            )
            account.login_name = c.login_name
            if c.totp:
                account.totp_secret_enc = encrypt_field(
                    of(session).keys, DEMO_TOTP_SECRET, purpose=service.PURPOSE_TOTP
                )
                account.totp_enabled_at = utcnow()
                account.recovery_code_hashes = []
            session.flush()
            added += 1
        citizens[c.login_name] = account
    for e in ENTERPRISES:
        if service.find_legal_entity(session, e.credit_code) is not None:
            continue
        service.register_legal_person(
            session,
            credit_code=e.credit_code,
            name=e.name,
            legal_rep_name=e.legal_rep_name,
            password=DEMO_PASSWORD,
            agent=citizens[e.agent_login],
            source="demo",
        )
        added += 1
    departments = session.scalars(
        select(Department).order_by(Department.division_code, Department.name)
    ).all()
    for login, name, kind, role in STAFF_KINDS:
        if _by_login(session, login) is not None:
            continue
        department = next((d for d in departments if d.name.endswith(kind)), None)
        if department is None:
            continue
        staff = service.register_staff(
            session,
            name=name,
            login_name=login,
            password=STAFF_PASSWORD,
            department_id=department.id,
            roles=[role],
            source="demo",
        )
        # Administrators log in with two factors (等保 8.1.4.1.d): the same documented demo secret.
        staff.totp_secret_enc = encrypt_field(
            of(session).keys, DEMO_TOTP_SECRET, purpose=service.PURPOSE_TOTP
        )
        staff.totp_enabled_at = utcnow()
        staff.recovery_code_hashes = []
        session.flush()
        added += 1
    return added
