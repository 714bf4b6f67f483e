"""The provider of one node: keys, client cache, Authlib server, issuance recorder and logout dispatcher.

One :class:`OidcRuntime` is the node service ``identity.servicekeys.OIDC``; routes and subscribers reach everything through it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.common.security import is_secure_transport
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.oidc.claims import consent_scopes, covering_consent
from zhengwu.identity.oidc.clients import ClientRegistry, RegisteredClient
from zhengwu.identity.oidc.issuance import IssuanceRecorder, write_issuance
from zhengwu.identity.oidc.keys import KeyMaterial, KeyRing, ensure_signing_key
from zhengwu.identity.oidc.models import OidcGrant, OidcRevokedToken, OidcRpSession
from zhengwu.identity.oidc.revocation import revoke_grants
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.identity.oidc.server import bound_session
from zhengwu.identity.oidc.tokens import TokenRejected, header_kid, id_token, verify
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id

if TYPE_CHECKING:
    from zhengwu.identity.oidc.backchannel import LogoutDispatcher
    from zhengwu.identity.oidc.server import OAuthRequest, Subject, ZhengwuServer

PREFIX = "/oidc"


class OidcRuntime:
    """Everything the provider of this node keeps between requests."""

    def __init__(
        self,
        settings: Settings,
        session_factory: Callable[[], Callable[[], Session]],
    ) -> None:
        from zhengwu.identity.oidc.backchannel import LogoutDispatcher
        from zhengwu.identity.oidc.server import ZhengwuServer

        self.node = settings
        self.settings = settings.oidc
        self._factory_getter = session_factory
        self.node_keys = NodeKeys(settings.security.secret_key.get_secret_value())
        self.issuer = settings.public_url
        self.userinfo_audience = f"{self.issuer}{PREFIX}/userinfo"
        self.keyring = KeyRing(self.node_keys, self.settings.key_refresh_seconds)
        self.clients = ClientRegistry(self.node_keys, self.settings.client_cache_seconds)
        self.issuance = IssuanceRecorder(session_factory, self.settings.issuance_batch_max)
        self.server: ZhengwuServer = ZhengwuServer(self)
        self.dispatcher: LogoutDispatcher = LogoutDispatcher(self)
        self.allow_http = not settings.production
        self._login_options: tuple[float, list[dict[str, str]]] | None = None
        if settings.production and not is_secure_transport(self.issuer):
            # RFC 6749 §3.1/§3.2: the endpoints must be served over TLS (loopback excepted).
            raise ValueError("ZHENGWU_PUBLIC_URL must be https in production (OAuth 2.0 needs TLS)")

    # --- shared helpers -------------------------------------------------------------------------------

    @property
    def session_factory(self) -> Callable[[], Session]:
        """The app's current session factory (tests swap it after the app is built)."""
        return self._factory_getter()

    def url(self, path: str) -> str:
        """Absolute URL of one of the provider's endpoints."""
        return f"{self.issuer}{PREFIX}{path}"

    def key_material(self) -> KeyMaterial:
        """Signing and verification keys (cached; a reload reads with the request's session if bound)."""
        return self.keyring.current(self.session_factory, bound_session())

    def ensure_signing_key(self) -> str | None:
        """Make the node's first signing key if it has none, in a transaction of its own (start-up);
        returns the new key's ``kid``, or ``None`` when the node already had one."""
        with self.session_factory() as db:
            try:
                row = ensure_signing_key(db, self.node_keys, self.node.node_id)
                kid = row.kid if row is not None else None
                db.commit()
            except BaseException:
                db.rollback()
                raise
        if kid is not None:
            self.keyring.invalidate()
        return kid

    def fresh_key_material(self) -> KeyMaterial | None:
        """The cached material if it needs no reload (the event-loop fast path must not block)."""
        return self.keyring.fresh()

    def verify_own(self, value: str, *, typ: str | None, leeway: int = 30) -> dict[str, Any]:
        """Check a token this node signed; a ``kid`` not yet known here (a key rotated or created by
        another worker) reloads the key ring once before the token is refused."""
        material = self.key_material()
        try:
            return verify(material, value, issuer=self.issuer, typ=typ, leeway=leeway)
        except TokenRejected as exc:
            kid = header_kid(value)
            if (
                exc.reason != "signature"
                or kid is None
                or kid in {k.get("kid") for k in material.jwks["keys"]}
            ):
                raise
        self.keyring.invalidate()
        return verify(self.key_material(), value, issuer=self.issuer, typ=typ, leeway=leeway)

    @staticmethod
    def new_secret() -> str:
        """A fresh opaque secret (refresh tokens, codes)."""
        return secrets.token_urlsafe(32)

    def audit(
        self,
        db: Session,
        event_type: str,
        *,
        success: bool,
        client_id: str | None = None,
        account_id: str | None = None,
        session_id: str | None = None,
        meta: RequestMeta | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append to the identity core's hash-chained authentication trail."""
        record_auth_event(
            db,
            f"oidc_{event_type}"[:32],
            success=success,
            client_id=client_id,
            account_id=account_id,
            session_id=session_id,
            meta=meta or RequestMeta(),
            detail=detail,
        )

    # --- grants of people -----------------------------------------------------------------------------

    def record_person_grant(
        self,
        db: Session,
        client: RegisteredClient,
        subject: Subject,
        token: dict[str, Any],
        request: OAuthRequest,
    ) -> None:
        """Persist a code or refresh exchange: grant row, RP session (for logout), issuance record."""
        now = utcnow()
        family = subject.family_id or new_id()
        refresh = token.get("refresh_token")
        grant = OidcGrant(
            id=new_id(),
            client_id=client.client_id,
            account_id=subject.account_id,
            session_id=subject.session_id,
            acting_for=subject.acting_for,
            code_id=subject.code_id,
            family_id=family,
            scope=token["scope"],
            access_jti=token["_jti"],
            refresh_digest=self.node_keys.digest(refresh) if refresh else None,
            auth_time=subject.auth_time,
            acr_level=subject.acr_level,
            amr=list(subject.amr),
            consent_id=subject.consent_id,
            issued_at=now,
            access_expires_at=datetime.fromtimestamp(token["_exp"], UTC),
            refresh_expires_at=now + timedelta(seconds=client.refresh_token_ttl) if refresh else None,
        )
        db.add(grant)
        subject.grant_id = grant.id
        if subject.session_id:
            self.ensure_rp_session(db, client, subject.session_id, subject.account_id)
        write_issuance(
            db,
            [
                {
                    "jti": token["_jti"],
                    "client_id": client.client_id,
                    "grant_type": request.payload.grant_type or "authorization_code",
                    "account_id": subject.account_id,
                    "scope": token["scope"],
                    "audience": token["_aud"],
                    "issued_at": datetime.fromtimestamp(token["_iat"], UTC),
                    "expires_at": datetime.fromtimestamp(token["_exp"], UTC),
                }
            ],
        )

    def ensure_rp_session(
        self, db: Session, client: RegisteredClient, session_id: str, account_id: str
    ) -> None:
        """Remember that this client holds a session of the user (idempotent)."""
        values = {
            "id": new_id(),
            "session_id": session_id,
            "account_id": account_id,
            "client_id": client.client_id,
            "sid": self.node_keys.sid(session_id, client.client_id),
            "sub": self.node_keys.pairwise_sub(account_id, client.sector),
            "created_at": utcnow(),
        }
        db.execute(dialect_insert(db, OidcRpSession).values(**values).on_conflict_do_nothing())

    def make_id_token(
        self, client: RegisteredClient, subject: Subject, scope: str, access_token_value: str | None
    ) -> str:
        """The ID token of a code exchange: authentication facts only; personal claims come from userinfo."""
        return id_token(
            self.key_material(),
            issuer=self.issuer,
            client_id=client.client_id,
            subject=self.node_keys.pairwise_sub(subject.account_id, client.sector),
            ttl=self.settings.id_token_ttl_seconds,
            auth_time=int(subject.auth_time.timestamp()),
            acr=f"urn:zhengwu:loa:{subject.acr_level}",
            amr=list(subject.amr),
            sid=self.node_keys.sid(subject.session_id or subject.account_id, client.client_id),
            nonce=subject.nonce,
            access_token_value=access_token_value,
            claims={},
        )

    def grant_still_allowed(self, db: Session, grant: OidcGrant) -> bool:
        """A refresh is refused after logout (session ended) or withdrawn consent (conventions §6)."""
        client = self.clients.get(db, grant.client_id)
        if client is None:
            return False
        needs_consent = client.consent_required and consent_scopes(grant.scope)
        if needs_consent and covering_consent(db, grant.account_id, client, grant.scope) is None:
            return False
        if grant.session_id:
            from zhengwu.identity.models import UserSession

            user_session = db.get(UserSession, grant.session_id)
            if user_session is None or user_session.ended_at is not None:
                return False
        return True

    # --- revocation ------------------------------------------------------------------------------------

    def revoke_jti(self, db: Session, claims: dict[str, Any], *, reason: str) -> None:
        """Put an access token on the deny list until it would have expired anyway."""
        jti = str(claims.get("jti", ""))
        if not jti or self.is_jti_revoked(db, jti):
            return
        exp = datetime.fromtimestamp(float(claims.get("exp", time.time())), UTC)
        db.add(
            OidcRevokedToken(
                jti=jti, client_id=str(claims.get("client_id", ""))[:64], expires_at=exp, reason=reason
            )
        )
        db.execute(
            update(OidcGrant)
            .where(OidcGrant.access_jti == jti, OidcGrant.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )
        db.flush()

    def is_jti_revoked(self, db: Session, jti: str) -> bool:
        """Whether an access token was revoked."""
        return db.get(OidcRevokedToken, jti) is not None

    def _revoke_grants(self, db: Session, rows: list[OidcGrant], reason: str) -> int:
        return revoke_grants(db, rows, reason)

    def revoke_family(self, db: Session, family_id: str, *, reason: str) -> int:
        """Revoke every grant of a refresh-token family (rotation replay, client revocation)."""
        rows = list(db.scalars(select(OidcGrant).where(OidcGrant.family_id == family_id)))
        return self._revoke_grants(db, rows, reason)

    def revoke_code_descendants(self, db: Session, code_id: str, *, reason: str) -> int:
        """Revoke everything issued from an authorization code (RFC 6749 §4.1.2 on code replay)."""
        families = sorted(set(db.scalars(select(OidcGrant.family_id).where(OidcGrant.code_id == code_id))))
        rows = (
            list(db.scalars(select(OidcGrant).where(OidcGrant.family_id.in_(families)))) if families else []
        )
        return self._revoke_grants(db, rows, reason)

    def revoke_session_grants(self, db: Session, session_id: str, *, reason: str) -> int:
        """Revoke the tokens every client obtained within a user session (logout)."""
        rows = list(db.scalars(select(OidcGrant).where(OidcGrant.session_id == session_id)))
        return self._revoke_grants(db, rows, reason)

    def revoke_consent_grants(self, db: Session, account_id: str, client_id: str, *, reason: str) -> int:
        """Revoke a client's tokens of a person that relied on consent (after a withdrawal)."""
        rows = list(
            db.scalars(
                select(OidcGrant).where(
                    OidcGrant.account_id == account_id,
                    OidcGrant.client_id == client_id,
                    OidcGrant.consent_id.is_not(None),
                )
            )
        )
        return self._revoke_grants(db, rows, reason)

    def login_options(self) -> list[dict[str, str]]:
        """Buttons for the login page (trusted providers), re-read at most every 30 seconds."""
        cached = self._login_options
        if cached is not None and time.monotonic() - cached[0] < 30:
            return cached[1]
        from zhengwu.identity.oidc.federation import login_options

        with self.session_factory() as db:
            options = login_options(db, tier=self.node.tier)
        self._login_options = (time.monotonic(), options)
        return options

    def close(self) -> None:
        """Stop background threads."""
        self.issuance.close()
        self.dispatcher.close()
