"""Input limits at the edge: body sizes per route (413), media types (415), bounded numbers and clean text (422).

Every refusal is the one envelope; no malformed or oversized input reaches the database or answers 500.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from zhengwu.kernel.limits import DEFAULT_BODY_LIMIT, LIMIT_KEY, SETTING_KEY, MiB

CHUNK = 64 * 1024


def _asgi_post(app: Any, path: str, chunks: int, *, declare: bool) -> tuple[int, dict[str, Any], int]:
    """POST ``chunks`` × 64 KiB to ``path`` straight through ASGI; (status, body, chunks the app consumed)."""
    consumed = 0

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        if consumed < chunks:
            consumed += 1
            return {"type": "http.request", "body": b"x" * CHUNK, "more_body": consumed < chunks}
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if declare:
        headers.append((b"content-length", str(chunks * CHUNK).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), consumed


def test_a_50_mb_login_is_refused_before_its_body_is_read(app: Any) -> None:
    chunks = 50 * MiB // CHUNK
    status, body, consumed = _asgi_post(app, "/api/v1/identity/login", chunks, declare=True)
    assert status == 413 and body["code"] == "payload_too_large" and body["trace_id"]
    assert "1 MB" in body["detail"]
    assert consumed == 0, "a declared Content-Length over the limit is refused before reading"


def test_a_chunked_body_is_counted_and_cut_at_the_limit(app: Any) -> None:
    chunks = 50 * MiB // CHUNK
    status, body, consumed = _asgi_post(app, "/api/v1/identity/login", chunks, declare=False)
    assert status == 413 and body["status"] == 413
    assert consumed == DEFAULT_BODY_LIMIT // CHUNK + 1, "reading stops at the first chunk past the limit"


def test_upload_routes_declare_larger_limits(app: Any, client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert paths["/api/v1/catalog/imports"]["post"][LIMIT_KEY] == 512 * MiB
    assert paths["/api/v1/seals/verify"]["post"][LIMIT_KEY] > 32 * MiB
    assert paths["/api/v1/seals"]["post"][LIMIT_KEY] == 2 * MiB  # the seal picture, Base64 in JSON
    assert paths["/exchange/v1/batches"]["post"][SETTING_KEY] == "ZHENGWU_EXCHANGE__MAX_BATCH_BYTES"
    # 2 MB of something that is not an OFD gets past the edge and is judged by the route.
    status, body, _ = _asgi_post(app, "/api/v1/seals/verify", 2 * MiB // CHUNK, declare=True)
    assert status != 413 and status < 500, body


class _Echo(BaseModel):
    n: int


def test_json_routes_refuse_other_media_types_with_415(app: Any, client: TestClient) -> None:
    @app.post("/api/v1/_test/json")
    def echo(p: _Echo) -> dict[str, int]:
        return {"n": p.n}

    form = client.post("/api/v1/_test/json", data={"n": "1"})
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    text = client.post("/api/v1/_test/json", content=b'{"n": 1}', headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert client.post("/api/v1/_test/json", json={"n": 1}).json() == {"n": 1}
    # A JSON body that is wrong stays a 422, and no body at all is a missing field, not a media type.
    assert client.post("/api/v1/_test/json", json={"n": "x"}).status_code == 422
    assert client.post("/api/v1/_test/json").status_code == 422


def _unbounded_integers(schema: Any, where: str, found: list[str]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "integer" and "maximum" not in schema:
            found.append(where)
        for key, value in schema.items():
            _unbounded_integers(value, f"{where}/{key}", found)
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            _unbounded_integers(value, f"{where}[{i}]", found)


def test_every_integer_parameter_is_bounded(client: TestClient) -> None:
    """A path or query number past the database's integers would answer 500 instead of 422."""
    found: list[str] = []
    for path, operations in client.get("/api/openapi.json").json()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                _unbounded_integers(
                    parameter["schema"], f"{method.upper()} {path} {parameter['name']}", found
                )
    assert found == []


def test_search_text_with_undecodable_or_control_bytes_is_refused(client: TestClient) -> None:
    for raw in ("%FF%FE", "%E6%8A", "%00", "%E6%8A%A4%1B%E7%85%A7"):
        refused = client.get(f"/api/v1/catalog/search?q={raw}")
        assert refused.status_code == 422, raw
        error = refused.json()["errors"][0]
        assert error["loc"] == ["query", "q"] and "无法识别" in error["msg"]
    assert client.get("/api/v1/catalog/search?q=%E6%8A%A4%E7%85%A7").status_code == 200  # 护照


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_FUZZ = settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(
    q=_TEXT,
    division=_TEXT,
    level=st.integers() | _TEXT,
    offset=st.integers(),
    limit=st.integers(),
)
def test_fuzzed_search_never_answers_5xx(
    client: TestClient, q: str, division: str, level: Any, offset: int, limit: int
) -> None:
    params = {"q": q, "division": division, "level": str(level), "offset": str(offset), "limit": str(limit)}
    assert client.get("/api/v1/catalog/search", params=params).status_code < 500


@_FUZZ
@given(code=_TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")))
def test_fuzzed_item_codes_never_answer_5xx(client: TestClient, code: str) -> None:
    assert client.get(f"/api/v1/catalog/items/{quote(code, safe='')}").status_code < 500


@_FUZZ
@given(body=_JSON)
def test_fuzzed_login_and_join_bodies_never_answer_5xx(client: TestClient, body: Any) -> None:
    for path in ("/api/v1/identity/login", "/exchange/v1/join", "/api/v1/identity/register/natural"):
        answer = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
        assert answer.status_code < 500, (path, answer.text)
