"""The province demo gets one seal per demo department (and a PKI when `pki init` has not run)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.seals import authority, service
from zhengwu.seals.models import Seal
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seals.verify import Verdict
from zhengwu.seed import demo_departments, seed_departments
from zhengwu.seed.seals import demo_seal_name, seed_demo_seals


def test_demo_seal_names_follow_the_department_kind() -> None:
    assert demo_seal_name("河北省市场监督管理局") == "河北省市场监督管理局行政审批专用章"
    assert demo_seal_name("石家庄市行政审批局") == "石家庄市行政审批局行政审批专用章"
    assert demo_seal_name("石家庄市公安局") == "石家庄市公安局户政专用章"
    assert demo_seal_name("河北省教育厅") == "河北省教育厅行政审批专用章"


def test_seed_initialises_the_pki_and_seals_every_demo_department(session: Session, settings: Any) -> None:
    seed_departments(session)
    codes = [d.credit_code for d in demo_departments()]
    assert not authority.is_initialized(session)
    assert seed_demo_seals(session, settings, credit_codes=codes) == len(codes)
    assert authority.is_initialized(session)
    assert seed_demo_seals(session, settings, credit_codes=codes) == 0  # idempotent
    names = set(session.scalars(select(Seal.name)).all())
    assert "河北省市场监督管理局行政审批专用章" in names and len(names) == len(codes)
    market = session.scalars(select(Seal).where(Seal.name == "河北省市场监督管理局行政审批专用章")).one()
    doc = write_ofd(DocumentSpec(title="营业执照", blocks=[Paragraph("准予登记。")]))
    signed = service.sign_document(
        session, settings, market.es_id, doc, placement=service.Placement(keyword="准予"), actor="t"
    )
    assert service.verify_document(session, settings, signed).verdict is Verdict.VALID
