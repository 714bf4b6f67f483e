"""The native mobile app opens a registered department app in its web view without a second login: with
its bearer token it asks for a one-time launch address (60 s, one registered app), the web view opens it,
gets a session of the token's person (the token's login level and time, no second factor of its own) and
goes on to the app's single sign-on, whose authorization request then finds that session. Taken once:
a replay, an expired code, an unknown one, a re-registered or suspended app, a browser logged in as
someone else are refused in words, and every step is in identity's audit chain. Only the app's token asks
for one (a session is refused)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_portal_apps import CALLBACK, ENTRY, SITE, _h5_client, _query, _register
from test_portal_mobile_privacy import _app_token
from test_portal_mobile_token import _bearer

from cases_kit import Casework, login
from clockkit import FakeClock
from identity_oidc.oidc_helpers import oidc_fixture, pkce  # noqa: F401 - fixture
from seals_kit import assert_envelope
from zhengwu.identity.models import AuthEvent, UserSession
from zhengwu.identity.oidc import service as oidc_clients
from zhengwu.identity.oidc.models import OidcGrant
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import ClientStatusChange
from zhengwu.identity.service import token_digest
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.node import node_of
from zhengwu.portal.models import PortalAppLaunch
from zhengwu.seed.synthetic import nth_citizen_id

pytestmark = pytest.mark.db
API = "/api/v1/mobile"
COOKIE = "zw_session"


def _app(client: Any, session: Session, oidc: OidcRuntime, casework: Casework) -> tuple[str, Any]:
    h5 = _h5_client(session, oidc)
    made = _register(client, casework.staff(["platform_admin"]), h5.client_id, casework.task_code)
    assert made.status_code == 201, made.text
    login(client, None)
    return str(made.json()["id"]), h5


def _launch(client: Any, token: str, app_id: str) -> dict[str, Any]:
    answer = client.post(f"{API}/me/apps/{app_id}/launch", headers=_bearer(token))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _events(session: Session, kind: str) -> list[AuthEvent]:
    return list(
        session.scalars(select(AuthEvent).where(AuthEvent.event_type == kind).order_by(AuthEvent.seq))
    )


def test_the_web_view_opens_the_app_logged_in_once(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    app_id, h5 = _app(client, session, oidc, casework)
    token = _app_token(client, session, oidc, casework)
    made = _launch(client, token, app_id)
    url = urlsplit(made["url"])
    assert url.path.startswith("/apps/launch/") and not url.query and token not in made["url"]
    assert made["expires_in"] == 60
    row = session.scalar(select(PortalAppLaunch))
    assert row is not None and row.expires_at - row.created_at == timedelta(seconds=60)
    assert url.path.rsplit("/", 1)[1] not in (row.code_hash, row.id), "only the code's digest is kept"

    # The web view: no cookie of its own yet.
    client.cookies.clear()
    opened = client.get(url.path, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == f"/apps/{app_id}/open"
    assert (
        opened.headers["referrer-policy"] == "no-referrer" and opened.headers["cache-control"] == "no-store"
    )
    cookie = client.cookies.get(COOKIE)
    assert cookie, "the web view now holds a session"
    held = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(cookie)))
    grant = session.scalar(select(OidcGrant).where(OidcGrant.client_id != h5.client_id))
    assert held is not None and grant is not None and held.account_id == casework.citizen.id
    assert held.auth_level == grant.acr_level and held.auth_time == grant.auth_time
    assert held.second_factor_at is None

    # On to the app as a third-party-initiated login; its own authorization request needs no login page.
    handed = client.get(opened.headers["location"], follow_redirects=False)
    assert handed.status_code == 303 and handed.headers["location"].startswith(f"{SITE}/sso/start?")
    assert _query(handed.headers["location"])["target_link_uri"] == ENTRY
    state = secrets.token_urlsafe(12)
    _, challenge = pkce()
    answer = client.get(
        "/oidc/authorize",
        params={"response_type": "code", "client_id": h5.client_id, "redirect_uri": CALLBACK, "scope": "openid",
                "state": state, "nonce": "n1", "code_challenge": challenge, "code_challenge_method": "S256"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 302, answer.text
    assert (
        answer.headers["location"].startswith(CALLBACK)
        and _query(answer.headers["location"])["state"] == state
    )

    # The same address again, in this web view or another: refused, and nothing logged in.
    client.cookies.clear()
    again = client.get(url.path, follow_redirects=False)
    assert (
        again.status_code == 410
        and "已经用过" in again.text
        and COOKIE not in again.headers.get("set-cookie", "")
    )
    assert again.headers["referrer-policy"] == "no-referrer"
    assert client.get(f"/apps/launch/{secrets.token_urlsafe(32)}").status_code == 404
    assert client.get("/apps/launch/x").status_code == 404

    issued, used = _events(session, "app_launch_issued"), _events(session, "app_launch")
    assert [(e.success, e.account_id) for e in issued] == [(True, casework.citizen.id)]
    assert [(e.success, e.detail.get("reason")) for e in used] == [
        (True, None), (False, "replayed"), (False, "unknown"), (False, "unknown")]  # fmt: skip
    assert used[0].detail["app"] == app_id and used[0].client_id == h5.client_id


def test_a_code_lives_a_minute_and_follows_the_app(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework, clock: FakeClock
) -> None:
    app_id, h5 = _app(client, session, oidc, casework)
    token = _app_token(client, session, oidc, casework)
    late = urlsplit(_launch(client, token, app_id)["url"]).path
    clock.advance(seconds=61)
    client.cookies.clear()
    expired = client.get(late, follow_redirects=False)
    assert expired.status_code == 410 and "已过期" in expired.text and not client.cookies.get(COOKIE)
    token = _app_token(client, session, oidc, casework)

    # Identity suspends the app's client: no code is made, and one made before opens nothing.
    before = urlsplit(_launch(client, token, app_id)["url"]).path
    oidc_clients.change_status(session, h5.client_id, ClientStatusChange(status="suspended", reason="整改"))
    session.commit()
    assert_envelope(client.post(f"{API}/me/apps/{app_id}/launch", headers=_bearer(token)), 409)
    client.cookies.clear()
    paused = client.get(before, follow_redirects=False)
    assert paused.status_code == 409 and "无法登录" in paused.text and not client.cookies.get(COOKIE)
    oidc_clients.change_status(session, h5.client_id, ClientStatusChange(status="active", reason="整改完成"))
    session.commit()

    # The app registered with another client since the code was made: the code does not follow it.
    moved = urlsplit(_launch(client, token, app_id)["url"]).path
    row = session.scalar(select(PortalAppLaunch).where(PortalAppLaunch.used_at.is_(None),
                                                       PortalAppLaunch.expires_at > utcnow()))  # fmt: skip
    assert row is not None
    row.client_id = "someone-else"
    session.commit()
    gone = client.get(moved, follow_redirects=False)
    assert gone.status_code == 404 and not client.cookies.get(COOKIE)
    reasons = [e.detail.get("reason") for e in _events(session, "app_launch")]
    assert reasons == ["expired", "app_suspended", "app_gone"]

    assert_envelope(client.post(f"{API}/me/apps/nosuchapp/launch", headers=_bearer(token)), 404)
    # A browser with a session opens the app directly: no launch codes for cookies.
    login(client, casework.citizen_token)
    assert_envelope(client.post(f"{API}/me/apps/{app_id}/launch"), 401)
    client.cookies.clear()
    assert_envelope(client.post(f"{API}/me/apps/{app_id}/launch"), 401)


def test_a_browser_logged_in_as_someone_else_is_not_switched(
    client: Any, session: Session, oidc: OidcRuntime, casework: Casework
) -> None:
    """A launch address sent to somebody else must not swap their login for the code's person."""
    app_id, _ = _app(client, session, oidc, casework)
    token = _app_token(client, session, oidc, casework)
    path = urlsplit(_launch(client, token, app_id)["url"]).path
    other, other_token = casework.person(nth_citizen_id(7441))
    login(client, other_token)
    refused = client.get(path, follow_redirects=False)
    assert refused.status_code == 409 and "已登录了另一个账号" in refused.text
    assert COOKIE not in refused.headers.get("set-cookie", "")
    theirs = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(other_token)))
    assert theirs is not None and theirs.ended_at is None
    assert [e.detail.get("reason") for e in _events(session, "app_launch")] == ["other_person"]
    assert other.id != casework.citizen.id

    # The person's own session in the web view: kept as it is, on to the app.
    path = urlsplit(_launch(client, token, app_id)["url"]).path
    login(client, casework.citizen_token)
    opened = client.get(path, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/apps/{app_id}/open"
    assert COOKIE not in opened.headers.get("set-cookie", "")


def test_guessing_codes_is_limited_per_address(client: Any, session: Session) -> None:
    """Unknown codes are refused and recorded; past the public rate a guesser gets 429 and no record."""
    settings = node_of(client.app).settings
    rate, settings.security.public_rate_per_minute = (
        settings.security.public_rate_per_minute,
        6,
    )  # a burst of one
    try:
        assert client.get(f"/apps/launch/{secrets.token_urlsafe(32)}").status_code == 404
        assert_envelope(client.get(f"/apps/launch/{secrets.token_urlsafe(32)}"), 429, "rate_limited")
    finally:
        settings.security.public_rate_per_minute = rate
    assert [e.detail.get("reason") for e in _events(session, "app_launch")] == ["unknown"]
