"""工作人员管理 — staff accounts managed by administrators: create, list, change roles, disable.

Who may manage whom: a ``platform_admin`` (政务服务管理办公室) manages staff of every department and may
grant every role; a department ``admin`` manages the staff of the departments where it is admin and may
not grant ``platform_admin``. Every change is in the authentication audit trail with the administrator.
The first administrator of a node comes from ``zhengwu users add-staff``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service
from zhengwu.identity.audit import record_auth_event
from zhengwu.identity.deps import StaffAuthenticated, request_meta, require_staff
from zhengwu.identity.errors import AccountNotFound
from zhengwu.identity.models import Account, AccountKind, AccountStatus, StaffBinding
from zhengwu.identity.roles import STAFF_ROLES, unknown_roles
from zhengwu.identity.web import keeping_audit, require_json
from zhengwu.kernel.errors import Forbidden, ValidationFailed
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs

PLATFORM_ADMIN = "platform_admin"
DEPARTMENT_ADMIN = "admin"

router = APIRouter(prefix="/api/v1/identity/staff", tags=["identity"], dependencies=[Depends(require_json)])
read_router = APIRouter(prefix="/api/v1/identity/staff", tags=["identity"])
Admin = Annotated[StaffAuthenticated, Depends(require_staff(PLATFORM_ADMIN, DEPARTMENT_ADMIN))]


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
    """停用 with a reason (kept in the audit trail)."""

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


def _may_manage(admin: StaffAuthenticated, department_id: str) -> bool:
    return bool(admin.department_ids(PLATFORM_ADMIN)) or department_id in admin.department_ids(
        DEPARTMENT_ADMIN
    )


def _check_grant(db: Session, admin: StaffAuthenticated, department_id: str, roles: list[str]) -> None:
    orgs.get_department(db, department_id)  # 404 for an unknown department
    unknown = unknown_roles(roles)
    if unknown:
        raise ValidationFailed(f"未知角色：{'、'.join(unknown)}", detail_en="unknown role")
    if not _may_manage(admin, department_id):
        raise Forbidden("只能管理本部门的工作人员", detail_en="not an administrator of that department")
    if PLATFORM_ADMIN in roles and not admin.department_ids(PLATFORM_ADMIN):
        raise Forbidden(
            "只有平台管理员可以授予平台管理员角色", detail_en="platform_admin grants platform_admin"
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
        db, request, scope=f"identity.staff:{admin.account.id}", payload=data.model_dump_json()
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
            source=f"admin:{admin.account.id}",
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
        if not _may_manage(admin, department_id):
            raise Forbidden("只能查看本部门的工作人员", detail_en="not an administrator of that department")
        query = query.where(StaffBinding.department_id == department_id)
    elif not admin.department_ids(PLATFORM_ADMIN):
        query = query.where(StaffBinding.department_id.in_(admin.department_ids(DEPARTMENT_ADMIN)))
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
    if binding is not None and PLATFORM_ADMIN in before and not admin.department_ids(PLATFORM_ADMIN):
        raise Forbidden("只有平台管理员可以变更平台管理员", detail_en="platform_admin changes platform_admin")
    after = sorted(set(data.roles))
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
        "admin": admin.account.id,
    }
    record_auth_event(
        db, "staff_roles", success=True, account_id=account.id, meta=request_meta(request), detail=detail
    )
    return _read(db, account)


@router.post("/{account_id}/disable", response_model=StaffRead)
def disable_staff(
    request: Request, account_id: str, data: StaffDisable, db: DbSession, admin: Admin
) -> StaffRead:
    """停用: the account can no longer log in and its sessions end everywhere (back-channel logout)."""
    account = _staff(db, account_id)
    departments = [b.department_id for b in service.staff_bindings(db, account.id)]
    if not any(_may_manage(admin, d) for d in departments):
        raise Forbidden("只能管理本部门的工作人员", detail_en="not an administrator of that department")
    if account.id == admin.account.id:
        raise Forbidden("不能停用自己的账号", detail_en="administrators cannot disable themselves")
    if account.status != AccountStatus.DISABLED:
        service.disable_account(
            db,
            account,
            actor=f"admin:{admin.account.id}",
            reason=data.reason,
            bus=request.app.state.bus,
            meta=request_meta(request),
        )
    return _read(db, account)
