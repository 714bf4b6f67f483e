"""The cases tests' kit: a department with a seal and license types, a published item whose guide asks
for a held license and an upload, a citizen holding that license, and the department's case handler."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from licenses_kit import INSURANCE_FACE, PERSON, Issuing
from zhengwu.identity import service as identity
from zhengwu.seed.synthetic import nth_phone

WORKER_TYPE = "建筑施工特种作业人员操作资格证书"
WORKER_FACE = {
    "name": "演示用户",
    "sex": "男",
    "category": "建筑电工",
    "certificate_no": "冀A042026000123",
    "first_issued": "2026-12-05",
}


@dataclass
class Casework:
    """Everything a case needs: the item, its materials, the applicant and the handler."""

    env: Issuing
    task_code: str
    license_material: str
    upload_material: str
    optional_material: str
    citizen: Any
    citizen_token: str
    held_license_id: str
    handler_token: str

    @property
    def session(self) -> Session:
        return self.env.session

    def staff(self, roles: list[str], department_id: str | None = None) -> str:
        account = identity.register_staff(
            self.session,
            name="办件人员",
            login_name=f"case{secrets.token_hex(4)}",
            password="Case-Passw0rd-2026",
            department_id=department_id or self.env.department.id,
            roles=roles,
        )
        token = str(identity.start_session(self.session, account, amr=["pwd", "otp"]).token)
        self.session.flush()
        return token

    def person(self, number: str, name: str = "另一用户") -> tuple[Any, str]:
        account = identity.register_natural_person(
            self.session, name=name, id_number=number, phone=nth_phone(int(number[-5:-1])), password=None,
            limit_rate=False,
        )  # fmt: skip
        token = str(identity.start_session(self.session, account, amr=["pwd"]).token)
        self.session.flush()
        return account, token

    def upload(self, data: bytes) -> str:
        from zhengwu.kernel.node import node_in

        return node_in(self.session).files.put(data)

    def body(self, **overrides: Any) -> dict[str, Any]:
        """A complete application."""
        body: dict[str, Any] = {
            "task_code": self.task_code,
            "form": {"phone_note": "工作日可联系"},
            "materials": [
                {"material_id": self.license_material, "license_id": self.held_license_id},
                {
                    "material_id": self.upload_material,
                    "file_sm3": self.upload(b"%PDF-1.7 application form"),
                    "file_name": "申请表.pdf",
                },
            ],
        }
        body.update(overrides)
        return body


@pytest.fixture
def casework(issuing: Issuing) -> Casework:
    from catalog_kit import guide, make_basic
    from zhengwu.cases.licensing import LocalLicenses
    from zhengwu.cases.servicekeys import LICENSES
    from zhengwu.catalog import service as catalog
    from zhengwu.kernel.node import node_in
    from zhengwu.licenses import service as licenses

    session = issuing.session
    services = node_in(session).services
    if LICENSES not in services:  # the bare test node (no app) has no capability wiring
        services.put(LICENSES, LocalLicenses())
    make_basic(session, "000132001000", "建筑施工特种作业人员操作资格认定", "01")
    data = guide(
        issuing.department.credit_code,
        "000132001000",
        promise_day=5,
        materials=[
            {"material_name": "社会保险参保证明", "source_type": "20",
             "license_type_code": issuing.type_code("社会保险参保证明")},
            {"material_name": "申请表", "source_type": "10"},
            {"material_name": "其他说明材料", "source_type": "10", "is_need": "2"},
        ],
    )  # fmt: skip
    item = catalog.create_task(session, data, actor="test")
    item = catalog.publish_task(session, item.task_code, actor="test")
    snapshot = catalog.get_public_item(session, item.task_code)
    ids = {m["material_name"]: str(m["row_guid"]) for m in snapshot["materials"]}
    citizen = identity.register_natural_person(
        session, name="演示用户", id_number=PERSON, phone=nth_phone(4242), password=None, limit_rate=False
    )
    held = licenses.issue_license(
        session,
        issuing.settings,
        type_code=issuing.type_code("社会保险参保证明"),
        department_id=issuing.department.id,
        holder_name="演示用户",
        holder_code=PERSON,
        face=INSURANCE_FACE,
        actor="test",
    )
    token = str(identity.start_session(session, citizen, amr=["pwd"]).token)
    session.flush()
    work = Casework(
        env=issuing,
        task_code=item.task_code,
        license_material=ids["社会保险参保证明"],
        upload_material=ids["申请表"],
        optional_material=ids["其他说明材料"],
        citizen=citizen,
        citizen_token=token,
        held_license_id=held.id,
        handler_token="",
    )
    work.handler_token = work.staff(["case_handler", "license_issuer"])
    return work


def login(client: Any, token: str | None) -> None:
    """Send the requests of ``client`` as the session ``token`` (None: anonymous)."""
    client.cookies.clear()
    if token is not None:
        client.cookies.set("zw_session", token)


@dataclass
class Enterprise:
    """An enterprise the casework citizen is the agent of, holding a business license, and an item for
    法人 only that takes that license."""

    work: Casework
    entity_id: str
    task_code: str
    license_material: str
    upload_material: str
    license_id: str

    def body(self, **overrides: Any) -> dict[str, Any]:
        """A complete application of the enterprise (the business license by reference)."""
        body: dict[str, Any] = {
            "task_code": self.task_code,
            "on_behalf_of": self.entity_id,
            "form": {"phone": "13812345678"},
            "materials": [
                {"material_id": self.license_material, "license_id": self.license_id},
                {
                    "material_id": self.upload_material,
                    "file_sm3": self.work.upload(b"%PDF-1.7 enterprise application"),
                    "file_name": "申请表.pdf",
                },
            ],
        }
        body.update(overrides)
        return body


@pytest.fixture
def enterprise(casework: Casework) -> Enterprise:
    from catalog_kit import guide, make_basic
    from licenses_kit import BUSINESS_FACE, COMPANY
    from zhengwu.catalog import service as catalog
    from zhengwu.identity.models import Account
    from zhengwu.licenses import service as licenses

    work, session = casework, casework.session
    account = identity.register_legal_person(
        session, credit_code=COMPANY, name="石家庄演示科技有限公司", legal_rep_name="张法人", password=None,
        agent=work.citizen,
    )  # fmt: skip
    assert isinstance(account, Account) and account.legal_entity_id is not None
    make_basic(session, "000132002000", "建筑业企业资质认定", "01")
    data = guide(
        work.env.department.credit_code,
        "000132002000",
        promise_day=10,
        server_type="2",
        materials=[
            {"material_name": "营业执照", "source_type": "20", "license_type_code": work.env.type_code("营业执照")},
            {"material_name": "资质申请表", "source_type": "10"},
        ],
    )  # fmt: skip
    item = catalog.publish_task(
        session, catalog.create_task(session, data, actor="test").task_code, actor="test"
    )
    ids = {
        m["material_name"]: str(m["row_guid"])
        for m in catalog.get_public_item(session, item.task_code)["materials"]
    }
    held = licenses.issue_license(
        session, work.env.settings, type_code=work.env.type_code("营业执照"), department_id=work.env.department.id,
        holder_name="石家庄演示科技有限公司", holder_code=COMPANY, face=dict(BUSINESS_FACE), actor="test",
    )  # fmt: skip
    session.flush()
    return Enterprise(
        work, account.legal_entity_id, item.task_code, ids["营业执照"], ids["资质申请表"], held.id
    )


def legal_token(enterprise: Enterprise) -> str:
    """A session of the enterprise's own legal-person account."""
    from sqlalchemy import select

    from zhengwu.identity.models import Account

    session = enterprise.work.session
    account = session.scalar(select(Account).where(Account.legal_entity_id == enterprise.entity_id))
    assert account is not None
    token = str(identity.start_session(session, account, amr=["pwd"]).token)
    session.flush()
    return token
