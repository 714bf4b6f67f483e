"""Catalog API: public search and guides; staff management of the basic catalog and implementation lists."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import licensetypes, service
from zhengwu.catalog.access import Staff
from zhengwu.catalog.errors import ItemNotFound
from zhengwu.catalog.national import task_snapshot, with_names
from zhengwu.catalog.schemas import (
    DiffRead,
    DirectoryCreate,
    DirectoryRead,
    DirectoryUpdate,
    GuideRead,
    HistoryRead,
    IssueRead,
    SearchItem,
    SearchPage,
    StaffTaskRead,
    StateChange,
    SynonymIn,
    SynonymRead,
    TaskCreate,
    TaskSummary,
    TaskUpdate,
    VersionRead,
)
from zhengwu.catalog.search import SearchFilters, search
from zhengwu.kernel.codes.types import USCC, CatalogCode, DivisionCode, TaskCode
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.limits import MAX_DB_INT, SearchText
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog 事项管理"])

TaskCodePath = Annotated[TaskCode, Path(description="实施编码（31位）")]
CatalogCodePath = Annotated[CatalogCode, Path(description="基本编码（12位）")]
VersionPath = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="版本号")]
Page = Annotated[PageParams, Depends(page_params)]


# public ------------------------------------------------------------------------------------------


@router.get("/search", response_model=SearchPage)
def search_items(
    request: Request,
    response: Response,
    session: DbSession,
    page: Page,
    q: Annotated[
        SearchText, Query(max_length=64, description="关键词，如 护照、社保、个体工商户设立登记")
    ] = "",
    division: Annotated[DivisionCode | None, Query(description="行政区划代码（含下级）")] = None,
    department: Annotated[USCC | None, Query(description="实施主体（政府部门）的统一社会信用代码")] = None,
    task_type: Annotated[str | None, Query(pattern=r"^(0[1-9]|10|20)$", description="事项类型")] = None,
    level: Annotated[int | None, Query(ge=1, le=6, description="行使层级")] = None,
    service_object: Annotated[
        Literal["person", "legal"] | None, Query(description="服务对象：person 个人 / legal 法人")
    ] = None,
    online_depth: Annotated[int | None, Query(ge=1, le=8, description="支持的网上办理深度")] = None,
) -> SearchPage:
    """Search published items (公开检索): exact names first; synonyms; place and department words filter."""
    filters = SearchFilters(
        division=division,
        department=department,
        task_type=task_type,
        level=level,
        service_object=service_object,
        online_depth=online_depth,
    )
    settings = node_of(request).settings
    result = search(session, q, filters, offset=page.offset, limit=page.limit, scope=settings.division_code)
    set_page_headers(request, response, total=result.total, page=page)
    return SearchPage(
        query=result.query,
        total=result.total,
        implied=result.implied,
        items=[
            SearchItem(
                task_code=h.task_code,
                task_name=h.task_name,
                catalog_code=h.catalog_code,
                task_type=h.task_type,
                task_type_name=ct.TASK_TYPES.get(h.task_type, ""),
                use_level=h.use_level,
                dept_code=h.dept_code,
                dept_name=h.dept_name,
                division_code=h.division_code,
                match=h.match,
            )
            for h in result.hits
        ],
    )


@router.get("/items/{task_code}", response_model=GuideRead)
def get_item(task_code: TaskCodePath, session: DbSession) -> dict[str, Any]:
    """The published service guide of an implementation item (办事指南), national column names."""
    return licensetypes.with_type_names(session, with_names(service.get_public_item(session, task_code)))


# basic catalog (platform administrators) --------------------------------------------------------


@router.get("/directory", response_model=list[DirectoryRead])
def list_directory(
    request: Request,
    response: Response,
    session: DbSession,
    staff: Staff,
    page: Page,
    q: Annotated[SearchText | None, Query(max_length=64, description="名称包含")] = None,
    status: Annotated[str | None, Query(pattern="^(draft|published|suspended|cancelled)$")] = None,
    task_type: Annotated[str | None, Query(pattern=r"^\d{2}$")] = None,
) -> list[DirectoryRead]:
    """Basic catalog entries in every state (基本目录)."""
    rows, total = service.list_directory(
        session, q=q, status=status, task_type=task_type, offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [DirectoryRead.model_validate(r) for r in rows]


@router.post("/directory", status_code=201, response_model=DirectoryRead, responses=errors(409))
def create_directory(request: Request, data: DirectoryCreate, session: DbSession, staff: Staff) -> Any:
    """Add a basic catalog entry as a draft (platform administrators)."""
    # Plain ``def`` routes run in the thread pool: database round trips must not hold up the event loop.
    staff.ensure_platform()
    idem = Idempotency(session, request, scope="catalog.directory", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    item = service.create_directory(session, data.model_dump(exclude_unset=True), actor=staff.actor)
    body = DirectoryRead.model_validate(item).model_dump(mode="json")
    idem.remember(201, body)
    return JSONResponse(body, status_code=201)


@router.get("/directory/{catalog_code}", response_model=DirectoryRead)
def get_directory(catalog_code: CatalogCodePath, session: DbSession, staff: Staff) -> DirectoryRead:
    """One basic catalog entry (working copy)."""
    return DirectoryRead.model_validate(service.get_directory(session, catalog_code))


@router.patch("/directory/{catalog_code}", response_model=DirectoryRead, responses=errors(409))
def update_directory(
    catalog_code: CatalogCodePath,
    data: DirectoryUpdate,
    session: DbSession,
    staff: Staff,
) -> DirectoryRead:
    """Change a basic catalog entry (its code is fixed)."""
    staff.ensure_platform()
    changes = data.model_dump(exclude_unset=True)
    return DirectoryRead.model_validate(
        service.update_directory(session, catalog_code, changes, actor=staff.actor)
    )


@router.post("/directory/{catalog_code}/publish", response_model=DirectoryRead, responses=errors(409))
def publish_directory(catalog_code: CatalogCodePath, session: DbSession, staff: Staff) -> DirectoryRead:
    """Publish a basic catalog entry (new version, reported upward)."""
    staff.ensure_platform()
    return DirectoryRead.model_validate(service.publish_directory(session, catalog_code, actor=staff.actor))


@router.post("/directory/{catalog_code}/suspend", response_model=DirectoryRead, responses=errors(409))
def suspend_directory(
    catalog_code: CatalogCodePath, data: StateChange, session: DbSession, staff: Staff
) -> DirectoryRead:
    """Suspend a basic catalog entry (事项状态 2)."""
    staff.ensure_platform()
    item = service.change_directory_state(
        session, catalog_code, "suspend", actor=staff.actor, reason=data.reason
    )
    return DirectoryRead.model_validate(item)


@router.post("/directory/{catalog_code}/cancel", response_model=DirectoryRead, responses=errors(409))
def cancel_directory(
    catalog_code: CatalogCodePath, data: StateChange, session: DbSession, staff: Staff
) -> DirectoryRead:
    """Cancel a basic catalog entry (事项状态 3)."""
    staff.ensure_platform()
    item = service.change_directory_state(
        session, catalog_code, "cancel", actor=staff.actor, reason=data.reason
    )
    return DirectoryRead.model_validate(item)


@router.get("/directory/{catalog_code}/history", response_model=HistoryRead)
def directory_history(catalog_code: CatalogCodePath, session: DbSession, staff: Staff) -> HistoryRead:
    """Lifecycle actions and versions of a basic entry."""
    view = service.history(session, service.DIRECTORY, catalog_code)
    return HistoryRead.model_validate(
        {"code": catalog_code, "actions": view.actions, "versions": view.versions}, from_attributes=True
    )


@router.get("/directory/{catalog_code}/versions/{version}", response_model=VersionRead)
def directory_version(
    catalog_code: CatalogCodePath, version: VersionPath, session: DbSession, staff: Staff
) -> VersionRead:
    """One immutable version of a basic entry."""
    return VersionRead.model_validate(
        service.get_version(session, service.DIRECTORY, catalog_code, version), from_attributes=True
    )


@router.get("/directory/{catalog_code}/diff", response_model=DiffRead)
def directory_diff(
    catalog_code: CatalogCodePath,
    session: DbSession,
    staff: Staff,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_DB_INT)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_DB_INT)],
) -> DiffRead:
    """Field-level differences between two versions of a basic entry."""
    changes = service.diff_versions(session, service.DIRECTORY, catalog_code, from_version, to_version)
    return DiffRead.model_validate(
        {"code": catalog_code, "from_version": from_version, "to_version": to_version, "changes": changes}
    )


# implementation items (department administrators for their own department) ---------------------


@router.get("/tasks", response_model=list[TaskSummary])
def list_tasks(
    request: Request,
    response: Response,
    session: DbSession,
    staff: Staff,
    page: Page,
    q: Annotated[SearchText | None, Query(max_length=64, description="名称包含")] = None,
    status: Annotated[str | None, Query(pattern="^(draft|published|suspended|cancelled)$")] = None,
    department: Annotated[USCC | None, Query(description="实施主体编码")] = None,
    catalog_code: Annotated[CatalogCode | None, Query()] = None,
    division: Annotated[DivisionCode | None, Query()] = None,
) -> list[TaskSummary]:
    """Implementation items in every state; department administrators see their departments' only."""
    if department is not None:
        staff.ensure_department(department)
    rows, total = service.list_tasks(
        session,
        q=q,
        status=status,
        dept_code=department,
        dept_codes=None if staff.platform_admin else sorted(staff.departments),
        catalog_code=catalog_code,
        division=division,
        offset=page.offset,
        limit=page.limit,
    )
    set_page_headers(request, response, total=total, page=page)
    return [TaskSummary.model_validate(r) for r in rows]


