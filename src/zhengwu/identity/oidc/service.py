"""Client management: register, change, suspend and re-key the provider's clients (services only flush)."""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import actor_of, record_change
from zhengwu.identity.oidc.clients import NO_AUTH, PERSON_SCOPES
from zhengwu.identity.oidc.errors import ClientNotFound, InvalidClientConfig
from zhengwu.identity.oidc.models import OidcClient
from zhengwu.identity.oidc.schemas import ClientCreate, ClientStatusChange, ClientUpdate
from zhengwu.identity.oidc.secrets import NodeKeys
from zhengwu.kernel.clock import utcnow


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback address (RFC 8252 §7.3)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_uri(uri: str, *, what: str, allow_http: bool) -> str:
    """An absolute http(s) URI without fragment; plain http only on loopback or when allowed."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise InvalidClientConfig(
            f"{what}必须是不含片段的绝对 http(s) 地址",
            detail_en=f"{what} must be an absolute http(s) URI without fragment",
            extra={"field": what},
        )
    if parts.scheme == "http" and not (allow_http or is_loopback(parts.hostname)):
        raise InvalidClientConfig(
            f"{what}必须使用 https", detail_en=f"{what} must use https", extra={"field": what}
        )
    return uri


def _check_config(data: ClientCreate, *, allow_http: bool) -> tuple[str, str]:
    grants = set(data.grant_types)
    public = data.token_endpoint_auth_method == NO_AUTH or data.kind == "public"
    if (
        data.kind == "public"
        and "token_endpoint_auth_method" in data.model_fields_set
        and data.token_endpoint_auth_method != NO_AUTH
    ):
        raise InvalidClientConfig(
            "公共客户端没有密钥，认证方式只能是 none",
            detail_en="a public client has no secret: its token_endpoint_auth_method is none",
            extra={"field": "token_endpoint_auth_method"},
        )
    if public and "client_credentials" in grants:
        raise InvalidClientConfig(
            "公共客户端不能使用客户端凭证模式", detail_en="public clients cannot use client_credentials"
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidClientConfig(
            "刷新令牌须与授权码模式一起使用", detail_en="refresh_token needs authorization_code"
        )
    if "authorization_code" in grants and not data.redirect_uris:
        raise InvalidClientConfig(
            "授权码模式至少需要一个回调地址", detail_en="authorization_code needs a redirect URI"
        )
    for uri in data.redirect_uris:
        check_uri(uri, what="redirect_uri", allow_http=allow_http)
    for uri in data.post_logout_redirect_uris:
        check_uri(uri, what="post_logout_redirect_uri", allow_http=allow_http)
    if data.backchannel_logout_uri:
        check_uri(data.backchannel_logout_uri, what="backchannel_logout_uri", allow_http=allow_http)
    default_scope = "openid profile" if "authorization_code" in grants else "api"
    scope = data.scope or default_scope
    parts = scope.split()
    if "citizen_id" in parts and not data.may_receive_citizen_id:
        raise InvalidClientConfig(
            "未获准接收身份证号的应用不能申请 citizen_id 范围",
            detail_en="scope citizen_id needs may_receive_citizen_id",
        )
    if "authorization_code" in grants and "openid" not in parts:
        raise InvalidClientConfig("登录应用的范围必须包含 openid", detail_en="scope must include openid")
    if "authorization_code" not in grants and PERSON_SCOPES & set(parts):
        # A client-credentials token has no person: openid, profile, phone ... would mean nothing in it.
        raise InvalidClientConfig(
            "仅使用客户端凭证模式的应用不能登记 openid、profile、phone 等个人信息范围",
            detail_en="a client_credentials-only client cannot hold person scopes (openid, profile, phone ...)",
            extra={"field": "scope"},
        )
    sector = data.sector
    if not sector:
        hosts = {urlsplit(u).hostname for u in data.redirect_uris}
        # OIDC Core §8.1: one sector per host; several hosts need an explicit sector identifier.
        if len(hosts) > 1:
            raise InvalidClientConfig(
                "回调地址分属多个主机时须指定 sector",
                detail_en="several redirect hosts need an explicit sector",
            )
        sector = (hosts.pop() or "") if hosts else ""
    return scope, sector


def create_client(
    session: Session, node_keys: NodeKeys, data: ClientCreate, *, actor: str | None, allow_http: bool = False
) -> tuple[OidcClient, str | None]:
    """Register a client; returns the row and its secret (shown once; only its digest is kept)."""
    scope, sector = _check_config(data, allow_http=allow_http)
    public = data.token_endpoint_auth_method == NO_AUTH or data.kind == "public"
    client_id = f"zw{secrets.token_hex(10)}"
    secret = None if public else secrets.token_urlsafe(32)
    row = OidcClient(
        client_id=client_id,
        name=data.name,
        kind="public" if public else data.kind,
        secret_digest=node_keys.digest(secret) if secret else None,
        token_endpoint_auth_method=NO_AUTH if public else data.token_endpoint_auth_method,
        grant_types=list(dict.fromkeys(data.grant_types)),
        redirect_uris=list(data.redirect_uris),
        post_logout_redirect_uris=list(data.post_logout_redirect_uris),
        scope=scope,
        audience=data.audience,
        backchannel_logout_uri=data.backchannel_logout_uri,
        sector=sector or client_id,
        min_acr_level=data.min_acr_level,
        default_max_age=data.default_max_age,
        may_receive_citizen_id=data.may_receive_citizen_id,
        consent_required=data.consent_required,
        department_id=data.department_id,
        access_token_ttl=data.access_token_ttl,
        refresh_token_ttl=data.refresh_token_ttl,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    record_change(session, actor=actor_of(actor), action="client.create", entity="identity.client",
                  entity_id=client_id, department_id=row.department_id, after=_snapshot(row))  # fmt: skip
    return row, secret


def _snapshot(row: OidcClient) -> dict[str, Any]:
    """What the change log keeps of a client (never its secret digest)."""
    return {
        "name": row.name,
        "kind": row.kind,
        "status": row.status,
        "scope": row.scope,
        "grant_types": list(row.grant_types or []),
        "redirect_uris": list(row.redirect_uris or []),
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "min_acr_level": row.min_acr_level,
        "may_receive_citizen_id": row.may_receive_citizen_id,
        "department_id": row.department_id,
    }


def get_client(session: Session, client_id: str) -> OidcClient:
    """A client by its public id."""
    row = session.scalar(select(OidcClient).where(OidcClient.client_id == client_id))
    if row is None:
        raise ClientNotFound(detail_en=f"no client {client_id}")
    return row


def list_clients(session: Session, *, offset: int = 0, limit: int = 50) -> tuple[list[OidcClient], int]:
    """Clients, oldest first (stable order), with the total count."""
    total = session.scalar(select(func.count()).select_from(OidcClient)) or 0
    rows = session.scalars(
        select(OidcClient).order_by(OidcClient.created_at, OidcClient.id).offset(offset).limit(limit)
    )
    return list(rows), total


_CLEARABLE = frozenset({"backchannel_logout_uri", "default_max_age"})


def update_client(
    session: Session,
    client_id: str,
    data: ClientUpdate,
    *,
    allow_http: bool = False,
    actor: str | None = None,
) -> OidcClient:
    """Apply a partial change, re-checking the rules on the result."""
    row = get_client(session, client_id)
    before = _snapshot(row)
    # An explicit null clears what may be empty and leaves required settings as they are.
    changes = {
        key: value
        for key, value in data.model_dump(exclude_unset=True).items()
        if value is not None or key in _CLEARABLE
    }
    if "token_endpoint_auth_method" in changes and row.secret_digest is None:
        raise InvalidClientConfig(
            "公共客户端没有密钥，不能改用密钥认证方式",
            detail_en="a public client has no secret to authenticate with",
            extra={"field": "token_endpoint_auth_method"},
        )
    merged = ClientCreate(
        name=changes.get("name", row.name),
        grant_types=row.grant_types,
        kind=row.kind,
        token_endpoint_auth_method=changes.get("token_endpoint_auth_method", row.token_endpoint_auth_method),
        redirect_uris=changes.get("redirect_uris", row.redirect_uris),
        post_logout_redirect_uris=changes.get("post_logout_redirect_uris", row.post_logout_redirect_uris),
        scope=changes.get("scope", row.scope),
        backchannel_logout_uri=changes.get("backchannel_logout_uri", row.backchannel_logout_uri),
        sector=row.sector,
        min_acr_level=changes.get("min_acr_level", row.min_acr_level),
        may_receive_citizen_id=changes.get("may_receive_citizen_id", row.may_receive_citizen_id),
    )
    scope, _ = _check_config(merged, allow_http=allow_http)
    for key, value in changes.items():
        setattr(row, key, value)
    row.scope = scope
    session.flush()
    record_change(session, actor=actor_of(actor), action="client.update", entity="identity.client",
                  entity_id=client_id, department_id=row.department_id, before=before, after=_snapshot(row))  # fmt: skip
    return row


def change_status(
    session: Session, client_id: str, data: ClientStatusChange, *, actor: str | None = None
) -> OidcClient:
    """Suspend, reactivate or revoke a client; revocation is final."""
    row = get_client(session, client_id)
    before = row.status
    if row.status == "revoked" and data.status != "revoked":
        raise InvalidClientConfig("已注销的应用不能恢复", detail_en="a revoked client cannot be reactivated")
    row.status = data.status
    row.status_reason = data.reason
    row.updated_at = utcnow()
    session.flush()
    record_change(session, actor=actor_of(actor), action=f"client.{data.status}", entity="identity.client",
                  entity_id=client_id, department_id=row.department_id, before={"status": before},
                  after={"status": row.status, "reason": data.reason})  # fmt: skip
    return row


def rotate_secret(session: Session, node_keys: NodeKeys, client_id: str, *, actor: str | None = None) -> str:
    """Issue a new client secret (the old one stops working at once)."""
    row = get_client(session, client_id)
    if row.secret_digest is None:
        raise InvalidClientConfig("公共客户端没有密钥", detail_en="public clients have no secret")
    secret = secrets.token_urlsafe(32)
    row.secret_digest = node_keys.digest(secret)
    session.flush()
    record_change(session, actor=actor_of(actor), action="client.secret_rotated", entity="identity.client",
                  entity_id=client_id, department_id=row.department_id, after={"client_secret": "rotated"})  # fmt: skip
    return secret
