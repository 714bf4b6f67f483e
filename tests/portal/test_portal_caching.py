"""What the portal keeps between requests, and when it lets go: the home page's items by theme until the
published items change (the catalog's stamp), the adopted style until a style changes; static assets
compressed and revalidated; HTML pages with a CSRF token never compressed (BREACH)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from catalog_kit import PASSPORT, make_basic, make_department, published_task
from zhengwu.catalog import service as catalog
from zhengwu.kernel import stamps
from zhengwu.kernel.node import node_of
from zhengwu.portal import notices
from zhengwu.portal.pages import HOME_THEMES


@dataclass(frozen=True)
class _Row:
    """A style offer as the exchange's downward feed hands it to the table hook."""

    row_guid: str
    business_key: str
    row: dict[str, Any]
    sender: str = "130000"
    operation: str = "I"
    order: int = 1
    origin: str = "130000"
    route: str = "130000"


def _computed(app: Any) -> int:
    cache = stamps.cache_of(node_of(app), HOME_THEMES)
    return cache.computed if cache is not None else 0


@pytest.mark.db
def test_home_themes_are_kept_until_the_published_items_change(
    app: Any, client: Any, session: Session
) -> None:
    make_basic(session)
    first = published_task(session, make_department(session, "130102", "石家庄市长安区公安局", 1))
    session.flush()
    assert "1个地方可办" in client.get("/").text
    kept = _computed(app)
    assert "1个地方可办" in client.get("/").text
    assert _computed(app) == kept, "an unchanged catalog is not counted again"

    second = published_task(session, make_department(session, "130104", "石家庄市桥西区公安局", 2))
    session.flush()
    assert "2个地方可办" in client.get("/").text, "a publication shows on the next request"
    assert _computed(app) == kept + 1

    catalog.change_task_state(session, second.task_code, "suspend", actor="test")
    session.flush()
    assert "1个地方可办" in client.get("/").text
    catalog.update_task(session, first.task_code, {"user_topic_type": "户籍"}, actor="test")
    session.flush()
    page = client.get("/").text
    assert "户籍" in page and "出入境" not in page, "an edit of a published item shows too"
    assert PASSPORT  # the item the kit publishes


@pytest.mark.db
def test_a_kept_search_answer_follows_publications_and_synonyms(client: Any, session: Session) -> None:
    make_basic(session)
    published_task(session, make_department(session, "130102", "石家庄市长安区公安局", 1))
    session.flush()
    assert "石家庄市长安区公安局" in client.get("/search?q=护照").text
    assert "石家庄市桥西区公安局" not in client.get("/search?q=护照").text
    published_task(session, make_department(session, "130104", "石家庄市桥西区公安局", 2))
    session.flush()
    assert "石家庄市桥西区公安局" in client.get("/search?q=护照").text, "a kept answer is not shown stale"
    assert "普通护照签发" not in client.get("/search?q=小红本本").text
    catalog.set_synonym(session, "小红本本", "护照")
    session.flush()
    assert "普通护照签发" in client.get("/search?q=小红本本").text, "a new synonym is used at once"


def test_a_stamp_written_elsewhere_is_seen_and_restores_do_not_alias(session: Session) -> None:
    assert stamps.read(session).get("test.kind", 0) == 0
    stamps.bump(session, "test.kind")
    first = stamps.read(session)["test.kind"]
    stamps.bump(session, "test.kind")
    second = stamps.read(session)["test.kind"]
    assert first != 0 and second not in (0, first)  # a fresh value each time, never the previous one

    computed: list[int] = []
    cache: stamps.StampedCache[int] = stamps.StampedCache("test.kind")
    assert cache.get(session, "k", lambda: computed.append(1) or 1) == 1
    assert cache.get(session, "k", lambda: computed.append(2) or 2) == 1
    stamps.bump(session, "test.kind")
    assert cache.get(session, "k", lambda: computed.append(3) or 3) == 3
    assert computed == [1, 3]


@pytest.mark.db
def test_adopting_a_style_shows_on_the_next_page(client: Any, session: Session, app: Any) -> None:
    settings = node_of(app).settings
    before = client.get("/").text
    assert settings.portal.header_colour in before
    offered = _Row(
        row_guid="r1", business_key="130000",
        row={"origin": "130000", "origin_name": "河北省", "header_colour": "#8a1c1c",
             "offered_at": "2026-12-06T08:00:00+00:00", "title": "河北政务服务网"},
    )  # fmt: skip
    assert not notices.style_applier(settings)(session, [offered])
    notices.adopt_style(session, "130000", actor="test")
    session.flush()
    assert "#8a1c1c" in client.get("/").text
    notices.adopt_style(session, None, actor="test")
    session.flush()
    assert "#8a1c1c" not in client.get("/").text


def test_static_assets_are_compressed_and_revalidated(client: Any) -> None:
    plain = client.get("/portal/static/portal.css", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding" and plain.headers["etag"]
    packed = client.get("/portal/static/portal.css", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == plain.content  # the client decoded it
    assert int(packed.headers["content-length"]) < len(plain.content) / 2
    assert packed.headers["etag"] != plain.headers["etag"]
    again = client.get(
        "/portal/static/portal.css",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]},
    )
    assert (
        again.status_code == 304 and again.content == b"" and again.headers["etag"] == packed.headers["etag"]
    )
    other = client.get("/portal/static/portal.css", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    raw = gzip.compress(plain.content)
    assert raw  # the stylesheet compresses (a sanity check of the test's premise)


def test_html_pages_with_a_token_are_never_compressed(client: Any) -> None:
    # A page with a CSRF token; the anonymous public pages carry none and are compressed
    # (tests/portal/test_portal_public_pages.py).
    page = client.get("/licenses/verify", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert "content-encoding" not in page.headers
