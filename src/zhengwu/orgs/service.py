"""Rules of the department registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.orgs.errors import DepartmentExists, DepartmentNotFound
from zhengwu.orgs.models import Department
from zhengwu.orgs.repository import DepartmentRepository
from zhengwu.orgs.schemas import DepartmentCreate


def level_of_division(code: str) -> int:
    """行使层级 implied by a GB/T 2260 code: province 2, prefecture 3, county 4 (national 000000 → 1)."""
    if code == "000000":
        return 1
    if code.endswith("0000"):
        return 2
    if code.endswith("00"):
        return 3
    return 4


def add_department(session: Session, data: DepartmentCreate, *, actor: str | None = None) -> Department:
    """Register a department (its credit code and division were checked by the schema's code types)."""
    repo = DepartmentRepository(session)
    credit_code = data.credit_code
    if repo.by_credit_code(credit_code) is not None:
        raise DepartmentExists()
    parent_id = None
    if data.parent_credit_code:
        parent = repo.by_credit_code(data.parent_credit_code)
        if parent is None:
            raise DepartmentNotFound("上级部门不存在")
        parent_id = parent.id
    department = repo.add(
        Department(
            credit_code=credit_code,
            name=data.name,
            short_name=data.short_name,
            division_code=data.division_code,
            level=level_of_division(data.division_code),
            parent_id=parent_id,
        )
    )
    record_change(session, actor=actor, action="department.create", entity="orgs.department",
                  entity_id=department.id, department_id=department.id,
                  after={"credit_code": credit_code, "name": data.name, "division_code": data.division_code,
                         "parent_id": parent_id})  # fmt: skip
    return department


def list_departments(
    session: Session, *, division_prefix: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[Sequence[Department], int]:
    """A page of departments."""
    return DepartmentRepository(session).list(division_prefix=division_prefix, offset=offset, limit=limit)


def get_by_credit_code(session: Session, credit_code: str) -> Department:
    """The department with that credit code, or DepartmentNotFound."""
    department = DepartmentRepository(session).by_credit_code(credit_code.upper())
    if department is None:
        raise DepartmentNotFound()
    return department


def get_department(session: Session, department_id: str) -> Department:
    """The department with that id, or DepartmentNotFound."""
    department = DepartmentRepository(session).get(department_id)
    if department is None:
        raise DepartmentNotFound()
    return department


def with_descendants(session: Session, department_ids: Sequence[str]) -> set[str]:
    """``department_ids`` and every department below them (``parent_id``, any depth)."""
    repo = DepartmentRepository(session)
    found = set(department_ids)
    frontier = list(found)
    while frontier:
        # One query per level of the tree (national to village is six); a cycle cannot loop forever.
        frontier = [d for d in repo.children_of(frontier) if d not in found]
        found.update(frontier)
    return found


def credit_codes(session: Session, department_ids: Sequence[str]) -> dict[str, str]:
    """Department id → unified social credit code."""
    return DepartmentRepository(session).credit_codes(list(department_ids))
