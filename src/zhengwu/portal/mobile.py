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
from zhengwu.cases.errors import CaseNotFound
from zhengwu.catalog import codetables as ct
from zhengwu.catalog import service as catalog
from zhengwu.catalog.errors import ItemNotFound
from zhengwu.catalog.search import SearchFilters
from zhengwu.catalog.search.grouped import items_by_theme
from zhengwu.identity.oidc.bearer import Person, person
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.task_code import validate_task_code
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import lifecycle
from zhengwu.licenses import service as licenses
from zhengwu.portal import finder, notices
from zhengwu.portal.casepages import _ACTIONS
from zhengwu.portal.pages import _LEVEL_LABELS, _days, _inside, _vocabulary
from zhengwu.portal.schemas import NoticeRead, read_notice

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
    enterprise: str | None = None  # the enterprise applied for (the person as its agent)


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


class GuideMaterial(BaseModel):
    """One material of a guide, codes turned into words."""

    name: str
    need: str
    form: str
    note: str
    license_type: str | None = Field(description="可用电子证照代替时，证照类型名称")


class Question(BaseModel):
    """A common question of a guide and its answer."""

    question: str
    answer: str


class Guide(BaseModel):
    """The service guide (办事指南) as the portal's guide page shows it."""

    task_code: str
    task_name: str
    type_name: str
    department: str
    division_name: str
    objects: list[str] = Field(description="办事对象")
    statutory: str | None = Field(description="法定办结时限")
    promised: str | None = Field(description="承诺办结时限")
    charged: bool
    fees: list[str]
    required_level: int | None = Field(description="在线办理需要的实名等级")
    login: str | None = Field(description="在线办理的登录要求（文字）")
    depth: list[str] = Field(description="网办深度")
    visits: int | None = Field(description="到现场次数")
    materials: list[GuideMaterial]
    questions: list[Question]


class Step(BaseModel):
    """One step of a case's timeline."""

    at: datetime
    what: str
    status: str
    status_label: str
    opinion: str


class CaseDetail(MyCase):
    """One case with its timeline and, while a supplement is asked, what is asked."""

    timeline: list[Step]
    supplement_opinion: str | None
    can_withdraw: bool


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


@router.get(
    "/items/{task_code}",
    response_model=Guide,
    summary="办事指南",
)
def guide(task_code: str, request: Request, db: DbSession) -> Guide:
    """The published guide of one place's item, in words (the portal's guide page as data)."""
    try:
        if not validate_task_code(task_code).ok:
            raise ItemNotFound()
        g = catalog.get_public_item(db, task_code)
    except ItemNotFound:
        raise ItemNotFound("事项不存在、尚未发布或已取消") from None
    type_names = {t.code: t.name for t in licenses.list_types(db)}
    level = g.get("auth_level")
    max_age = g.get("auth_max_age")
    login = _LEVEL_LABELS.get(int(level), "实名用户") if level else None
    if login and max_age:
        login += f"，且须在{int(max_age) // 60}分钟内登录过"
    visits = g.get("limit_scene_num")
    return Guide(
        task_code=task_code,
        task_name=str(g.get("task_name") or ""),
        type_name=ct.TASK_TYPES.get(str(g.get("task_type")), ""),
        department=str(g.get("dept_name") or ""),
        division_name=divisions.name_of(str(g.get("division_code") or "")) or "",
        objects=[
            o for o in (ct.SERVER_TYPES.get(s, "") for s in str(g.get("server_type") or "").split("^")) if o
        ],
        statutory=_days(g.get("anticipate_day"), g.get("anticipate_type")),
        promised=_days(g.get("promise_day"), g.get("promise_type")),
        charged=str(g.get("is_fee")) == "1",
        fees=[str(f.get("fee_name") or "") for f in g.get("fee_projects") or []],
        required_level=int(level) if level else None,
        login=login,
        depth=[
            d
            for d in (ct.ONLINE_DEPTHS.get(x, "") for x in str(g.get("online_handle_depth") or "").split("^"))
            if d
        ],
        visits=int(str(visits)) if str(visits or "").isdigit() else None,
        materials=[
            GuideMaterial(
                name=str(m.get("material_name") or ""),
                need=ct.IS_NEED.get(str(m.get("is_need")), "必要"),
                form=ct.MATERIAL_FORMATS.get(str(m.get("material_format")), ""),
                note=str(m.get("source_explain") or ""),
                license_type=type_names.get(str(m.get("license_type_code")))
                if m.get("license_type_code")
                else None,
            )
            for m in g.get("materials") or []
        ],
        questions=[
            Question(question=str(q.get("question") or ""), answer=str(q.get("answer") or ""))
            for q in g.get("questions") or []
        ],
    )


@router.get("/notices", response_model=list[NoticeRead], summary="通知公告或栏目（本平台和上级平台的）")
def list_notices(
    request: Request,
    response: Response,
    db: DbSession,
    page: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[
        str, Query(pattern="^(notice|column)$", description="notice 通知公告 / column 栏目")
    ] = "notice",
) -> list[NoticeRead]:
    """The notices (or columns) the portal shows, newest first: this node's and its upper nodes'."""
    rows, total = notices.current(db, kind, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    own = node_of(request).settings.node_id
    return [read_notice(n, own) for n in rows]


@router.get("/notices/{notice_id}", response_model=NoticeRead, summary="一条通知公告", responses=errors(404))
def get_notice(notice_id: str, request: Request, db: DbSession) -> NoticeRead:
    """One notice or column entry (a withdrawn one: 404)."""
    return read_notice(notices.shown(db, notice_id), node_of(request).settings.node_id)


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
            enterprise=c.applicant_name if c.applicant_kind == "enterprise" else None,
        )
        for c in rows
    ]


@router.get(
    "/me/cases/{case_no}",
    response_model=CaseDetail,
    summary="我的办件：状态与办理过程",
)
def my_case(case_no: str, db: DbSession, auth: Me) -> CaseDetail:
    """One of the person's cases: its status, the timeline, what a supplement asks (404 for others')."""
    try:
        case = cases.get_case(db, case_no[:64])
    except CaseNotFound:
        case = None
    if case is None or case.applicant_account_id != auth.account.id:
        # The same answer for a case that does not exist and another person's.
        raise CaseNotFound("办件不存在，或不是您申请的")
    asked = case.supplement or {}
    return CaseDetail(
        case_no=case.case_no,
        draft_id=case.id if case.status == machine.DRAFT else None,
        task_code=case.task_code,
        task_name=case.task_name,
        status=case.status,
        status_label=machine.LABELS.get(case.status, "办理中"),
        submitted_at=case.submitted_at,
        deadline=case.deadline,
        timeline=[
            Step(
                at=h.at,
                what=_ACTIONS.get(h.action, "办件状态更新"),
                status=h.to_status,
                status_label=machine.LABELS.get(h.to_status, ""),
                opinion=h.opinion or "",
            )
            for h in cases.history(db, case)
        ],
        supplement_opinion=str(asked.get("opinion") or "") if case.status == machine.SUPPLEMENT else None,
        can_withdraw=case.status in machine.FROM.get("withdraw", ()),
    )


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
