"""The mobile JSON API: the home page's content and the search in public, the person's cases and
licenses behind identity's session (401 envelope without one), paged like every list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session
from test_portal_pages import _passport_everywhere

from cases_kit import Casework, login
from catalog_kit import make_department, published_task
from seals_kit import assert_envelope
from zhengwu.kernel import stamps
from zhengwu.kernel.node import node_of
from zhengwu.portal import mobile, notices, pages

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


@dataclass(frozen=True)
class _Received:
    """A notice as the exchange's downward feed hands it to the table hook."""

    row_guid: str
    row: dict[str, Any]
    operation: str = "I"
    order: int = 1
    origin: str = "130000"


def _computed(app: Any, key: Any) -> int:
    cache = stamps.cache_of(node_of(app), key)
    return cache.computed if cache is not None else 0


def test_the_home_page_and_the_mobile_home_read_one_notices_cache(
    app: Any, client: Any, session: Session
) -> None:
    """The home page reads its notices and columns through the mobile home's cache (stamp
    ``portal.notices``): read once for both, and a new notice, a change or a withdrawal shows on the
    very next page once written — moved by the table watch alone."""
    settings = node_of(app).settings
    first = notices.publish(
        session, settings, kind="notice", title="办事大厅搬迁公告", body="下周一起", actor="test"
    )
    session.commit()
    # Any session cookie is rendered for (never the kept bytes of kernel.pagecache): the page itself reads.
    client.cookies.set("zw_session", "not-a-session")
    assert "办事大厅搬迁公告" in client.get("/").text
    entries = _computed(app, pages.HOME_ENTRIES)
    assert [n["title"] for n in client.get(f"{API}/home").json()["notices"]] == ["办事大厅搬迁公告"]
    assert "办事大厅搬迁公告" in client.get("/").text
    assert _computed(app, pages.HOME_ENTRIES) == entries, "read once for the page and the API"

    notices.publish(session, settings, kind="notice", title="端午节假期安排", body="三天", actor="test")
    session.commit()
    home = client.get("/").text
    assert "端午节假期安排" in home and home.index("端午节假期安排") < home.index("办事大厅搬迁公告")
    assert _computed(app, pages.HOME_ENTRIES) == entries + 1
    notices.change(
        session, settings, first.id, title="办事大厅搬迁公告（更正）", body="下周二起", actor="test"
    )
    session.commit()
    assert "办事大厅搬迁公告（更正）" in client.get("/").text
    notices.withdraw(session, settings, first.id, actor="test")
    session.commit()
    assert "办事大厅搬迁公告" not in client.get("/").text
    assert [n["title"] for n in client.get(f"{API}/home").json()["notices"]] == ["端午节假期安排"]
    assert _computed(app, pages.HOME_ENTRIES) == entries + 3
    # No writer bumps the stamp itself: the watch moves it once per committed change.
    before = stamps.read(session)["portal.notices"]
    notices.publish(
        session, settings, kind="column", title="公积金查询", url="/search?q=公积金", actor="test"
    )
    assert stamps.read(session)["portal.notices"] == before, "not bumped before the commit"
    session.commit()
    assert stamps.read(session)["portal.notices"] != before
    assert "公积金查询" in client.get("/").text


def test_the_home_is_kept_until_the_items_or_the_notices_change(
    app: Any, client: Any, session: Session
) -> None:
    """Themes are counted and notices read once, then kept (kernel.stamps) until a publication, a notice
    of this node's (published, changed, withdrawn) or one from above changes them — seen on the next call
    once the writer commits (the notices' table is watched: no writer bumps the stamp itself)."""
    settings = node_of(app).settings
    _passport_everywhere(session)
    first = notices.publish(
        session, settings, kind="notice", title="系统维护通知", body="今晚停机两小时", actor="test"
    )
    session.commit()
    body = client.get(f"{API}/home").json()
    assert [n["title"] for n in body["notices"]] == ["系统维护通知"] and body["notices"][0]["local"]
    themes, entries = _computed(app, mobile.HOME_THEMES), _computed(app, pages.HOME_ENTRIES)
    for _ in range(3):
        assert client.get(f"{API}/home").json() == body
    assert (_computed(app, mobile.HOME_THEMES), _computed(app, pages.HOME_ENTRIES)) == (themes, entries)

    notices.publish(session, settings, kind="column", title="社保查询", url="/items/search", actor="test")
    session.commit()
    body = client.get(f"{API}/home").json()
    assert [c["title"] for c in body["columns"]] == ["社保查询"]
    assert _computed(app, pages.HOME_ENTRIES) == entries + 1 and _computed(app, mobile.HOME_THEMES) == themes
    notices.change(
        session, settings, first.id, title="系统维护通知（已更新）", body="今晚停机一小时", actor="test"
    )
    session.commit()
    assert client.get(f"{API}/home").json()["notices"][0]["title"] == "系统维护通知（已更新）"
    notices.withdraw(session, settings, first.id, actor="test")
    session.commit()
    assert client.get(f"{API}/home").json()["notices"] == []
    # A notice from the upper node, applied from the downward feed.
    sent = {"notice_key": "130000:n1", "kind": "notice", "origin": "130000", "origin_name": "河北省政务服务平台",
            "title": "省级通知", "body": "全省通办", "published_at": "2026-12-01T00:00:00+00:00"}  # fmt: skip
    assert notices.notice_applier(settings)(session, [_Received("g1", sent)]) == {}
    session.commit()
    upper = client.get(f"{API}/home").json()["notices"]
    assert [(n["title"], n["local"]) for n in upper] == [("省级通知", False)]

    # A new publication of the catalog recounts the themes, and only them.
    entries = _computed(app, pages.HOME_ENTRIES)
    published_task(session, make_department(session, "130108", "石家庄市裕华区公安局", 8))
    session.flush()
    client.get(f"{API}/home")
    assert _computed(app, mobile.HOME_THEMES) == themes + 1 and _computed(app, pages.HOME_ENTRIES) == entries
