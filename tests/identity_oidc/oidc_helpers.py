"""Helpers of the OIDC tests: clients, citizens with a browser session, an admin, PKCE, redirects."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session

from zhengwu.identity import service as core
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.runtime import OidcRuntime
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.node import node_of
from zhengwu.orgs.models import Department
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

RP = "http://127.0.0.1:9/cb"


@dataclass
class MadeClient:
    """A registered client and its secret."""

    client_id: str
    secret: str | None
    row: Any


def make_client(session: Session, runtime: OidcRuntime, **fields: Any) -> MadeClient:
    """Register a client directly through the service."""
    data = ClientCreate(
        **{"name": "测试部门系统", "grant_types": ["authorization_code", "refresh_token"], **fields}
    )
    if "redirect_uris" not in fields and "authorization_code" in data.grant_types:
        data.redirect_uris = [RP]
    row, secret = oidc_service.create_client(session, runtime.node_keys, data, actor=None, allow_http=True)
    session.flush()
    return MadeClient(row.client_id, secret, row)


@dataclass
class Citizen:
    """A registered natural person with a logged-in browser session."""

    account: Account
    session_id: str
    token: str
    id_number: str


_counter = iter(range(10_000, 10**9))


def make_citizen(
    session: Session, *, level: RealNameLevel = RealNameLevel.REGISTRY_MATCHED, amr: list[str] | None = None
) -> Citizen:
    """Register a person and open a session (as the login page would)."""
    n = next(_counter) + secrets.randbelow(10_000_000)
    number = nth_citizen_id(n)
    account = core.register_natural_person(
        session, name="测试公民", id_number=number, phone=nth_phone(n), password=None, real_name_level=level
    )
    user_session = core.start_session(session, account, amr=amr or ["pwd"])
    session.flush()
    return Citizen(account, user_session.id, user_session.token, number)


def make_admin(session: Session) -> str:
    """A staff member with the identity administrator role; returns the session cookie token."""
    dept = Department(
        credit_code="11130000000000000X"[:18],
        name="河北省政务服务管理办公室",
        division_code="130000",
        level=2,
    )
    session.add(dept)
    session.flush()
    account = core.register_staff(
        session,
        name="管理员",
        login_name=f"admin{secrets.token_hex(3)}",
        password="Admin-Passw0rd-2026",
        department_id=dept.id,
        roles=["identity_admin"],
    )
    # Password and TOTP: staff actions need the second factor (identity.policy).
    user_session = core.start_session(session, account, amr=["pwd", "otp"])
    session.flush()
    return str(user_session.token)


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def authorize(client: Any, made: MadeClient, *, cookie: str | None, **params: str) -> Any:
    """GET the authorization endpoint as the browser would."""
    query = {
        "response_type": "code",
        "client_id": made.client_id,
        "redirect_uri": RP,
        "scope": "openid",
        "state": "st-1",
        "nonce": secrets.token_urlsafe(8),
        **params,
    }
    if cookie is not None:
        client.cookies.set("zw_session", cookie)
    return client.get("/oidc/authorize", params=query, follow_redirects=False)


def code_for(client: Any, made: MadeClient, person: Citizen, **params: str) -> tuple[str, str]:
    """An authorization code (PKCE S256) for ``person`` at ``made``; the code and its verifier."""
    verifier, challenge = pkce()
    response = authorize(
        client, made, cookie=person.token, code_challenge=challenge, code_challenge_method="S256", **params
    )
    assert response.status_code == 302, response.text
    query = query_of(response.headers["location"])
    assert response.headers["location"].startswith(RP) and query["state"] == "st-1"
    return query["code"], verifier


def exchange_code(client: Any, made: MadeClient, code: str, verifier: str | None) -> Any:
    """Redeem a code at the token endpoint, authenticated as the client was registered."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": RP}
    if verifier is not None:
        form["code_verifier"] = verifier
    if made.secret is None:
        form["client_id"] = made.client_id
        return client.post("/oidc/token", data=form)
    return client.post("/oidc/token", data=form, auth=(made.client_id, made.secret))


# --- fixtures (imported by the test modules: a conftest.py here would shadow the root one) ---


@pytest.fixture(name="oidc")
def oidc_fixture(app: Any) -> Iterator[OidcRuntime]:
    """The provider of the test app; logout deliveries run only when a test calls ``run_once``."""
    runtime: OidcRuntime = node_of(app).services.provide(OIDC)
    runtime.dispatcher.autostart = False
    # The token fast path group-commits issuance rows from a writer thread; on the shared test
    # connection everything must stay on the request's own transaction.
    runtime.settings.issuance_batch = False
    runtime.ensure_signing_key()  # as the node's start-up does (tests may use the runtime without it)
    yield runtime
    runtime.close()


@pytest.fixture(name="citizen")
def citizen_fixture(app: Any, session: Session) -> Citizen:
    """A level-3 citizen logged in with a password."""
    return make_citizen(session)
