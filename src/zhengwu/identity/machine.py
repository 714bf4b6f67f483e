"""Machine callers of this node's APIs: department systems (and other clients of the node's OIDC
provider) presenting a client-credentials access token (RFC 9068 JWT, ``typ: at+jwt``).

The token is checked here, once, for every capability that serves machines (licenses' department
services, cases' department systems): signature and issuer, audience, revocation of its ``jti``, the
client row still active, and the scope the route demands. The caller's name and department come from
the client row (``identity_oidc_client.department_id``), so a capability's logs name the department's
system, and a capability that serves departments' own data narrows by that department.

Each capability keeps its own refusal codes (its documented contract with department systems): it
passes the error classes to raise.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity.errors import MachineDenied, MachineUnauthenticated
from zhengwu.identity.oidc.models import OidcClient
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_of
from zhengwu.orgs import service as orgs

log = get_logger("zhengwu.identity.machine")


@dataclass(frozen=True, slots=True)
class MachineClient:
    """An authenticated machine caller: the client, its token's scopes and the department it is bound to."""

    client_id: str
    name: str
    scopes: frozenset[str]
    department_id: str | None
    department_credit_code: str | None
    department_name: str | None

    @property
    def actor(self) -> str:
        """How the audit log and the usage logs name it."""
        return f"client:{self.client_id}"

    @property
    def display(self) -> str:
        """What a person reads: the department and the system."""
        return f"{self.department_name}·{self.name}" if self.department_name else self.name


def authenticate(
    request: Request,
    db: Session,
    scope: str | None,
    *,
    audience_paths: Collection[str] = (),
    unauthenticated: type[DomainError] = MachineUnauthenticated,
    denied: type[DomainError] = MachineDenied,
) -> MachineClient:
    """The client behind the request's bearer token: ``unauthenticated`` (401) without a valid one,
    ``denied`` (403) without ``scope``. The token's audience is the provider itself or one of
    ``audience_paths`` under it (``/api/v1/licenses``)."""
    authorization = request.headers.get("authorization") or ""
    oidc = node_of(request).services.get(OIDC)
    if oidc is None or authorization[:7].lower() != "bearer ":
        raise unauthenticated(detail_en="a bearer client-credentials access token is required")
    from zhengwu.identity.oidc.tokens import TokenRejected, verify

    try:
        claims = verify(
            oidc.key_material(), authorization[7:].strip(), issuer=oidc.issuer, typ="at+jwt", leeway=0
        )
    except TokenRejected as exc:
        log.info("machine_token_rejected", reason=str(exc))
        raise unauthenticated(detail_en="the access token is not valid") from exc
    aud = claims.get("aud")
    audiences = set(aud) if isinstance(aud, list) else {aud}
    if not audiences & {oidc.issuer, *(f"{oidc.issuer}{path}" for path in audience_paths)}:
        raise unauthenticated(detail_en="the access token is for another audience")
    if oidc.is_jti_revoked(db, str(claims.get("jti", ""))):
        raise unauthenticated(detail_en="the access token was revoked")
    client_id = str(claims.get("client_id") or "")
    row = db.scalars(select(OidcClient).where(OidcClient.client_id == client_id)).first()
    if row is None or row.status != "active":
        raise unauthenticated(detail_en="the client is unknown or not active")
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope is not None and scope not in scopes:
        raise denied(f"调用方缺少授权范围 {scope}", detail_en=f"scope {scope} is required")
    department = orgs.get_department(db, row.department_id) if row.department_id else None
    return MachineClient(
        client_id=client_id,
        name=row.name,
        scopes=scopes,
        department_id=department.id if department else None,
        department_credit_code=department.credit_code if department else None,
        department_name=department.name if department else None,
    )
