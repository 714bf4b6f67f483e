"""The client-credentials fast lane and the direct issuance writers (issue 3, token throughput).

The fast lane must give exactly the Authlib grant's answer and leave every other request to it; the
writers must store what the ORM stores, commit before the token leaves, survive a busy or failing
database, and chain every row into the audit trail even when traffic stops. The "live" tests run a node
on its own migrated database (SQLite file, or PostgreSQL in the CI pass) with real commits, as served.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import make_client, oidc_fixture  # noqa: F401 - fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from dbkit import live_app, migrated_database, served
from zhengwu.identity.models import AuthEvent
from zhengwu.identity.oidc import fastlane
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.issuance import IssuanceRecorder, PostgresInsert, SqliteInsert
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.node import node_of

pytestmark = pytest.mark.db


def _basic(client_id: str, secret: str, *, encode: bool = False) -> bytes:
    if encode:
        client_id, secret = quote(client_id, safe=""), quote(secret, safe="")
    return b"Basic " + base64.b64encode(f"{client_id}:{secret}".encode())


# --- the fast lane as a function: only clean requests, everything else declined ---------------------


@pytest.fixture
def machine(session: Session, oidc: OidcRuntime) -> tuple[OidcRuntime, str, str]:
    """A machine client in the registry cache and the signing key loaded, as on a warm node."""
    made = make_client(
        session,
        oidc,
        name="省人社厅业务系统",
        # It signs people in too: its person scopes must never reach a client-credentials token.
        grant_types=["authorization_code", "client_credentials"],
        scope="openid profile exchange catalog.read",
    )
    assert oidc.clients.get(session, made.client_id) is not None
    oidc.key_material()
    assert made.secret is not None
    return oidc, made.client_id, made.secret


def test_a_clean_request_is_answered_with_the_grant_s_body(machine: tuple[OidcRuntime, str, str]) -> None:
    runtime, client_id, secret = machine
    fast = fastlane.prepare(
        runtime, _basic(client_id, secret), b"grant_type=client_credentials&scope=exchange"
    )
    assert fast is not None
    import orjson

    body = orjson.loads(fast.body)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["scope"] == "exchange" and body["expires_in"] == 600
    claims = runtime.verify_own(body["access_token"], typ="at+jwt")
    assert claims["sub"] == claims["client_id"] == client_id and claims["jti"] == fast.record["jti"]
    assert fast.record["grant_type"] == "client_credentials" and fast.record["account_id"] is None
    # The Basic credentials are form-encoded first (RFC 6749 §2.3.1), and "+" in the form is a space.
    encoded = fastlane.prepare(
        runtime,
        _basic(client_id, secret, encode=True),
        b"scope=catalog.read+exchange&grant_type=client_credentials",
    )
    assert encoded is not None and orjson.loads(encoded.body)["scope"] == "catalog.read exchange"
    # Without scope: the client's API scopes, never its person scopes (openid, profile).
    default = fastlane.prepare(runtime, _basic(client_id, secret), b"grant_type=client_credentials")
    assert default is not None and orjson.loads(default.body)["scope"] == "catalog.read exchange"


DECLINED = {
    "wrong secret": lambda c, s: (_basic(c, s + "x"), b"grant_type=client_credentials"),
    "unknown client": lambda c, s: (_basic("zw-nobody", s), b"grant_type=client_credentials"),
    "empty secret": lambda c, s: (_basic(c, ""), b"grant_type=client_credentials"),
    "no colon": lambda c, s: (b"Basic " + base64.b64encode(c.encode()), b"grant_type=client_credentials"),
    "bad base64": lambda c, s: (b"Basic %%%", b"grant_type=client_credentials"),
    "bearer": lambda c, s: (b"Bearer " + s.encode(), b"grant_type=client_credentials"),
    "no authorization": lambda c, s: (None, b"grant_type=client_credentials"),
    "other grant": lambda c, s: (_basic(c, s), b"grant_type=password"),
    "no grant": lambda c, s: (_basic(c, s), b"scope=exchange"),
    "repeated grant": lambda c, s: (
        _basic(c, s),
        b"grant_type=client_credentials&grant_type=client_credentials",
    ),
    "repeated scope": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&scope=a&scope=b"),
    "scope not allowed": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&scope=exchange+admin"),
    "person scope": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&scope=openid"),
    "client_id in form too": lambda c, s: (
        _basic(c, s),
        f"grant_type=client_credentials&client_id={c}".encode(),
    ),
    "resource indicator": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&resource=urn%3Ax"),
    "bare name": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&scope"),
    "not ascii": lambda c, s: (_basic(c, s), "grant_type=client_credentials&scope=交换".encode()),
    "empty body": lambda c, s: (_basic(c, s), b""),
    "huge body": lambda c, s: (_basic(c, s), b"grant_type=client_credentials&scope=" + b"a" * 4096),
}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_anything_else_is_left_to_the_authlib_grant(machine: tuple[OidcRuntime, str, str], case: str) -> None:
    runtime, client_id, secret = machine
    authorization, body = DECLINED[case](client_id, secret)
    assert fastlane.prepare(runtime, authorization, body) is None


def test_cold_caches_and_other_clients_are_left_to_the_grant(
    machine: tuple[OidcRuntime, str, str], session: Session
) -> None:
    runtime, client_id, secret = machine
    request = (_basic(client_id, secret), b"grant_type=client_credentials")
    assert fastlane.prepare(runtime, *request) is not None
    runtime.keyring.invalidate()  # a key due for reload needs the database: not in the event loop
    assert fastlane.prepare(runtime, *request) is None
    runtime.key_material()
    runtime.clients.invalidate(client_id)
    assert fastlane.prepare(runtime, *request) is None
    post = make_client(
        session, runtime, grant_types=["client_credentials"], token_endpoint_auth_method="client_secret_post"
    )
    login = make_client(session, runtime)  # authorization_code only
    for made in (post, login):
        assert made.secret is not None and runtime.clients.get(session, made.client_id) is not None
        assert fastlane.prepare(runtime, _basic(made.client_id, made.secret), request[1]) is None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    authorization=st.one_of(
        st.none(), st.binary(max_size=80), st.text(max_size=60).map(lambda t: _basic(t, "x"))
    ),
    body=st.one_of(
        st.binary(max_size=120),
        st.lists(
            st.tuples(
                st.sampled_from(["grant_type", "scope", "client_id", "x", ""]),
                st.sampled_from(["client_credentials", "exchange", "a+b", "%E4%BA%A4", "%zz", ""]),
            ),
            max_size=4,
        ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode()),
    ),
)
def test_arbitrary_input_never_raises_and_never_issues(
    machine: tuple[OidcRuntime, str, str], authorization: bytes | None, body: bytes
) -> None:
    runtime, _, _ = machine
    assert fastlane.prepare(runtime, authorization, body) is None  # no valid secret in any of these


# --- a node on its own database, committing for real ----------------------------------------------


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this module's own (rows are committed, not rolled back)."""
    yield from migrated_database(tmp_path_factory, role="issuance")


