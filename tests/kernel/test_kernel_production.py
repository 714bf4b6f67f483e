"""Production hardening at the edge: Secure cookies, no-store on authenticated answers, referrer policy,
and server log lines (uvicorn's too) as JSON without exception texts that quote SQL parameters."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Demo-Passw0rd"
SECRETS = {
    "security": {"secret_key": "a-real-secret-of-enough-length-0001", "secure_cookies": False},
    "identity": {"federation_key": "a-real-federation-key-0000000001"},
}


@pytest.fixture
def production_client(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> Iterator[TestClient]:
    from zhengwu.main import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        production=True,
        public_url="https://zwfw.hebei.gov.cn",
        log_level="DEBUG",
        **SECRETS,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    node_of(app).session_factory = session_factory
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client
    node_of(app).engine.dispose()


def _register_and_login(client: TestClient, n: int) -> Any:
    body = {"name": "演示用户一", "id_number": nth_citizen_id(n), "phone": nth_phone(n), "password": PASSWORD}
    assert client.post("/api/v1/identity/register/natural", json=body).status_code < 300
    return client.post("/api/v1/identity/login", json={"identifier": nth_phone(n), "password": PASSWORD})


def test_a_production_node_sets_secure_host_cookies_even_if_told_otherwise(
    production_client: TestClient,
) -> None:
    login = _register_and_login(production_client, 31)
    assert login.status_code == 200, login.text
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("__Host-zw_session=") and "Secure" in cookie and "HttpOnly" in cookie


def test_authenticated_answers_are_not_stored_and_public_ones_may_be(client: TestClient) -> None:
    _register_and_login(client, 32)
    me = client.get("/api/v1/identity/me")
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    assert client.get("/identity/account").headers["cache-control"] == "no-store"
    client.cookies.clear()
    public = client.get("/api/v1/catalog/search", params={"q": "护照"})
    assert "no-store" not in public.headers.get("cache-control", "")
    assert client.get("/api/docs/swagger-ui.css").headers["cache-control"].startswith("public")


def test_referrer_policy_is_strict_and_empty_on_identity_pages(client: TestClient) -> None:
    assert client.get("/identity/login").headers["referrer-policy"] == "no-referrer"
    assert client.get("/oidc/jwks").headers["referrer-policy"] == "no-referrer"
    assert client.get("/_status").headers["referrer-policy"] == "strict-origin-when-cross-origin"


def _zhengwu_formatter() -> logging.Formatter:
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_zhengwu", False))
    assert handler.formatter is not None
    return handler.formatter


def test_server_tracebacks_are_json_without_sql_parameters(app: Any) -> None:
    secret = f"{nth_citizen_id(33)} secret-value"
    engine = create_engine("sqlite://", hide_parameters=False)  # as a driver error would read without ours
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM nowhere WHERE x = :x"), {"x": secret})
    except Exception:
        record = logging.getLogger("uvicorn.error").makeRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (), sys.exc_info()
        )
    line = json.loads(_zhengwu_formatter().format(record))
    assert line["event"] == "Exception in ASGI application" and line["level"] == "error"
    assert (
        "sqlalchemy.exc.OperationalError" in line["exception"]
        and "test_kernel_production.py" in line["exception"]
    )
    assert "secret-value" not in json.dumps(line) and "nowhere" not in line["exception"]


def test_statement_errors_of_our_engines_hide_their_parameters(engine: Any) -> None:
    with pytest.raises(Exception) as raised, engine.connect() as connection:
        connection.execute(text("SELECT * FROM nowhere WHERE x = :x"), {"x": "secret-value"})
    assert "secret-value" not in str(raised.value)


def test_serve_hands_uvicorn_logging_to_the_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from zhengwu import cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(tmp_path))
    cli.serve(host="127.0.0.1", port=8999, workers=1)
    assert seen["log_config"] is None and seen["access_log"] is True
