"""The public verification's fast path (ADR 17, issue 11): the clean request answered before the route
table with its writes committed in the event loop must give exactly the route's answer, record each
use once with its own trace, and leave everything else — refusals, other bodies, a busy or failing
database — to the route, which answers as it always did.

The tests run a served node on its own migrated database (rows committed, as in production): the fast
path never engages on the per-test transaction of the other tests. On PostgreSQL every request goes the
route's way; the comparisons still hold there, the SQLite-only checks are skipped.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dbkit import live_app, migrated_database, served
from licenses_kit import BUSINESS_FACE, COMPANY, INSURANCE_FACE, PERSON
from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of
from zhengwu.licenses import fastverify
from zhengwu.licenses.models import LicenseUsage

pytestmark = pytest.mark.db

API = "/api/v1/licenses"


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this module's own (rows are committed, not rolled back)."""
    yield from migrated_database(tmp_path_factory, role="fastverify")


@dataclass
class Live:
    app: Any
    client: Any
    verifier: fastverify.LoopVerifier
    sqlite: bool
    valid: dict[str, str]  # a valid business licence: identifier and holder code
    person: dict[str, str]  # a valid social-insurance certificate of a person
    revoked: dict[str, str]

    def uses(self, **where: str) -> list[LicenseUsage]:
        with node_of(self.app).session_factory() as db:
            query = select(LicenseUsage).where(LicenseUsage.operation == "verify_id")
            for name, value in where.items():
                query = query.where(getattr(LicenseUsage, name) == value)
            return list(db.scalars(query).all())

    def fast(self, outcome: str) -> float:
        labels = {"outcome": outcome}
        return node_of(self.app).metrics.get_sample_value("zhengwu_license_verify_fast_total", labels) or 0.0

    def counted(self, result: str) -> float:
        labels = {"operation": "verify_id", "result": result}
        return node_of(self.app).metrics.get_sample_value("zhengwu_license_uses_total", labels) or 0.0


def _issue(db: Any, settings: Settings) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    from zhengwu.licenses import service
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.pki import authority
    from zhengwu.seals import service as seals
    from zhengwu.seed import government_credit_code
    from zhengwu.seed.licenses import seed_license_types

    authority.init_pki(db, settings)
    code = government_credit_code("130000", 778)
    department = orgs.add_department(
        db, DepartmentCreate(credit_code=code, name="河北省市场监督管理局", division_code="130000")
    )
    db.flush()
    seals.create_seal(
        db, settings, department_credit_code=code, name="河北省市场监督管理局行政审批专用章", actor="test"
    )
    seed_license_types(db)
    db.flush()
    types = {t.name: t.code for t in service.list_types(db)}

    def issue(kind: str, holder: str, name: str, face: dict[str, Any]) -> Any:
        return service.issue_license(
            db, settings, type_code=types[kind], department_id=department.id, holder_name=name,
            holder_code=holder, face=face, actor="test",
        )  # fmt: skip

    company = issue("营业执照", COMPANY, "石家庄演示科技有限公司", BUSINESS_FACE)
    person = issue("社会保险参保证明", PERSON, "演示用户", INSURANCE_FACE)
    gone = issue("营业执照", COMPANY, "石家庄演示科技有限公司", {**BUSINESS_FACE, "scope": "已注销"})
    db.flush()
    service.change_status(db, gone.id, "revoke", reason="依法注销", actor="test")
    return (
        {"identifier": company.identifier, "holder_code": COMPANY},
        {"identifier": person.identifier, "holder_code": PERSON},
        {"identifier": gone.identifier, "holder_code": COMPANY},
    )