@dataclass
class Live:
    app: Any
    client: Any
    runtime: OidcRuntime
    client_id: str
    secret: str
    sqlite: bool

    def token(self, **form: str) -> Any:
        return self.client.post(
            "/oidc/token",
            data={"grant_type": "client_credentials", **form},
            auth=(self.client_id, self.secret),
        )

    def session(self) -> Session:
        return node_of(self.app).session_factory()  # type: ignore[no-any-return]


@pytest.fixture
def live(live_url: str, tmp_path: Path) -> Iterator[Live]:
    """A served node (lifespan included) with a machine client, issuing through the group commit."""
    app = live_app(live_url, tmp_path / "data")
    runtime: OidcRuntime = node_of(app).services.provide(OIDC)
    runtime.dispatcher.autostart = False
    with node_of(app).session_factory() as db:
        row, secret = oidc_service.create_client(
            db,
            runtime.node_keys,
            # Person scopes too: a client-credentials token must leave them out on both paths.
            ClientCreate(
                name="省公安厅人口库",
                grant_types=["authorization_code", "client_credentials"],
                redirect_uris=["http://127.0.0.1:9/cb"],
                scope="openid profile phone exchange verify",
            ),
            actor=None,
            allow_http=True,
        )
        db.commit()
        client_id = row.client_id
    assert secret is not None
    try:
        with served(app) as client:
            yield Live(app, client, runtime, client_id, secret, live_url.startswith("sqlite"))
    finally:
        runtime.close()


