"""Queries on departments."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.orgs.models import Department


class DepartmentRepository:
    """Every query on ``orgs_department``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, department: Department) -> Department:
        """Stage a new department."""
        self.session.add(department)
        self.session.flush()
        return department

    def get(self, department_id: str) -> Department | None:
        """By primary key."""
        return self.session.get(Department, department_id)

    def by_credit_code(self, credit_code: str) -> Department | None:
        """By unified social credit code."""
        return self.session.scalar(select(Department).where(Department.credit_code == credit_code))

    def list(
        self, *, division_prefix: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[Sequence[Department], int]:
        """A page of departments in a stable order, with the total count."""
        query = select(Department)
        if division_prefix:
            query = query.where(Department.division_code.startswith(division_prefix))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Department.division_code, Department.level, Department.credit_code)
            .offset(offset)
            .limit(limit)
        ).all()
        return rows, total

    def children_of(self, parent_ids: Sequence[str]) -> Sequence[str]:
        """Ids of the departments whose parent is one of ``parent_ids``."""
        if not parent_ids:
            return []
        return list(self.session.scalars(select(Department.id).where(Department.parent_id.in_(parent_ids))))

    def credit_codes(self, department_ids: Sequence[str]) -> dict[str, str]:
        """Department id → credit code for the given ids (unknown ids left out)."""
        if not department_ids:
            return {}
        rows = self.session.execute(
            select(Department.id, Department.credit_code).where(Department.id.in_(department_ids))
        )
        return {row.id: row.credit_code for row in rows}