@pytest.fixture(scope="module")
def issued(live_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """Three licenses committed once for the module (the PKI, a department, its seal, the demo types)."""
    data = tmp_path_factory.mktemp("fastverify")
    node = node_of(live_app(live_url, data))
    with node.session_factory() as db:
        valid, person, revoked = _issue(db, node.settings)
        db.commit()
    node.engine.dispose()
    return data, {"valid": valid, "person": person, "revoked": revoked}


@pytest.fixture
def live(live_url: str, issued: tuple[Path, dict[str, dict[str, str]]]) -> Iterator[Live]:
    """A served node (lifespan included) over the module's database; rate limits out of the way."""
    from zhengwu.kernel import fastpath

    data, licenses = issued
    app = live_app(live_url, data)
    node = node_of(app)
    node.settings.security.public_rate_per_minute = 1_000_000
    handler, _ = fastpath.routes_of(node).handlers[("POST", fastverify.PATH)]
    assert isinstance(handler, fastverify.VerifyHandler)
    verifier = handler.verifier
    with served(app) as client:
        yield Live(
            app, client, verifier, live_url.startswith("sqlite"), licenses["valid"], licenses["person"],
            licenses["revoked"],
        )  # fmt: skip


def _sqlite_only(live: Live) -> None:
    if not live.sqlite:
        pytest.skip("the fast path answers on SQLite only; PostgreSQL requests go the route's way")


def _both_ways(live: Live, monkeypatch: pytest.MonkeyPatch, **request: Any) -> tuple[Any, Any]:
    """The same request answered with the fast path, then by the route alone."""
    fast = live.client.post(f"{API}/verify", **request)
    with monkeypatch.context() as patched:
        patched.setattr(live.verifier, "engaged", lambda: False)
        slow = live.client.post(f"{API}/verify", **request)
    return fast, slow


_SAME_HEADERS = (
    "content-type",
    "content-length",
    "x-content-type-options",
    "referrer-policy",
    "cache-control",
    "retry-after",
)


def _assert_same(fast: Any, slow: Any) -> None:
    assert fast.status_code == slow.status_code
    if fast.status_code == 200:
        assert fast.content == slow.content  # byte for byte: the response model's JSON
    else:  # an envelope carries its own request's trace id
        fast_body, slow_body = fast.json(), slow.json()
        assert fast_body.pop("trace_id") and slow_body.pop("trace_id")
        assert fast_body == slow_body
    for name in _SAME_HEADERS:
        assert fast.headers.get(name) == slow.headers.get(name), name
    assert fast.headers["x-request-id"] and slow.headers["x-request-id"]


def test_clean_requests_get_the_route_s_answer(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhengwu.kernel.codes.license_id import make_license_id, parse_license_id

    known = parse_license_id(live.valid["identifier"])
    unknown = {**live.valid, "identifier": make_license_id(known.type_code, known.issuer, "99999999")}
    bodies = [
        live.valid,
        {**live.valid, "purpose": "银行开户"},
        live.person,
        {**live.person, "holder_code": live.person["holder_code"].lower()},  # the X of an ID number
        live.revoked,
        {**live.valid, "holder_code": "91130100MA0000000X"},  # another holder's code
        {**live.valid, "holder_code": PERSON},  # a code of another kind
        unknown,
    ]
    before = live.verifier.answered
    for body in bodies:
        fast, slow = _both_ways(live, monkeypatch, json=body)
        _assert_same(fast, slow)
        # With credentials the answer must not stay in a cache: the security headers still apply.
        fast, slow = _both_ways(live, monkeypatch, json=body, headers={"Authorization": "Bearer x"})
        _assert_same(fast, slow)
        assert fast.headers["cache-control"] == "no-store"
    answers = [live.client.post(f"{API}/verify", json=b).json() for b in bodies]
    assert [a["valid"] for a in answers] == [True, True, True, True, False, False, False, False]
    assert answers[4]["status"] == "revoked" and answers[4]["type_name"] == "营业执照"
    assert answers[5]["status"] is None and answers[5]["type_code"] is None  # nothing to learn by probing
    if live.sqlite:
        assert live.verifier.answered - before == 3 * len(bodies)


def test_each_fast_answer_is_recorded_once_with_its_own_trace(live: Live) -> None:
    _sqlite_only(live)
    valid_before, no_match_before = live.counted("valid"), live.counted("no_match")
    answered = live.verifier.answered
    traces = [f"fast-trace-{n}-{time.monotonic_ns()}" for n in range(40)]
    errors: list[str] = []

    def ask(trace: str, n: int) -> None:
        body = {**live.valid, "purpose": f"核验{n}"} if n % 4 else {**live.valid, "holder_code": PERSON}
        answer = live.client.post(f"{API}/verify", json=body, headers={"X-Request-ID": trace})
        if answer.status_code != 200 or answer.headers["x-request-id"] != trace:
            errors.append(answer.text)

    # Threads sharing the test client's event loop: their requests meet in batches.
    threads = [threading.Thread(target=ask, args=(t, n)) for n, t in enumerate(traces)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert live.verifier.answered - answered == len(traces)
    assert live.fast("answered") >= len(traces)
    for n, trace in enumerate(traces):
        (use,) = live.uses(trace_id=trace)
        assert use.result == ("valid" if n % 4 else "no_match")
        assert use.caller == "public" and use.client_ip == "testclient"
        assert use.purpose == (f"核验{n}" if n % 4 else None)
        assert (use.license_id is not None) == bool(n % 4)
    assert live.counted("valid") - valid_before == 30
    assert live.counted("no_match") - no_match_before == 10


def test_a_refused_token_is_the_route_s_429_and_records_nothing(live: Live) -> None:
    _sqlite_only(live)
    settings = node_of(live.app).settings
    settings.security.public_rate_per_minute = 6  # a burst of one
    address_bucket = live.client.post(f"{API}/verify", json=live.valid)  # spends what is left
    assert address_bucket.status_code in (200, 429)
    declined = live.verifier.declined
    trace = f"refused-{time.monotonic_ns()}"
    refused = live.client.post(f"{API}/verify", json=live.valid, headers={"X-Request-ID": trace})
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["code"] == "rate_limited" and body["trace_id"] == trace
    assert int(refused.headers["retry-after"]) >= 1
    assert live.verifier.declined == declined + 1  # the fast path handed it to the route
    assert live.uses(trace_id=trace) == []


@pytest.mark.parametrize(
    "request_",
    [
        {"json": {"identifier": "1.2.156.3005.2.X", "holder_code": COMPANY}},  # bad identifier: 422
        {"json": {"identifier": "x"}},  # half of a pair: 400
        {"json": {"qr": "not a license code at all"}},  # the QR form: the route's own path
        {"json": {"identifier": "x", "holder_code": COMPANY, "extra": 1}},  # extra field: 422
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b'{"identifier": 1}', "headers": {"Content-Type": "text/plain"}},  # 415
        {"content": "x" * 5000, "headers": {"Content-Type": "application/json"}},  # larger than fast bodies
        {"content": b"", "headers": {"Content-Type": "application/json"}},
    ],
)
def test_other_requests_are_answered_by_the_route(
    live: Live, monkeypatch: pytest.MonkeyPatch, request_: dict[str, Any]
) -> None:
    answered, declined = live.verifier.answered, live.verifier.declined
    fast, slow = _both_ways(live, monkeypatch, **request_)
    _assert_same(fast, slow)
    assert fast.status_code >= 400 or fast.json()["valid"] is False
    assert (live.verifier.answered, live.verifier.declined) == (answered, declined)


def _hold_write_lock(live_url: str, seconds: float) -> threading.Event:
    """Another connection takes the write lock now and lets it go after ``seconds``."""
    holder = sqlite3.connect(
        live_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        time.sleep(seconds)
        holder.execute("ROLLBACK")
        holder.close()
        released.set()

    threading.Thread(target=release).start()
    return released


def test_a_busy_database_is_waited_for_without_the_route(live: Live, live_url: str) -> None:
    _sqlite_only(live)
    live.client.post(f"{API}/verify", json=live.valid)  # the fast path's connection is open
    answered, declined = live.verifier.answered, live.verifier.declined
    trace = f"busy-{time.monotonic_ns()}"
    released = _hold_write_lock(live_url, 0.3)
    answer = live.client.post(f"{API}/verify", json=live.valid, headers={"X-Request-ID": trace})
    assert released.is_set()  # answered only once the lock was free, and committed
    assert answer.status_code == 200 and answer.json()["valid"] is True
    assert (live.verifier.answered, live.verifier.declined) == (answered + 1, declined)
    assert [u.result for u in live.uses(trace_id=trace)] == ["valid"]


def test_a_database_busy_for_long_sends_the_batch_to_the_route(
    live: Live, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(live)
    live.client.post(f"{API}/verify", json=live.valid)
    monkeypatch.setattr(live.verifier, "max_busy_wait", 0.05)
    declined = live.verifier.declined
    retries, declined_metric = live.fast("busy_retry"), live.fast("declined")
    trace = f"busy-long-{time.monotonic_ns()}"
    released = _hold_write_lock(live_url, 0.5)
    answer = live.client.post(f"{API}/verify", json=live.valid, headers={"X-Request-ID": trace})
    assert released.is_set()  # the route's transaction waited for the lock
    assert answer.status_code == 200 and answer.json()["valid"] is True
    assert live.verifier.declined == declined + 1
    assert [u.result for u in live.uses(trace_id=trace)] == ["valid"]
    # Operators see it: the batch retried while busy, then went to the route.
    assert live.fast("busy_retry") > retries and live.fast("declined") == declined_metric + 1


def test_a_failed_batch_is_rolled_back_and_answered_by_the_route(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sqlite_only(live)
    from zhengwu.kernel.ratelimit import RateBucket

    def buckets() -> list[tuple[str, float]]:
        with node_of(live.app).session_factory() as db:
            return [
                (b.key, b.at)
                for b in db.scalars(select(RateBucket).where(RateBucket.name == "licenses.verify"))
            ]

    live.client.post(f"{API}/verify", json=live.valid)  # the connection and its statements are ready
    assert live.verifier._statements is not None
    take, read, record = live.verifier._statements
    broken = copy.copy(record)
    broken.sql = "INSERT INTO no_such_table VALUES (?)"  # the batch fails after its reads and takes
    monkeypatch.setattr(live.verifier, "_statements", (take, read, broken))
    before = buckets()
    trace = f"failed-{time.monotonic_ns()}"
    declined = live.verifier.declined
    answer = live.client.post(f"{API}/verify", json=live.valid, headers={"X-Request-ID": trace})
    assert answer.status_code == 200 and answer.json()["valid"] is True  # the route answered
    assert live.verifier.declined == declined + 1
    assert [u.result for u in live.uses(trace_id=trace)] == ["valid"]  # once: the route's record
    assert len(buckets()) == len(before)
    assert not live.verifier._kept.kept  # the failed connection was discarded
    monkeypatch.undo()
    again = live.client.post(f"{API}/verify", json=live.valid)
    assert again.status_code == 200 and live.verifier._kept.kept


def test_the_request_metrics_name_the_route(live: Live) -> None:
    labels = {"method": "POST", "route": fastverify.PATH, "status": "200"}
    registry = node_of(live.app).metrics
    before = registry.get_sample_value("zhengwu_http_requests_total", labels) or 0.0
    live.client.post(f"{API}/verify", json=live.valid)
    assert registry.get_sample_value("zhengwu_http_requests_total", labels) == before + 1
