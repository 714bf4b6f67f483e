"""Department systems as callers of the case API: a client-credentials token carrying ``cases.handle``
from a client bound to a department (the client row's ``department_id``). It acts on and reads the cases
of its department's items only; the audit log names it ``client:<client_id>``."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Depends, Request

from zhengwu.cases.errors import CaseForbidden
from zhengwu.identity.deps import require_session
from zhengwu.identity.machine import MachineClient, authenticate
from zhengwu.identity.policy import MachineGuard, StaffGuard, StaffOrMachine, session_if_any
from zhengwu.kernel.session import DbSession

HANDLE_SCOPE: Final = "cases.handle"
#: A department system concluding with a license result issues a license sealed with the department's
#: seal: its token needs this scope too, as staff need the ``licenses.issue`` right.
ISSUE_SCOPE: Final = "licenses.issue"


class CaseClientGuard(MachineGuard):
    """A department system's token with ``cases.handle`` (401 without a valid token, 403 without the
    scope or without a department)."""

    def __call__(self, request: Request, db: DbSession) -> MachineClient:  # type: ignore[override]
        # The licenses' audience is kept: systems that call both APIs hold one token for both.
        client = authenticate(request, db, self.scope, audience_paths=("/api/v1/cases", "/api/v1/licenses"))
        if client.department_id is None:
            raise CaseForbidden("该接入应用未绑定部门", detail_en="the client is bound to no department")
        return client

    def authorize(self, request: Request) -> MachineClient:
        """Not used: the check needs the request's session (token revocation, the client row)."""
        raise NotImplementedError


class StaffOrCaseClient(StaffOrMachine):
    """A bearer token is a department system's; anything else a staff session under the policy."""

    machine: CaseClientGuard

    def __init__(self, machine: CaseClientGuard, staff: StaffGuard) -> None:
        super().__init__(machine, staff)

    def __call__(self, request: Request, db: DbSession, auth: Annotated[Any, Depends(session_if_any)]) -> Any:
        if request.headers.get("authorization"):
            return self.machine(request, db)
        return self.staff.decide(request, db, require_session(request, auth))


def ensure_department(client: MachineClient, department_id: str) -> None:
    """A department system reaches its own department's cases only (404 keeps others' numbers secret)."""
    from zhengwu.cases.errors import CaseNotFound

    if client.department_id != department_id:
        raise CaseNotFound()


def ensure_may_issue(client: MachineClient) -> None:
    """A conclusion issuing a license needs the ``licenses.issue`` scope besides ``cases.handle``."""
    if ISSUE_SCOPE not in client.scopes:
        raise CaseForbidden(
            f"该接入应用没有签发电子证照的授权范围 {ISSUE_SCOPE}，不能以证照结果办结",
            detail_en=f"concluding with a license result needs the scope {ISSUE_SCOPE}",
            code="cases.issue_scope_required",
        )
