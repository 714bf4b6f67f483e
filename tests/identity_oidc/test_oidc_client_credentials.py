"""Client credentials (RFC 6749 §4.4) with ES256 JWT access tokens (RFC 9068), introspection, revocation."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import MadeClient, make_client, oidc_fixture  # noqa: F401 - fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity.models import AuthEvent
from zhengwu.identity.oidc.models import OidcIssuance
from zhengwu.identity.oidc.runtime import OidcRuntime


def _machine(session: Session, oidc: OidcRuntime, **fields: Any) -> MadeClient:
    return make_client(
        session,
        oidc,
        name="省市场监管局业务系统",
        grant_types=["client_credentials"],
        scope="exchange catalog.read",
        **fields,
    )


def _token(client: Any, made: MadeClient, secret: str | None = None, **form: str) -> Any:
    return client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", **form},
        auth=(made.client_id, secret if secret is not None else made.secret or ""),
    )


def test_issues_an_es256_jwt_access_token_that_verifies_against_the_jwks(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    made = _machine(session, oidc, audience="https://exchange.hebei.example/api")
    response = _token(client, made, scope="exchange")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "exchange" and body["expires_in"] == 600
    assert "refresh_token" not in body and not any(k.startswith("_") for k in body)
    jwks = client.get("/oidc/jwks").json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt" and token.header["alg"] == "ES256"
    assert token.header["kid"] in {k["kid"] for k in jwks["keys"]}
    claims = token.claims
    assert claims["iss"] == oidc.issuer and claims["sub"] == made.client_id == claims["client_id"]
    assert claims["aud"] == "https://exchange.hebei.example/api"
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 5
    # Every issuance is recorded (and chained into the authentication audit trail).
    row = session.scalar(select(OidcIssuance).where(OidcIssuance.jti == claims["jti"]))
    assert row is not None and row.client_id == made.client_id and row.grant_type == "client_credentials"
    event = session.scalar(
        select(AuthEvent).where(AuthEvent.event_type == "token_issued").order_by(AuthEvent.seq.desc())
    )
    assert event is not None and event.client_id == made.client_id and event.detail["count"] == 1


def test_default_scope_is_every_api_scope_of_the_client(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    made = _machine(session, oidc)
    body = _token(client, made).json()
    assert set(body["scope"].split()) == {"exchange", "catalog.read"}


def test_a_client_credentials_token_never_carries_person_scopes(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    # A department system that signs people in and also calls APIs: its person scopes are for the former.
    both = make_client(
        session,
        oidc,
        grant_types=["authorization_code", "client_credentials"],
        scope="openid profile phone exchange catalog.read",
    )
    body = _token(client, both).json()
    assert body["scope"] == "catalog.read exchange"
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(client.get("/oidc/jwks").json())).claims
    assert claims["scope"] == "catalog.read exchange"
    for person in ("openid", "profile", "phone", "exchange openid"):
        refused = _token(client, both, scope=person)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope", person
        assert "person scope" in refused.json()["error_description"]
    # Without API scopes there is no default: the client is told to ask for one, not handed openid.
    login_only = make_client(
        session, oidc, grant_types=["authorization_code", "client_credentials"], scope="openid profile"
    )
    empty = _token(client, login_only)
    assert empty.status_code == 400 and empty.json()["error"] == "invalid_scope"


def test_a_client_credentials_only_client_cannot_be_registered_with_person_scopes(
    session: Session, oidc: OidcRuntime
) -> None:
    from zhengwu.identity.oidc.errors import InvalidClientConfig

    with pytest.raises(InvalidClientConfig) as caught:
        _machine_with_scope(session, oidc, "exchange openid")
    assert caught.value.detail_en is not None and "person scopes" in caught.value.detail_en


def _machine_with_scope(session: Session, oidc: OidcRuntime, scope: str) -> MadeClient:
    return make_client(session, oidc, grant_types=["client_credentials"], scope=scope)


def test_bad_secret_unknown_client_and_wrong_grant_use_the_rfc_error_codes(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    made = _machine(session, oidc)
    wrong = _token(client, made, secret="not-the-secret")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["detail"].startswith("接入应用身份校验失败")
    unknown = client.post("/oidc/token", data={"grant_type": "client_credentials"}, auth=("nobody", "x"))
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    scope = _token(client, made, scope="exchange admin")
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    grant = client.post("/oidc/token", data={"grant_type": "password"}, auth=(made.client_id, made.secret))
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    login_client = make_client(session, oidc)
    unauthorized = _token(client, login_client)
    assert unauthorized.status_code == 400 and unauthorized.json()["error"] == "unauthorized_client"
    not_form = client.post(
        "/oidc/token", json={"grant_type": "client_credentials"}, auth=(made.client_id, made.secret)
    )
    assert not_form.status_code == 400 and not_form.json()["error"] == "invalid_request"
    # Failures are audited too.
    failures = session.scalars(
        select(AuthEvent).where(AuthEvent.event_type == "oidc_token_denied", AuthEvent.success.is_(False))
    ).all()
    assert {f.detail["error"] for f in failures} >= {
        "invalid_client",
        "invalid_scope",
        "unsupported_grant_type",
    }


def _post_auth(client: Any, client_id: str, secret: str, **form: str) -> Any:
    return client.post(
        "/oidc/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **form},
    )


def test_client_secret_post_works_for_clients_registered_for_it(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    post = _machine(session, oidc, token_endpoint_auth_method="client_secret_post")
    assert post.secret is not None
    answer = _post_auth(client, post.client_id, post.secret)
    assert answer.status_code == 200 and answer.json()["scope"] == "catalog.read exchange"
    info = client.post(
        "/oidc/introspect",
        data={
            "token": answer.json()["access_token"],
            "client_id": post.client_id,
            "client_secret": post.secret,
        },
    )
    assert info.status_code == 200 and info.json()["active"] is True


def test_every_client_authentication_failure_answers_alike_and_is_audited_with_its_cause(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    basic = _machine(session, oidc)
    post = _machine(session, oidc, token_endpoint_auth_method="client_secret_post")
    assert basic.secret is not None and post.secret is not None
    bearer = {"Authorization": f"Bearer {basic.secret}"}
    form = {"grant_type": "client_credentials"}
    cases = {
        # cause: (response, expected status, WWW-Authenticate challenge expected)
        "unknown_client": (_token(client, MadeClient("zw-nobody", "x", None)), 401, True),
        "wrong_secret": (_token(client, basic, secret="not-the-secret"), 401, True),
        "method_not_registered": (_token(client, post), 401, True),
        "unknown_client/post": (_post_auth(client, "zw-nobody", "x"), 400, False),
        "wrong_secret/post": (_post_auth(client, post.client_id, "not-the-secret"), 400, False),
        "method_not_registered/post": (_post_auth(client, basic.client_id, basic.secret), 400, False),
        "secret_missing": (
            client.post("/oidc/token", data={**form, "client_id": basic.client_id}),
            400,
            False,
        ),
        "no_credentials": (client.post("/oidc/token", data=form), 401, True),
        "unsupported_scheme": (client.post("/oidc/token", data=form, headers=bearer), 401, True),
    }
    bodies = set()
    for cause, (response, status, challenge) in cases.items():
        assert response.status_code == status, (cause, response.text)
        body = response.json()
        assert body["error"] == "invalid_client" and body["error_description"].isascii(), cause
        assert "client_secret_post" in body["error_description"] and "认证方式" in body["detail"]
        bodies.add(json.dumps({k: v for k, v in body.items() if k != "trace_id"}, sort_keys=True))
        # RFC 6749 §5.2: a 401 names the scheme the client used at the Authorization header, Basic.
        header = response.headers.get("www-authenticate")
        assert (header == f'Basic realm="{oidc.issuer}", charset="UTF-8"') if challenge else header is None
    assert len(bodies) == 1  # nothing in the answer tells the causes apart
    denied = session.scalars(
        select(AuthEvent).where(AuthEvent.event_type == "oidc_token_denied").order_by(AuthEvent.seq)
    ).all()
    assert [e.detail["client_auth"] for e in denied[-len(cases) :]] == [c.split("/")[0] for c in cases]
    assert {e.detail["auth_method"] for e in denied[-len(cases) :]} == {
        "client_secret_basic",
        "client_secret_post",
        "none",
        None,
        "Bearer",
    }
    # Two methods in one request is a malformed request (RFC 6749 §2.3, §5.2 invalid_request).
    both = client.post(
        "/oidc/token",
        data={**form, "client_id": basic.client_id, "client_secret": basic.secret},
        auth=(basic.client_id, basic.secret),
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_suspended_client_and_rotated_secret_stop_working(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    from zhengwu.identity.oidc import service
    from zhengwu.identity.oidc.schemas import ClientStatusChange

    made = _machine(session, oidc)
    assert _token(client, made).status_code == 200
    new_secret = service.rotate_secret(session, oidc.node_keys, made.client_id)
    oidc.clients.invalidate(made.client_id)
    assert _token(client, made).status_code == 401
    assert _token(client, made, secret=new_secret).status_code == 200
    service.change_status(session, made.client_id, ClientStatusChange(status="suspended", reason="安全检查"))
    oidc.clients.invalidate(made.client_id)
    assert _token(client, made, secret=new_secret).json()["error"] == "invalid_client"


def test_introspection_and_revocation(client: Any, session: Session, oidc: OidcRuntime) -> None:
    made = _machine(session, oidc, audience="https://exchange.hebei.example/api")
    resource = _machine(session, oidc, audience="https://exchange.hebei.example/api")
    stranger = _machine(session, oidc, audience="https://other.example/api")
    access = _token(client, made).json()["access_token"]

    def introspect(by: MadeClient, token: str) -> dict[str, Any]:
        response = client.post("/oidc/introspect", data={"token": token}, auth=(by.client_id, by.secret))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    info = introspect(resource, access)
    assert info["active"] is True and info["client_id"] == made.client_id and info["token_type"] == "Bearer"
    assert introspect(stranger, access) == {"active": False}
    assert introspect(resource, "garbage") == {"active": False}
    bad_auth = client.post("/oidc/introspect", data={"token": access}, auth=(resource.client_id, "wrong"))
    assert bad_auth.status_code == 401 and bad_auth.json()["error"] == "invalid_client"
    # RFC 7009: only the owner may revoke; the answer is 200 either way for unknown tokens.
    other = client.post("/oidc/revoke", data={"token": access}, auth=(stranger.client_id, stranger.secret))
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
    revoked = client.post("/oidc/revoke", data={"token": access}, auth=(made.client_id, made.secret))
    assert revoked.status_code == 200
    assert introspect(resource, access) == {"active": False}
    assert (
        client.post("/oidc/revoke", data={"token": "unknown"}, auth=(made.client_id, made.secret)).status_code
        == 200
    )


def test_expired_tokens_are_inactive(
    client: Any, session: Session, oidc: OidcRuntime, monkeypatch: Any
) -> None:
    made = _machine(session, oidc)
    access = _token(client, made).json()["access_token"]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    info = client.post("/oidc/introspect", data={"token": access}, auth=(made.client_id, made.secret)).json()
    assert info == {"active": False}


def test_group_commit_writes_every_issuance_before_answering(session: Session, oidc: OidcRuntime) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from zhengwu.identity.oidc.issuance import IssuanceRecorder

    recorder = IssuanceRecorder(lambda: oidc.session_factory, checkpoint_seconds=3600)
    now = datetime.now(UTC)

    def record(i: int) -> dict[str, Any]:
        return {
            "jti": f"group-{i}",
            "client_id": "zwgroup",
            "grant_type": "client_credentials",
            "account_id": None,
            "scope": "api",
            "audience": "urn:api",
            "issued_at": now,
            "expires_at": now + timedelta(minutes=10),
        }

    async def burst(start: int) -> None:
        await asyncio.gather(*(recorder.record([record(start + i)]) for i in range(20)))

    asyncio.run(burst(0))
    rows = session.scalars(select(OidcIssuance).where(OidcIssuance.client_id == "zwgroup")).all()
    assert len(rows) == 20
    chained = select(AuthEvent).where(
        AuthEvent.event_type == "token_issued", AuthEvent.client_id == "zwgroup"
    )
    assert session.scalars(chained).all() == []  # within the checkpoint interval: recorded, not yet chained
    recorder._checkpoint = 0  # the next flush covers everything since the last chain event
    asyncio.run(burst(100))
    events = session.scalars(chained).all()
    recorder.close()
    assert sum(e.detail["count"] for e in events) == 40 and len(events) >= 1


def test_a_key_rotated_by_another_worker_is_picked_up_when_first_seen(
    client: Any, session: Session, oidc: OidcRuntime
) -> None:
    from zhengwu.identity.oidc.keys import KeyRing, rotate_signing_key
    from zhengwu.identity.oidc.tokens import access_token

    made = _machine(session, oidc)
    cached = oidc.key_material()
    rotate_signing_key(session, oidc.node_keys, "hebei")  # as another worker process would
    other = KeyRing(oidc.node_keys).current(oidc.session_factory)
    assert other.kid != cached.kid and oidc.key_material().kid == cached.kid
    token = access_token(
        other,
        issuer=oidc.issuer,
        client_id=made.client_id,
        subject=made.client_id,
        audience="urn:api",
        scope="exchange",
        ttl=600,
    )
    info = client.post(
        "/oidc/introspect", data={"token": token.value}, auth=(made.client_id, made.secret)
    ).json()
    assert info["active"] is True and oidc.key_material().kid == other.kid
