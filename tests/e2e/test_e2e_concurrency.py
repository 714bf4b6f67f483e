"""Ordinary concurrency against a real node (issue 10): parallel registrations are all accepted and
all stored, never a 5xx ("database is locked" on SQLite before ADR 0009), and a burst of keep-alive
clients on the catalog search is served without errors while ``/_status`` keeps answering
(the node froze before kernel.admission).

No timing is asserted: the clients wait as long as it takes (generous timeouts), and the node is told to
let requests queue long enough that a slow test machine does not turn into 503s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from nodekit import Node, database_urls, start_node
from zhengwu.identity.models import Account
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

# db: the PostgreSQL pass runs them too (nodekit gives the node a fresh PostgreSQL database there).
pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.slow]

PASSWORD = "Conc-Passw0rd!"
CLIENT_TIMEOUT = httpx.Timeout(300.0)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    tmp = tmp_path_factory.mktemp("concurrency")
    url = database_urls(tmp, ["conc"])["conc"]
    extra = {
        # Every client of these tests comes from 127.0.0.1; the per-address registration limit is
        # not what is tested here.
        "ZHENGWU_IDENTITY__REGISTRATION_IP_LIMIT": "10000",
        "ZHENGWU_ADMISSION__MAX_WAIT_SECONDS": "600",
        "ZHENGWU_LOG_LEVEL": "WARNING",
    }
    started = start_node("conc", "127.0.0.1", tmp, url, None, False, extra)
    yield started
    started.proc.terminate()
    started.proc.wait(30)


def _accounts(node: Node) -> int:
    engine = create_engine(node.env["ZHENGWU_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Account)) or 0)
    finally:
        engine.dispose()


def _register_in_parallel(node: Node, first: int, count: int) -> list[int]:
    start = threading.Barrier(count)

    def register(n: int) -> int:
        body = {
            "name": "并发测试用户",
            "id_number": nth_citizen_id(n),
            "phone": nth_phone(n),
            "password": PASSWORD,
        }
        with httpx.Client(base_url=node.url, timeout=CLIENT_TIMEOUT) as client:
            start.wait(60)
            return client.post("/api/v1/identity/register/natural", json=body).status_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(register, range(first, first + count)))


@pytest.mark.parametrize(("first", "count"), [(700_000, 24), (800_000, 100)])
def test_parallel_registrations_are_all_accepted_and_stored(node: Node, first: int, count: int) -> None:
    before = _accounts(node)
    statuses = _register_in_parallel(node, first, count)
    assert statuses == [202] * count, sorted(set(statuses))
    assert _accounts(node) == before + count
    for n in (first, first + count // 2, first + count - 1):  # stored as given: the password works
        with httpx.Client(base_url=node.url, timeout=CLIENT_TIMEOUT) as own:
            login = own.post(
                "/api/v1/identity/login", json={"identifier": nth_citizen_id(n), "password": PASSWORD}
            )
            assert login.status_code == 200, login.text


def test_a_search_burst_is_served_and_status_answers_during_it(node: Node) -> None:
    clients, rounds = 64, 8
    start = threading.Barrier(clients + 1)
    statuses: list[int] = []
    lock = threading.Lock()

    def searcher(n: int) -> None:
        with httpx.Client(base_url=node.url, timeout=CLIENT_TIMEOUT) as client:  # one keep-alive connection
            start.wait(60)
            for r in range(rounds):
                answer = client.get(
                    "/api/v1/catalog/search", params={"q": ("护照", "社保", "营业执照")[(n + r) % 3]}
                )
                with lock:
                    statuses.append(answer.status_code)

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start.wait(60)
    during: list[int] = []
    with httpx.Client(base_url=node.url, timeout=CLIENT_TIMEOUT) as probe:
        while any(t.is_alive() for t in threads) or not during:
            during.append(probe.get("/_status").status_code)
    for t in threads:
        t.join()
    assert len(statuses) == clients * rounds
    assert sorted(set(statuses)) == [200]
    assert set(during) == {200}
