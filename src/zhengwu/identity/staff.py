"""工作人员管理 — staff accounts managed by administrators: create, list, change roles, disable, and the
removal of a second factor by a platform administrator.

Who may manage whom is the staff-rights policy's (``identity.rights.STAFF_MANAGE``, ADR 0010): an
administrator manages the staff of the departments the right reaches (a department ``admin`` its
department and sub-departments, ``platform_admin`` every department) and grants only roles within that
reach — a role of platform reach (``platform_admin``, ``identity_admin``) only with platform reach. Every
change is in the authentication audit trail with the administrator. The first administrator of a node
comes from ``zhengwu users add-staff``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import actor_of, record_change
from zhengwu.identity import mfa, service
from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.deps import request_meta
from zhengwu.identity.errors import AccountNotFound
from zhengwu.identity.models import Account, AccountKind, AccountStatus, StaffBinding
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.identity.rights import FACTOR_RESET, STAFF_MANAGE
from zhengwu.identity.roles import STAFF_ROLES, Reach, reach_of, unknown_roles
from zhengwu.identity.web import keeping_audit, require_json
from zhengwu.kernel.errors import Forbidden, ValidationFailed
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs

router = APIRouter(prefix="/api/v1/identity/staff", tags=["identity"], dependencies=[Depends(require_json)])
read_router = APIRouter(prefix="/api/v1/identity/staff", tags=["identity"])
Admin = Annotated[StaffPrincipal, Depends(guard(STAFF_MANAGE))]
Resetter = Annotated[StaffPrincipal, Depends(guard(FACTOR_RESET))]


class StaffCreate(BaseModel):
    """新增工作人员 (the initial password is given to the person, who changes it after logging in)."""

    model_config = {"extra": "forbid"}

    login_name: str = Field(min_length=3, max_length=64)
    name: str = Field(min_length=1, max_length=60)
    department_id: str = Field(min_length=1, max_length=32)
    roles: list[str] = Field(min_length=1, max_length=len(STAFF_ROLES))
    password: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(default=None, max_length=30)


class StaffRoles(BaseModel):
    """The roles of a staff member in one department (an empty list removes the binding)."""

    model_config = {"extra": "forbid"}

    department_id: str = Field(min_length=1, max_length=32)
    roles: list[str] = Field(max_length=len(STAFF_ROLES))


class StaffDisable(BaseModel):
    """停用 (or the removal of a second factor) with a reason (kept in the audit trail)."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=1, max_length=200)


class StaffRead(BaseModel):
    """A staff member as administrators see them."""

    id: str
    login_name: str | None
    display_name: str
    status: str
    mfa_enabled: bool
    departments: dict[str, list[str]]


def _platform_roles(roles: list[str]) -> list[str]:
    return [r for r in roles if reach_of(r) is Reach.PLATFORM]


def _check_grant(db: Session, admin: StaffPrincipal, department_id: str, roles: list[str]) -> None:
    orgs.get_department(db, department_id)  # 404 for an unknown department
    unknown = unknown_roles(roles)
    if unknown:
        raise ValidationFailed(f"未知角色：{'、'.join(unknown)}", detail_en="unknown role")
    admin.ensure(STAFF_MANAGE, department_id, detail="只能管理本部门及下级部门的工作人员")
    if _platform_roles(roles) and not admin.platform(STAFF_MANAGE):
        admin.deny(
            STAFF_MANAGE, "grant_platform_role", department_id, "只有平台管理员可以授予全平台范围的角色"
        )


def _read(db: Session, account: Account) -> StaffRead:
    bindings = service.staff_bindings(db, account.id)
    return StaffRead(
        id=account.id,
        login_name=account.login_name,
        display_name=account.display_name,
        status=account.status,
        mfa_enabled=account.totp_enabled,
        departments={b.department_id: list(b.roles) for b in bindings},
    )


def _staff(db: Session, account_id: str) -> Account:
    account = db.get(Account, account_id)
    if account is None or account.kind != AccountKind.STAFF:
        raise AccountNotFound("工作人员不存在")
    return account


