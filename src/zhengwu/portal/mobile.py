"""A small JSON API for a mobile app (``/api/v1/mobile``): the home page's content, the search that
understands people, the person's cases and licenses — the portal's pages as data, over the same services.

The person's routes (``/me/*``) take an ``Authorization: Bearer`` access token of the node's provider
issued to a client registered for the ``mobile`` scope (the app: a public client with PKCE), or
identity's session cookie (``identity.oidc.bearer``; docs/portal.md, "Mobile API").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.cases import machine
from zhengwu.cases import routes as case_routes
from zhengwu.cases import service as cases
from zhengwu.cases.errors import CaseNotFound
from zhengwu.cases.schemas import (
    CaseApply,
    CaseCreated,
    CaseEvaluationIn,
    CaseSupplement,
    CaseWithdraw,
)
from zhengwu.catalog import codetables as ct
from zhengwu.catalog import service as catalog
from zhengwu.catalog.errors import ItemNotFound
from zhengwu.catalog.search import SearchFilters
from zhengwu.catalog.search.grouped import items_by_theme
from zhengwu.catalog.search.index import PUBLISHED_STAMP
from zhengwu.catalog.service import access_demand
from zhengwu.identity.deps import Authenticated, request_meta
from zhengwu.identity.oidc.bearer import MOBILE_SCOPE, Person, person, person_by_token
from zhengwu.identity.oidc.errors import PersonTokenRejected
from zhengwu.identity.oidc.models import OidcGrant
from zhengwu.identity.oidc.schemas import ConsentWithdraw
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.task_code import validate_task_code
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.node import CurrentNode, ServiceKey, node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession
from zhengwu.kernel.stamps import StampedCache, remember
from zhengwu.licenses import copies, preview, shares
from zhengwu.licenses import service as licenses
from zhengwu.licenses.routes import license_read
from zhengwu.licenses.routes_shares import share_read
from zhengwu.licenses.schemas import LicenseRead
from zhengwu.licenses.sharing_schemas import CopyRequest, NewShareRead, ShareCreate, ShareRead
from zhengwu.portal import apps, finder, launch, licensepages, notices, privacypages
from zhengwu.portal.casepages import _ACTIONS
from zhengwu.portal.errors import AppSuspended, NotShowable
from zhengwu.portal.pages import (
    _LEVEL_LABELS,
    _days,
    _face,
    _inside,
    _license_view,
    _vocabulary,
    home_entries,
)
from zhengwu.portal.schemas import AppShown, NoticeRead, read_notice, shown_app
from zhengwu.seals.routes import OFD_MEDIA_TYPE

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
    """What the home page shows: life events (each a search query), items by theme, the newest notices and
    columns (this node's and its upper nodes')."""

    events: list[str] = Field(description="人生事件：作为搜索词使用")
    person_themes: list[Theme]
    legal_themes: list[Theme]
    notices: list[NoticeRead] = Field(description="最新的通知公告")
    columns: list[NoticeRead] = Field(description="栏目")


# The home's themes are counted over the whole catalog: the same for everyone and kept until the published
# items change (kernel.stamps), as the home page keeps its themes; its notices are the home page's
# (``pages.home_entries``, kept under the notices' stamp).
HOME_THEMES: ServiceKey[StampedCache[tuple[object, list[Theme], list[Theme]]]] = ServiceKey(
    "portal.mobile_home_themes"
)


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
    apps: list[AppShown] = Field(description="可办理本事项的部门应用（单点登录打开）")


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
    supplement_materials: list[str] = Field(description="要求补正的材料编号（material_id）")
    supplement_fields: list[str] = Field(description="要求补正的表单字段")
    can_withdraw: bool


@router.get("/home", response_model=Home, summary="首页内容（人生事件、按主题的热门事项、通知公告和栏目）")
def home(request: Request, db: DbSession) -> Home:
    """The life events of the vocabulary, the items by theme and the newest notices and columns, as on the
    portal's home page."""
    words = _vocabulary(request)

    def themes() -> tuple[object, list[Theme], list[Theme]]:
        def of(legal: bool) -> list[Theme]:
            return [
                Theme(
                    name=name,
                    items=[
                        ThemeItem(task_name=i.task_name, places=i.places, task_code=i.task_code)
                        for i in items
                    ],
                )
                for name, items in items_by_theme(db, legal=legal).items()
            ]

        # The vocabulary is kept in the value so that its id, the key, is not reused by another object.
        return words, of(False), of(True)

    _, person_themes, legal_themes = remember(db, HOME_THEMES, (PUBLISHED_STAMP,), id(words), themes)
    shown_notices, shown_columns = home_entries(db, node_of(request).settings.node_id)
    return Home(
        events=[e.label for e in words.events],
        person_themes=person_themes,
        legal_themes=legal_themes,
        notices=shown_notices,
        columns=shown_columns,
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
        apps=[shown_app(a) for a in apps.serving(db, task_code, str(g.get("catalog_code") or ""))],
    )


