"""``zhengwu identity``: OIDC clients, signing keys, and trust with the upstream (or a downstream) node."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from zhengwu.commands.node import load_settings, node_unit
from zhengwu.commands.operator import operator_actor, privileged
from zhengwu.identity import rights as identity_rights
from zhengwu.kernel.config import Settings

app = typer.Typer(help="统一身份认证 / identity: OIDC clients, keys, upstream trust.", no_args_is_help=True)
clients_app = typer.Typer(help="接入应用 / OIDC clients of this node.", no_args_is_help=True)
keys_app = typer.Typer(help="签名密钥 / ES256 signing keys.", no_args_is_help=True)
upstream_app = typer.Typer(
    help="上级平台 / this node as a relying party of its upstream node.", no_args_is_help=True
)
federation_app = typer.Typer(
    help="对端平台 / other trusted nodes (e.g. a province, on the national node).", no_args_is_help=True
)
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(upstream_app, name="upstream")
app.add_typer(federation_app, name="federation")

console = Console()
err_console = Console(stderr=True)


class AuthMethodChoice(StrEnum):
    """Token endpoint authentication methods the provider implements (schemas.AuthMethod)."""

    client_secret_basic = "client_secret_basic"  # noqa: S105 - a method name, not a secret
    client_secret_post = "client_secret_post"  # noqa: S105 - a method name, not a secret
    none = "none"


def _settings() -> Settings:
    return load_settings()


@contextmanager
def _unit(settings: Settings) -> Iterator[Session]:
    with node_unit(settings) as (_node, session):
        yield session


def _keys(settings: Settings) -> Any:
    from zhengwu.identity.oidc.secrets import NodeKeys

    return NodeKeys(settings.security.secret_key.get_secret_value())


def _fail(exc: Exception) -> typer.Exit:
    from zhengwu.kernel.errors import DomainError

    message = exc.detail if isinstance(exc, DomainError) else f"{exc.error_count()} error(s)"  # type: ignore[attr-defined]
    err_console.print(f"[red]{message}[/red]")
    return typer.Exit(1)


def _print(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@clients_app.command("create")
@privileged(identity_rights.CLIENTS_MANAGE)
def clients_create(
    name: Annotated[str, typer.Option(help="应用名称 / client name.")],
    grant: Annotated[list[str], typer.Option(help="authorization_code or client_credentials (repeatable).")],
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Registered redirect URI.")
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Space-separated allowed scopes.")] = None,
    backchannel_logout_uri: Annotated[str | None, typer.Option("--backchannel-logout-uri")] = None,
    post_logout_redirect_uri: Annotated[list[str] | None, typer.Option("--post-logout-redirect-uri")] = None,
    kind: Annotated[str, typer.Option(help="department, node or public.")] = "department",
    auth_method: Annotated[
        AuthMethodChoice | None,
        typer.Option(
            "--auth-method",
            help="How the client authenticates at the token endpoint: client_secret_basic (HTTP Basic, "
            "the default), client_secret_post (secret in the form body), none (public clients, the "
            "default with --kind public).",
        ),
    ] = None,
    audience: Annotated[str | None, typer.Option(help="Resource the access tokens are for (aud).")] = None,
    min_acr: Annotated[int, typer.Option("--min-acr", help="Minimum real-name level 2..5.")] = 2,
    max_age: Annotated[
        int | None,
        typer.Option("--max-age", help="Seconds since login after which the user must log in again."),
    ] = None,
    citizen_id: Annotated[
        bool, typer.Option("--citizen-id", help="May receive the ID number claim.")
    ] = False,
    no_consent: Annotated[bool, typer.Option("--no-consent", help="Release claims without asking.")] = False,
    no_refresh: Annotated[bool, typer.Option("--no-refresh", help="No refresh tokens.")] = False,
    department: Annotated[
        str | None,
        typer.Option("--department", help="所属部门统一社会信用代码 / the system's department (USCC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Register a client; prints its id and secret ONCE (only a keyed digest of the secret is stored)."""
    from pydantic import ValidationError

    from zhengwu.identity.oidc import service
    from zhengwu.identity.oidc.schemas import ClientCreate, ClientCreated
    from zhengwu.kernel.errors import DomainError

    settings = _settings()
    grants = list(dict.fromkeys(grant))
    if "authorization_code" in grants and not no_refresh and kind != "node":
        grants.append("refresh_token")
    try:
        data = ClientCreate(
            name=name,
            grant_types=grants,
            kind=kind,
            **({"token_endpoint_auth_method": auth_method.value} if auth_method is not None else {}),
            redirect_uris=redirect_uri or [],
            post_logout_redirect_uris=post_logout_redirect_uri or [],
            scope=scope,
            audience=audience,
            backchannel_logout_uri=backchannel_logout_uri,
            min_acr_level=min_acr,
            default_max_age=max_age,
            may_receive_citizen_id=citizen_id,
            consent_required=not no_consent and kind != "node",
        )
        with _unit(settings) as session:
            if department is not None:
                from zhengwu.orgs import service as orgs

                data.department_id = orgs.get_by_credit_code(session, department).id
            row, secret = service.create_client(
                session,
                _keys(settings),
                data,
                actor=operator_actor("cli"),
                allow_http=not settings.production,
            )
            created = ClientCreated.model_validate(row)
            created.client_secret = secret
    except (DomainError, ValidationError) as exc:
        raise _fail(exc) from exc
    if as_json:
        _print(created.model_dump(mode="json"))
        return
    console.print(f"client_id: {created.client_id}")
    console.print(f"token_endpoint_auth_method: {created.token_endpoint_auth_method}")
    if secret:
        console.print(f"client_secret: {secret}")
        console.print("[yellow]密钥只显示这一次，请妥善保存 / the secret is shown only once[/yellow]")


