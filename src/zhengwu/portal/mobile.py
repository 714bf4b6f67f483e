"""A small JSON API for a mobile app (``/api/v1/mobile``): the home page's content, the search that
understands people, the person's cases and licenses — the portal's pages as data, over the same services.

The person's routes (``/me/*``) take an ``Authorization: Bearer`` access token of the node's provider
issued to a client registered for the ``mobile`` scope (the app: a public client with PKCE), or
identity's session cookie (``identity.oidc.bearer``; docs/portal.md, "Mobile API").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from zhengwu.cases import machine
from zhengwu.cases import service as cases
from zhengwu.catalog.search import SearchFilters
from zhengwu.catalog.search.grouped import items_by_theme
from zhengwu.identity.oidc.bearer import Person, person
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import lifecycle
from zhengwu.licenses import service as licenses
from zhengwu.portal import finder
from zhengwu.portal.pages import _inside, _vocabulary

Me = Annotated[Person, Depends(person())]

router = APIRouter(prefix="/api/v1/mobile", tags=["mobile 移动端"])


class ThemeItem(BaseModel):
    """An item under a theme: its name, how many places offer it, one task code to open its guide."""

    task_name: str
    places: int
    task_code: str


class Theme(BaseModel):
    """A theme (自然人主题 or 法人主题) and its most widely offered items."""

    name: str
    items: list[ThemeItem]


class Home(BaseModel):
    """What the home page shows: life events (each a search query) and items by theme."""

    events: list[str] = Field(description="人生事件：作为搜索词使用")
    person_themes: list[Theme]
    legal_themes: list[Theme]


class Place(BaseModel):
    """One place offering an item: its task code (the guide: ``/api/v1/catalog/items/{task_code}``)."""

    task_code: str
    department: str
    division_code: str
    division_name: str


class Group(BaseModel):
    """One item name found, with the places offering it (the same item across counties is one group)."""

    task_name: str
    places_total: int
    places: list[Place]


class SearchAnswer(BaseModel):
    """Groups of the page asked for, how many in all, and suggestions when nothing was found."""

    total: int
    groups: list[Group]
    suggestions: list[str]


class MyCase(BaseModel):
    """One of the person's cases or drafts (status in words beside its code)."""

    case_no: str | None
    draft_id: str | None
    task_code: str
    task_name: str
    status: str
    status_label: str
    submitted_at: datetime | None
    deadline: date | None


class MyLicense(BaseModel):
    """One of the person's licenses (or of an enterprise they act for)."""

    id: str
    type_name: str
    holder_name: str
    number: str
    issuer_name: str
    status: str
    status_label: str
    valid_from: date
    valid_until: date | None


@router.get("/home", response_model=Home, summary="首页内容（人生事件、按主题的热门事项）")
def home(request: Request, db: DbSession) -> Home:
    """The life events of the vocabulary and the items by theme, as on the portal's home page."""

    def themes(legal: bool) -> list[Theme]:
        return [
            Theme(
                name=name,
                items=[
                    ThemeItem(task_name=i.task_name, places=i.places, task_code=i.task_code) for i in items
                ],
            )
            for name, items in items_by_theme(db, legal=legal).items()
        ]

    return Home(
        events=[e.label for e in _vocabulary(request).events],
        person_themes=themes(False),
        legal_themes=themes(True),
    )


@router.get("/search", response_model=SearchAnswer, summary="搜索事项（理解口语、简称和人生事件）")
def search(
    request: Request,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64, description="想办的事，例如：开饭店、身份证丢了")] = "",
    division: Annotated[str, Query(pattern=r"^(\d{6})?$", description="行政区划代码（本平台范围内）")] = "",
    who: Annotated[
        str, Query(pattern="^(person|legal)?$", description="办事对象：person 个人 / legal 企业")
    ] = "",
) -> SearchAnswer:
    """The portal's search: vocabulary first, one group per item name with its places."""
    scope = node_of(request).settings.division_code
    chosen = division if division and _inside(scope, division) else None
    filters = SearchFilters(division=chosen, service_object=who or None)
    found = finder.find(db, q.strip(), filters, _vocabulary(request), scope=scope)
    shown = finder.page(db, found, page.offset, min(page.limit, 20), places=50)
    return SearchAnswer(
        total=len(found.groups),
        suggestions=found.suggestions,
        groups=[
            Group(
                task_name=g.task_name,
                places_total=g.total,
                places=[
                    Place(
                        task_code=p.task_code,
                        department=p.dept_name,
                        division_code=p.division_code,
                        division_name=divisions.name_of(p.division_code) or "",
                    )
                    for p in g.places
                ],
            )
            for g in shown
        ],
    )


@router.get("/me/cases", response_model=list[MyCase], summary="我的办件")
def my_cases(
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[MyCase]:
    """The person's cases and drafts, newest first (``X-Total-Count`` and ``Link`` for paging)."""
    rows, total = cases.mine(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [
        MyCase(
            case_no=c.case_no,
            draft_id=c.id if c.status == machine.DRAFT else None,
            task_code=c.task_code,
            task_name=c.task_name,
            status=c.status,
            status_label=machine.LABELS.get(c.status, "办理中"),
            submitted_at=c.submitted_at,
            deadline=c.deadline,
        )
        for c in rows
    ]


@router.get("/me/licenses", response_model=list[MyLicense], summary="我的证照")
def my_licenses(
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[MyLicense]:
    """The person's licenses and those of the enterprises they act for (paged like every list)."""
    rows, total = licenses.holder_licenses(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    result = []
    for lic in rows:
        status = licenses.status_of(lic)
        result.append(
            MyLicense(
                id=lic.id,
                type_name=lic.type_name,
                holder_name=lic.holder_name,
                number=lic.number,
                issuer_name=lic.issuer_name,
                status=status,
                status_label=lifecycle.label(status),
                valid_from=lic.valid_from,
                valid_until=lic.valid_until,
            )
        )
    return result
