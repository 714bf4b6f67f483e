"""The catalog API: public search and guides, staff management with department-scoped permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from catalog_kit import PASSPORT, guide, make_basic, make_department, staff_cookie
from zhengwu.audit import changes
from zhengwu.catalog.importexport import export_file
from zhengwu.identity.deps import COOKIE
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.limits import MAX_DB_INT

BASE = "/api/v1/catalog"


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    make_basic(session)
    operator = make_department(session, "130000", "河北省政务服务管理办公室", 30)
    city = make_department(session, "130100", "石家庄市公安局", 31)
    other = make_department(session, "130200", "唐山市公安局", 32)
    found = {
        "city": city,
        "other": other,
        "platform": staff_cookie(session, operator, ["platform_admin"], "zwfw-admin"),
        "explicit": staff_cookie(session, other, ["platform_admin"], "platform-admin"),
        "dept": staff_cookie(session, city, ["admin"], "city-admin"),
        "viewer": staff_cookie(session, city, ["viewer"], "city-viewer"),
    }
    session.commit()  # the app's sessions share the connection; commit = release the savepoint
    return found


def as_(client: Any, token: str | None) -> Any:
    client.cookies.clear()
    if token:
        client.cookies.set(COOKIE, token)
    return client


def test_openapi_documents_the_catalog(client: Any) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        f"{BASE}/search",
        f"{BASE}/items/{{task_code}}",
        f"{BASE}/tasks",
        f"{BASE}/tasks/{{task_code}}/publish",
        f"{BASE}/tasks/{{task_code}}/history",
        f"{BASE}/tasks/{{task_code}}/diff",
        f"{BASE}/directory",
        f"{BASE}/synonyms",
        f"{BASE}/validation",
    ):
        assert path in paths, path
    guide_schema = client.get("/api/openapi.json").json()["components"]["schemas"]["GuideRead"]["properties"]
    assert {"task_code", "task_name", "accept_condition", "promise_day", "by_law", "materials"} <= set(
        guide_schema
    )


def test_staff_endpoints_need_a_catalog_role(client: Any, world: dict[str, Any]) -> None:
    body = guide(world["city"].credit_code)
    assert as_(client, None).post(f"{BASE}/tasks", json=body).status_code == 401
    denied = as_(client, world["viewer"]).post(f"{BASE}/tasks", json=body)
    assert denied.status_code == 403 and denied.json()["detail"] == "您没有“管理本部门的实施清单事项”的权限"
    # A department administrator manages its own department only.
    other = as_(client, world["dept"]).post(f"{BASE}/tasks", json=guide(world["other"].credit_code))
    assert other.status_code == 403 and other.json()["code"] == "catalog.not_your_department"
    assert as_(client, world["dept"]).post(f"{BASE}/directory", json={}).status_code in (403, 422)
    created = as_(client, world["dept"]).post(f"{BASE}/tasks", json=body)
    assert created.status_code == 201, created.json()
    listing = as_(client, world["dept"]).get(f"{BASE}/tasks")
    assert [t["dept_code"] for t in listing.json()] == [world["city"].credit_code]
    # Platform administrators (in the operator's office or elsewhere) manage everything.
    for token in (world["platform"], world["explicit"]):
        assert (
            as_(client, token).get(f"{BASE}/tasks/{created.json()['guide']['task_code']}").status_code == 200
        )


def test_claim_publish_and_read_publicly(client: Any, world: dict[str, Any]) -> None:
    staff = as_(client, world["dept"])
    body = guide(world["city"].credit_code)
    headers = {"Idempotency-Key": "claim-1"}
    first = staff.post(f"{BASE}/tasks", json=body, headers=headers)
    again = staff.post(f"{BASE}/tasks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    code = first.json()["guide"]["task_code"]
    assert code == make_task_code(world["city"].credit_code, 3, PASSPORT)
    assert first.headers["Location"].endswith(code)
    assert staff.post(f"{BASE}/tasks", json=body).status_code == 409  # a second claim without the key

    public = as_(client, None)
    assert public.get(f"{BASE}/items/{code}").status_code == 404  # drafts are not public
    staff = as_(client, world["dept"])
    published = staff.post(f"{BASE}/tasks/{code}/publish")
    assert published.status_code == 200 and published.json()["task_version"] == 1
    item = as_(client, None).get(f"{BASE}/items/{code}").json()
    assert item["task_code"] == code and item["task_state"] == "1"
    assert item["materials"][0]["material_name"] == "居民身份证" and item["promise_day"] == 7

    found = as_(client, None).get(f"{BASE}/search", params={"q": "护照", "limit": 1})
    assert found.status_code == 200 and found.headers["X-Total-Count"] == "1"
    assert found.json()["items"][0]["task_code"] == code and 'rel="first"' in found.headers["Link"]

    staff = as_(client, world["dept"])
    assert staff.patch(f"{BASE}/tasks/{code}", json={"promise_day": 5}).status_code == 200
    assert staff.post(f"{BASE}/tasks/{code}/publish").json()["task_version"] == 2
    diff = staff.get(f"{BASE}/tasks/{code}/diff", params={"from": 1, "to": 2}).json()
    assert [c["field"] for c in diff["changes"]] == ["promise_day"]
    history = staff.get(f"{BASE}/tasks/{code}/history").json()
    assert [a["action"] for a in history["actions"]] == ["create", "publish", "update", "publish"]
    assert staff.get(f"{BASE}/tasks/{code}/versions/1").json()["snapshot"]["promise_day"] == 7
    suspended = staff.post(f"{BASE}/tasks/{code}/suspend", json={"reason": "系统维护"})
    assert suspended.json()["status"] == "suspended"
    assert as_(client, None).get(f"{BASE}/search", params={"q": "护照"}).json()["total"] == 0
    staff = as_(client, world["dept"])
    assert (
        staff.post(f"{BASE}/tasks/{code}/cancel", json={"reason": "事项取消"}).json()["status"] == "cancelled"
    )
    assert staff.post(f"{BASE}/tasks/{code}/publish").status_code == 409


def test_field_level_errors_in_the_envelope(client: Any, world: dict[str, Any]) -> None:
    staff = as_(client, world["dept"])
    response = staff.post(
        f"{BASE}/tasks", json=guide(world["city"].credit_code, use_level="2", anticipate_type="天")
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "catalog.invalid_item" and body["trace_id"]
    assert {e["field"] for e in body["errors"]} == {"use_level", "anticipate_type"}
    assert all(e["reason"] for e in body["errors"])
    unknown = staff.post(
        f"{BASE}/tasks", json={**guide(world["city"].credit_code), "accept_conditon": "typo"}
    )
    assert unknown.status_code == 422  # unknown fields are refused
    draft = staff.post(f"{BASE}/tasks", json={**guide(world["city"].credit_code), "transact_addr": None})
    code = draft.json()["guide"]["task_code"]
    refused = staff.post(f"{BASE}/tasks/{code}/publish")
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["transact_addr"]


def test_handle_area_travels_as_a_code_with_its_name(
    client: Any, world: dict[str, Any], tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    staff = as_(client, world["dept"])
    wrong = staff.post(f"{BASE}/tasks", json=guide(world["city"].credit_code, handle_area="全城通办"))
    assert wrong.status_code == 422
    (error,) = wrong.json()["errors"]
    assert error["field"] == "handle_area" and error["reason"].startswith("通办范围取值“全城通办”无效")
    created = staff.post(f"{BASE}/tasks", json=guide(world["city"].credit_code, handle_area="全省通办"))
    assert created.status_code == 201, created.json()
    staff_guide = created.json()["guide"]
    assert (staff_guide["handle_area"], staff_guide["handle_area_name"]) == ("3", "全省通办")
    code = staff_guide["task_code"]
    assert staff.patch(f"{BASE}/tasks/{code}", json={"handle_area": "6"}).status_code == 200
    assert staff.post(f"{BASE}/tasks/{code}/publish").status_code == 200
    public = as_(client, None).get(f"{BASE}/items/{code}").json()
    assert (public["handle_area"], public["handle_area_name"]) == ("6", "本行政区域")
    # Exports carry the code (the importer reads it back).
    export_file(session_factory, tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["handle_area"] for row in lines if row.get("task_code") == code] == ["6"]


def test_directory_synonyms_and_validation_for_platform_admins(
    client: Any, world: dict[str, Any], session: Session
) -> None:
    admin = as_(client, world["platform"])
    entry = {
        "catalog_code": "002030001000",
        "task_name": "社会保险登记",
        "task_type": "20",
        "use_level": "2^3^4",
        "by_law": "《社会保险法》",
    }
    created = admin.post(f"{BASE}/directory", json=entry)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert admin.post(f"{BASE}/directory/002030001000/publish").json()["task_version"] == 1
    assert admin.get(f"{BASE}/directory/002030001000/history").json()["versions"][0]["version"] == 1
    assert admin.patch(f"{BASE}/directory/002030001000", json={"use_level": "3^4"}).json()["dirty"] is True
    assert admin.post(f"{BASE}/directory/002030001000/publish").json()["task_version"] == 2
    diff = admin.get(f"{BASE}/directory/002030001000/diff", params={"from": 1, "to": 2}).json()
    assert [(c["field"], c["old"], c["new"]) for c in diff["changes"]] == [("use_level", "2^3^4", "3^4")]
    assert (
        admin.put(f"{BASE}/synonyms", json={"term": "医保卡", "canonical": "社会保障卡"}).status_code == 200
    )
    assert "医保卡" in [s["term"] for s in admin.get(f"{BASE}/synonyms").json()]
    assert (
        admin.put(f"{BASE}/synonyms", json={"term": "医保卡", "canonical": "医疗保障卡"}).status_code == 200
    )
    assert admin.delete(f"{BASE}/synonyms/医保卡").status_code == 204
    assert admin.delete(f"{BASE}/synonyms/医保卡").status_code == 404
    # Each edit of the search vocabulary is in the change log: who, and the wording before and after.
    logged = [(c.action, c.before, c.after, bool(c.actor))
              for c in reversed(changes.list_changes(session, entity="catalog.synonym", entity_id="医保卡"))]  # fmt: skip
    assert logged == [
        ("catalog.synonym.set", None, {"canonical": "社会保障卡"}, True),
        ("catalog.synonym.set", {"canonical": "社会保障卡"}, {"canonical": "医疗保障卡"}, True),
        ("catalog.synonym.delete", {"canonical": "医疗保障卡"}, None, True),
    ]
    assert admin.get(f"{BASE}/validation").status_code == 200
    dept = as_(client, world["dept"])
    assert dept.put(f"{BASE}/synonyms", json={"term": "a", "canonical": "b"}).status_code == 403
    assert dept.get(f"{BASE}/validation").status_code == 403


def test_public_search_parameters_are_checked(client: Any) -> None:
    assert client.get(f"{BASE}/search", params={"q": "x" * 65}).status_code == 422
    assert client.get(f"{BASE}/search", params={"q": "护照", "division": "13"}).status_code == 422
    assert client.get(f"{BASE}/search", params={"q": "护照", "service_object": "robot"}).status_code == 422
    assert client.get(f"{BASE}/items/NOT-A-CODE").status_code == 422
    assert client.get(f"{BASE}/items/{'1' * 31}").status_code == 422  # the body's check character is wrong
    assert client.get(f"{BASE}/items/11310000MB2F30661Y2312003564000").status_code == 404


def test_versions_beyond_the_database_integers_are_422(client: Any, world: dict[str, Any]) -> None:
    as_(client, world["explicit"])
    for version in (2**31, 2**63, 2**70):
        answer = client.get(f"{BASE}/directory/{PASSPORT}/versions/{version}")
        assert answer.status_code == 422, (version, answer.text)
        diff = client.get(f"{BASE}/directory/{PASSPORT}/diff", params={"from": 1, "to": version})
        assert diff.status_code == 422
    assert client.get(f"{BASE}/directory/{PASSPORT}/versions/{MAX_DB_INT}").status_code == 404
