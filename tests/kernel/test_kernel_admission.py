"""Admission: requests queue in the event loop, a request queued past the limit gets 503 with
Retry-After, the status lane passes the queue, and a database that stays busy answers 503 (ADR 0009)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from zhengwu.kernel import admission
from zhengwu.kernel.config import AdmissionSettings, Settings
from zhengwu.kernel.db import begins_immediate, make_engine, pool_capacity
from zhengwu.kernel.http import install_error_handlers


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{(tmp_path / 'a.db').as_posix()}")
    yield eng
    eng.dispose()


def _app(engine: Engine, **settings: Any) -> tuple[FastAPI, asyncio.Event, list[str]]:
    app = FastAPI()
    install_error_handlers(app)
    admission.install(app, AdmissionSettings(**settings), engine)
    release = asyncio.Event()
    entered: list[str] = []

    @app.get("/slow")
    async def slow(n: str) -> dict[str, str]:
        entered.append(n)
        await release.wait()
        return {"n": n}

    @app.get("/_status")
    async def status() -> dict[str, bool]:
        return {"ok": True}

    @app.api_route("/intent", methods=["GET", "POST"])
    async def intent() -> dict[str, bool]:
        return {"immediate": begins_immediate()}

    @app.get("/locked")
    async def locked() -> None:
        raise OperationalError("UPDATE x", {}, Exception("database is locked"))

    @app.get("/broken")
    async def broken() -> None:
        raise OperationalError("SELECT x", {}, Exception("no such table: x"))

    return app, release, entered


def _run(test: Callable[[httpx.AsyncClient], Awaitable[None]], app: FastAPI) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            await test(client)

    asyncio.run(main())


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


def test_requests_beyond_the_slots_queue_and_all_complete_in_order(engine: Engine) -> None:
    app, release, entered = _app(engine, slots=2, max_wait_seconds=60)

    async def scenario(client: httpx.AsyncClient) -> None:
        calls = []
        for n in range(6):
            calls.append(asyncio.create_task(client.get("/slow", params={"n": str(n)})))
            await _until(lambda n=n: len(entered) == min(n + 1, 2) and _gate(app).waiting == max(n - 1, 0))
        assert _gate(app).inside == 2
        assert entered == ["0", "1"]
        release.set()
        answers = await asyncio.gather(*calls)
        assert [a.status_code for a in answers] == [200] * 6
        assert entered == [str(n) for n in range(6)]  # first come, first served
        assert _gate(app).inside == 0

    _run(scenario, app)


def test_a_request_queued_past_the_limit_gets_503_with_retry_after(engine: Engine) -> None:
    app, release, entered = _app(engine, slots=1, max_wait_seconds=0.05, retry_after_seconds=7)

    async def scenario(client: httpx.AsyncClient) -> None:
        first = asyncio.create_task(client.get("/slow", params={"n": "1"}))
        await _until(lambda: entered == ["1"])
        refused = await client.get("/slow", params={"n": "2"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "7"
        body = refused.json()
        assert body["code"] == "node_busy" and body["status"] == 503 and body["retry_after"] == 7
        assert "稍后" in body["detail"]
        release.set()
        assert (await first).status_code == 200
        assert entered == ["1"]  # the refused request never ran
        assert (await client.get("/slow", params={"n": "3"})).status_code == 200

    _run(scenario, app)


def test_the_status_lane_answers_while_the_slots_are_taken(engine: Engine) -> None:
    app, release, entered = _app(engine, slots=1, max_wait_seconds=60)

    async def scenario(client: httpx.AsyncClient) -> None:
        first = asyncio.create_task(client.get("/slow", params={"n": "1"}))
        queued = asyncio.create_task(client.get("/slow", params={"n": "2"}))
        await _until(lambda: entered == ["1"] and _gate(app).waiting == 1)
        status = await client.get("/_status")
        assert status.status_code == 200 and status.json() == {"ok": True}
        assert _gate(app).waiting == 1  # still queued: the lane did not take its place
        release.set()
        assert [(await first).status_code, (await queued).status_code] == [200, 200]

    _run(scenario, app)


def test_a_cancelled_waiter_gives_its_place_on(engine: Engine) -> None:
    app, release, entered = _app(engine, slots=1, max_wait_seconds=60)

    async def scenario(client: httpx.AsyncClient) -> None:
        first = asyncio.create_task(client.get("/slow", params={"n": "1"}))
        await _until(lambda: entered == ["1"])
        gone = asyncio.create_task(client.get("/slow", params={"n": "gone"}))
        await _until(lambda: _gate(app).waiting == 1)
        gone.cancel()
        third = asyncio.create_task(client.get("/slow", params={"n": "3"}))
        await _until(lambda: _gate(app).waiting == 1)
        release.set()
        assert [(await first).status_code, (await third).status_code] == [200, 200]
        assert entered == ["1", "3"]
        assert _gate(app).inside == 0

    _run(scenario, app)


def test_safe_methods_read_and_others_take_the_write_lock(engine: Engine) -> None:
    app, _, _ = _app(engine)

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/intent")).json() == {"immediate": False}
        assert (await client.post("/intent")).json() == {"immediate": True}

    _run(scenario, app)


def test_a_database_that_stays_busy_answers_503_and_a_fault_still_500(engine: Engine) -> None:
    app, _, _ = _app(engine, retry_after_seconds=3)

    async def scenario(client: httpx.AsyncClient) -> None:
        busy = await client.get("/locked")
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "3"
        assert busy.json()["code"] == "database_busy"
        broken = await client.get("/broken")
        assert broken.status_code == 500
        assert broken.json()["code"] == "internal_error"

    _run(scenario, app)


def test_a_read_request_that_writes_on_a_stale_snapshot_runs_again_as_a_write(engine: Engine) -> None:
    # The CI failure of stop 18: a GET that stores something (an OIDC authorize, a license read's usage
    # row) read first, another writer committed, and its write failed at once with "database is locked".
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    app, _, _ = _app(engine)
    runs: list[bool] = []

    @app.get("/read-then-write")
    def read_then_write() -> dict[str, int]:
        runs.append(begins_immediate())
        with engine.begin() as conn:
            conn.execute(text("SELECT count(*) FROM t")).scalar()
            if len(runs) == 1:  # another writer commits after this request's snapshot was taken
                with engine.begin() as other:
                    other.execute(text("INSERT INTO t VALUES (1)"))
            conn.execute(text("INSERT INTO t VALUES (2)"))
        return {"runs": len(runs)}

    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.get("/read-then-write")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"runs": 2}
        assert "x-zhengwu-busy-deferred" not in answer.headers
        # The second run took the write lock up front; the first wrote nothing.
        assert runs == [False, True]
        busy = await client.get("/locked")  # still busy on the second run: answered 503, marker removed
        assert busy.status_code == 503 and "x-zhengwu-busy-deferred" not in busy.headers

    _run(scenario, app)
    with engine.connect() as conn:
        assert sorted(n for (n,) in conn.execute(text("SELECT n FROM t"))) == [1, 2]


def test_slots_and_threads_follow_the_pool(engine: Engine) -> None:
    connections = pool_capacity(engine)
    assert connections == 16
    assert admission.sizing(connections, AdmissionSettings()) == (12, 16)
    assert admission.sizing(connections, AdmissionSettings(slots=3)) == (3, 7)
    postgres = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert admission.sizing(pool_capacity(postgres), AdmissionSettings()) == (26, 30)
    assert admission.sizing(pool_capacity(make_engine("sqlite://")), AdmissionSettings()) == (1, 5)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHENGWU_ADMISSION__MAX_WAIT_SECONDS", "2.5")
    monkeypatch.setenv("ZHENGWU_ADMISSION__SLOTS", "9")
    settings = Settings()
    assert settings.admission.max_wait_seconds == 2.5
    assert settings.admission.slots == 9


def _gate(app: FastAPI) -> admission.Gate:
    gate = admission.gate_of(app)
    assert gate is not None
    return gate
