"""An item's own form fields: a typed list per item (validated when stored), offered in the apply form's
API and on the apply page, checked with Chinese messages naming the field, kept in the case with the
labels the applicant saw and shown to staff."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cases_kit import Casework, login
from seals_kit import assert_envelope
from zhengwu.cases import service
from zhengwu.cases.errors import CaseInvalid
from zhengwu.cases.fields import FieldsInvalid, ItemFields

pytestmark = pytest.mark.db

API = "/api/v1/cases"
DEFINITION = {
    "fields": [
        {"code": "work_type", "label": "作业类别", "type": "choice", "required": True,
         "options": ["建筑电工", "架子工", "起重信号工"]},
        {"code": "years", "label": "从业年限", "type": "number", "required": True, "min": 0, "max": 50},
        {"code": "exam_date", "label": "考试日期", "type": "date", "hint": "格式如 2026-12-06"},
        {"code": "employer_phone", "label": "用人单位电话", "type": "phone"},
        {"code": "remark", "label": "备注", "type": "text", "max_length": 10},
    ]
}  # fmt: skip


@pytest.mark.parametrize(
    ("definition", "words"),
    [
        ({"fields": [{"code": "Bad-Code", "label": "x", "type": "text"}]}, "代码"),
        ({"fields": [{"code": "phone", "label": "电话", "type": "text"}]}, "已被平台表单使用"),
        ({"fields": [{"code": "a", "label": "甲", "type": "colour"}]}, "类型"),
        ({"fields": [{"code": "a", "label": "甲", "type": "choice", "options": ["只有一项"]}]}, "选项"),
        ({"fields": [{"code": "a", "label": "甲", "type": "text", "min": 1}]}, "最小值"),
        ({"fields": [{"code": "a", "label": "甲", "type": "number", "min": 5, "max": 1}]}, "最小值大于最大值"),
        ({"fields": [{"code": "a", "label": "甲", "type": "text"}, {"code": "a", "label": "乙", "type": "text"}]},
         "重复"),
        ({"steps": []}, "fields"),
    ],
)  # fmt: skip
def test_a_definition_that_breaks_a_rule_is_refused_in_chinese(definition: Any, words: str) -> None:
    with pytest.raises(FieldsInvalid, match=words):
        ItemFields.from_json(definition)


def test_values_are_checked_by_type() -> None:
    fields = ItemFields.from_json(DEFINITION)
    assert ItemFields.from_json(fields.as_json()) == fields  # the stored shape reads back the same
    clean, errors = fields.check(
        {"work_type": "焊工", "years": "五", "exam_date": "2026-02-30", "employer_phone": "12345",
         "remark": "一二三四五六七八九十一", "phone_note": "free"},
        complete=True,
    )  # fmt: skip
    assert errors == {
        "work_type": "“作业类别”应从给出的选项中选择",
        "years": "“从业年限”应填写数字",
        "exam_date": "“考试日期”应为日期，格式如 2026-12-06",
        "employer_phone": "“用人单位电话”应为手机号码或带区号的固定电话",
        "remark": "“备注”不能超过10个字符",
    }
    assert clean["phone_note"] == "free", "fields the item does not define pass as before"
    assert fields.check({"years": "51"}, complete=False)[1] == {"years": "“从业年限”不能大于50"}
    assert fields.check({}, complete=True)[1] == {
        "work_type": "请选择“作业类别”",
        "years": "请填写“从业年限”",
    }
    assert fields.check({}, complete=False)[1] == {}, "a draft may leave required fields empty"
    ok, none = fields.check(
        {"work_type": "架子工", "years": " 3 ", "employer_phone": "0311 8765 4321"}, complete=True
    )
    assert none == {} and ok["years"] == "3" and ok["employer_phone"] == "031187654321"


def test_the_api_offers_checks_and_keeps_the_fields(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    with pytest.raises(CaseInvalid) as refused:
        service.set_item_fields(db, work.task_code, {"fields": [{"code": "x"}]}, actor="test")
    assert refused.value.instance_code == "cases.fields_invalid" and "名称" in refused.value.detail
    service.set_item_fields(db, work.task_code, DEFINITION, actor="test")
    db.flush()
    login(client, work.citizen_token)
    form = client.get(f"{API}/form/{work.task_code}").json()
    assert [f["code"] for f in form["fields"]] == [
        "work_type",
        "years",
        "exam_date",
        "employer_phone",
        "remark",
    ]
    assert (
        form["fields"][0]["options"] == ["建筑电工", "架子工", "起重信号工"]
        and form["fields"][1]["max"] == 50
    )

    missing = assert_envelope(client.post(API, json=work.body()), 422, "cases.form_invalid")
    assert missing["fields"] == ["work_type", "years"]
    assert missing["field_errors"]["years"] == "请填写“从业年限”" and "请选择“作业类别”" in missing["detail"]
    wrong = work.body(form={"work_type": "架子工", "years": "-1"})
    assert assert_envelope(client.post(API, json=wrong), 422)["field_errors"] == {
        "years": "“从业年限”不能小于0"
    }
    draft = client.post(API, json={**work.body(form={"remark": "先存草稿"}), "draft": True})
    assert draft.status_code == 201 and draft.json()["status"] == "draft"

    good = work.body(form={"work_type": "架子工", "years": "3", "exam_date": "2026-11-30", "note": "上午"})
    made = client.post(API, json=good)
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    # Changing the item's list later does not change what the case was submitted with.
    service.set_item_fields(db, work.task_code, {"fields": []}, actor="test")
    db.flush()
    login(client, work.handler_token)
    seen = client.get(f"{API}/{case_no}").json()
    assert seen["form"]["years"] == "3" and seen["form"]["work_type"] == "架子工"
    assert [f["label"] for f in seen["form_fields"]][:2] == ["作业类别", "从业年限"]
    # The staff's case page reads the values by the labels the applicant saw.
    page = client.get(f"/staff/cases/{case_no}")
    assert page.status_code == 200, page.text[:300]
    text = re.sub(r"<[^>]+>", " ", page.text)
    assert "从业年限" in text and "架子工" in text


def test_the_apply_page_renders_checks_and_keeps_the_fields(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    service.set_item_fields(db, work.task_code, DEFINITION, actor="test")
    db.flush()
    url = f"/items/{work.task_code}/apply"
    login(client, work.citizen_token)
    page = client.get(url)
    assert page.status_code == 200
    assert (
        "事项信息" in page.text
        and 'name="item_work_type"' in page.text
        and '<option value="架子工">' in page.text
    )
    assert 'name="item_exam_date" value="" type="date"' in page.text and "格式如 2026-12-06" in page.text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert token is not None
    posted = client.post(url, data={"csrf_token": token.group(1), "action": "submit", "phone": "13812345678",
                                    "item_years": "很多", "item_remark": "带上原件"})  # fmt: skip
    assert posted.status_code == 422
    summary = posted.text.split('class="error-summary"', 1)[1].split("</div>", 1)[0]
    assert (
        'href="#item_years"' in summary
        and "“从业年限”应填写数字" in summary
        and "请选择“作业类别”" in summary
    )
    assert 'value="很多"' in posted.text and 'value="带上原件"' in posted.text, "what was typed stays"
    years_input = posted.text.split('id="item_years"', 1)[1].split(">", 1)[0]
    assert 'aria-invalid="true"' in years_input and "item_years-error" in years_input
