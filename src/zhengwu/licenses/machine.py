"""Department systems as callers of the license services (standards §5.5): a client of this node's OIDC
provider presents a client-credentials access token (RFC 9068 JWT), checked by identity
(``identity.machine.authenticate``, shared with the cases' department systems).

Scopes: ``licenses.use`` opens the services; each license type the client may use is a scope of its own,
``licenses:<type code in lower case>`` (``licenses:11100000000013338w032``), so a token carries exactly
what the client was registered for (``zhengwu oidc clients`` / the clients API). What the platform allows
now — per type, per operation, for a purpose and a time — is a grant (``licenses.grants``); both are
needed. The caller's name and department come from the client row, so the holder's usage log names them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from fastapi import Request
from sqlalchemy.orm import Session

from zhengwu.identity import machine as identity_machine
from zhengwu.identity.machine import MachineClient
from zhengwu.identity.policy import MachineGuard
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.openapi import CLIENT_CREDENTIALS, CLIENT_CREDENTIALS_SCHEME, security
from zhengwu.kernel.session import DbSession
from zhengwu.licenses.errors import ServiceDenied, ServiceUnauthenticated

log = get_logger("zhengwu.licenses.machine")

USE_SCOPE: Final = "licenses.use"
TYPE_SCOPE_PREFIX: Final = "licenses:"
AUDIENCE_PATH: Final = "/api/v1/licenses"


def type_scope(type_code: str) -> str:
    """The scope that lets a client use licenses of one type (scopes are lower case)."""
    return f"{TYPE_SCOPE_PREFIX}{type_code.strip().lower()}"


@dataclass(frozen=True, slots=True)
class ServiceClient(MachineClient):
    """An authenticated department system, as the license services see it."""

    def may_use(self, type_code: str) -> bool:
        """True when the token carries the type's scope."""
        return type_scope(type_code) in self.scopes

    def denial(self, type_code: str) -> ServiceDenied:
        """The refusal (403) of a license type the token does not cover."""
        log.warning("licenses_type_scope_denied", client_id=self.client_id, type_code=type_code)
        return ServiceDenied("调用方无权使用该类证照", detail_en=f"scope {type_scope(type_code)} is required")

    @classmethod
    def of(cls, client: MachineClient) -> ServiceClient:
        """The license services' view of an authenticated machine caller."""
        return cls(**{f.name: getattr(client, f.name) for f in fields(MachineClient)})


def authenticate(request: Request, db: Session, scope: str | None = USE_SCOPE) -> ServiceClient:
    """The client behind the request's bearer token (401 without a valid one, 403 without ``scope``), with
    the license services' refusal codes (``docs/department-systems.md``)."""
    client = identity_machine.authenticate(
        request, db, scope, audience_paths=(AUDIENCE_PATH,), unauthenticated=ServiceUnauthenticated,
        denied=ServiceDenied,
    )  # fmt: skip
    return ServiceClient.of(client)


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
