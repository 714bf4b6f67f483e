"""Client management by API (identity administrators only) and by CLI; signing keys at rest and rotation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oidc_helpers import Citizen, citizen_fixture, make_admin, oidc_fixture  # noqa: F401 - fixtures
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clikit import cli_node, invoke
from zhengwu.identity.oidc.keys import rotate_signing_key
from zhengwu.identity.oidc.models import OidcClient, OidcSigningKey
from zhengwu.identity.oidc.runtime import OidcRuntime

NEW_CLIENT = {
    "name": "省人社厅社保业务系统",
    "grant_types": ["authorization_code", "refresh_token"],
    "redirect_uris": ["https://rs.hebei.example/oidc/cb"],
    "scope": "openid profile phone",
    "backchannel_logout_uri": "https://rs.hebei.example/oidc/bcl",
    "min_acr_level": 3,
}


def test_only_identity_administrators_manage_clients(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    assert client.get("/api/v1/identity/clients").status_code == 401
    client.cookies.set("zw_session", citizen.token)
    denied = client.post("/api/v1/identity/clients", json=NEW_CLIENT)
    assert denied.status_code == 403 and denied.json()["code"] == "identity.oidc.admin_required"


def test_create_shows_the_secret_once_and_stores_only_its_digest(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    client.cookies.set("zw_session", make_admin(session))
    created = client.post(
        "/api/v1/identity/clients", json=NEW_CLIENT, headers={"Idempotency-Key": "create-rs-1"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["client_secret"]
    assert (
        secret and len(secret) >= 40 and body["sector"] == "rs.hebei.example" and body["min_acr_level"] == 3
    )
    assert created.headers["location"] == f"/api/v1/identity/clients/{body['client_id']}"
    row = session.scalar(select(OidcClient).where(OidcClient.client_id == body["client_id"]))
    assert row.secret_digest != secret and secret not in json.dumps(row.__dict__, default=str)
    shown = client.get(f"/api/v1/identity/clients/{body['client_id']}").json()
    assert "client_secret" not in shown
    # A retried create returns the same client without a second row and without the secret.
    replay = client.post(
        "/api/v1/identity/clients", json=NEW_CLIENT, headers={"Idempotency-Key": "create-rs-1"}
    )
    assert replay.json()["client_id"] == body["client_id"] and replay.json()["client_secret"] is None
    listed = client.get("/api/v1/identity/clients")
    assert listed.headers["x-total-count"] == "1"
    rotated = client.post(f"/api/v1/identity/clients/{body['client_id']}/secret").json()
    assert rotated["client_secret"] and rotated["client_secret"] != secret


def test_bad_registrations_are_refused_with_reasons(client: Any, session: Session, oidc: OidcRuntime) -> None:
    client.cookies.set("zw_session", make_admin(session))
    cases = [
        {**NEW_CLIENT, "redirect_uris": ["https://a.example/cb#frag"]},
        {**NEW_CLIENT, "redirect_uris": []},
        {**NEW_CLIENT, "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
        {**NEW_CLIENT, "scope": "openid citizen_id"},
        {**NEW_CLIENT, "scope": "profile"},
        {**NEW_CLIENT, "redirect_uris": ["https://a.example/cb", "https://b.example/cb"]},
    ]
    for case in cases:
        response = client.post("/api/v1/identity/clients", json=case)
        assert response.status_code == 400, (case, response.text)
        assert response.json()["code"] == "identity.oidc.invalid_client_config"
    malformed = client.post("/api/v1/identity/clients", json={**NEW_CLIENT, "grant_types": ["password"]})
    assert malformed.status_code == 422


def test_the_token_endpoint_auth_method_is_chosen_at_registration_and_can_change(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    client.cookies.set("zw_session", make_admin(session))
    created = client.post(
        "/api/v1/identity/clients", json={**NEW_CLIENT, "token_endpoint_auth_method": "client_secret_post"}
    )
    assert created.status_code == 201 and created.json()["token_endpoint_auth_method"] == "client_secret_post"
    client_id = created.json()["client_id"]
    changed = client.patch(
        f"/api/v1/identity/clients/{client_id}", json={"token_endpoint_auth_method": "client_secret_basic"}
    )
    assert (
        changed.status_code == 200 and changed.json()["token_endpoint_auth_method"] == "client_secret_basic"
    )
    kept = client.patch(f"/api/v1/identity/clients/{client_id}", json={"name": None, "min_acr_level": 4})
    assert kept.status_code == 200 and kept.json()["name"] == NEW_CLIENT["name"]
    assert kept.json()["token_endpoint_auth_method"] == "client_secret_basic"
    unsupported = client.patch(
        f"/api/v1/identity/clients/{client_id}", json={"token_endpoint_auth_method": "private_key_jwt"}
    )
    assert unsupported.status_code == 422
    public = client.post(
        "/api/v1/identity/clients",
        json={**NEW_CLIENT, "kind": "public", "backchannel_logout_uri": None},
    )
    assert public.status_code == 201 and public.json()["token_endpoint_auth_method"] == "none"
    no_secret = client.patch(
        f"/api/v1/identity/clients/{public.json()['client_id']}",
        json={"token_endpoint_auth_method": "client_secret_post"},
    )
    assert no_secret.status_code == 400 and no_secret.json()["code"] == "identity.oidc.invalid_client_config"
    mixed = client.post(
        "/api/v1/identity/clients",
        json={**NEW_CLIENT, "kind": "public", "token_endpoint_auth_method": "client_secret_basic"},
    )
    assert mixed.status_code == 400 and mixed.json()["code"] == "identity.oidc.invalid_client_config"
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    assert schema["ClientCreate"]["properties"]["token_endpoint_auth_method"]["enum"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]


def test_status_changes_and_logout_delivery_listing(client: Any, session: Session, oidc: OidcRuntime) -> None:
    client.cookies.set("zw_session", make_admin(session))
    client_id = client.post("/api/v1/identity/clients", json=NEW_CLIENT).json()["client_id"]
    suspended = client.post(
        f"/api/v1/identity/clients/{client_id}/status", json={"status": "suspended", "reason": "等保整改"}
    )
    assert suspended.json()["status"] == "suspended" and suspended.json()["status_reason"] == "等保整改"
    client.post(f"/api/v1/identity/clients/{client_id}/status", json={"status": "revoked", "reason": "停用"})
    back = client.post(
        f"/api/v1/identity/clients/{client_id}/status", json={"status": "active", "reason": "恢复"}
    )
    assert back.status_code == 400
    deliveries = client.get(f"/api/v1/identity/clients/{client_id}/logout-deliveries")
    assert deliveries.status_code == 200 and deliveries.json() == []
    patched = client.patch(f"/api/v1/identity/clients/{client_id}", json={"min_acr_level": 4})
    assert patched.json()["min_acr_level"] == 4 and patched.json()["default_max_age"] is None
    aged = client.patch(f"/api/v1/identity/clients/{client_id}", json={"default_max_age": 900})
    assert aged.status_code == 200 and aged.json()["default_max_age"] == 900
    too_short = client.patch(f"/api/v1/identity/clients/{client_id}", json={"default_max_age": 30})
    assert too_short.status_code == 422 and too_short.json()["errors"][0]["loc"] == [
        "body",
        "default_max_age",
    ]


def test_signing_keys_are_sealed_at_rest_and_rotation_keeps_old_keys_published(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    first = client.get("/oidc/jwks").json()["keys"]
    assert len(first) == 1 and first[0]["alg"] == "ES256" and first[0]["kid"] and "d" not in first[0]
    row = session.scalar(select(OidcSigningKey))
    assert b"PRIVATE KEY" not in row.private_key_enc and len(row.private_key_enc) > 100
    from zhengwu.identity.oidc.secrets import NodeKeys, SealError

    try:
        NodeKeys("another-node-secret").open(
            row.private_key_enc, b"zhengwu/oidc/signing-key/" + row.kid.encode()
        )
        raise AssertionError("opened with the wrong key")
    except SealError:
        pass
    rotate_signing_key(session, oidc.node_keys, "hebei")
    oidc.keyring.invalidate()
    kids = [k["kid"] for k in client.get("/oidc/jwks").json()["keys"]]
    assert len(kids) == 2 and first[0]["kid"] in kids
    assert oidc.key_material().kid != first[0]["kid"]


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    yield from cli_node(tmp_path, monkeypatch)


def test_the_real_entry_point_creates_a_client(cli_db: sessionmaker[Session]) -> None:
    # The one run through ``python -m zhengwu`` (interpreter, console entry point, JSON on stdout); the
    # command's behaviour is tested in-process below, which spares an interpreter start per call.
    result = subprocess.run(
        [
            sys.executable, "-m", "zhengwu", "identity", "clients", "create",
            "--name", "省公安厅业务系统", "--grant", "authorization_code",
            "--redirect-uri", "https://ga.hebei.example/cb", "--scope", "openid profile", "--json",
        ],
        env=dict(os.environ), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["client_secret"] and created["grant_types"] == ["authorization_code", "refresh_token"]
    with cli_db() as session:
        assert session.scalar(select(OidcClient.client_id)) == created["client_id"]


def test_cli_creates_a_client_and_prints_the_secret_once(cli_db: sessionmaker[Session]) -> None:
    result = invoke(
        "identity", "clients", "create",
        "--name", "省公安厅业务系统", "--grant", "authorization_code",
        "--redirect-uri", "https://ga.hebei.example/cb", "--scope", "openid profile",
        "--backchannel-logout-uri", "https://ga.hebei.example/bcl", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"] and created["grant_types"] == ["authorization_code", "refresh_token"]
    listed = invoke("identity", "clients", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert created["client_id"] in listed.stdout and created["client_secret"] not in listed.stdout
    bad = invoke("identity", "clients", "create", "--name", "x", "--grant", "authorization_code")
    assert bad.exit_code == 1 and "回调地址" in bad.stderr

    def create_machine(*options: str) -> Any:
        return invoke(
            "identity", "clients", "create", "--name", "省税务局系统",
            "--grant", "client_credentials", "--scope", "exchange", *options, "--json",
        )  # fmt: skip

    post = create_machine("--auth-method", "client_secret_post")
    assert post.exit_code == 0, post.output
    assert json.loads(post.stdout)["token_endpoint_auth_method"] == "client_secret_post"
    unknown = create_machine("--auth-method", "private_key_jwt")  # not implemented: not offered
    assert unknown.exit_code == 2 and "client_secret_post" in unknown.stderr


def test_cli_rotates_lists_and_revokes_signing_keys(cli_db: sessionmaker[Session]) -> None:
    def cli(*args: str, check: bool = True) -> Any:
        result = invoke("identity", "keys", *args)
        assert not check or result.exit_code == 0, result.output
        return result

    def listed() -> set[tuple[str, str]]:
        return {(k["kid"], k["status"]) for k in map(json.loads, cli("list", "--json").stdout.splitlines())}

    # A migrated node has its first signing key before anything asks for one, and only one.
    with cli_db() as session:
        assert (
            session.scalar(select(OidcSigningKey)) is None
        )  # the schema alone has none: ``migrate`` makes it
    for _ in range(2):
        migrated = invoke("migrate")
        assert migrated.exit_code == 0, migrated.output
    ((initial, status),) = listed()
    assert status == "active"
    first = json.loads(cli("rotate", "--json").stdout)["kid"]
    second = json.loads(cli("rotate", "--json").stdout)["kid"]
    assert listed() == {(initial, "retired"), (first, "retired"), (second, "active")}
    assert cli("revoke", second, check=False).exit_code == 1  # the active key cannot be withdrawn
    assert cli("revoke", first).exit_code == 0
    statuses = {
        json.loads(line)["kid"]: json.loads(line)["status"]
        for line in cli("list", "--json").stdout.splitlines()
    }
    assert statuses == {initial: "retired", first: "revoked", second: "active"}