@router.get("/apps", response_model=list[AppShown], summary="接入应用")
def list_apps(db: DbSession) -> list[AppShown]:
    """The departments' H5 apps, by name. ``open_url`` (on this node) opens one with single sign-on in the
    browser that holds the person's session: it logs in here if need be, then hands over to the app."""
    return [shown_app(a) for a in apps.listing(db)]


class AppLaunch(BaseModel):
    """A one-time address that opens a department app, logged in, in the mobile app's web view."""

    url: str = Field(description="在应用内网页视图中打开的地址（一次有效）")
    expires_at: datetime
    expires_in: int = Field(description="有效秒数")


@router.post(
    "/me/apps/{app_id}/launch",
    response_model=AppLaunch,
    status_code=201,
    summary="打开接入应用（单点登录，一次性地址）",
    responses=errors(401, 404, 409),
)
def launch_app(app_id: str, request: Request, db: DbSession, auth: Me) -> AppLaunch:
    """An address valid once for a minute: opened in the app's web view it logs the person in there (at
    the level and login time of the token's login) and hands over to the department app's single sign-on.
    Only the app's token asks for one: a browser with a session opens the app's ``open_url`` directly."""
    if auth.session is not None:
        raise PersonTokenRejected(
            "网页中请直接打开应用；打开链接只发给持访问令牌的手机应用",
            detail_en="launch codes are for bearer tokens",
        )
    app = apps.shown(db, app_id)
    if not apps.client_active(db, app):
        raise AppSuspended()
    claims = node_of(request).services.provide(OIDC).verify_own(_token(request), typ="at+jwt", leeway=0)
    grant = db.scalars(select(OidcGrant).where(OidcGrant.access_jti == str(claims.get("jti", "")))).one()
    made = launch.issue(db, app, grant, meta=request_meta(request))
    base = node_of(request).settings.public_url.rstrip("/")
    return AppLaunch(url=f"{base}/apps/launch/{made.code}", expires_at=made.expires_at,
                     expires_in=launch.LAUNCH_SECONDS)  # fmt: skip


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
    return case_detail(db, _own_case(db, auth, case_no))


def _own_case(db: Session, auth: Person, case_no: str) -> Any:
    try:
        case = cases.get_case(db, case_no[:64])
    except CaseNotFound:
        case = None
    if case is None or not cases.may_see(db, auth.account, case):
        # The same answer for a case that does not exist and another person's.
        raise CaseNotFound("办件不存在，或不是您申请的")
    return case


def case_detail(db: Session, case: Any) -> CaseDetail:
    """The API shape of one case with its timeline."""
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
        # The service keeps the department's words as ``reason``.
        supplement_opinion=str(asked.get("reason") or "") if case.status == machine.SUPPLEMENT else None,
        supplement_materials=list(asked.get("materials") or []) if case.status == machine.SUPPLEMENT else [],
        supplement_fields=list(asked.get("fields") or []) if case.status == machine.SUPPLEMENT else [],
        can_withdraw=case.status in machine.FROM.get("withdraw", ()),
    )


