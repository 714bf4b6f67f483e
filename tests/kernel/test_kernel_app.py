"""The HTTP edge: one error envelope everywhere, commit-before-response, correlation ids, status, metrics."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.errors import NotFound
from zhengwu.kernel.events import OutboxRecord, emit
from zhengwu.kernel.idempotency import Idempotency, IdempotencyRecord
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession


def _envelope_ok(body: dict[str, Any], status: int) -> None:
    assert set(body) >= {"error", "code", "detail", "status", "trace_id"}
    assert body["status"] == status
    assert body["trace_id"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), "human message must be Chinese"


class Payload(BaseModel):
    n: int


class Body(BaseModel):
    value: int


def test_framework_404_405_422_use_the_envelope(app: Any, client: TestClient) -> None:
    @app.post("/api/v1/_test/echo")
    def echo(p: Payload) -> dict[str, int]:
        return {"n": p.n}

    r = client.get("/no/such/page")
    assert r.status_code == 404
    _envelope_ok(r.json(), 404)
    r = client.delete("/_status")
    assert r.status_code == 405
    _envelope_ok(r.json(), 405)
    r = client.post("/api/v1/_test/echo", json={"n": "not a number"})
    assert r.status_code == 422
    body = r.json()
    _envelope_ok(body, 422)
    assert body["errors"][0]["loc"] == ["body", "n"]
    assert "not a number" not in r.text, "the input is not echoed back"
    r = client.post("/api/v1/_test/echo", content=b"{broken", headers={"content-type": "application/json"})
    assert r.status_code == 422
    _envelope_ok(r.json(), 422)


def test_domain_error_and_unhandled_error(app: Any, client: TestClient) -> None:
    @app.get("/api/v1/_test/missing")
    def missing() -> None:
        raise NotFound("事项不存在", detail_en="no such item", code="catalog.item_not_found")

    @app.get("/api/v1/_test/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    r = client.get("/api/v1/_test/missing")
    assert r.status_code == 404
    assert r.json()["code"] == "catalog.item_not_found"
    assert r.json()["detail"] == "事项不存在"
    r = client.get("/api/v1/_test/boom")
    assert r.status_code == 500
    _envelope_ok(r.json(), 500)
    assert "secret internals" not in r.text


def test_failing_commit_answers_500_and_writes_nothing(
    app: Any, client: TestClient, session_factory: sessionmaker[Session], session: Session
) -> None:
    @app.post("/api/v1/_test/write")
    def write(db: DbSession) -> dict[str, str]:
        emit(db, "test.commit", {"x": 1})
        return {"status": "written"}

    def failing_factory() -> Session:
        s = session_factory()

        @event.listens_for(s, "before_commit")
        def _fail(_s: Session) -> None:
            raise RuntimeError("disk full")

        return s

    node_of(app).session_factory = failing_factory
    r = client.post("/api/v1/_test/write")
    assert r.status_code == 500, "a failed commit must never answer 200"
    _envelope_ok(r.json(), 500)
    count = session.scalar(
        select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == "test.commit")
    )
    assert count == 0


def test_correlation_id_accepted_echoed_and_in_errors(client: TestClient) -> None:
    r = client.get("/nowhere", headers={"X-Request-ID": "req-12345678"})
    assert r.headers["x-request-id"] == "req-12345678"
    assert r.json()["trace_id"] == "req-12345678"
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = client.get("/nowhere", headers={"traceparent": tp})
    assert r.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    r = client.get("/nowhere", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


def test_a_trace_id_made_for_a_request_is_a_new_random_uuid(client: TestClient) -> None:
    made = [client.get("/nowhere").headers["x-request-id"] for _ in range(5)]
    assert len(set(made)) == 5
    for trace_id in made:
        value = uuid.UUID(hex=trace_id)
        assert value.hex == trace_id and value.version == 4 and value.variant == uuid.RFC_4122
    # The last of repeated headers counts, as before; traceparent wins over X-Request-ID.
    both = [(b"x-request-id", b"req-first-1"), (b"x-request-id", b"req-second-2")]
    assert client.get("/nowhere", headers=both).headers["x-request-id"] == "req-second-2"
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = client.get("/nowhere", headers={"traceparent": tp, "X-Request-ID": "req-12345678"})
    assert r.headers["x-request-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_request_metrics_count_every_request_by_route_and_status(client: TestClient) -> None:
    registry = node_of(client.app).metrics

    def counted(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return registry.get_sample_value("zhengwu_http_requests_total", labels) or 0.0

    def timed(route: str) -> float:
        labels = {"method": "GET", "route": route}
        return registry.get_sample_value("zhengwu_http_request_seconds_count", labels) or 0.0

    before = counted("/_status", "200"), counted("unmatched", "404"), timed("/_status")
    for _ in range(3):
        client.get("/_status")
    client.get("/nowhere")
    client.get("/nowhere")
    assert counted("/_status", "200") == before[0] + 3
    assert counted("unmatched", "404") == before[1] + 2
    assert timed("/_status") == before[2] + 3


def test_status_metrics_and_openapi(client: TestClient) -> None:
    r = client.get("/_status")
    assert r.status_code == 200
    body = r.json()
    for key in (
        "version",
        "git_commit",
        "migration_revision",
        "tier",
        "division_code",
        "node_id",
        "uptime_seconds",
    ):
        assert key in body
    assert body["tier"] == "province" and body["division_code"] == "130000"
    assert body["migration_revision"]
    assert body["dependencies"]["database"]["ok"] is True
    r = client.get("/metrics")
    assert r.status_code == 200
    assert "zhengwu_http_requests_total" in r.text
    assert "\nprocess_cpu_seconds_total " in r.text and "\nprocess_resident_memory_bytes " in r.text
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/openapi.json").json()["info"]["title"].startswith("zhengwu")


def test_idempotency_key_replays_without_second_write(app: Any, client: TestClient, session: Session) -> None:
    @app.post("/api/v1/_test/create", status_code=201)
    def create(body: Body, request: Request, db: DbSession) -> Any:
        idem = Idempotency(db, request, scope="tester", payload=body.model_dump_json())
        if (replayed := idem.replay()) is not None:
            return replayed
        emit(db, "test.idem", {"value": body.value})
        result = {"created": body.value}
        idem.remember(201, result)
        return result

    headers = {"Idempotency-Key": "key-0001"}
    first = client.post("/api/v1/_test/create", json={"value": 7}, headers=headers)
    second = client.post("/api/v1/_test/create", json={"value": 7}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    count = session.scalar(
        select(func.count()).select_from(OutboxRecord).where(OutboxRecord.topic == "test.idem")
    )
    assert count == 1
    clash = client.post("/api/v1/_test/create", json={"value": 8}, headers=headers)
    assert clash.status_code == 422
    assert clash.json()["code"] == "idempotency_key_reused"
    # The stored fingerprint is keyed with the node secret: it cannot be recomputed from a guess.
    stored = session.scalar(select(IdempotencyRecord.fingerprint).where(IdempotencyRecord.key == "key-0001"))
    assert stored is not None and stored != hashlib.new("sm3", b'{"value":7}').hexdigest()


def test_status_degrades_when_a_probe_fails(app: Any, client: TestClient) -> None:
    node_of(app).health_probes["upstream"] = lambda: {"ok": False, "reason": "unreachable"}

    def broken() -> dict[str, Any]:
        raise RuntimeError("probe crashed")

    node_of(app).health_probes["broken"] = broken
    body = client.get("/_status").json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["upstream"] == {"ok": False, "reason": "unreachable"}
    assert body["dependencies"]["broken"] == {"ok": False, "error": "RuntimeError"}


def test_unhandled_errors_are_logged_with_their_origin_but_not_their_message(
    app: Any, client: TestClient, caplog: Any
) -> None:
    @app.get("/api/v1/_test/boom-origin")
    def boom_origin() -> None:
        raise RuntimeError("身份证号 130102199001011234")

    with caplog.at_level("ERROR"):
        assert client.get("/api/v1/_test/boom-origin").status_code == 500
    logged = [r.getMessage() for r in caplog.records if "unhandled_error" in r.getMessage()]
    assert logged and "test_kernel_app:boom_origin" in logged[-1]
    assert "130102199001011234" not in "".join(logged)


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    page = client.get("/identity/login")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp and "object-src 'none'" in csp
    # The certificate login page's script may call the local UKey agent, nothing else off-site.
    assert "connect-src 'self' http://127.0.0.1:18088;" in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    api = client.get("/_status")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers and "x-frame-options" not in api.headers
    docs = client.get("/api/docs")  # Swagger UI is served by the node and started without inline script
    assert docs.headers["content-security-policy"] == csp and docs.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in page.headers  # http://: HSTS only for https nodes
