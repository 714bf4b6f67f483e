"""Trust transfer between tiers (信任传递, standards §4.3): this node as a relying party of another node.

The upstream node (``ZHENGWU_UPSTREAM_URL``) — or a downstream node an administrator configured — logs the
person in; we redeem the code (PKCE + client secret), check the ID token, read the claims, link the local
account by the citizen-ID blind index (creating it when absent) and open a local session whose level is
the lower of the local account's level and what the other node vouched for. Logout travels both ways:
the other node's back-channel logout token ends our session, and our logout ends theirs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service as core
from zhengwu.identity.audit import RequestMeta
from zhengwu.identity.errors import AccountExists
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, AccountKind
from zhengwu.identity.oidc.errors import FederationNotConfigured, FederationRejected, FederationUnavailable
from zhengwu.identity.oidc.models import (
    OidcAccountLink,
    OidcFederatedLogin,
    OidcFederation,
    OidcLogoutDelivery,
)
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.identity.oidc.server import acr_level
from zhengwu.identity.oidc.tokens import BACKCHANNEL_EVENT, TokenRejected, verify_with
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Tier
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_in

if TYPE_CHECKING:
    from zhengwu.identity.oidc.runtime import OidcRuntime

log = get_logger("zhengwu.identity.oidc.federation")

CALLBACK_PATH = "/oidc/federation/callback"
BACKCHANNEL_PATH = "/oidc/federation/backchannel-logout"
LOGIN_PATH = "/oidc/federation/login"
FEDERATION_SCOPE = "openid profile phone citizen_id"
#: In an authorization request to a zhengwu node: "the person logs in with an account of the top tier".
#: A node that has no session for them and trusts an upper node passes the request straight on to it
#: (with the same marker), instead of showing its own login page — a national account logs in at a
#: county in one click, however many tiers lie between. Other providers ignore unknown parameters.
ONWARD_PARAM = "zw_onward"
_PENDING_TTL = timedelta(minutes=10)


def _aad(federation_id: str, what: str) -> bytes:
    return f"zhengwu/oidc/federation/{federation_id}/{what}".encode()


def fetch_metadata(issuer: str, *, http: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Discovery document and JWKS of a provider; the document must name exactly this issuer."""
    try:
        meta = http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration").raise_for_status().json()
        if not isinstance(meta, dict) or meta.get("issuer") != issuer.rstrip("/"):
            raise FederationRejected(
                "上级平台的元数据与配置地址不一致", detail_en="issuer mismatch in discovery"
            )
        jwks = http.get(str(meta["jwks_uri"])).raise_for_status().json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise FederationUnavailable(detail_en=f"discovery failed: {type(exc).__name__}") from exc
    if "S256" not in meta.get("code_challenge_methods_supported", []):
        raise FederationRejected("上级平台不支持 PKCE S256", detail_en="provider lacks PKCE S256")
    return meta, jwks


def register_federation(
    db: Session,
    node_keys: NodeKeys,
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    direction: str,
    label: str,
    http: httpx.Client,
) -> OidcFederation:
    """Record (or update) a provider this node trusts, with its metadata fetched now."""
    meta, jwks = fetch_metadata(issuer, http=http)
    issuer = issuer.rstrip("/")
    row = db.scalar(select(OidcFederation).where(OidcFederation.issuer == issuer))
    if row is None:
        row = OidcFederation(
            issuer=issuer, direction=direction, label=label, client_id=client_id, client_secret_enc=b""
        )
        db.add(row)
        db.flush()
    row.direction = direction
    row.label = label
    row.client_id = client_id
    row.client_secret_enc = node_keys.seal(client_secret.encode(), _aad(row.id, "client-secret"))
    row.metadata_doc = meta
    row.jwks = jwks
    row.fetched_at = utcnow()
    row.enabled = True
    db.flush()
    return row


def list_federations(db: Session, *, enabled_only: bool = True) -> list[OidcFederation]:
    """Configured providers (upstream first)."""
    query = select(OidcFederation).order_by(OidcFederation.direction.desc(), OidcFederation.created_at)
    if enabled_only:
        query = query.where(OidcFederation.enabled.is_(True))
    return list(db.scalars(query))