def _staff_read(item: Any) -> StaffTaskRead:
    return StaffTaskRead(
        status=item.status,
        dirty=item.dirty,
        task_version=item.task_version,
        guide=with_names(task_snapshot(item)),
    )


@router.post("/tasks", status_code=201, response_model=StaffTaskRead, responses=errors(404, 409))
def create_task(request: Request, data: TaskCreate, session: DbSession, staff: Staff) -> Any:
    """Claim a basic entry for a body: a draft implementation item with a derived 实施编码."""
    raw = data.model_dump(exclude_unset=True)
    staff.ensure_department(str(raw.get("dept_code", "")).upper())
    idem = Idempotency(session, request, scope="catalog.tasks", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    item = service.create_task(session, raw, actor=staff.actor)
    body = _staff_read(item).model_dump(mode="json")
    idem.remember(201, body)
    return JSONResponse(
        body, status_code=201, headers={"Location": f"{router.prefix}/tasks/{item.task_code}"}
    )


def _managed(session: DbSession, staff: Staff, task_code: str) -> Any:
    item = service.get_task(session, task_code)
    staff.ensure_department(item.dept_code)
    return item


@router.get("/tasks/{task_code}", response_model=StaffTaskRead)
def get_task(task_code: TaskCodePath, session: DbSession, staff: Staff) -> StaffTaskRead:
    """The working copy of an implementation item."""
    return _staff_read(_managed(session, staff, task_code))


@router.patch("/tasks/{task_code}", response_model=StaffTaskRead, responses=errors(409))
def update_task(
    task_code: TaskCodePath,
    data: TaskUpdate,
    session: DbSession,
    staff: Staff,
) -> StaffTaskRead:
    """Change guide elements (lists are replaced as a whole); publish again to make them public."""
    _managed(session, staff, task_code)
    changes = data.model_dump(exclude_unset=True)
    return _staff_read(service.update_task(session, task_code, changes, actor=staff.actor))


@router.delete("/tasks/{task_code}", status_code=204, responses=errors(409))
def delete_task(task_code: TaskCodePath, session: DbSession, staff: Staff) -> Response:
    """Delete a draft that was never published (published items can only be cancelled)."""
    _managed(session, staff, task_code)
    service.delete_task(session, task_code, actor=staff.actor)
    return Response(status_code=204)


@router.post("/tasks/{task_code}/publish", response_model=StaffTaskRead, responses=errors(409))
def publish_task(task_code: TaskCodePath, session: DbSession, staff: Staff) -> StaffTaskRead:
    """Publish: completeness check, new immutable version, outbox records, search refresh."""
    _managed(session, staff, task_code)
    return _staff_read(service.publish_task(session, task_code, actor=staff.actor))


@router.post("/tasks/{task_code}/suspend", response_model=StaffTaskRead, responses=errors(409))
def suspend_task(
    task_code: TaskCodePath, data: StateChange, session: DbSession, staff: Staff
) -> StaffTaskRead:
    """Suspend (事项状态 2): leaves the public search until published again."""
    _managed(session, staff, task_code)
    return _staff_read(
        service.change_task_state(session, task_code, "suspend", actor=staff.actor, reason=data.reason)
    )


@router.post("/tasks/{task_code}/cancel", response_model=StaffTaskRead, responses=errors(409))
def cancel_task(
    task_code: TaskCodePath, data: StateChange, session: DbSession, staff: Staff
) -> StaffTaskRead:
    """Cancel (事项状态 3) for good."""
    _managed(session, staff, task_code)
    return _staff_read(
        service.change_task_state(session, task_code, "cancel", actor=staff.actor, reason=data.reason)
    )


@router.get("/tasks/{task_code}/history", response_model=HistoryRead)
def task_history(task_code: TaskCodePath, session: DbSession, staff: Staff) -> HistoryRead:
    """Lifecycle actions and versions of an implementation item."""
    try:
        _managed(session, staff, task_code)
    except ItemNotFound:
        staff.ensure_platform()  # a deleted draft: only its history remains
    view = service.history(session, service.TASK, task_code)
    return HistoryRead.model_validate(
        {"code": task_code, "actions": view.actions, "versions": view.versions}, from_attributes=True
    )


@router.get("/tasks/{task_code}/versions/{version}", response_model=VersionRead)
def task_version(
    task_code: TaskCodePath, version: VersionPath, session: DbSession, staff: Staff
) -> VersionRead:
    """One immutable version of an implementation item."""
    _managed(session, staff, task_code)
    return VersionRead.model_validate(
        service.get_version(session, service.TASK, task_code, version), from_attributes=True
    )


@router.get("/tasks/{task_code}/diff", response_model=DiffRead)
def task_diff(
    task_code: TaskCodePath,
    session: DbSession,
    staff: Staff,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_DB_INT)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_DB_INT)],
) -> DiffRead:
    """Field-level differences between two versions."""
    _managed(session, staff, task_code)
    changes = service.diff_versions(session, service.TASK, task_code, from_version, to_version)
    return DiffRead.model_validate(
        {"code": task_code, "from_version": from_version, "to_version": to_version, "changes": changes}
    )


