"""Who may manage the catalog: one dependency on top of identity's staff sessions and bindings.

A staff account (identity) is bound to departments with roles. ``platform_admin`` (平台管理员) in any
binding manages everything, including the basic catalog and synonyms; so does ``admin`` in the node's
own 政务服务管理办公室 (the platform operator of architecture.md). ``admin`` or ``dept_admin``
(部门管理员) elsewhere manages the implementation items of that department, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from zhengwu.catalog.errors import NotYourDepartment
from zhengwu.identity import service as identity
from zhengwu.identity.deps import RequiredSession
from zhengwu.identity.models import AccountKind
from zhengwu.kernel.errors import Forbidden
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs

ROLE_PLATFORM_ADMIN = "platform_admin"
DEPARTMENT_ADMIN_ROLES = frozenset({"admin", "dept_admin"})
OPERATOR_SUFFIX = "政务服务管理办公室"

log = get_logger("zhengwu.catalog.access")


@dataclass(frozen=True, slots=True)
class CatalogStaff:
    """The acting staff member: account id, platform-wide or per-department rights."""

    actor: str
    platform_admin: bool
    departments: frozenset[str]  # credit codes of the departments administered

    def can_manage(self, dept_code: str) -> bool:
        """True when this staff member manages items of that body."""
        return self.platform_admin or dept_code in self.departments

    def ensure_department(self, dept_code: str) -> None:
        """Raise NotYourDepartment unless the item's body is one of ours."""
        if not self.can_manage(dept_code):
            log.warning("catalog_permission_denied", actor=self.actor, scope="department")
            raise NotYourDepartment(
                detail_en="department administrators manage their own department's items only"
            )

    def ensure_platform(self) -> None:
        """Raise Forbidden unless this is a platform administrator."""
        if not self.platform_admin:
            log.warning("catalog_permission_denied", actor=self.actor, scope="platform")
            raise Forbidden("仅平台管理员可以执行此操作", detail_en="platform administrators only")


def catalog_staff(request: Request, db: DbSession, auth: RequiredSession) -> CatalogStaff:
    """The logged-in staff member's catalog rights; 401 without a session, 403 without a catalog role."""
    if auth.account.kind != AccountKind.STAFF:
        raise Forbidden("仅限工作人员", detail_en="staff accounts only")
    platform = False
    departments: set[str] = set()
    node_division = request.app.state.settings.division_code
    for binding in identity.staff_bindings(db, auth.account.id):
        roles = set(binding.roles or [])
        if ROLE_PLATFORM_ADMIN in roles:
            platform = True
        if roles & DEPARTMENT_ADMIN_ROLES:
            department = orgs.get_department(db, binding.department_id)
            departments.add(department.credit_code)
            if department.division_code == node_division and department.name.endswith(OPERATOR_SUFFIX):
                platform = True
    if not platform and not departments:
        log.warning("catalog_permission_denied", actor=auth.account.id, scope="no_role")
        raise Forbidden("没有事项管理权限", detail_en="no catalog role")
    return CatalogStaff(actor=auth.account.id, platform_admin=platform, departments=frozenset(departments))


Staff = Annotated[CatalogStaff, Depends(catalog_staff)]
