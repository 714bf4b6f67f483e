"""The people and departments of the policy tests: departments A (with a sub-department) and B, the
platform operator's office, and principals with and without a second factor."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.deps import COOKIE
from zhengwu.orgs import service as orgs
from zhengwu.orgs.models import Department
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id, nth_phone

PASSWORD = "Policy-Passw0rd!"
TESTS = Path(__file__).resolve().parents[1]
_numbers = itertools.count(61_000)


@dataclass(frozen=True)
class Principal:
    """Who calls: ``kind`` anonymous | citizen | agent | department | platform, with or without a factor."""

    kind: str
    factor: bool
    token: str | None = None

    @property
    def label(self) -> str:
        """The column name in the matrix."""
        return self.kind if self.kind == "anonymous" else f"{self.kind}{'+2fa' if self.factor else '-2fa'}"


def amr(factor: bool) -> list[str]:
    """What a login with password (and TOTP) records."""
    return ["mfa", "otp", "pwd"] if factor else ["pwd"]


def add_department(
    session: Session, name: str, division: str, parent: Department | None = None
) -> Department:
    """Register one more department (check-valid credit code)."""
    made = orgs.add_department(
        session,
        DepartmentCreate(
            credit_code=government_credit_code(division, next(_numbers)),
            name=name,
            division_code=division,
            parent_credit_code=parent.credit_code if parent is not None else None,
        ),
    )
    session.flush()
    return made


@dataclass
class World:
    """Departments and the people acting in them (created in the test's rolled-back transaction)."""

    session: Session
    a: Department
    a_child: Department
    b: Department
    office: Department
    _staff: dict[tuple[str, str, bool], str] = field(default_factory=dict)

    def staff_account(self, department: Department, roles: list[str]) -> Any:
        """A staff account bound to ``department`` with ``roles``."""
        account = identity.register_staff(
            self.session,
            name="测试工作人员",
            login_name=f"policy-{next(_numbers)}",
            password=PASSWORD,
            department_id=department.id,
            roles=roles,
        )
        self.session.flush()
        return account

    def staff(self, department: Department, roles: list[str], *, factor: bool = True) -> str:
        """The session token of a staff member (one per department, roles and factor)."""
        key = (department.id, ",".join(sorted(roles)), factor)
        if key not in self._staff:
            account = self.staff_account(department, roles)
            self._staff[key] = str(identity.start_session(self.session, account, amr=amr(factor)).token)
            self.session.flush()
        return self._staff[key]

    def citizen(self, *, factor: bool = True) -> str:
        """A natural person's session token."""
        n = next(_numbers)
        person = identity.register_natural_person(
            self.session, name="测试公民", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
        )
        token = str(identity.start_session(self.session, person, amr=amr(factor)).token)
        self.session.flush()
        return token

    def agent(self, *, factor: bool = True) -> str:
        """A natural person acting for an enterprise (经办人)."""
        n = next(_numbers)
        person = identity.register_natural_person(
            self.session, name="测试经办人", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
        )
        company = identity.register_legal_person(
            self.session,
            credit_code=enterprise_credit_code("130100", n),
            name="测试企业有限公司",
            legal_rep_name="测试法人",
            password=None,
            agent=person,
        )
        self.session.flush()
        session = identity.start_session(
            self.session, person, amr=amr(factor), acting_for=company.legal_entity_id
        )
        self.session.flush()
        return str(session.token)

    def principals(self, department_roles: list[str]) -> list[tuple[Principal, str | None]]:
        """Every column of the matrix: (principal, the department it acts on: "A", "B" or None)."""
        columns: list[tuple[Principal, str | None]] = [(Principal("anonymous", False), None)]
        for factor in (True, False):
            department = self.staff(self.a, department_roles, factor=factor)
            columns += [
                (Principal("citizen", factor, self.citizen(factor=factor)), None),
                (Principal("agent", factor, self.agent(factor=factor)), None),
                (Principal("department", factor, department), "B"),
                (Principal("department", factor, department), "A"),
                (
                    Principal("platform", factor, self.staff(self.office, ["platform_admin"], factor=factor)),
                    "A",
                ),
            ]
        return columns


def make_world(session: Session) -> World:
    """Departments A (河北省市场监督管理局) with a sub-department, B (河北省公安厅) and the operator's office."""
    a = add_department(session, "河北省市场监督管理局", "130000")
    return World(
        session,
        a=a,
        a_child=add_department(session, "石家庄市市场监督管理局", "130100", parent=a),
        b=add_department(session, "河北省公安厅", "130000"),
        office=add_department(session, "河北省政务服务管理办公室", "130000"),
    )


def init_pki(session: Session, settings: Any) -> None:
    """The node PKI (seals need it), once per test."""
    from zhengwu.pki import authority

    if authority.health(session).get("initialized") is not True:
        authority.init_pki(session, settings)
        session.flush()


def make_seal(session: Session, settings: Any, credit_code: str) -> str:
    """A seal of the department with that credit code; its 电子印章编码."""
    from zhengwu.seals import service as seals

    init_pki(session, settings)
    seal = seals.create_seal(
        session, settings, department_credit_code=credit_code, name="行政审批专用章", actor="test"
    )
    session.flush()
    return str(seal.es_id)


def as_(client: Any, token: str | None) -> Any:
    """The test client with that session cookie (or none)."""
    client.cookies.clear()
    if token is not None:
        client.cookies.set(COOKIE, token)
    return client