def login_options(db: Session, *, tier: Tier | None = None) -> list[dict[str, str]]:
    """Buttons for the login page: "使用国家政务服务平台账号登录" and any configured peers; on a city or
    county node (``tier``, else the session's node) also "its upper node's account", passed on through
    every tier to the top one (a province's upper node is the national one: nothing lies beyond it)."""
    options = []
    if tier is None:
        try:
            tier = node_in(db).settings.tier
        except RuntimeError:
            tier = None
    beyond = tier in (Tier.CITY, Tier.COUNTY)
    for f in list_federations(db):
        options.append({"label": f.label, "url": f"{LOGIN_PATH}?provider={f.id}"})
        if f.direction == "upstream" and beyond:
            options.append(
                {
                    "label": "使用国家政务服务平台账号登录（经各级平台自动转接）",
                    "url": f"{LOGIN_PATH}?provider={f.id}&onward=1",
                }
            )
    return options


def upstream_federation(db: Session) -> OidcFederation | None:
    """The upper node this node logs people in with (None when it trusts none)."""
    return db.scalar(
        select(OidcFederation)
        .where(OidcFederation.direction == "upstream", OidcFederation.enabled.is_(True))
        .order_by(OidcFederation.created_at)
        .limit(1)
    )


def safe_return_to(value: str | None) -> str:
    """Only local paths are accepted as a destination after login (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value[:1000]


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def begin_login(
    db: Session,
    runtime: OidcRuntime,
    federation_id: str | None,
    return_to: str | None,
    *,
    onward: bool = False,
) -> str:
    """Create the pending login (state, nonce, PKCE) and return the provider's authorization URL; with
    ``onward`` the provider is asked to pass the person on to its own upper node (``ONWARD_PARAM``)."""
    federation = db.get(OidcFederation, federation_id) if federation_id else None
    if federation is None or not federation.enabled:
        raise FederationNotConfigured()
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(24)
    verifier, challenge = _pkce_pair()
    login = OidcFederatedLogin(
        federation_id=federation.id,
        state_digest=runtime.node_keys.digest(state),
        nonce=nonce,
        code_verifier_enc=b"",
        return_to=safe_return_to(return_to),
        expires_at=utcnow() + _PENDING_TTL,
    )
    db.add(login)
    db.flush()
    login.code_verifier_enc = runtime.node_keys.seal(verifier.encode(), _aad(login.id, "verifier"))
    query = {
        "response_type": "code",
        "client_id": federation.client_id,
        "redirect_uri": f"{runtime.issuer}{CALLBACK_PATH}",
        "scope": FEDERATION_SCOPE,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if onward:
        query[ONWARD_PARAM] = "1"
    return f"{federation.metadata_doc['authorization_endpoint']}?{urlencode(query)}"


class _JwksCache:
    """Refetches a provider's JWKS at most once a minute when a token names an unknown key."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def key_set(self, db: Session, federation: OidcFederation, kid: str | None, http: httpx.Client) -> KeySet:
        kids = {k.get("kid") for k in federation.jwks.get("keys", [])}
        if kid not in kids:
            with self._lock:
                if time.monotonic() - self._last.get(federation.id, 0.0) > 60:
                    self._last[federation.id] = time.monotonic()
                    try:
                        federation.jwks = (
                            http.get(str(federation.metadata_doc["jwks_uri"])).raise_for_status().json()
                        )
                        federation.fetched_at = utcnow()
                        db.flush()
                    except (httpx.HTTPError, ValueError) as exc:
                        raise FederationUnavailable(detail_en="jwks refresh failed") from exc
        return KeySet.import_key_set(federation.jwks)  # type: ignore[arg-type]


JWKS = _JwksCache()