@clients_app.command("list")
def clients_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List registered clients."""
    from zhengwu.identity.oidc import service
    from zhengwu.identity.oidc.schemas import ClientRead

    settings = _settings()
    with _unit(settings) as session:
        rows, _ = service.list_clients(session, limit=100_000)
        items = [ClientRead.model_validate(r) for r in rows]
    if as_json:
        for item in items:
            _print(item.model_dump(mode="json"))
        return
    table = Table(title="接入应用 / clients")
    for column in ("client_id", "name", "kind", "grants", "status"):
        table.add_column(column)
    for item in items:
        table.add_row(item.client_id, item.name, item.kind, " ".join(item.grant_types), item.status)
    console.print(table)


@clients_app.command("set-status")
@privileged(identity_rights.CLIENTS_MANAGE)
def clients_set_status(
    client_id: Annotated[str, typer.Argument()],
    status: Annotated[str, typer.Option(help="active, suspended or revoked.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
) -> None:
    """Suspend, reactivate or revoke a client."""
    from pydantic import ValidationError

    from zhengwu.identity.oidc import service
    from zhengwu.identity.oidc.schemas import ClientStatusChange
    from zhengwu.kernel.errors import DomainError

    settings = _settings()
    try:
        with _unit(settings) as session:
            service.change_status(
                session,
                client_id,
                ClientStatusChange(status=status, reason=reason),
                actor=operator_actor("cli"),
            )
    except (DomainError, ValidationError) as exc:
        raise _fail(exc) from exc
    console.print(f"{client_id}: {status}")


@clients_app.command("rotate-secret")
@privileged(identity_rights.CLIENTS_MANAGE)
def clients_rotate_secret(
    client_id: Annotated[str, typer.Argument()], as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Issue a new secret (printed once); the old one stops working."""
    from zhengwu.identity.oidc import service
    from zhengwu.kernel.errors import DomainError

    settings = _settings()
    try:
        with _unit(settings) as session:
            secret = service.rotate_secret(session, _keys(settings), client_id, actor=operator_actor("cli"))
    except DomainError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print({"client_id": client_id, "client_secret": secret})
    else:
        console.print(f"client_secret: {secret}")


