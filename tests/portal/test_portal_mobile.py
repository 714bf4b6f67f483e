"""The mobile JSON API: the home page's content and the search in public, the person's cases and
licenses behind identity's session (401 envelope without one), paged like every list."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_portal_pages import _passport_everywhere

from cases_kit import Casework, login
from seals_kit import assert_envelope

pytestmark = pytest.mark.db
API = "/api/v1/mobile"


def test_home_and_search_as_data(client: Any, session: Session) -> None:
    codes = _passport_everywhere(session)
    home = client.get(f"{API}/home")
    assert home.status_code == 200
    body = home.json()
    assert "生孩子" in body["events"]
    theme = next(
        t for t in body["person_themes"] if any(i["task_name"] == "普通护照签发" for i in t["items"])
    )
    item = next(i for i in theme["items"] if i["task_name"] == "普通护照签发")
    assert item["places"] == 3 and item["task_code"] in codes
    found = client.get(f"{API}/search", params={"q": "办护照"}).json()
    assert found["groups"][0]["task_name"] == "普通护照签发", "the vocabulary's short form"
    assert found["groups"][0]["places_total"] == 3 and len(found["groups"]) == found["total"] == 1
    assert {p["task_code"] for p in found["groups"][0]["places"]} == set(codes)
    assert {p["division_name"] for p in found["groups"][0]["places"]} >= {"长安区", "竞秀区"}
    narrowed = client.get(f"{API}/search", params={"q": "护照", "division": "130600"}).json()
    assert narrowed["groups"][0]["places_total"] == 1
    nothing = client.get(f"{API}/search", params={"q": "zzzz不存在的事"}).json()
    assert nothing["groups"] == [] and isinstance(nothing["suggestions"], list)
    assert_envelope(client.get(f"{API}/search", params={"division": "abc"}), 422)
    assert_envelope(client.get(f"{API}/search", params={"q": "x" * 65}), 422)


def test_my_cases_and_licenses(client: Any, casework: Casework) -> None:
    client.cookies.clear()
    assert_envelope(client.get(f"{API}/me/cases"), 401)
    assert_envelope(client.get(f"{API}/me/licenses"), 401)
    login(client, casework.citizen_token)
    made = client.post("/api/v1/cases", json=casework.body())
    assert made.status_code == 201, made.text
    mine = client.get(f"{API}/me/cases")
    assert mine.status_code == 200 and mine.headers["x-total-count"] == "1"
    case = mine.json()[0]
    assert case["case_no"] == made.json()["case_no"] and case["status_label"] == "已申报，待受理"
    assert case["task_code"] == casework.task_code and case["draft_id"] is None
    licenses = client.get(f"{API}/me/licenses", params={"limit": 1})
    assert licenses.status_code == 200 and licenses.headers["x-total-count"] == "1"
    held = licenses.json()[0]
    assert held["id"] == casework.held_license_id and held["status_label"] == "有效"
