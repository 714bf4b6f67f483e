"""A person calling an API with an access token of this node's provider (or with the session cookie).

``Depends(person("mobile"))`` gives a route the :class:`Person` behind ``Authorization: Bearer``: a token
this node signed (``typ`` ``at+jwt``, not expired), issued by the authorization-code flow to a person (its
grant is found by ``jti``), neither the grant nor the token revoked, its client still active and registered
for the scope, the scope in the grant, the consent still granted when the client asks for one, the account
active. A request without an ``Authorization`` header is the person's session instead, so the portal's own
pages and a cookie-keeping app keep working. ``level`` asks the real-name level of the account and of the
authentication (the grant's ``acr`` for a token, the session's level otherwise).

Why a scope: a department's app receives tokens for the same person; only a client registered with the
scope (``mobile`` — the node's own mobile app, registered by an identity administrator) can obtain a token
that reads the person's cases and licenses (docs/portal.md, "Mobile API").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.identity.deps import Authenticated, require_level, require_session
from zhengwu.identity.errors import InsufficientLevel, StepUpRequired
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.oidc.claims import consent_scopes, covering_consent
from zhengwu.identity.oidc.errors import PersonTokenRejected, PersonTokenScope
from zhengwu.identity.oidc.models import OidcGrant
from zhengwu.identity.oidc.tokens import TokenRejected
from zhengwu.identity.policy import Guard, session_if_any
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import security
from zhengwu.kernel.session import DbSession

PERSON_TOKEN: Final = "personToken"  # noqa: S105 - the OpenAPI scheme's name
#: The scope a client must be registered for (and the token carry) to call ``/api/v1/mobile/me/*``.
MOBILE_SCOPE: Final = "mobile"


def person_token_scheme(app: FastAPI) -> dict[str, Any]:
    """A person's access token from the authorization-code flow with PKCE (scopes filled from routes)."""
    return {
        "type": "oauth2",
        "description": "个人经授权码流程（PKCE）获得的访问令牌（Bearer）；不带令牌时使用登录会话 Cookie"
        " / a person's access token (authorization code + PKCE); without one, the session cookie",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "/oidc/authorize",
                "tokenUrl": "/oidc/token",
                "scopes": {},
            }
        },
    }


@dataclass(frozen=True, slots=True)
class Person:
    """Who is calling: the account, and either the session or the client the token was issued to."""

    account: Account
    session: UserSession | None
    client_id: str | None
    acting_for: str | None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer " or not header[7:].strip():
        raise PersonTokenRejected("请使用 Bearer 访问令牌", detail_en="expected a Bearer access token")
    return header[7:].strip()


def person_by_token(request: Request, db: Session, value: str, scope: str, level: int) -> Person:
    """The checks of ``/oidc/userinfo`` (routes.py ``_userinfo``) plus the scope and the level."""
    runtime = node_of(request).services.provide(OIDC)
    try:
        claims = runtime.verify_own(value, typ="at+jwt", leeway=0)
    except TokenRejected as exc:
        raise PersonTokenRejected(detail_en=f"token rejected: {exc.reason}") from None
    jti = str(claims.get("jti", ""))
    grant = db.query(OidcGrant).filter(OidcGrant.access_jti == jti).one_or_none()
    if grant is None:
        # A client-credentials token has no grant: it speaks for no person.
        raise PersonTokenRejected(detail_en="not a token issued for a person")
    if grant.revoked_at is not None or runtime.is_jti_revoked(db, jti):
        raise PersonTokenRejected("访问令牌已撤销", detail_en="token revoked")
    client = runtime.clients.get(db, grant.client_id)
    if client is None:
        raise PersonTokenRejected(detail_en="client no longer active")
    if scope not in grant.scope.split() or scope not in client.scopes:
        raise PersonTokenScope(detail_en=f"the token does not carry the scope {scope}")
    needs_consent = client.consent_required and consent_scopes(grant.scope)
    if needs_consent and covering_consent(db, grant.account_id, client, grant.scope) is None:
        # Conventions §6: a withdrawn consent is refused on the next use.
        client_id, account_id = client.client_id, grant.account_id
        # The refusal is kept though the request fails: the event goes in a unit of its own.
        write_apart(
            db,
            lambda apart: runtime.audit(
                apart, "consent_refused", success=False, client_id=client_id, account_id=account_id
            ),
        )
        raise PersonTokenRejected("授权已撤回", detail_en="consent withdrawn or missing")
    account = db.get(Account, grant.account_id)
    if account is None or account.status != "active":
        raise PersonTokenRejected(detail_en="account not active")
    if account.real_name_level < level:
        raise InsufficientLevel(extra={"required_level": level, "account_level": account.real_name_level})
    if grant.acr_level < level:
        # A fresh authorization with a stronger login gives a new token; the app asks for it.
        raise StepUpRequired(extra={"required_level": level, "session_level": grant.acr_level})
    return Person(account, None, client.client_id, grant.acting_for)


class PersonGuard(Guard):
    """``Depends(person(scope))``: a person's bearer token carrying ``scope``, or their session."""

    category = "person"

    def __init__(self, scope: str, level: int) -> None:
        self.scope = scope
        self.level = level

    def __repr__(self) -> str:
        return f"PersonGuard({self.scope}, level={self.level})"

    def __call__(
        self, request: Request, db: DbSession, auth: Annotated[Authenticated | None, Depends(session_if_any)]
    ) -> Person:
        if request.headers.get("authorization"):
            return person_by_token(request, db, _bearer(request), self.scope, self.level)
        session = require_session(request, auth)
        if self.level:
            session = require_level(self.level)(request, db, session)
        return Person(session.account, session.session, None, session.session.acting_for)


def person(scope: str = MOBILE_SCOPE, *, level: int = 0) -> PersonGuard:
    """Dependency: a person by bearer token with ``scope`` (or by session), at real-name ``level``."""
    marked: PersonGuard = security(PERSON_TOKEN, person_token_scheme, scopes=(scope,), statuses=(401, 403))(
        PersonGuard(scope, level)
    )
    return marked
