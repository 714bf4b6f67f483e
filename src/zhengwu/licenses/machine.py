"""Department systems as callers of the license services (standards §5.5): a client of this node's OIDC
provider presents a client-credentials access token (RFC 9068 JWT).

Scopes: ``licenses.use`` opens the services; each license type the client may use is a scope of its own,
``licenses:<type code in lower case>`` (``licenses:11100000000013338w032``), so the platform
administrator grants types where clients are managed (``zhengwu oidc clients`` / the clients API) and a
token carries exactly what it was issued for. The caller's name and department come from the client row,
so the holder's usage log names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from fastapi import Request
from sqlalchemy.orm import Session

from zhengwu.identity.policy import MachineGuard
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import CLIENT_CREDENTIALS, CLIENT_CREDENTIALS_SCHEME, security
from zhengwu.kernel.session import DbSession
from zhengwu.licenses.errors import ServiceDenied, ServiceUnauthenticated
from zhengwu.licenses.sharing_repository import SharingRepository
from zhengwu.orgs import service as orgs

log = get_logger("zhengwu.licenses.machine")

USE_SCOPE: Final = "licenses.use"
TYPE_SCOPE_PREFIX: Final = "licenses:"


def type_scope(type_code: str) -> str:
    """The scope that lets a client use licenses of one type (scopes are lower case)."""
    return f"{TYPE_SCOPE_PREFIX}{type_code.strip().lower()}"


@dataclass(frozen=True, slots=True)
class ServiceClient:
    """An authenticated department system."""

    client_id: str
    name: str
    scopes: frozenset[str]
    department_id: str | None
    department_credit_code: str | None
    department_name: str | None

    @property
    def actor(self) -> str:
        """How the audit log and the usage log name it."""
        return f"client:{self.client_id}"

    @property
    def display(self) -> str:
        """What the holder reads: the department and the system."""
        return f"{self.department_name}·{self.name}" if self.department_name else self.name

    def may_use(self, type_code: str) -> bool:
        """True when the token carries the type's scope."""
        return type_scope(type_code) in self.scopes

    def denial(self, type_code: str) -> ServiceDenied:
        """The refusal (403) of a license type the token does not cover."""
        log.warning("licenses_type_scope_denied", client_id=self.client_id, type_code=type_code)
        return ServiceDenied("调用方无权使用该类证照", detail_en=f"scope {type_scope(type_code)} is required")


def authenticate(request: Request, db: Session, scope: str | None = USE_SCOPE) -> ServiceClient:
    """The client behind the request's bearer token (401 without a valid one, 403 without ``scope``)."""
    authorization = request.headers.get("authorization") or ""
    oidc = node_of(request).services.get(OIDC)
    if oidc is None or authorization[:7].lower() != "bearer ":
        raise ServiceUnauthenticated(detail_en="a bearer client-credentials access token is required")
    from zhengwu.identity.oidc.tokens import TokenRejected, verify

    try:
        claims = verify(
            oidc.key_material(), authorization[7:].strip(), issuer=oidc.issuer, typ="at+jwt", leeway=0
        )
    except TokenRejected as exc:
        log.info("licenses_token_rejected", reason=str(exc))
        raise ServiceUnauthenticated(detail_en="the access token is not valid") from exc
    aud = claims.get("aud")
    audiences = set(aud) if isinstance(aud, list) else {aud}
    if not audiences & {oidc.issuer, f"{oidc.issuer}/api/v1/licenses"}:
        raise ServiceUnauthenticated(detail_en="the access token is for another audience")
    if oidc.is_jti_revoked(db, str(claims.get("jti", ""))):
        raise ServiceUnauthenticated(detail_en="the access token was revoked")
    client_id = str(claims.get("client_id") or "")
    row = SharingRepository(db).client(client_id)
    if row is None or row.status != "active":
        raise ServiceUnauthenticated(detail_en="the client is unknown or not active")
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope is not None and scope not in scopes:
        raise ServiceDenied(f"调用方缺少授权范围 {scope}", detail_en=f"scope {scope} is required")
    department = orgs.get_department(db, row.department_id) if row.department_id else None
    return ServiceClient(
        client_id=client_id,
        name=row.name,
        scopes=scopes,
        department_id=department.id if department else None,
        department_credit_code=department.credit_code if department else None,
        department_name=department.name if department else None,
    )


class ServiceGuard(MachineGuard):
    """Dependency of the department services: a client-credentials token carrying ``licenses.use``."""

    def __call__(self, request: Request, db: DbSession) -> ServiceClient:  # type: ignore[override]
        return authenticate(request, db, self.scope)

    def authorize(self, request: Request) -> ServiceClient:
        """Not used: the check needs the request's session (token revocation, the client row)."""
        raise NotImplementedError


SERVICE_GUARD: Final = security(
    CLIENT_CREDENTIALS, CLIENT_CREDENTIALS_SCHEME, scopes=(USE_SCOPE,), statuses=(401, 403)
)(ServiceGuard(USE_SCOPE))