@router.get("/validation", response_model=list[IssueRead])
def validation_report(
    request: Request, response: Response, session: DbSession, staff: Staff, page: Page
) -> list[IssueRead]:
    """Cross-tier divergences of the unified elements and missing required elements (platform administrators)."""
    staff.ensure_platform()
    issues = [i.as_dict() for i in service.validate_catalog(session)]
    set_page_headers(request, response, total=len(issues), page=page)
    return [IssueRead.model_validate(i) for i in issues[page.offset : page.offset + page.limit]]


# synonyms (platform administrators) -------------------------------------------------------------


@router.get("/synonyms", response_model=list[SynonymRead])
def list_synonyms(session: DbSession, staff: Staff) -> list[SynonymRead]:
    """The search synonym table (社保 → 社会保险 …)."""
    return [SynonymRead.model_validate(s) for s in service.list_synonyms(session)]


@router.put("/synonyms", response_model=SynonymRead)
def put_synonym(data: SynonymIn, session: DbSession, staff: Staff) -> SynonymRead:
    """Add or change a synonym."""
    staff.ensure_platform()
    return SynonymRead.model_validate(
        service.set_synonym(session, data.term, data.canonical, actor=staff.actor)
    )


@router.delete("/synonyms/{term}", status_code=204)
def delete_synonym(term: Annotated[str, Path(max_length=50)], session: DbSession, staff: Staff) -> Response:
    """Remove a synonym."""
    staff.ensure_platform()
    service.delete_synonym(session, term, actor=staff.actor)
    return Response(status_code=204)
