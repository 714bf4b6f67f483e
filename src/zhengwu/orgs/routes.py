"""Public read API of the department registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service
from zhengwu.orgs.schemas import DepartmentRead

router = APIRouter(prefix="/api/v1/orgs", tags=["orgs 部门"])


@router.get("/departments", response_model=list[DepartmentRead])
def list_departments(
    request: Request,
    response: Response,
    session: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    division: Annotated[str | None, Query(pattern=r"^\d{2,6}$", description="行政区划代码前缀")] = None,
) -> list[DepartmentRead]:
    """List departments and implementing bodies (部门列表)."""
    rows, total = service.list_departments(
        session, division_prefix=division, offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [DepartmentRead.model_validate(r) for r in rows]


@router.get("/departments/{department_id}", response_model=DepartmentRead)
def get_department(department_id: str, session: DbSession) -> DepartmentRead:
    """One department (部门详情)."""
    return DepartmentRead.model_validate(service.get_department(session, department_id))
