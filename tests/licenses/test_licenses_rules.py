"""Rules without a database: the face schema, holder codes, the status machine, the offline token."""

from __future__ import annotations

from datetime import date

import pytest

from zhengwu.kernel.codes import validate_license_id
from zhengwu.licenses import holders, lifecycle, offline
from zhengwu.licenses.errors import FaceDataInvalid, HolderInvalid, LicenseStateConflict, LicenseTypeInvalid
from zhengwu.licenses.face import FaceSchema
from zhengwu.licenses.service import TypeSpec, check_type_code
from zhengwu.seed.licenses import demo_types
from zhengwu.seed.synthetic import enterprise_credit_code, nth_citizen_id

SCHEMA = FaceSchema.from_json(
    [
        {"name": "name", "label": "姓名", "max_length": 10},
        {"name": "sex", "label": "性别", "type": "enum", "enum": ["男", "女"]},
        {"name": "born", "label": "出生日期", "type": "date"},
        {"name": "months", "label": "缴费月数", "type": "integer", "required": False},
        {"name": "no", "label": "编号", "pattern": r"[A-Z]\d{3}", "required": False},
    ]
)


def test_face_data_is_normalised_in_schema_order() -> None:
    clean = SCHEMA.validate({"months": 12, "born": "2001-02-03", "sex": "女", "name": " 演示 "})
    assert clean == {"name": "演示", "sex": "女", "born": "2001-02-03", "months": "12"}


def test_every_face_problem_is_reported_per_field_without_the_value() -> None:
    with pytest.raises(FaceDataInvalid) as caught:
        SCHEMA.validate({"sex": "未知", "born": "2001-13-01", "months": 1.5, "no": "a12", "extra": "x"})
    problems = {p["field"]: p["reason"] for p in caught.value.extra["fields"]}
    assert problems == {
        "extra": "证照类型没有这个照面字段",
        "name": "必填",
        "sex": "应为以下之一：男、女",
        "born": "应为日期，格式 YYYY-MM-DD",
        "months": "应为整数",
        "no": "格式不正确",
    }
    assert "未知" not in caught.value.detail and "6处" in caught.value.detail


def test_a_bad_schema_is_refused() -> None:
    with pytest.raises(LicenseTypeInvalid):
        FaceSchema.from_json([{"name": "a", "label": "甲"}, {"name": "a", "label": "乙"}])
    with pytest.raises(LicenseTypeInvalid):
        FaceSchema.from_json([{"name": "k", "label": "类别", "type": "enum"}])
    with pytest.raises(LicenseTypeInvalid):
        FaceSchema.from_json([{"name": "k", "label": "类别", "pattern": "("}])


def test_type_codes_carry_a_valid_definer_credit_code() -> None:
    assert check_type_code("11100000000013338w032") == "11100000000013338W032"
    with pytest.raises(LicenseTypeInvalid):
        check_type_code("11100000000013338X032")  # wrong check character
    with pytest.raises(LicenseTypeInvalid):
        check_type_code("11100000000013338W32")


def test_demo_types_are_at_least_ten_and_make_valid_identifiers() -> None:
    from zhengwu.kernel.codes import make_license_id

    types: list[TypeSpec] = demo_types()
    assert len(types) >= 10 and len({t.code for t in types}) == len(types)
    for spec in types:
        FaceSchema.from_json(spec.fields)
        identifier = make_license_id(
            check_type_code(spec.code), enterprise_credit_code("130100", 1), "20260000001"
        )
        assert validate_license_id(identifier).ok


def test_holder_codes_are_checked_by_their_national_rule() -> None:
    person, company = nth_citizen_id(7), enterprise_credit_code("130100", 7)
    assert holders.check_holder(person, holders.PERSON_TYPES) == ("111", person)
    assert holders.check_holder(company.lower(), holders.ENTERPRISE_TYPES) == ("001", company)
    assert holders.check_holder("E12345678", holders.PERSON_TYPES, "414") == ("414", "E12345678")
    with pytest.raises(HolderInvalid) as caught:
        holders.check_holder(person[:-1] + ("0" if person[-1] != "0" else "1"), holders.PERSON_TYPES)
    assert "公民身份号码" in caught.value.detail
    with pytest.raises(HolderInvalid):
        holders.check_holder(company, holders.PERSON_TYPES, "001")


def test_status_machine() -> None:
    today = date(2026, 12, 5)
    assert lifecycle.transition("suspend", "valid", None, today) == "suspended"
    assert lifecycle.transition("resume", "suspended", None, today) == "valid"
    assert lifecycle.transition("revoke", "suspended", None, today) == "revoked"
    assert lifecycle.effective_status("valid", date(2026, 12, 4), today) == "expired"
    for action, status in (("resume", "valid"), ("suspend", "revoked"), ("revoke", "superseded")):
        with pytest.raises(LicenseStateConflict):
            lifecycle.transition(action, status, None, today)
    with pytest.raises(LicenseStateConflict) as caught:
        lifecycle.transition("suspend", "valid", date(2026, 1, 1), today)
    assert "过期" in caught.value.detail


def test_offline_token_refuses_garbage_and_masks_names() -> None:
    assert offline.mask_name("李志国") == "李*国" and offline.mask_name("王五") == "王*"
    assert not offline.check_token("not-a-token", b"").valid
    assert not offline.check_token("abc.def", b"").valid
