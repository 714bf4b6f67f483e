"""Who may manage the catalog: identity's staff-rights policy (ADR 0010) over the rights in ``rights``.

The catalog names departments by credit code (实施主体编码) where the policy uses department ids; this
module translates. ``platform_admin`` manages everything (basic catalog, synonyms, imports, every item);
``admin`` the items of its department and sub-departments; ``dept_admin`` those of its department.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from zhengwu.catalog.rights import ITEMS, PLATFORM
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs
from zhengwu.orgs.errors import DepartmentNotFound


@dataclass(frozen=True, slots=True)
class CatalogStaff:
    """The acting staff member and the catalog's view of their rights."""

    principal: StaffPrincipal
    platform_admin: bool
    departments: frozenset[str]  # credit codes of the departments whose items they manage (all: platform)
    db: Session = field(repr=False)

    @property
    def actor(self) -> str:
        """The account id (what the catalog's history records)."""
        return self.principal.account_id

    def ensure_department(self, dept_code: str) -> None:
        """Refuse (NotYourDepartment) unless the item's body is within reach."""
        if self.platform_admin:
            return
        try:
            department_id: str | None = orgs.get_by_credit_code(self.db, dept_code).id
        except DepartmentNotFound:
            department_id = None
        self.principal.ensure(ITEMS, department_id)

    def ensure_platform(self) -> None:
        """Refuse unless this is a platform administrator."""
        self.principal.ensure(PLATFORM, detail="仅平台管理员可以执行此操作")


def catalog_staff(
    db: DbSession, principal: Annotated[StaffPrincipal, Depends(guard(ITEMS, PLATFORM))]
) -> CatalogStaff:
    """The logged-in staff member's catalog rights (the policy answers 401/403 before this runs)."""
    reached = principal.departments(ITEMS)
    codes = frozenset() if reached is None else frozenset(orgs.credit_codes(db, sorted(reached)).values())
    return CatalogStaff(principal, platform_admin=reached is None, departments=codes, db=db)


Staff = Annotated[CatalogStaff, Depends(catalog_staff)]
