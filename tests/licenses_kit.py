"""The licenses tests' kit: a node with a department, its seal and the demo license types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from seals_kit import Node
from zhengwu.kernel.config import Settings
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id


@dataclass
class Issuing:
    """A node ready to issue: department with an active seal, demo types defined."""

    session: Session
    settings: Settings
    department: Any
    es_id: str

    def type_code(self, name: str) -> str:
        from zhengwu.licenses import service

        return next(t.code for t in service.list_types(self.session) if t.name == name)


@pytest.fixture
def issuing(node: Node) -> Issuing:
    from zhengwu.seals import service as seals
    from zhengwu.seed.licenses import seed_license_types

    seal = seals.create_seal(
        node.session,
        node.settings,
        department_credit_code=node.credit_code,
        name="河北省市场监督管理局行政审批专用章",
        actor="test",
    )
    seed_license_types(node.session)
    node.session.flush()
    return Issuing(node.session, node.settings, node.department, seal.es_id)


PERSON = nth_citizen_id(4242)
COMPANY = enterprise_credit_code("130100", 4242)
BUSINESS_FACE = {
    "name": "石家庄演示科技有限公司",
    "kind": "有限责任公司",
    "legal_rep": "演示用户",
    "capital": "100",
    "founded": "2020-05-01",
    "address": "河北省石家庄市长安区演示路1号",
    "scope": "软件开发",
}
INSURANCE_FACE = {
    "name": "演示用户",
    "insurance": "企业职工基本养老保险",
    "place": "石家庄市",
    "since": "2015-07",
    "months": 120,
}
