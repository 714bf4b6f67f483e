"""Single logout: back-channel logout tokens (OIDC BCL 1.0), retries and outcomes, RP-initiated logout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_helpers import (
    RP,
    Citizen,
    MadeClient,
    authorize,
    citizen_fixture,  # noqa: F401 - fixture
    make_client,
    oidc_fixture,  # noqa: F401 - fixture
    pkce,
    query_of,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zhengwu.identity import service as core
from zhengwu.identity.models import UserSession
from zhengwu.identity.oidc.models import OidcLogoutDelivery, OidcRpSession
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.tokens import BACKCHANNEL_EVENT
from zhengwu.kernel.node import node_of


class FakeRp:
    """A department system's back-channel logout endpoint that records (or refuses) logout tokens."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.tokens: list[str] = []

        async def receive(request: Request) -> Response:
            form = await request.form()
            self.tokens.append(str(form["logout_token"]))
            return Response(status_code=self.status)

        self.client = TestClient(Starlette(routes=[Route("/bcl", receive, methods=["POST"])]))


def _login(client: Any, made: MadeClient, person: Citizen) -> dict[str, Any]:
    verifier, challenge = pkce()
    response = authorize(
        client, made, cookie=person.token, code_challenge=challenge, code_challenge_method="S256"
    )
    code = query_of(response.headers["location"])["code"]
    tokens = client.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP,
            "code_verifier": verifier,
        },
        auth=(made.client_id, made.secret),
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()  # type: ignore[no-any-return]


def _keys(client: Any) -> KeySet:
    return KeySet.import_key_set(client.get("/oidc/jwks").json())


def test_logout_sends_a_signed_logout_token_to_every_client_of_the_session(
    app: Any, client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    rp = FakeRp()
    oidc.dispatcher.http = rp.client
    with_bcl = make_client(
        session, oidc, consent_required=False, backchannel_logout_uri="http://rp.example/bcl"
    )
    second = make_client(
        session, oidc, consent_required=False, backchannel_logout_uri="http://rp2.example/bcl"
    )
    without = make_client(session, oidc, consent_required=False)
    tokens = _login(client, with_bcl, citizen)
    _login(client, second, citizen)
    _login(client, without, citizen)
    id_claims = jwt.decode(tokens["id_token"], _keys(client), algorithms=["ES256"]).claims

    core.end_session(session, citizen.session_id, "logout", bus=node_of(app).bus)
    session.flush()
    deliveries = session.scalars(select(OidcLogoutDelivery)).all()
    assert {d.client_id for d in deliveries} == {with_bcl.client_id, second.client_id}
    assert all(r.ended_at is not None for r in session.scalars(select(OidcRpSession)))
    # Tokens of the ended session stop working at once.
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 401

    oidc.dispatcher.run_once()
    assert len(rp.tokens) == 2
    for value in rp.tokens:
        token = jwt.decode(value, _keys(client), algorithms=["ES256"])
        assert token.header["typ"] == "logout+jwt"
        claims = token.claims
        assert claims["iss"] == oidc.issuer and "nonce" not in claims and claims["jti"]
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}
        if claims["aud"] == with_bcl.client_id:
            assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
    session.expire_all()
    assert {d.status for d in session.scalars(select(OidcLogoutDelivery))} == {"delivered"}


def test_failed_deliveries_are_retried_with_backoff_then_given_up(
    app: Any, client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    rp = FakeRp(status=503)
    oidc.dispatcher.http = rp.client
    oidc.settings.backchannel_max_attempts = 3
    made = make_client(session, oidc, consent_required=False, backchannel_logout_uri="http://rp.example/bcl")
    _login(client, made, citizen)
    core.end_session(session, citizen.session_id, "logout", bus=node_of(app).bus)
    session.flush()
    oidc.dispatcher.run_once()
    session.expire_all()
    row = session.scalar(select(OidcLogoutDelivery))
    assert (
        row.status == "pending"
        and row.attempts == 1
        and row.last_status_code == 503
        and row.last_error == "HTTP 503"
    )
    for _ in range(2):
        row.next_attempt_at = row.next_attempt_at - timedelta(hours=2)
        session.flush()
        oidc.dispatcher.run_once()
        session.expire_all()
        row = session.scalar(select(OidcLogoutDelivery))
    assert row.status == "dead" and row.attempts == 3 and len(rp.tokens) == 3
    # A delivered one after a failure is recorded as such.
    rp.status = 200
    made2 = make_client(session, oidc, consent_required=False, backchannel_logout_uri="http://rp.example/bcl")
    from oidc_helpers import make_citizen

    other = make_citizen(session)
    _login(client, made2, other)
    core.end_session(session, other.session_id, "logout", bus=node_of(app).bus)
    session.flush()
    oidc.dispatcher.run_once()
    session.expire_all()
    delivered = session.scalar(
        select(OidcLogoutDelivery).where(OidcLogoutDelivery.client_id == made2.client_id)
    )
    assert (
        delivered.status == "delivered"
        and delivered.delivered_at is not None
        and delivered.last_status_code == 200
    )


def test_logout_that_rolls_back_sends_nothing(
    app: Any, client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(session, oidc, consent_required=False, backchannel_logout_uri="http://rp.example/bcl")
    _login(client, made, citizen)
    nested = session.begin_nested()
    core.end_session(session, citizen.session_id, "logout", bus=node_of(app).bus)
    session.flush()
    nested.rollback()
    assert session.scalars(select(OidcLogoutDelivery)).all() == []


def test_rp_initiated_logout_with_hint_and_registered_return(
    app: Any, client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    made = make_client(
        session, oidc, consent_required=False, post_logout_redirect_uris=["http://127.0.0.1:9/bye"]
    )
    tokens = _login(client, made, citizen)
    bad = client.get(
        "/oidc/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"},
        follow_redirects=False,
    )
    assert bad.status_code == 400 and "location" not in bad.headers
    response = client.get(
        "/oidc/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:9/bye",
            "state": "s1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "http://127.0.0.1:9/bye?state=s1"
    session.expire_all()
    assert session.get(UserSession, citizen.session_id).ended_at is not None


def test_logout_without_hint_asks_for_confirmation(
    client: Any, session: Session, oidc: OidcRuntime, citizen: Citizen
) -> None:
    client.cookies.set("zw_session", citizen.token)
    page = client.get("/oidc/logout")
    assert page.status_code == 200 and "是否退出" in page.text
    session.expire_all()
    assert session.get(UserSession, citizen.session_id).ended_at is None
    import re

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/oidc/logout", data={"decision": "logout", "csrf_token": "forged"}).status_code == 403
    done = client.post("/oidc/logout", data={"decision": "logout", "csrf_token": csrf})
    assert done.status_code == 200 and "已安全退出" in done.text
    session.expire_all()
    assert session.get(UserSession, citizen.session_id).ended_at is not None