@router.get("/me/licenses", response_model=list[LicenseRead], summary="我的证照")
def my_licenses(
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[LicenseRead]:
    """The person's licenses and those of the enterprises they act for, as the licenses API shows them."""
    rows, total = licenses.holder_licenses(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [license_read(db, lic) for lic in rows]


class FaceItem(BaseModel):
    """One 照面 item by its label, in the license type's order."""

    label: str
    value: str


class LicenseShown(BaseModel):
    """One of the person's licenses as the 我的证照 page shows it: facts in words, the face by labels, and
    where to fetch its preview picture, its file and (valid ones) the 2-D code for 扫码亮证."""

    id: str
    identifier: str
    type_name: str
    number: str
    issuer_name: str
    holder_name: str
    holder_kind: str
    status_label: str
    valid: bool
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    face: list[FaceItem]
    preview_url: str = Field(description="证照预览图 PNG（签章后的证照文件第一页）")
    file_url: str = Field(description="下载证照文件 OFD")
    code_url: str | None = Field(description="扫码亮证的二维码（仅有效证照）")


class LicenseCode(BaseModel):
    """扫码亮证: the signed 2-D code (a verifier checks it without a network) and what a verifier compares."""

    qr_png: str = Field(description="二维码，data:image/png;base64")
    masked_name: str = Field(description="部分隐藏的持证人姓名")
    type_name: str
    issuer_name: str
    valid_until: date | None
    made_at: datetime


class LicenseUse(BaseModel):
    """One entry of a license's usage log (用证记录): who, what, why, the outcome, in words."""

    at: datetime
    who: str
    what: str
    purpose: str
    result: str


class DataUse(BaseModel):
    """One entry of 我的数据使用记录: who read or used the person's data or licenses, when and why."""

    at: datetime
    who: str
    what: str
    why: str
    result: str


def _own_license(db: Session, auth: Person, license_id: str) -> Any:
    return licenses.holder_license(db, auth.account, license_id[:64])


@router.get(
    "/me/licenses/{license_id}",
    response_model=LicenseShown,
    summary="证照详情（照面信息）",
    responses=errors(404),
)
def my_license(license_id: str, request: Request, db: DbSession, auth: Me) -> LicenseShown:
    """One license as its page shows it; the look goes into its usage log, as the page's does."""
    lic = _own_license(db, auth, license_id)
    view = _license_view(db, lic)
    licensepages.holder_view(request, db, auth.account, lic, "持证人查看")
    here = f"{router.prefix}/me/licenses/{lic.id}"
    return LicenseShown(
        **{k: view[k] for k in ("id", "identifier", "type_name", "number", "issuer_name", "holder_name",
                                "holder_kind", "valid", "issued_at", "valid_from", "valid_until")},
        status_label=view["status"], face=[FaceItem(label=k, value=v) for k, v in _face(db, lic)],
        preview_url=f"{here}/preview", file_url=f"{here}/file", code_url=f"{here}/code" if view["valid"] else None,
    )  # fmt: skip


@router.get(
    "/me/licenses/{license_id}/preview",
    summary="证照预览图（PNG）",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "证照预览"}, **errors(404, 503)},
)
def license_preview(license_id: str, request: Request, db: DbSession, auth: Me) -> Response:
    """The sealed file's first page as a picture — the face, the 2-D code and the seal as issued."""
    lic = _own_license(db, auth, license_id)
    png = preview.preview_png(node_of(request).settings, lic)
    licensepages.holder_view(request, db, auth.account, lic, "持证人预览")
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.get(
    "/me/licenses/{license_id}/file",
    summary="下载证照文件（OFD，带电子签章）",
    response_class=Response,
    responses={200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "签章的 OFD"}, **errors(404)},
)
def license_file(license_id: str, request: Request, db: DbSession, auth: Me) -> Response:
    """The sealed OFD, the download logged."""
    return licensepages.license_download(request, db, auth.account, _own_license(db, auth, license_id))


