"""Pydantic ``Annotated`` code types: normalise, reject with the Chinese reason, work in FastAPI."""

from __future__ import annotations

import warnings

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from zhengwu.kernel.codes.types import (
    USCC,
    CatalogCode,
    CitizenId,
    DivisionCode,
    HandleItemCode,
    LicenseId,
    TaskCode,
)


class Applicant(BaseModel):
    credit_code: USCC
    id_number: CitizenId
    division: DivisionCode


class Item(BaseModel):
    catalog: CatalogCode
    task: TaskCode
    handle_item: HandleItemCode | None = None
    license_id: LicenseId | None = None


def test_values_are_normalised() -> None:
    applicant = Applicant(
        credit_code="９１３５０１００Ｍ０００１００Ｙ４３", id_number="150102880730303", division=" 130181 "
    )
    assert applicant.credit_code == "91350100M000100Y43"
    assert applicant.id_number == "150102198807303035"
    assert applicant.division == "130181"


def test_errors_carry_the_chinese_reason() -> None:
    with pytest.raises(ValidationError) as info:
        Applicant(credit_code="91110000600037341N", id_number="11010519491231001X", division="110103")
    errors = {e["loc"][0]: e["msg"] for e in info.value.errors()}
    assert set(errors) == {"credit_code", "id_number", "division"}
    assert "校验码错误" in errors["credit_code"]
    assert "校验码错误" in errors["id_number"]
    assert "已撤销" in errors["division"]


def test_item_codes() -> None:
    item = Item(
        catalog="312003564000",
        task="11310000MB2F30661Y2312003564000",
        handle_item="11310000MB2F30661Y231200356400001",
        license_id="1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    )
    assert item.task.endswith("312003564000")
    with pytest.raises(ValidationError):
        Item(catalog="312003564000", task="11310000MB2F30661Y231200356400001")  # 33 chars is not a 实施编码
    with pytest.raises(ValidationError):
        Item(
            catalog="312003564000",
            task="11310000MB2F30661Y2312003564000",
            handle_item="11310000MB2F30661Y2312003564000",
        )
    with pytest.raises(ValidationError):
        Item(catalog="31200356400", task="11310000MB2F30661Y2312003564000")
    with pytest.raises(ValidationError):
        Item(
            catalog="312003564000",
            task="11310000MB2F30661Y2312003564000",
            license_id="1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M",
        )


def test_non_strings_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Applicant(credit_code=123, id_number="11010519491231002X", division="130181")  # type: ignore[arg-type]


def test_fastapi_request_model() -> None:
    with warnings.catch_warnings():
        # starlette's TestClient warns about httpx vs httpx2; not what this test is about.
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    app = FastAPI()

    @app.post("/applicants")
    def create(applicant: Applicant) -> dict[str, str]:
        return {"credit_code": applicant.credit_code}

    client = TestClient(app)
    ok = client.post(
        "/applicants",
        json={"credit_code": "91350100m000100y43", "id_number": "11010519491231002X", "division": "130181"},
    )
    assert ok.status_code == 200
    assert ok.json() == {"credit_code": "91350100M000100Y43"}
    bad = client.post(
        "/applicants",
        json={"credit_code": "91350100M000100Y44", "id_number": "11010519491231002X", "division": "130181"},
    )
    assert bad.status_code == 422
    assert "校验码错误" in bad.text
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Applicant"]["properties"]
    assert "GB 32100" in schema["credit_code"]["description"]


def test_errors_are_typed_by_the_verdict_code_and_never_quote_the_value() -> None:
    wrong = "91110000600037341N"
    with pytest.raises(ValidationError) as info:
        Applicant(credit_code=wrong, id_number="11010519491231001X", division="110103")
    for error in info.value.errors():
        assert error["type"].split(".")[0] in {"uscc", "citizen_id", "division"}, error["type"]
        assert not error["msg"].startswith("Value error"), error["msg"]
        assert wrong not in error["msg"] and "11010519491231001X" not in error["msg"]