def _kid(token: str) -> str | None:
    import json

    try:
        header = json.loads(base64.urlsafe_b64decode(token.split(".", 1)[0] + "=="))
    except (ValueError, IndexError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return str(kid) if kid else None


def complete_login(
    db: Session,
    runtime: OidcRuntime,
    *,
    state: str,
    code: str | None,
    error: str | None,
    http: httpx.Client,
    meta: RequestMeta,
    bus: Any,
) -> tuple[Any, str]:
    """Redeem the code, verify the person and open the local session; returns (user session, return_to)."""
    login = db.scalar(
        select(OidcFederatedLogin).where(OidcFederatedLogin.state_digest == runtime.node_keys.digest(state))
    )
    if login is None or login.status != "pending" or login.expires_at < utcnow():
        raise FederationRejected("登录请求已失效，请重新登录", detail_en="unknown, used or expired state")
    login.status = "failed"  # one use only, whatever happens next
    db.flush()
    federation = db.get(OidcFederation, login.federation_id)
    if federation is None or not federation.enabled:
        raise FederationNotConfigured()
    if error or not code:
        raise FederationRejected(
            "上级平台未完成登录（已取消或被拒绝）", detail_en=f"provider answered {error}"
        )
    secret = runtime.node_keys.open(
        federation.client_secret_enc, _aad(federation.id, "client-secret")
    ).decode()
    verifier = runtime.node_keys.open(login.code_verifier_enc, _aad(login.id, "verifier")).decode()
    meta_doc = federation.metadata_doc
    try:
        response = http.post(
            str(meta_doc["token_endpoint"]),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": f"{runtime.issuer}{CALLBACK_PATH}",
                "code_verifier": verifier,
            },
            auth=(federation.client_id, secret),
        )
        tokens = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise FederationUnavailable(detail_en="token request failed") from exc
    if response.status_code != 200 or "id_token" not in tokens:
        raise FederationRejected(detail_en=f"token endpoint answered {response.status_code}")
    id_token = str(tokens["id_token"])
    try:
        claims = verify_with(
            JWKS.key_set(db, federation, _kid(id_token), http),
            id_token,
            issuer=federation.issuer,
            typ=None,
            audience=federation.client_id,
            leeway=60,
        )
    except TokenRejected as exc:
        raise FederationRejected(detail_en=f"id_token rejected: {exc.reason}") from exc
    if claims.get("nonce") != login.nonce:
        raise FederationRejected(detail_en="nonce mismatch")
    try:
        info_response = http.get(
            str(meta_doc["userinfo_endpoint"]), headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        info = info_response.json()
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise FederationUnavailable(detail_en="userinfo request failed") from exc
    if info_response.status_code != 200 or info.get("sub") != claims.get("sub"):
        raise FederationRejected(detail_en="userinfo does not match the ID token")
    remote_level = acr_level(str(claims.get("acr", ""))) or 2
    account = _link_account(db, runtime, federation, str(claims["sub"]), info, remote_level, meta)
    level = max(2, min(int(account.real_name_level), remote_level))
    amr = sorted({*(str(m) for m in claims.get("amr", []) if isinstance(m, str)), "fed"})
    user_session = core.start_session(db, account, auth_level=level, amr=amr, meta=meta)
    login.status = "active"
    login.remote_sub = str(claims["sub"])[:64]
    login.remote_sid = str(claims.get("sid", ""))[:64] or None
    login.id_token_enc = runtime.node_keys.seal(id_token.encode(), _aad(login.id, "id-token"))
    login.account_id = account.id
    login.session_id = user_session.id
    db.flush()
    runtime.audit(
        db,
        "federated_login",
        success=True,
        account_id=account.id,
        session_id=user_session.id,
        client_id=federation.client_id,
        meta=meta,
        detail={"issuer": federation.issuer, "remote_level": remote_level, "session_level": level},
    )
    return user_session, login.return_to


def _link_account(
    db: Session,
    runtime: OidcRuntime,
    federation: OidcFederation,
    remote_sub: str,
    info: dict[str, Any],
    remote_level: int,
    meta: RequestMeta,
) -> Account:
    link = db.scalar(
        select(OidcAccountLink).where(
            OidcAccountLink.federation_id == federation.id, OidcAccountLink.remote_sub == remote_sub[:64]
        )
    )
    account = db.get(Account, link.account_id) if link is not None else None
    if account is None:
        number = info.get("citizen_id")
        if not isinstance(number, str):
            raise FederationRejected(
                "上级平台未提供身份证号码，无法关联账号", detail_en="no citizen_id claim"
            )
        # Accounts are linked by the blind index of the ID number, never by a plain-text lookup.
        account = core.find_account_by_citizen_id(db, number)
        if account is None:
            claimed = info.get("real_name_level")
            # A new account starts at the level the other node verified the person to (2..5).
            level = claimed if isinstance(claimed, int) and 2 <= claimed <= 5 else remote_level
            try:
                account = core.register_natural_person(
                    db,
                    name=str(info.get("name") or ""),
                    id_number=number,
                    phone=str(info.get("phone_number") or ""),
                    password=None,
                    real_name_level=RealNameLevel(level),
                    source=f"federation:{federation.direction}"[:64],
                    meta=meta,
                    limit_rate=False,
                )
            except AccountExists as exc:  # a concurrent first login created it
                account = core.find_account_by_citizen_id(db, number)
                if account is None:
                    raise FederationRejected(detail_en="account creation conflict") from exc
        if link is None:
            link = OidcAccountLink(
                federation_id=federation.id,
                remote_sub=remote_sub[:64],
                account_id=account.id,
                remote_acr_level=remote_level,
            )
            db.add(link)
        else:
            link.account_id = account.id
    if account.kind != AccountKind.NATURAL or account.status != "active":
        raise FederationRejected(
            "该账号不能通过跨级登录使用", detail_en="linked account not an active natural person"
        )
    assert link is not None
    link.remote_acr_level = remote_level
    link.last_login_at = utcnow()
    db.flush()
    return account


def receive_backchannel_logout(
    db: Session, runtime: OidcRuntime, logout_token: str, *, http: httpx.Client, bus: Any
) -> int:
    """Validate a provider's logout token (BCL 1.0 §2.6) and end the matching local sessions."""
    import json

    try:
        payload = json.loads(base64.urlsafe_b64decode(logout_token.split(".")[1] + "=="))
        issuer = str(payload.get("iss", ""))
    except (ValueError, IndexError, AttributeError) as exc:
        raise FederationRejected(detail_en="malformed logout token") from exc
    federation = db.scalar(select(OidcFederation).where(OidcFederation.issuer == issuer))
    if federation is None or not federation.enabled:
        raise FederationRejected(detail_en="logout token from an unknown issuer")
    try:
        claims = verify_with(
            JWKS.key_set(db, federation, _kid(logout_token), http),
            logout_token,
            issuer=federation.issuer,
            typ=None,
            audience=federation.client_id,
            leeway=60,
        )
    except TokenRejected as exc:
        raise FederationRejected(detail_en=f"logout token rejected: {exc.reason}") from exc
    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events or "nonce" in claims:
        raise FederationRejected(detail_en="not a back-channel logout token")
    sid = claims.get("sid")
    sub = claims.get("sub")
    if not sid and not sub:
        raise FederationRejected(detail_en="logout token names neither sid nor sub")
    query = select(OidcFederatedLogin).where(
        OidcFederatedLogin.federation_id == federation.id, OidcFederatedLogin.status == "active"
    )
    query = (
        query.where(OidcFederatedLogin.remote_sid == str(sid))
        if sid
        else query.where(OidcFederatedLogin.remote_sub == str(sub))
    )
    ended = 0
    for login in db.scalars(query):
        login.status = "ended"
        login.ended_at = utcnow()
        login.ended_by = "remote"
        db.flush()
        if login.session_id:
            core.end_session(db, login.session_id, "federated_logout", bus=bus)
        ended += 1
    runtime.audit(
        db,
        "federated_logout_in",
        success=True,
        client_id=federation.client_id,
        detail={"issuer": federation.issuer, "sessions": ended},
    )
    return ended


def schedule_federated_logout(runtime: OidcRuntime, db: Session, session_id: str) -> int:
    """Our session ended: queue ending the provider's session too (unless the provider ended it)."""
    rows = list(
        db.scalars(
            select(OidcFederatedLogin).where(
                OidcFederatedLogin.session_id == session_id, OidcFederatedLogin.status == "active"
            )
        )
    )
    queued = 0
    for login in rows:
        login.status = "ended"
        login.ended_at = utcnow()
        login.ended_by = "local"
        federation = db.get(OidcFederation, login.federation_id)
        if federation is None or not federation.metadata_doc.get("end_session_endpoint"):
            continue
        db.add(
            OidcLogoutDelivery(
                kind="upstream",
                federated_login_id=login.id,
                client_id=federation.client_id,
                uri=str(federation.metadata_doc["end_session_endpoint"]),
                sid=login.remote_sid or "",
                sub=login.remote_sub or "",
                next_attempt_at=utcnow(),
            )
        )
        queued += 1
    db.flush()
    return queued


def deliver_upstream_logout(
    runtime: OidcRuntime, db: Session, row: OidcLogoutDelivery, http: httpx.Client
) -> int:
    """POST the provider's end-session endpoint with our client credentials and the ID token as hint."""
    login = db.get(OidcFederatedLogin, row.federated_login_id) if row.federated_login_id else None
    federation = db.get(OidcFederation, login.federation_id) if login is not None else None
    if login is None or federation is None or login.id_token_enc is None:
        return 410
    id_token = runtime.node_keys.open(login.id_token_enc, _aad(login.id, "id-token")).decode()
    secret = runtime.node_keys.open(
        federation.client_secret_enc, _aad(federation.id, "client-secret")
    ).decode()
    response = http.post(
        row.uri,
        data={"id_token_hint": id_token, "client_id": federation.client_id},
        auth=(federation.client_id, secret),
    )
    return response.status_code