@router.post("", status_code=201, response_model=StaffRead)
def create_staff(request: Request, data: StaffCreate, db: DbSession, admin: Admin) -> JSONResponse:
    """Create a staff account bound to a department with roles (``Idempotency-Key`` honoured)."""
    _check_grant(db, admin, data.department_id, data.roles)
    idem = Idempotency(
        db, request, scope=f"identity.staff:{admin.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    with keeping_audit(db):
        account = service.register_staff(
            db,
            name=data.name,
            login_name=data.login_name,
            password=data.password,
            department_id=data.department_id,
            roles=data.roles,
            phone=data.phone,
            source=f"admin:{admin.account_id}",
            initial_password=True,
            meta=request_meta(request),
        )
    body = _read(db, account).model_dump(mode="json")
    idem.remember(201, body)
    return JSONResponse(body, status_code=201)


@read_router.get("", response_model=list[StaffRead])
def list_staff(
    db: DbSession, admin: Admin, department_id: Annotated[str | None, Query(max_length=32)] = None
) -> list[StaffRead]:
    """Staff of the departments the caller administers (one department with ``department_id``)."""
    query = select(StaffBinding.account_id).distinct()
    if department_id is not None:
        admin.ensure(STAFF_MANAGE, department_id, detail="只能查看本部门及下级部门的工作人员")
        query = query.where(StaffBinding.department_id == department_id)
    else:
        reached = admin.departments(STAFF_MANAGE)
        if reached is not None:
            query = query.where(StaffBinding.department_id.in_(sorted(reached)))
    ids = list(db.scalars(query.limit(1000)))
    accounts = db.scalars(select(Account).where(Account.id.in_(ids)).order_by(Account.login_name)).all()
    return [_read(db, a) for a in accounts]


@router.put("/{account_id}/roles", response_model=StaffRead)
def set_roles(request: Request, account_id: str, data: StaffRoles, db: DbSession, admin: Admin) -> StaffRead:
    """Replace the roles of a staff member in one department (audited with before and after)."""
    _check_grant(db, admin, data.department_id, data.roles)
    account = _staff(db, account_id)
    binding = db.scalar(
        select(StaffBinding).where(
            StaffBinding.account_id == account.id, StaffBinding.department_id == data.department_id
        )
    )
    before: list[str] = list(binding.roles) if binding is not None else []
    if _platform_roles(before) and not admin.platform(STAFF_MANAGE):
        admin.deny(
            STAFF_MANAGE, "change_platform_role", data.department_id, "只有平台管理员可以变更全平台范围的角色"
        )
    after = sorted(set(data.roles))
    elsewhere = db.scalars(
        select(StaffBinding.roles).where(
            StaffBinding.account_id == account.id, StaffBinding.department_id != data.department_id
        )
    )
    service.ensure_three_admins_apart([*after, *(role for roles in elsewhere for role in roles)])
    if binding is None and after:
        db.add(StaffBinding(account_id=account.id, department_id=data.department_id, roles=after))
    elif binding is not None and after:
        binding.roles = after
    elif binding is not None:
        db.delete(binding)
    db.flush()
    detail: dict[str, Any] = {
        "department_id": data.department_id,
        "from": before,
        "to": after,
        "admin": admin.account_id,
    }
    record_auth_event(
        db, "staff_roles", success=True, account_id=account.id, meta=request_meta(request), detail=detail
    )
    record_change(db, actor=actor_of(admin.account_id), action="staff.roles", entity="identity.staff",
                  entity_id=account.id, department_id=data.department_id,
                  before={"roles": before}, after={"roles": after})  # fmt: skip
    return _read(db, account)


@router.post("/{account_id}/disable", response_model=StaffRead)
def disable_staff(
    request: Request, account_id: str, data: StaffDisable, db: DbSession, admin: Admin
) -> StaffRead:
    """停用: the account can no longer log in and its sessions end everywhere (back-channel logout)."""
    account = _staff(db, account_id)
    _ensure_over(admin, account, service.staff_bindings(db, account.id))
    if account.id == admin.account_id:
        raise Forbidden("不能停用自己的账号", detail_en="administrators cannot disable themselves")
    if account.status != AccountStatus.DISABLED:
        service.disable_account(
            db,
            account,
            actor=f"admin:{admin.account_id}",
            reason=data.reason,
            bus=node_of(request).bus,
            meta=request_meta(request),
        )
        record_change(db, actor=actor_of(admin.account_id), action="staff.disable", entity="identity.staff",
                      entity_id=account.id, before={"status": "active"},
                      after={"status": AccountStatus.DISABLED, "reason": data.reason})  # fmt: skip
    return _read(db, account)


def _ensure_over(admin: StaffPrincipal, account: Account, bindings: list[StaffBinding]) -> None:
    """An action on the whole account (it acts in all its departments): reach over every one of them."""
    if not bindings:
        admin.ensure(STAFF_MANAGE, None, detail="只有平台管理员可以管理未归属部门的工作人员")
    for binding in bindings:
        admin.ensure(STAFF_MANAGE, binding.department_id, detail="该工作人员还属于您管理范围以外的部门")
        if _platform_roles(list(binding.roles)) and not admin.platform(STAFF_MANAGE):
            admin.deny(STAFF_MANAGE, "platform_role_holder", binding.department_id)


@router.post("/{account_id}/mfa-reset", response_model=StaffRead)
def reset_second_factor(
    request: Request, account_id: str, data: StaffDisable, db: DbSession, admin: Resetter
) -> StaffRead:
    """Remove a staff member's TOTP (a lost phone): platform administrators, audited with the reason.

    The person's open sessions lose their second factor: staff actions wait for a new enrolment.
    """
    account = _staff(db, account_id)
    if account.id == admin.account_id:
        # One's own factor is removed with the factor itself (POST /api/v1/identity/mfa/disable).
        raise Forbidden(
            "不能重置自己的动态验证码", detail_en="use /api/v1/identity/mfa/disable with the factor"
        )
    mfa.disable_mfa(
        db, account, meta=request_meta(request), actor=f"admin:{admin.account_id}", reason=data.reason
    )
    record_change(db, actor=actor_of(admin.account_id), action="staff.mfa_reset", entity="identity.staff",
                  entity_id=account.id, after={"second_factor": None, "reason": data.reason})  # fmt: skip
    return _read(db, account)
