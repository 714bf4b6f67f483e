"""A historical import on a node with several departments: each row's issuing department comes from the
row (its 颁发机构代码 column, or the issuer in its GB/T 36904 identifier) or, failing that, from the type's
defining authority when that is a department here; a row whose department cannot be told, or that the
operator does not reach, is refused with its reason while the rest are imported."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from licenses_kit import Issuing
from zhengwu.kernel.codes import make_license_id
from zhengwu.licenses import importer
from zhengwu.licenses.datamodels import LicenseAbnormal
from zhengwu.licenses.models import License
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

pytestmark = pytest.mark.db

HEADER = ["颁发机构代码", "identifier", "holder_code", "holder_name", "issue_date", "name", "kind",
          "legal_rep", "founded", "address", "scope"]  # fmt: skip


def _row(n: int, issuer: str = "", identifier: str = "") -> list[str]:
    name = f"多部门历史企业{n}有限公司"
    return [issuer, identifier, enterprise_credit_code("130100", 8100 + n), name, "2020-01-02", name,
            "有限责任公司", "历史法人", "2020-01-01", "河北省石家庄市", "零售"]  # fmt: skip


def _import(
    issuing: Issuing, rows: list[list[str]], check: importer.DepartmentCheck | None = None
) -> importer.Outcome:
    p = importer.plan(issuing.session, type_code=issuing.type_code("营业执照"), department_id=None,
                      header=HEADER, actor="test", check_department=check)  # fmt: skip
    return importer.import_rows(issuing.session, issuing.settings, p, list(enumerate(rows, start=2)))


def test_each_row_goes_to_the_department_it_names_or_is_refused(issuing: Issuing) -> None:
    session = issuing.session
    market = issuing.department  # 河北省市场监督管理局
    police = orgs.add_department(session, DepartmentCreate(
        credit_code=government_credit_code("130000", 778), name="河北省公安厅", division_code="130000"))  # fmt: skip
    type_code = issuing.type_code("营业执照")
    police_id = make_license_id(type_code, police.credit_code, "20190000042", 1)
    stranger = government_credit_code("130000", 779)
    outcome = _import(issuing, [
        _row(1, issuer=market.credit_code),
        _row(2, identifier=police_id),  # the issuer inside the identifier
        _row(3),  # nothing names it, and the type's definer (国家市场监督管理总局) is not a department here
        _row(4, issuer=stranger),
        _row(5, issuer=market.credit_code, identifier=police_id),  # contradicts itself
    ])  # fmt: skip
    assert (outcome.imported, outcome.rejected) == (2, 3)
    reasons = {line: reason for line, _cells, reason in outcome.rejects}
    assert "无法确定颁发部门" in reasons[4] and "--department" in reasons[4]
    assert "不是本节点的部门" in reasons[5]
    assert "不一致" in reasons[6]
    stored = dict(session.execute(select(License.holder_name, License.department_id).where(
        License.source == "imported")).all())  # fmt: skip
    assert stored == {"多部门历史企业1有限公司": market.id, "多部门历史企业2有限公司": police.id}
    imported = session.scalars(select(License).where(License.department_id == police.id)).one()
    assert imported.identifier == police_id and imported.issuer_name == "河北省公安厅"
    # The refused rows wait for platform administrators (no department of this node named them).
    queued = session.scalars(select(LicenseAbnormal).where(LicenseAbnormal.source == "import")).all()
    assert len(queued) == 3 and {q.department_id for q in queued} == {None}


def test_the_types_defining_authority_when_it_is_a_department_here(issuing: Issuing) -> None:
    session = issuing.session
    kind_code = issuing.type_code("营业执照")
    definer = orgs.add_department(session, DepartmentCreate(
        credit_code=kind_code[:18], name="国家市场监督管理总局", division_code="130000"))  # fmt: skip
    outcome = _import(issuing, [_row(11)])
    assert (outcome.imported, outcome.rejected) == (1, 0), outcome.rejects
    lic = session.scalars(select(License).where(License.holder_name == "多部门历史企业11有限公司")).one()
    assert lic.department_id == definer.id


def test_rows_outside_the_operators_reach_are_refused_and_the_rest_imported(issuing: Issuing) -> None:
    session = issuing.session
    market = issuing.department
    police = orgs.add_department(session, DepartmentCreate(
        credit_code=government_credit_code("130000", 780), name="河北省公安厅", division_code="130000"))  # fmt: skip

    def only_market(department: object) -> str | None:
        return None if getattr(department, "id", None) == market.id else "您没有“河北省公安厅”的权限"

    outcome = _import(issuing, [_row(21, issuer=market.credit_code), _row(22, issuer=police.credit_code)],
                      only_market)  # fmt: skip
    assert (outcome.imported, outcome.rejected) == (1, 1)
    assert outcome.rejects[0][0] == 3 and "河北省公安厅" in outcome.rejects[0][2]
    assert session.scalars(select(License).where(License.department_id == police.id)).first() is None
    # Not the department's data to fix: the reach refusal is not queued as abnormal data.
    assert session.scalars(select(LicenseAbnormal).where(LicenseAbnormal.source == "import")).all() == []