@router.get(
    "/me/licenses/{license_id}/code",
    response_model=LicenseCode,
    summary="扫码亮证（带签名的二维码）",
    responses=errors(404, 409),
)
def license_code(license_id: str, request: Request, db: DbSession, auth: Me) -> LicenseCode:
    """A freshly signed 2-D code of a valid license (409 otherwise), as the 扫码亮证 page shows it."""
    lic = _own_license(db, auth, license_id)
    view = _license_view(db, lic)
    if not view["valid"]:
        raise NotShowable(f"证照状态：{view['status']}。只有有效的证照可以出示二维码。")
    shown = licensepages.showing(request, db, auth.account, lic)
    return LicenseCode(qr_png=shown["qr"], masked_name=shown["masked_name"], type_name=lic.type_name,
                       issuer_name=lic.issuer_name, valid_until=lic.valid_until, made_at=shown["made_at"])  # fmt: skip


@router.get(
    "/me/licenses/{license_id}/uses",
    response_model=list[LicenseUse],
    summary="用证记录（谁在什么时候、为什么使用或核验了这本证照）",
    responses=errors(404),
)
def license_uses(
    license_id: str,
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[LicenseUse]:
    """The license's usage log, newest first, as its page lists it (the holder's own looks included)."""
    rows, total = licenses.holder_license_usage(
        db, auth.account, license_id[:64], offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [LicenseUse(**licensepages.usage_row(u)) for u in rows]


@router.get("/me/data-use", response_model=list[DataUse], summary="我的数据使用记录")
def my_data_use(
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[DataUse]:
    """Who read the person's data (staff, apps, department systems) or used or verified their licenses,
    newest first, as the page lists it; the newest 1,000 entries are reachable (``X-Total-Count`` counts all)."""
    rows, total = privacypages.data_use(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [DataUse(**row) for row in rows]


# --- applying, supplements, withdrawal, evaluation, shares (the portal's forms as JSON) ----------------


def _token(request: Request) -> str:
    """The bearer token of a request the person guard took by its token (it checked the header's form)."""
    return request.headers["authorization"][7:].strip()


def _demand(request: Request, db: Session, auth: Person, task_code: str) -> None:
    """The item's login demands apply to applying for it: by session as the pages do; by token, the
    person's real-name level and the level of the login behind the token (a new authorization raises it).
    The item's maximum login age is checked for sessions only: an access token lives minutes."""
    if auth.session is not None:
        case_routes.demand_login(request, db, Authenticated(auth.session, auth.account), task_code)
        return
    demand = access_demand(db, task_code)
    if demand is not None and demand.requirement.level:
        person_by_token(request, db, _token(request), MOBILE_SCOPE, demand.requirement.level)


def _entity(auth: Person, asked: str | None, given: bool) -> str | None:
    """The enterprise applied for: the one asked (null: oneself), else the one the person acts for."""
    return asked if given else auth.acting_for


@router.get(
    "/items/{task_code}/form",
    summary="申请表单（由办事指南生成，含可用的电子证照）",
    responses=errors(403, 404, 409),
)
def application_form(
    task_code: str,
    request: Request,
    db: DbSession,
    auth: Me,
    on_behalf_of: Annotated[
        str | None, Query(max_length=32, description="代为申请的企业（法人）编号")
    ] = None,
) -> dict[str, Any]:
    """The application form of the apply page: materials, the held licenses that satisfy them, prefill."""
    _demand(request, db, auth, task_code)
    return cases.application_form(
        db, auth.account, task_code[:40], on_behalf_of=_entity(auth, on_behalf_of, on_behalf_of is not None)
    )


@router.post("/me/uploads", **case_routes.UPLOAD_ROUTE)
async def upload_material(request: Request, node: CurrentNode, auth: Me) -> dict[str, Any]:
    """Store one material; its SM3 names it in the application."""
    return await case_routes.store_material(request, node)


@router.post(
    "/me/cases",
    response_model=CaseCreated,
    status_code=201,
    summary="申办事项（保存草稿或提交；提交支持 Idempotency-Key）",
    responses=errors(403, 404, 409, 422),
)
def apply(
    data: CaseApply, request: Request, response: Response, db: DbSession, node: CurrentNode, auth: Me
) -> CaseCreated | Response:
    """Save a draft or submit, as the apply page does; the query password is in the answer this once."""
    _demand(request, db, auth, data.task_code)
    entity = _entity(auth, data.on_behalf_of, "on_behalf_of" in data.model_fields_set)
    return case_routes.apply_for(
        data, request, response, db, node, auth.account, entity, location="/api/v1/mobile/me/cases"
    )


@router.post(
    "/me/cases/{case_no}/supplement",
    response_model=CaseDetail,
    summary="补正材料（只交被退回的内容）",
    responses=errors(404, 409, 422),
)
def supplement(case_no: str, data: CaseSupplement, db: DbSession, node: CurrentNode, auth: Me) -> CaseDetail:
    """Answer the supplement the department asked for; the case goes back to it."""
    own = _own_case(db, auth, case_no).case_no
    return case_detail(db, case_routes.answer_supplement(db, node, auth.account, own, data))


@router.post(
    "/me/cases/{case_no}/withdraw", response_model=CaseDetail, summary="撤回申请", responses=errors(404, 409)
)
def withdraw(case_no: str, data: CaseWithdraw, db: DbSession, node: CurrentNode, auth: Me) -> CaseDetail:
    """Withdraw before the conclusion."""
    own = _own_case(db, auth, case_no).case_no
    return case_detail(db, case_routes.withdraw_case(db, node, auth.account, own, data))


@router.post(
    "/me/cases/{case_no}/evaluation",
    status_code=201,
    summary="评价办件（好差评）",
    responses=errors(404, 409, 422),
)
def evaluate(
    case_no: str, data: CaseEvaluationIn, db: DbSession, node: CurrentNode, auth: Me
) -> dict[str, object]:
    """The one evaluation after the conclusion, reported upward with the result record."""
    return case_routes.evaluate_case(db, node, auth.account, _own_case(db, auth, case_no).case_no, data)


@router.get(
    "/me/licenses/{license_id}/shares",
    response_model=list[ShareRead],
    summary="证照的共享记录",
    responses=errors(404),
)
def list_shares(license_id: str, db: DbSession, auth: Me) -> list[dict[str, Any]]:
    """Every share of one of the person's licenses, newest first."""
    return [share_read(s) for s in shares.holder_shares(db, auth.account, license_id[:64])]


@router.post(
    "/me/licenses/{license_id}/shares",
    response_model=NewShareRead,
    status_code=201,
    summary="共享证照（链接和二维码，令牌仅此一次显示）",
    responses=errors(404, 409, 422),
)
def create_share(
    license_id: str, data: ShareCreate, request: Request, db: DbSession, auth: Me
) -> dict[str, Any]:
    """Share with a department, a client or anyone with the link, as the license page does."""
    node = node_of(request)
    made = shares.create_share(
        db, node.settings, auth.account, license_id[:64], audience_kind=data.audience_kind,
        audience=data.audience, purpose=data.purpose, expires_at=data.expires_at, grants=data.grants, bus=node.bus,
    )  # fmt: skip
    return {**share_read(made.share), "token": made.token, "url": made.url, "qr_png": made.qr_data_uri}


@router.post(
    "/me/licenses/{license_id}/shares/{share_id}/revoke",
    response_model=ShareRead,
    summary="撤销共享（立即生效）",
    responses=errors(404),
)
def revoke_share(
    license_id: str, share_id: str, db: DbSession, node: CurrentNode, auth: Me
) -> dict[str, Any]:
    """The next use of the share is refused."""
    share = shares.revoke_share(
        db, auth.account, license_id[:64], share_id[:64], reason="持证人在移动端撤销", bus=node.bus
    )
    return share_read(share)


# --- 授权管理 and 加注件 ------------------------------------------------------------------------------------


class MyConsent(BaseModel):
    """A consent the person gave an app or a department system, in words (授权管理)."""

    id: str
    app: str = Field(description="应用或部门系统（部门·系统）")
    what: str = Field(description="授权提供的信息（文字）")
    purpose: str
    granted_at: datetime
    withdrawn_at: datetime | None
    status_label: str = Field(description="有效 / 已撤回 / 已被新的授权取代")
    active: bool


class MyShare(ShareRead):
    """A share of one of the person's licenses, with the license's type (授权管理 lists them all)."""

    license_type: str


class MyCopy(BaseModel):
    """An annotated copy (加注件) of one of the person's licenses."""

    id: str
    purpose: str
    requested_by: str = Field(description="谁申请的（持证人本人或部门·系统）")
    created_at: datetime
    expires_at: datetime
    expired: bool
    file_url: str = Field(description="下载加注件 OFD 的地址（同样需要令牌）")


@router.get("/me/consents", response_model=list[MyConsent], summary="授权管理：我给应用和部门系统的授权")
def my_consents(db: DbSession, auth: Me) -> list[MyConsent]:
    """Every consent version the person gave, newest first, as 授权管理 lists them."""
    return [
        MyConsent(
            id=r["id"],
            app=r["app"],
            what=r["what"],
            purpose=r["purpose"],
            granted_at=r["granted_at"],
            withdrawn_at=r["withdrawn_at"],
            status_label=r["status"],
            active=r["active"],
        )
        for r in privacypages.consent_rows(db, auth.account.id)
    ]


@router.post(
    "/me/consents/{consent_id}/withdraw",
    response_model=MyConsent,
    summary="撤回授权（该应用的令牌随即失效）",
    responses=errors(404),
)
def withdraw_consent(
    consent_id: str, data: ConsentWithdraw, request: Request, db: DbSession, auth: Me
) -> MyConsent:
    """Withdraw a consent of the person's; the app's tokens relying on it are revoked at once."""
    privacypages.withdraw_app_consent(request, db, auth.account.id, consent_id[:64], data.reason)
    return next(c for c in my_consents(db, auth) if c.id == consent_id[:64])


@router.get("/me/shares", response_model=list[MyShare], summary="授权管理：我的全部证照共享")
def my_shares(
    request: Request,
    response: Response,
    db: DbSession,
    auth: Me,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[dict[str, Any]]:
    """The shares of every license the person holds or acts for, newest first (revoke one with
    ``POST /me/licenses/{license_id}/shares/{share_id}/revoke``)."""
    rows, total = shares.holder_all_shares(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [{**share_read(s), "license_type": lic.type_name} for s, lic in rows]


def _copy(row: Any, license_id: str) -> MyCopy:
    return MyCopy(
        id=row.id, purpose=row.purpose, requested_by=row.requester_name, created_at=row.created_at,
        expires_at=row.expires_at, expired=row.expires_at <= utcnow(),
        file_url=f"/api/v1/mobile/me/licenses/{license_id}/copies/{row.id}/file",
    )  # fmt: skip


@router.get(
    "/me/licenses/{license_id}/copies",
    response_model=list[MyCopy],
    summary="证照的加注件",
    responses=errors(404),
)
def list_copies(license_id: str, db: DbSession, auth: Me) -> list[MyCopy]:
    """The annotated copies of one of the person's licenses, newest first (whoever requested them)."""
    return [_copy(c, license_id[:64]) for c in copies.holder_copies(db, auth.account, license_id[:64])]


@router.post(
    "/me/licenses/{license_id}/copies",
    response_model=MyCopy,
    status_code=201,
    summary="制作加注件（用途印在件上，由发证机关印章重新签章）",
    responses=errors(404, 409, 422),
)
def make_copy(license_id: str, data: CopyRequest, request: Request, response: Response, db: DbSession,
              auth: Me) -> MyCopy:  # fmt: skip
    """An annotated copy for a purpose, until a time; download it from ``file_url``."""
    lic = licenses.holder_license(db, auth.account, license_id[:64])
    made = licensepages.make_holder_copy(request, db, auth.account, lic, data.purpose, data.expires_at)
    shown = _copy(made.row, lic.id)
    response.headers["Location"] = shown.file_url
    return shown


@router.get(
    "/me/licenses/{license_id}/copies/{copy_id}/file",
    summary="下载加注件（OFD）",
    response_class=Response,
    responses={200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "加注并签章的 OFD"}, **errors(404)},
)
def copy_file(license_id: str, copy_id: str, request: Request, db: DbSession, auth: Me) -> Response:
    """The sealed OFD of one annotated copy (the download goes into the license's usage log)."""
    return licensepages.copy_download(request, db, auth.account, license_id, copy_id)
