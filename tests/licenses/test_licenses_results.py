"""Other results (证明、批文、鉴定报告) go the same way as licenses: a result kind on the type, issued,
sealed, verified; and a catalog material names the license type that satisfies it (checked, and shown
in the published guide with the type's name)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import catalog_kit
from licenses_kit import COMPANY, Issuing
from zhengwu.catalog.errors import InvalidItem
from zhengwu.licenses import kinds, service
from zhengwu.licenses.errors import LicenseTypeInvalid
from zhengwu.seals import service as seals
from zhengwu.seals.verify import Verdict
from zhengwu.seed.licenses import demo_types

CLI = service.Caller("test", "单元测试")


def test_the_demo_defines_every_result_kind() -> None:
    by_kind = {t.result_kind for t in demo_types()}
    assert by_kind == set(kinds.KINDS)
    assert kinds.label("appraisal") == "鉴定报告" and kinds.label("other") == "other"


@pytest.mark.parametrize(
    ("name", "holder", "face"),
    [
        ("建设工程规划许可批复", COMPANY, {"project": "演示大厦", "approval_no": "冀规批〔2026〕1号",
                                           "site": "石家庄市长安区", "scale": "地上20层", "decision": "同意"}),
        ("医疗器械检验鉴定报告", COMPANY, {"report_no": "JD2026-001", "product": "血压计", "model": "A1",
                                           "conclusion": "符合", "tested_on": "2026-11-30"}),
    ],
)  # fmt: skip
def test_other_results_are_issued_sealed_and_verified(
    issuing: Issuing, name: str, holder: str, face: dict[str, str]
) -> None:
    kind = service.get_type(issuing.session, issuing.type_code(name))
    lic = service.issue_license(issuing.session, issuing.settings, type_code=kind.code, department_id=issuing.department.id,
                                holder_name="石家庄演示科技有限公司", holder_code=holder, face=face, actor="test")  # fmt: skip
    assert kind.result_kind in (kinds.APPROVAL, kinds.APPRAISAL)
    assert service.metadata(lic, kind)["result_kind"] == kind.result_kind
    assert lic.number == face.get(kind.number_field or "")
    report = seals.verify_document(
        issuing.session, issuing.settings, service.license_file(issuing.settings, lic)
    )
    assert report.verdict is Verdict.VALID
    assert service.verify_by_identifier(issuing.session, lic.identifier, holder, caller=CLI).valid


def test_a_type_with_an_unknown_result_kind_is_refused(issuing: Issuing) -> None:
    spec = demo_types()[0]
    with pytest.raises(LicenseTypeInvalid, match="结果类型") as caught:
        service.define_type(issuing.session, type(spec)(**{**_fields(spec), "code": spec.code[:18] + "777",
                                                           "result_kind": "receipt"}))  # fmt: skip
    assert caught.value.status_code == 422


def _fields(spec: Any) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def test_a_catalog_material_names_the_license_type_that_satisfies_it(
    app: Any, client: Any, session_factory: sessionmaker[Session]
) -> None:
    from zhengwu.seed.licenses import seed_license_types

    session = session_factory()  # opened after the app took the factory over: it carries the app's node
    seed_license_types(session)
    catalog_kit.make_basic(session)
    dept = catalog_kit.make_department(session, "130100", "石家庄市行政审批局", 41)
    code = next(t.code for t in service.list_types(session) if t.name == "居民户籍证明")
    materials = [{"material_name": "户籍证明", "source_type": "20", "license_type_code": code},
                 {"material_name": "申请表", "source_type": "10"}]  # fmt: skip
    wrong = [{**materials[0], "license_type_code": code[:18] + "999"}, materials[1]]
    from zhengwu.catalog import service as catalog

    with pytest.raises(InvalidItem) as caught:
        catalog.create_task(session, catalog_kit.guide(dept.credit_code, materials=wrong), actor="test")
    assert "电子证照类型不存在" in str(caught.value.extra)
    item = catalog_kit.published_task(session, dept, materials=materials)
    session.flush()
    guide = client.get(f"/api/v1/catalog/items/{item.task_code}")
    assert guide.status_code == 200, guide.text
    first, second = guide.json()["materials"]
    assert (first["license_type_code"], first["license_type_name"]) == (code, "居民户籍证明")
    assert second["license_type_name"] is None
    session.close()