def ensure_signing_key(settings: Settings) -> str | None:
    """Give a freshly migrated node its first ES256 signing key (``zhengwu migrate`` calls this), so
    that the first sign-in does not wait for the server's start-up to make one; the new kid or None."""
    from zhengwu.identity.oidc.keys import ensure_signing_key as ensure

    with _unit(settings) as session:
        row = ensure(session, _keys(settings), settings.node_id)
        return row.kid if row is not None else None


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Signing keys (kid, status, created)."""
    from zhengwu.identity.oidc.keys import list_signing_keys

    settings = _settings()
    with _unit(settings) as session:
        rows = [
            {"kid": r.kid, "alg": r.alg, "status": r.status, "created_at": r.created_at.isoformat()}
            for r in list_signing_keys(session)
        ]
    for row in rows:
        if as_json:
            _print(row)
        else:
            console.print(f"{row['kid']}  {row['alg']}  {row['status']}  {row['created_at']}")


@keys_app.command("rotate")
@privileged(identity_rights.CLIENTS_MANAGE)
def keys_rotate(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Make a new ES256 key active; earlier keys stay in the JWKS (retired) so issued tokens still verify."""
    from zhengwu.identity.oidc.keys import rotate_signing_key

    settings = _settings()
    with _unit(settings) as session:
        row = rotate_signing_key(session, _keys(settings), settings.node_id)
        kid = row.kid
    if as_json:
        _print({"kid": kid, "status": "active"})
    else:
        console.print(f"新签名密钥 / new signing key: {kid}")


@keys_app.command("revoke")
@privileged(identity_rights.CLIENTS_MANAGE)
def keys_revoke(kid: Annotated[str, typer.Argument(help="kid of a retired key.")]) -> None:
    """Withdraw a retired key from the JWKS (tokens it signed stop verifying); the active key cannot be."""
    from zhengwu.identity.oidc.keys import revoke_signing_key

    settings = _settings()
    with _unit(settings) as session:
        done = revoke_signing_key(session, kid)
    if not done:
        err_console.print("[red]没有这个已退役的密钥 / no retired key with that kid[/red]")
        raise typer.Exit(1)
    console.print(f"已撤销 / revoked: {kid}")


def _register(
    issuer: str, client_id: str, client_secret: str, direction: str, label: str, as_json: bool
) -> None:
    import httpx

    from zhengwu.identity.oidc.federation import register_federation
    from zhengwu.kernel.errors import DomainError

    settings = _settings()
    try:
        with httpx.Client(timeout=10.0) as http, _unit(settings) as session:
            row = register_federation(
                session,
                _keys(settings),
                issuer=issuer,
                client_id=client_id,
                client_secret=client_secret,
                direction=direction,
                label=label,
                http=http,
            )
            result = {"id": row.id, "issuer": row.issuer, "direction": row.direction, "label": row.label}
    except DomainError as exc:
        raise _fail(exc) from exc
    if as_json:
        _print(result)
    else:
        console.print(f"已登记 / registered: {result['issuer']} ({result['label']})")


@upstream_app.command("register")
@privileged(identity_rights.CLIENTS_MANAGE)
def upstream_register(
    client_id: Annotated[
        str, typer.Option("--client-id", help="Client id created for this node on the upstream.")
    ],
    client_secret: Annotated[str, typer.Option("--client-secret", help="Its secret (stored SM4-sealed).")],
    label: Annotated[str | None, typer.Option(help="Login-page button text.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Trust the upstream node (ZHENGWU_UPSTREAM_URL): fetch its discovery document and keys, store the client."""
    settings = _settings()
    if not settings.upstream_url:
        err_console.print("[red]未配置上级平台地址 / ZHENGWU_UPSTREAM_URL is not set[/red]")
        raise typer.Exit(2)
    _register(
        settings.upstream_url,
        client_id,
        client_secret,
        "upstream",
        label or settings.oidc.upstream_label,
        as_json,
    )


@federation_app.command("add")
@privileged(identity_rights.CLIENTS_MANAGE)
def federation_add(
    issuer: Annotated[str, typer.Option(help="Base URL (issuer) of the other node.")],
    client_id: Annotated[str, typer.Option("--client-id")],
    client_secret: Annotated[str, typer.Option("--client-secret")],
    label: Annotated[str, typer.Option(help="Login-page button text, e.g. 使用河北省政务服务平台账号登录.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Trust a downstream node's logins (the reverse direction of trust transfer)."""
    _register(issuer, client_id, client_secret, "downstream", label, as_json)


@federation_app.command("list")
def federation_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Trusted providers of this node."""
    from zhengwu.identity.oidc.federation import list_federations

    settings = _settings()
    with _unit(settings) as session:
        rows = [
            {"id": f.id, "issuer": f.issuer, "direction": f.direction, "label": f.label, "enabled": f.enabled}
            for f in list_federations(session, enabled_only=False)
        ]
    for row in rows:
        if as_json:
            _print(row)
        else:
            console.print(f"{row['direction']:10} {row['issuer']}  {row['label']}")