def _claims(live: Live, access: str) -> dict[str, Any]:
    jwks = KeySet.import_key_set(live.client.get("/oidc/jwks").json())
    token = jwt.decode(access, jwks, algorithms=["ES256"])
    return {"header": dict(token.header), **token.claims}


def test_fast_lane_and_grant_answer_alike_and_record_alike(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[bool] = []
    real = fastlane.prepare

    def spy(*args: Any) -> Any:
        result = real(*args)
        answered.append(result is not None)
        return result

    monkeypatch.setattr(fastlane, "prepare", spy)
    live.token()  # warms the client cache and the key (a cold first request takes the grant)
    for form in ({}, {"scope": "verify"}, {"scope": "verify  exchange"}):
        answered.clear()
        fast = live.token(**form)
        assert answered == [True], form
        monkeypatch.setattr(fastlane, "prepare", lambda *args: None)
        slow = live.token(**form)
        monkeypatch.setattr(fastlane, "prepare", spy)
        assert fast.status_code == slow.status_code == 200
        assert dict(fast.headers) | {"content-length": "", "x-request-id": ""} == dict(slow.headers) | {
            "content-length": "",
            "x-request-id": "",
        }
        a, b = fast.json(), slow.json()
        assert a.keys() == b.keys() and {k: a[k] for k in a if k != "access_token"} == {
            k: b[k] for k in b if k != "access_token"
        }
        ca, cb = _claims(live, a["access_token"]), _claims(live, b["access_token"])
        varying = {"jti", "iat", "exp"}
        assert {k: v for k, v in ca.items() if k not in varying} == {
            k: v for k, v in cb.items() if k not in varying
        }
        with live.session() as db:
            rows = {
                r.jti: r
                for r in db.scalars(select(OidcIssuance).where(OidcIssuance.jti.in_([ca["jti"], cb["jti"]])))
            }
        fields = ("client_id", "grant_type", "account_id", "scope", "audience")
        assert [getattr(rows[ca["jti"]], f) for f in fields] == [getattr(rows[cb["jti"]], f) for f in fields]
        assert rows[ca["jti"]].expires_at - rows[ca["jti"]].issued_at == timedelta(seconds=600)
        assert rows[ca["jti"]].issued_at.tzinfo is not None


def test_errors_still_come_from_the_grant(live: Live) -> None:
    live.token()
    wrong = live.client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, auth=(live.client_id, live.secret + "x")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert live.token(scope="exchange admin").json()["error"] == "invalid_scope"
    assert live.token(scope="openid").json()["error"] == "invalid_scope"
    assert live.token().json()["scope"] == "exchange verify"


def test_the_node_writes_directly_through_a_connection_of_its_own(live: Live) -> None:
    live.token()
    live.token()
    direct = live.runtime.issuance._direct
    assert isinstance(direct, SqliteInsert if live.sqlite else PostgresInsert)


def _record(i: int, client_id: str = "zw-direct") -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=123456)
    return {
        "jti": f"direct-{i}-{time.monotonic_ns()}",
        "client_id": client_id,
        "grant_type": "client_credentials",
        "account_id": None,
        "scope": "exchange verify",
        "audience": "urn:zhengwu:test",
        "issued_at": now,
        "expires_at": now + timedelta(minutes=10),
    }


def test_direct_rows_read_back_as_the_orm_wrote_them(live: Live) -> None:
    recorder = IssuanceRecorder(lambda: node_of(live.app).session_factory, checkpoint_seconds=3600)
    records = [_record(i, "zw-readback") for i in range(30)]

    async def burst() -> None:
        await asyncio.gather(*(recorder.record([r]) for r in records))

    asyncio.run(burst())
    assert recorder._direct is not None
    recorder.close()  # chains the rows written since the last checkpoint
    with live.session() as db:
        rows = {
            r.jti: r for r in db.scalars(select(OidcIssuance).where(OidcIssuance.client_id == "zw-readback"))
        }
        events = db.scalars(
            select(AuthEvent).where(
                AuthEvent.event_type == "token_issued", AuthEvent.client_id == "zw-readback"
            )
        ).all()
    assert len(rows) == 30 and sum(e.detail["count"] for e in events) == 30
    for record in records:
        row = rows[record["jti"]]
        assert {k: getattr(row, k) for k in record} == record
        assert len(row.id) == 32


