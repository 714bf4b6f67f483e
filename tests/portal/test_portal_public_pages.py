"""Anonymous visitors' public pages from kept bytes (kernel.pagecache): kept only for visitors without a
session, per 适老化 step; revalidated with ETag; compressed; a change this process makes shows on the next
request, another process's within the one-second bound (driven clock here)."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from catalog_kit import make_basic, make_department, published_task
from zhengwu.catalog import service as catalog
from zhengwu.identity import service as identity
from zhengwu.kernel import gcpolicy, stamps
from zhengwu.kernel.node import node_of
from zhengwu.kernel.pagecache import PAGE_CACHE, PUBLIC_HEADER, PageCache
from zhengwu.portal import notices
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone


def _cache(app: Any) -> PageCache:
    return node_of(app).services.provide(PAGE_CACHE)


def _person(session: Session) -> Any:
    person = identity.register_natural_person(
        session,
        name="缓存测试",
        id_number=nth_citizen_id(41),
        phone=nth_phone(41),
        password=None,
        limit_rate=False,
    )
    session.flush()
    return person


def test_an_anonymous_page_is_kept_revalidated_and_compressed(app: Any, client: Any) -> None:
    first = client.get("/", headers={"Accept-Encoding": "identity"})
    assert first.status_code == 200 and "set-cookie" not in first.headers
    assert 'name="csrf_token"' not in first.text, "no token in a page shown to everyone"
    assert PUBLIC_HEADER not in first.headers, "the route's mark stays inside the node"
    cache = _cache(app)
    hits = cache.hits
    again = client.get("/", headers={"Accept-Encoding": "identity"})
    assert cache.hits == hits + 1 and again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == "private, no-cache"
    assert "content-security-policy" in again.headers, "a kept answer gets the node's headers too"
    labels = {"method": "GET", "route": "/", "status": "200"}
    counted = node_of(app).metrics.get_sample_value("zhengwu_http_requests_total", labels)
    client.get("/")
    assert (
        node_of(app).metrics.get_sample_value("zhengwu_http_requests_total", labels) == (counted or 0) + 1
    ), "a kept answer is counted under its route"
    packed = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == first.content
    assert int(packed.headers["content-length"]) < len(first.content) / 2
    unchanged = client.get("/", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    stale = client.get("/", headers={"If-None-Match": '"p-old"', "Accept-Encoding": "identity"})
    assert stale.status_code == 200 and stale.content == first.content


@pytest.mark.db
def test_a_person_with_a_session_never_gets_a_kept_page(app: Any, client: Any, session: Session) -> None:
    anonymous = client.get("/").text
    token = str(identity.start_session(session, _person(session), amr=["pwd"]).token)
    session.flush()
    client.cookies.set("zw_session", token)
    hits = _cache(app).hits
    mine = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "缓存测试" in mine.text and 'name="csrf_token"' in mine.text
    assert "content-encoding" not in mine.headers, "a page with a token is never compressed (BREACH)"
    assert mine.headers["cache-control"] == "no-store"
    assert _cache(app).hits == hits
    client.cookies.delete("zw_session")
    again = client.get("/")
    assert "缓存测试" not in again.text and again.text == anonymous, "one person's page is nobody else's"
    client.cookies.set("zw_session", "not-a-session")
    assert client.get("/").headers["cache-control"] == "no-store", "any session cookie is rendered for"


def test_the_care_step_is_part_of_the_key(client: Any) -> None:
    standard = client.get("/").text
    client.cookies.set("zw_care", "2")
    care = client.get("/").text
    assert 'class="care care-2"' in care and 'class="care' not in standard
    assert client.get("/").text == care
    client.cookies.delete("zw_care")
    assert client.get("/").text == standard


@pytest.mark.db
def test_a_publication_and_a_suspension_show_on_the_next_request(
    app: Any, client: Any, session: Session
) -> None:
    make_basic(session)
    item = published_task(session, make_department(session, "130102", "石家庄市长安区公安局", 1))
    session.flush()
    assert "石家庄市长安区公安局" in client.get("/search?q=护照").text
    guide = client.get(f"/items/{item.task_code}").text
    assert client.get(f"/items/{item.task_code}").text == guide
    catalog.change_task_state(session, item.task_code, "suspend", actor="test")
    session.flush()
    assert client.get(f"/items/{item.task_code}").text != guide, "a suspension shows at once"
    assert "石家庄市长安区公安局" not in client.get("/search?q=护照").text
    settings = node_of(app).settings
    notices.publish(session, settings, kind="notice", title="春节假期办事安排", body="正文", actor="test")
    session.flush()
    assert "春节假期办事安排" in client.get("/").text, "a table the portal watches, written here"


@pytest.mark.db
def test_another_processs_change_shows_within_the_bound(app: Any, client: Any, session: Session) -> None:
    settings = node_of(app).settings
    notice = notices.publish(
        session, settings, kind="notice", title="系统维护通知", body="正文", actor="test"
    )
    session.commit()  # the watched table's stamp is bumped in the writer's transaction
    assert "系统维护通知" in client.get("/").text
    now = [time.monotonic() + 3600]  # past the real clock's last read: the driven clock reads anew
    _cache(app).view.clock = lambda: now[0]
    assert "系统维护通知" in client.get("/").text  # read the stamps under the driven clock
    # Another process withdraws it: its rows and its stamp change in the database, this process is not told.
    session.execute(
        text("UPDATE portal_notice SET withdrawn_at = updated_at WHERE id = :id"), {"id": notice.id}
    )
    session.execute(text("UPDATE kernel_stamp SET version = version + 1 WHERE name = 'portal.notices'"))
    now[0] += 0.5
    assert "系统维护通知" in client.get("/").text, "within the bound the kept page may still show"
    now[0] += stamps.CROSS_PROCESS_BOUND
    assert "系统维护通知" not in client.get("/").text, "past the bound it is gone"


@pytest.mark.db
def test_a_watched_table_moves_its_stamp_in_the_writers_transaction(app: Any, session: Session) -> None:
    before = stamps.read(session).get("portal.notices", 0)
    generation = stamps.local_generation()
    notices.publish(session, node_of(app).settings, kind="column", title="社保查询", url="/r/1", actor="test")
    assert stamps.local_generation() > generation, "this process knows before the commit"
    session.commit()
    assert stamps.read(session)["portal.notices"] not in (0, before)
    quiet = stamps.read(session)["portal.notices"]
    session.rollback()
    notices.publish(session, node_of(app).settings, kind="column", title="不留", url="/r/2", actor="test")
    session.rollback()
    session.commit()
    assert stamps.read(session)["portal.notices"] == quiet, "a rolled-back write bumps nothing"


def test_requests_finding_the_stamps_stale_share_one_read(app: Any, client: Any) -> None:
    client.get("/")
    cache = _cache(app)
    now = [time.monotonic() + 3600]
    cache.view.clock = lambda: now[0]

    async def many() -> list[tuple[int, dict[str, int]]]:
        return await asyncio.gather(*(cache._read_stamps() for _ in range(20)))

    handed_off: list[int] = []
    read = cache.view.current

    def counted(factory: Any) -> tuple[int, dict[str, int]]:
        handed_off.append(1)
        return read(factory)

    cache.view.current = counted  # type: ignore[method-assign]
    answers = asyncio.run(many())
    assert len(handed_off) == 1 and all(a == answers[0] for a in answers), "one thread hand-off, not 20"
    now[0] += stamps.CROSS_PROCESS_BOUND
    asyncio.run(many())
    assert len(handed_off) == 2


def test_pages_that_are_not_public_are_passed_on(client: Any) -> None:
    verify = client.get("/licenses/verify")
    assert 'name="csrf_token"' in verify.text and "set-cookie" in verify.headers
    guide_missing = client.get("/items/11130000000000000X4000000000000000")
    assert guide_missing.status_code == 404 and PUBLIC_HEADER not in guide_missing.headers


def test_the_serving_process_freezes_start_up_once(app: Any) -> None:
    with TestClient(app) as running:
        assert running.get("/portal/static/portal.css").status_code == 200
    assert gc.get_freeze_count() > 0, "start-up's objects are out of the collector's walks"
    assert gcpolicy.settle() is False, "once per process"


def _concurrently(
    app: Any, cache: PageCache, path: str, count: int, *, fail_first: bool = False
) -> list[Any]:
    """``count`` anonymous GETs of ``path`` arriving together while the first render is held back."""
    import httpx

    inner = cache.app
    calls: list[int] = []

    async def run() -> list[Any]:
        release = asyncio.Event()
        one_at_a_time = asyncio.Lock()  # the test database is one connection: renders must not overlap

        async def held(scope: Any, receive: Any, send: Any) -> None:
            calls.append(1)
            await release.wait()
            if fail_first and len(calls) == 1:
                raise RuntimeError("the first render fails")
            async with one_at_a_time:
                await inner(scope, receive, send)

        cache.app = held
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            tasks = [asyncio.create_task(c.get(path)) for _ in range(count)]
            for _ in range(50):  # every request reaches the render or the wait for it
                await asyncio.sleep(0)
            release.set()
            return await asyncio.gather(*tasks)

    try:
        return asyncio.run(run())
    finally:
        cache.app = inner


def test_requests_for_a_page_being_rendered_wait_for_that_render(app: Any, client: Any) -> None:
    client.get("/")
    cache = _cache(app)
    cache.clear()
    rendered, joined = cache.rendered, cache.joined
    answers = _concurrently(app, cache, "/", 20)
    assert [a.status_code for a in answers] == [200] * 20
    assert len({a.content for a in answers}) == 1
    assert cache.rendered == rendered + 1 and cache.joined == joined + 19, "one render, not twenty"


def test_waiters_render_for_themselves_when_the_first_render_is_not_kept(app: Any, client: Any) -> None:
    client.get("/")
    cache = _cache(app)
    cache.clear()
    joined = cache.joined
    # A page shown with a form token is never kept: the waiter gets its own, with its own cookie.
    answers = _concurrently(app, cache, "/licenses/verify", 2)
    assert [a.status_code for a in answers] == [200, 200] and cache.joined == joined
    assert len({a.cookies.get("zw_csrf") for a in answers}) == 2
    # The first render fails: the other is not left waiting, and renders the page itself.
    answers = _concurrently(app, cache, "/", 2, fail_first=True)
    assert sorted(a.status_code for a in answers) == [200, 500]
    assert cache.joined == joined


@pytest.mark.parametrize("warm", [True, False])
def test_the_search_dictionary_loads_while_the_node_starts(
    settings: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    from zhengwu.catalog.search import tokens
    from zhengwu.main import create_app

    loaded: list[int] = []
    monkeypatch.setattr(tokens, "tokenizer", lambda: loaded.append(1))
    portal = settings.portal.model_copy(update={"warm_search": warm})
    application = create_app(settings.model_copy(update={"portal": portal}))
    node_of(application).use_sessions(session_factory)
    with TestClient(application) as running:
        assert loaded == ([1] if warm else []), "before the first request, not on the first search"
        assert running.get("/portal/static/portal.css").status_code == 200
    node_of(application).engine.dispose()
