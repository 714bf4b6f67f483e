"""The staff-rights policy (ADR 0010): capabilities declare rights, identity decides — with the second factor.

* **Roles** (``identity.roles``) are what an operator grants, each held in one department with a reach
  (that department, its sub-departments too, or the whole platform).
* **Rights** are declared by each capability in its ``rights.py``: ``Right("seals.manage", "管理印章",
  roles={"seal_admin", "admin", "platform_admin"})``. A right of scope ``department`` is about one
  department's objects; a right of scope ``platform`` about the node's own (basic catalog, OIDC clients,
  the exchange) and is held only through a role of platform reach.
* A **guard** (``guard(RIGHT, ...)``) is the FastAPI dependency of a staff route. It answers, in this order:
  401 without a session; 403 for an account that is not staff; 403 until an administrator-set password is
  changed; 401 ``identity.step_up_required`` unless the session passed a second factor of this node (TOTP
  ``otp`` or certificate ``hwk``) within ``ZHENGWU_IDENTITY__STAFF_FACTOR_MAX_AGE_MINUTES``; 403 when the
  account holds none of the rights (anywhere, or with platform reach for a platform right). Otherwise the
  route receives a :class:`StaffPrincipal`.
* **The department an action touches** is named by the route once it knows it (from the request or the
  stored object), before it writes: ``principal.ensure(RIGHT, department_id)``.

Every refusal is an authentication-audit event (``permission_denied`` or ``step_up_required``) kept even
though the request fails. ``tests/architecture/test_arch_routes.py`` proves every route is public by an
explicit list or guarded here; ``tests/security_policy`` holds the authorisation matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, NoReturn

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.identity import service
from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.deps import (
    Authenticated,
    CurrentSession,
    RequiredSession,
    request_meta,
    require_session,
    session_scheme,
)
from zhengwu.identity.errors import PasswordChangeRequired, PermissionDenied, StepUpRequired
from zhengwu.identity.models import Account, AccountKind, AccountStatus, StaffBinding
from zhengwu.identity.roles import ROLES, Reach
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.openapi import SESSION_COOKIE, security
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs


class Scope(StrEnum):
    """What a right is about."""

    DEPARTMENT = "department"  # one department's objects: the route names the department
    PLATFORM = "platform"  # the node's own objects: only roles of platform reach hold it


_DECLARED: dict[str, Right] = {}


@dataclass(frozen=True, slots=True)
class Right:
    """A staff right a capability declares: the roles that grant it, its scope and its refusal."""

    name: str
    label: str
    roles: frozenset[str]
    scope: Scope = Scope.DEPARTMENT
    # The error a refusal raises (a capability keeps its own stable code); 403 either way.
    refusal: type[DomainError] = PermissionDenied

    def __post_init__(self) -> None:
        unknown = sorted(set(self.roles) - set(ROLES))
        if unknown:
            raise ValueError(f"right {self.name}: unknown roles {unknown} (identity.roles.ROLES)")
        if self.scope is Scope.PLATFORM and any(ROLES[r].reach is not Reach.PLATFORM for r in self.roles):
            raise ValueError(f"platform right {self.name}: only roles of platform reach can hold it")
        known = _DECLARED.setdefault(self.name, self)
        if known != self:
            raise ValueError(f"right {self.name} declared twice, differently")


def right(
    name: str,
    label: str,
    roles: Iterable[str],
    *,
    scope: Scope = Scope.DEPARTMENT,
    refusal: type[DomainError] = PermissionDenied,
) -> Right:
    """Declare a right (``<capability>/rights.py``)."""
    return Right(name, label, frozenset(roles), scope, refusal)


def declared_rights() -> dict[str, Right]:
    """Every right declared so far (by the modules imported), by name."""
    return dict(_DECLARED)


@dataclass(frozen=True, slots=True)
class Binding:
    """One department a staff account belongs to, with its roles there."""

    department_id: str
    roles: frozenset[str]


def bindings_of(db: Session, account_id: str) -> tuple[Binding, ...]:
    """The departments a staff account is bound to, with its roles in each."""
    return tuple(
        Binding(b.department_id, frozenset(b.roles or ())) for b in service.staff_bindings(db, account_id)
    )


def _reaches(bindings: Iterable[Binding], right: Right) -> Iterable[tuple[Binding, Reach]]:
    for binding in bindings:
        for role in binding.roles & right.roles:
            yield binding, ROLES[role].reach


def bindings_hold(bindings: Iterable[Binding], right: Right) -> bool:
    """The one decision of the policy: ``right`` is held somewhere (a platform right: with platform reach).

    The guard of a staff route and the operator check of a privileged command (``identity.operator``)
    both ask here, so the 三员 separation and every role's reach are the same on the CLI as over HTTP.
    """
    reaches = [reach for _, reach in _reaches(bindings, right)]
    if right.scope is Scope.PLATFORM:
        return Reach.PLATFORM in reaches
    return bool(reaches)


def bindings_departments(db: Session, bindings: Iterable[Binding], right: Right) -> frozenset[str] | None:
    """The departments ``right`` reaches through ``bindings``: None for every department, else their ids."""
    reaches = list(_reaches(bindings, right))
    if any(reach is Reach.PLATFORM for _, reach in reaches):
        return None
    direct = {b.department_id for b, reach in reaches if reach is Reach.DEPARTMENT}
    roots = [b.department_id for b, reach in reaches if reach is Reach.SUBTREE]
    return frozenset(direct | orgs.with_descendants(db, roots))


def _covers(reached: frozenset[str] | None, right: Right, department_id: str | None) -> bool:
    if reached is None:
        return True
    return right.scope is Scope.DEPARTMENT and department_id is not None and department_id in reached


def bindings_reach(db: Session, bindings: Iterable[Binding], right: Right, department_id: str | None) -> bool:
    """True when ``right`` through ``bindings`` covers ``department_id`` (None: the node's own objects)."""
    return _covers(bindings_departments(db, bindings, right), right, department_id)


def anyone_could_authorise(db: Session, rights: Iterable[Right]) -> bool:
    """True when an active staff account with a TOTP second factor holds one of ``rights`` (break-glass test)."""
    rows = db.execute(
        select(StaffBinding.account_id, StaffBinding.department_id, StaffBinding.roles)
        .join(Account, Account.id == StaffBinding.account_id)
        .where(
            Account.kind == AccountKind.STAFF,
            Account.status == AccountStatus.ACTIVE,
            Account.totp_enabled_at.is_not(None),
            Account.totp_secret_enc.is_not(None),
        )
    )
    held: dict[str, list[Binding]] = {}
    for account_id, department_id, roles in rows:
        held.setdefault(account_id, []).append(Binding(department_id, frozenset(roles or ())))
    wanted = list(rights)
    return any(bindings_hold(bindings, right) for bindings in held.values() for right in wanted)


@dataclass(slots=True)
class StaffPrincipal:
    """The staff member a guard let through: who, from which session, bound where; decides per department."""

    auth: Authenticated
    bindings: tuple[Binding, ...]
    _db: Session = field(repr=False)
    _meta: RequestMeta = field(repr=False)
    _path: str = field(repr=False)
    _reach_cache: dict[str, frozenset[str] | None] = field(default_factory=dict, repr=False)

    @property
    def account_id(self) -> str:
        """The acting account (the actor of audit records)."""
        return self.auth.account.id

    @property
    def session_id(self) -> str:
        """The session the action came through."""
        return self.auth.session.id

    @property
    def department_ids(self) -> tuple[str, ...]:
        """The departments the account is bound to (whatever the roles)."""
        return tuple(b.department_id for b in self.bindings)

    def _reaches(self, right: Right) -> Iterable[tuple[Binding, Reach]]:
        return _reaches(self.bindings, right)

    def holds(self, right: Right) -> bool:
        """True when the account holds ``right`` somewhere (a platform right: with platform reach)."""
        return bindings_hold(self.bindings, right)

    def platform(self, right: Right) -> bool:
        """True when the account holds ``right`` with platform reach (every department, and the node's own)."""
        return any(reach is Reach.PLATFORM for _, reach in self._reaches(right))

    def departments(self, right: Right) -> frozenset[str] | None:
        """The departments ``right`` reaches: None for every department, else their ids."""
        if right.name not in self._reach_cache:
            self._reach_cache[right.name] = bindings_departments(self._db, self.bindings, right)
        return self._reach_cache[right.name]

    def reaches(self, right: Right, department_id: str | None) -> bool:
        """True when ``right`` covers ``department_id`` (None: an action on the node's own objects)."""
        return _covers(self.departments(right), right, department_id)

    def ensure(self, right: Right, department_id: str | None = None, *, detail: str | None = None) -> None:
        """Go on if ``right`` covers ``department_id`` (None: the node's own objects); else refuse (403)."""
        if not self.reaches(right, department_id):
            reason = "department" if department_id is not None else "platform"
            self.deny(right, reason, department_id, detail)

    def bound_departments(self, right: Right) -> list[str]:
        """The departments where the account holds ``right`` through a binding of its own (not by reach)."""
        return [b.department_id for b in self.bindings if b.roles & right.roles]

    def deny(
        self, right: Right, reason: str, department_id: str | None = None, detail: str | None = None
    ) -> NoReturn:
        """Refuse the action: the refusal is recorded, nothing else the request did is kept."""
        _refuse(self._db, self.auth, self._meta, self._path, right.name, reason, department_id)
        raise right.refusal(detail, detail_en=f"{reason}: {right.name}")


def _refuse(
    db: Session,
    auth: Authenticated,
    meta: RequestMeta,
    path: str,
    right: str,
    reason: str,
    department_id: str | None = None,
) -> None:
    account_id, session_id = auth.account.id, auth.session.id
    # A refused action writes nothing but its refusal (等保 8.1.4.3: security events are audited): the
    # request's transaction is dropped and the event is written in a unit of work of its own.
    detail: dict[str, Any] = {"right": right, "reason": reason, "path": path[:200]}
    if department_id is not None:
        detail["department_id"] = department_id
    event = "step_up_required" if reason == "second_factor" else "permission_denied"
    write_apart(
        db,
        lambda apart: record_auth_event(
            apart,
            event,
            success=False,
            account_id=account_id,
            session_id=session_id,
            meta=meta,
            detail=detail,
        ),
    )


def _factor_fresh(auth: Authenticated, max_age: timedelta) -> bool:
    passed = auth.session.second_factor_at
    return passed is not None and utcnow() - passed <= max_age


def _factor_due(
    db: Session, auth: Authenticated, meta: RequestMeta, path: str, what: str, max_age: timedelta
) -> NoReturn:
    _refuse(db, auth, meta, path, what, "second_factor")
    raise StepUpRequired(
        "请先通过动态验证码或数字证书完成身份验证",
        detail_en="a second factor (TOTP or certificate) within the window is required",
        extra={"second_factor": sorted(service.SECOND_FACTORS), "max_age": int(max_age.total_seconds())},
    )


def own_second_factor(max_age: timedelta, *, if_enrolled: bool = False) -> Callable[..., Authenticated]:
    """Self-service dependency: the session passed a second factor at most ``max_age`` ago.

    Removing or replacing one's own factor needs the factor itself; with ``if_enrolled`` an account that
    has no TOTP yet passes (its first enrolment).
    """

    def dependency(request: Request, db: DbSession, auth: RequiredSession) -> Authenticated:
        if (if_enrolled and not auth.account.totp_enabled) or _factor_fresh(auth, max_age):
            return auth
        _factor_due(db, auth, request_meta(request), request.url.path, "identity.own_factor", max_age)

    return dependency


class Guard:
    """A dependency that authorises a request; the route-guard test looks for these in dependency trees."""

    category: ClassVar[str]


class StaffGuard(Guard):
    """``Depends(guard(RIGHT, ...))``: a staff session with a fresh second factor holding one of the rights."""

    category = "staff"

    def __init__(self, rights: tuple[Right, ...]) -> None:
        if not rights:
            raise ValueError("a staff guard names at least one right")
        self.rights = rights

    def __repr__(self) -> str:
        return f"StaffGuard({', '.join(r.name for r in self.rights)})"

    def __call__(self, request: Request, db: DbSession, auth: RequiredSession) -> StaffPrincipal:
        return self.decide(request, db, auth)

    def decide(self, request: Request, db: Session, auth: Authenticated) -> StaffPrincipal:
        """The policy itself, for guards that combine it with another credential."""
        meta = request_meta(request)
        path = request.url.path
        names = ",".join(r.name for r in self.rights)
        first = self.rights[0]
        if auth.account.kind != AccountKind.STAFF:
            _refuse(db, auth, meta, path, names, "not_staff")
            raise first.refusal("仅限具有相应权限的工作人员", detail_en="staff accounts only")
        if auth.account.password_initial:
            raise PasswordChangeRequired()
        window = of(db).staff_factor_max_age
        if not _factor_fresh(auth, window):
            _factor_due(db, auth, meta, path, names, window)
        principal = StaffPrincipal(auth, bindings_of(db, auth.account.id), db, meta, path)
        if not any(principal.holds(r) for r in self.rights):
            _refuse(db, auth, meta, path, names, "no_right")
            raise first.refusal(f"您没有“{first.label}”的权限", detail_en=f"no right {names}")
        return principal


def guard(*rights: Right) -> StaffGuard:
    """The dependency of a staff route: the account must hold one of ``rights`` (see the module docstring)."""
    return StaffGuard(rights)


class MachineGuard(Guard):
    """A machine credential: a client-credentials access token of this node's provider carrying a scope.

    Capabilities subclass it with how they check the token (the exchange: ``exchange.routes.ScopeGuard``).
    """

    category = "machine"

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scope})"

    def __call__(self, request: Request) -> Any:
        return self.authorize(request)

    def authorize(self, request: Request) -> Any:
        """The authenticated machine caller, or an error (401 without a valid token, 403 without the scope)."""
        raise NotImplementedError


class StaffOrMachine(Guard):
    """A bearer token goes to the machine guard; anything else is a staff session under the policy."""

    category = "staff-or-machine"

    def __init__(self, machine: MachineGuard, staff: StaffGuard) -> None:
        self.machine = machine
        self.staff = staff

    def __repr__(self) -> str:
        return f"StaffOrMachine({self.machine!r}, {self.staff!r})"

    def __call__(self, request: Request, db: DbSession, auth: Annotated[Any, Depends(session_if_any)]) -> Any:
        if request.headers.get("authorization"):
            return self.machine.authorize(request)
        return self.staff.decide(request, db, require_session(request, auth))


@security(SESSION_COOKIE, session_scheme, statuses=(401, 403))
def session_if_any(auth: CurrentSession) -> Authenticated | None:
    """The session of a guard that also takes other credentials (documented as the cookie scheme)."""
    return auth