def test_rows_are_chained_within_a_checkpoint_even_when_traffic_stops(live: Live) -> None:
    recorder = IssuanceRecorder(lambda: node_of(live.app).session_factory, checkpoint_seconds=0.05)
    recorder._last_chain = time.monotonic()

    async def one_then_quiet() -> None:
        await recorder.record([_record(0, "zw-quiet")])
        await asyncio.sleep(0.5)

    asyncio.run(one_then_quiet())
    with live.session() as db:
        events = db.scalars(
            select(AuthEvent).where(AuthEvent.event_type == "token_issued", AuthEvent.client_id == "zw-quiet")
        ).all()
    recorder.close()
    assert [e.detail["count"] for e in events] == [1]


def test_a_busy_sqlite_hands_the_batch_to_the_writer_thread(live: Live) -> None:
    if not live.sqlite:
        pytest.skip("SQLite's write lock; PostgreSQL writes are awaited in the loop")
    path = node_of(live.app).engine.url.database
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    recorder = IssuanceRecorder(lambda: node_of(live.app).session_factory, checkpoint_seconds=3600)
    started = time.monotonic()
    asyncio.run(recorder.record([_record(0, "zw-busy")]))
    waited = time.monotonic() - started
    recorder.close()
    holder.close()
    with live.session() as db:
        assert db.scalar(select(OidcIssuance.jti).where(OidcIssuance.client_id == "zw-busy")) is not None
    assert waited >= 0.25  # the token waited for its row: no answer before the commit


def test_a_failed_write_answers_500_without_a_token_and_the_next_batch_reconnects(live: Live) -> None:
    live.token()
    live.token()
    direct = live.runtime.issuance._direct
    assert direct is not None
    good = direct._sql
    direct._sql = good.replace("identity_oidc_issuance", "identity_oidc_issuance_missing", 1)
    failed = live.token()
    assert failed.status_code == 500 and failed.json()["error"] == "server_error"
    assert "access_token" not in failed.text
    direct._sql = good
    again = live.token()
    assert again.status_code == 200, again.text


def test_the_grant_runs_again_when_sqlite_refuses_a_stale_write(
    client: Any, session: Session, oidc: OidcRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from zhengwu.identity.oidc import routes

    made = make_client(session, oidc, grant_types=["client_credentials"], scope="exchange")
    real = routes.write_issuance
    calls: list[int] = []

    def flaky(db: Session, records: list[dict[str, Any]], **kw: Any) -> None:
        calls.append(len(records))
        if len(calls) == 1:  # another writer committed after this transaction read (SQLITE_BUSY_SNAPSHOT)
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        real(db, records, **kw)

    monkeypatch.setattr(routes, "write_issuance", flaky)
    response = client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, auth=(made.client_id, made.secret)
    )
    assert response.status_code == 200, response.text
    assert calls == [1, 1]  # the rolled-back attempt left nothing; the second wrote one row
    jti = oidc.verify_own(response.json()["access_token"], typ="at+jwt")["jti"]
    assert session.scalar(select(OidcIssuance.jti).where(OidcIssuance.client_id == made.client_id)) == jti

    def broken(db: Session, records: list[dict[str, Any]], **kw: Any) -> None:
        raise OperationalError("INSERT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(routes, "write_issuance", broken)
    failed = client.post(
        "/oidc/token", data={"grant_type": "client_credentials"}, auth=(made.client_id, made.secret)
    )
    assert failed.status_code == 500 and "access_token" not in failed.text


def test_issuance_ids_and_jtis_are_unique_and_cluster_by_time() -> None:
    # Rows of one batch share the leading time digits, so they land on one B-tree page per index
    # (random ids touched one page per row: a quarter of a token's CPU time on SQLite).
    from zhengwu.identity.oidc.secrets import ordered_id, ordered_token

    def b64url_decode(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    before = time.time_ns() // 1_000_000
    ids = [ordered_id() for _ in range(2000)]
    jtis = [ordered_token() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids) and len(set(jtis)) == len(jtis)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert all(before <= int(i[:12], 16) <= after for i in ids)
    assert ids == sorted(ids, key=lambda i: i[:12])  # creation order is time order
    stamps = [int.from_bytes(b64url_decode(j)[:6], "big") for j in jtis]
    assert all(len(b64url_decode(j)) == 16 for j in jtis) and stamps == sorted(stamps)
    assert all(before <= s <= after for s in stamps)
