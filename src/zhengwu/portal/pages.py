"""The portal's pages: home, search, guides, public license verification, 我的证照 (the list and the file;
the license page with its shares and copies is ``licensepages``), 适老化 mode.

Thin handlers: they read the catalog's and licenses' public services and render zh-CN templates that
work without JavaScript. Holder pages send a visitor without a session to identity's login page with
``next``; every POST carries identity's CSRF token.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from zhengwu.cases import rights as case_rights
from zhengwu.catalog import codetables as ct
from zhengwu.catalog import service as catalog
from zhengwu.catalog.errors import ItemNotFound
from zhengwu.catalog.search import SearchFilters
from zhengwu.catalog.search.engine import division_range
from zhengwu.catalog.search.grouped import departments_in, items_by_theme
from zhengwu.catalog.search.index import PUBLISHED_STAMP, SYNONYMS_STAMP
from zhengwu.exchange import rights as exchange_rights
from zhengwu.identity import context as identity_context
from zhengwu.identity import policy
from zhengwu.identity.deps import Authenticated, current_session
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.web import attach_csrf_cookie, check_csrf, csrf_token, safe_next
from zhengwu.kernel import stamps
from zhengwu.kernel.assets import guarded_templates, static_asset
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.task_code import validate_task_code
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.limits import KiB, body_limit
from zhengwu.kernel.node import Node, ServiceKey, node_of
from zhengwu.kernel.pagecache import PUBLIC_HEADER, PublicPages, serve_public
from zhengwu.kernel.ratelimit import client_address, per_address
from zhengwu.kernel.session import DbSession
from zhengwu.kernel.stamps import StampedCache, remember
from zhengwu.licenses import holders, lifecycle
from zhengwu.licenses import rights as license_rights
from zhengwu.licenses import service as licenses
from zhengwu.licenses.lookup import type_names as type_names_of
from zhengwu.portal import apps, finder, notices, vocabulary
from zhengwu.portal.errors import NoticeNotFound
from zhengwu.portal.schemas import NoticeRead, read_notice
from zhengwu.seals.routes import MAX_UPLOAD_BYTES, UPLOAD_LIMITS

router = APIRouter(include_in_schema=False)
TEMPLATES = guarded_templates(Path(__file__).parent / "templates")
_STATIC = Path(__file__).parent / "static"
CARE_COOKIE = "zw_care"
PLACE_COOKIE = "zw_place"
CARE_SIZES = (1, 2, 3)
PAGE_GROUPS = 10
HOME_NOTICES = 5
HOME_COLUMNS = 12
_HOLDER_CODE = re.compile(r"[0-9A-Za-z]{5,20}")
_VERIFY_LIMIT = Depends(per_address("portal.verify", lambda s: s.security.public_rate_per_minute))
# A search's groups and first places depend on the catalog, its synonyms and the vocabulary only: the
# answers to the queries people repeat are kept until one of those changes (the page itself is not).
SEARCHES: ServiceKey[StampedCache[tuple[object, finder.Found, list[finder.Shown]]]] = ServiceKey(
    "portal.searches"
)
DEPARTMENTS: ServiceKey[StampedCache[list[tuple[str, str]]]] = ServiceKey("portal.departments")
# The home page's life events and items by theme (counted over the whole catalog, some 160 links): the
# same for every visitor, rendered once and kept until the published items change (kernel.stamps).
HOME_THEMES: ServiceKey[StampedCache[tuple[object, Markup]]] = ServiceKey("portal.home_themes")
# The home's newest notices and columns, for the page and the mobile API alike: read per request
# otherwise, the same for everyone, kept until the notices' stamp moves (a change here or from above).
HOME_ENTRIES: ServiceKey[StampedCache[tuple[list[NoticeRead], list[NoticeRead]]]] = ServiceKey(
    "portal.home_notices"
)


def beijing(value: datetime | date | None, with_time: bool = True) -> str:
    """北京时间 for people: ``2026年12月5日 14:05`` (dates as they are)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = value.astimezone(BEIJING)
        text = f"{local.year}年{local.month}月{local.day}日"
        return f"{text} {local:%H:%M}" if with_time else text
    return f"{value.year}年{value.month}月{value.day}日"


TEMPLATES.env.filters["beijing"] = beijing


def care_level(request: Request) -> int:
    """The 适老化 type step chosen in this browser (0: standard mode)."""
    return _public_vary(request.cookies)


#: The header that tells the service worker how many seconds the kept 扫码亮证 pages may still be shown
#: without a network (0: this browser has no session here, so none may).
OFFLINE_MAX_AGE: Final = "X-Offline-Max-Age"
#: Which session the page was shown in: the worker keeps a code page with it and lets only pages of that
#: same session renew it, so a later login (someone else's, or the same person's) does not revive it.
OFFLINE_SESSION: Final = "X-Offline-Session"


def offline_until(db: Session, auth: Authenticated) -> datetime:
    """When the session the page is shown in ends at the latest without further use: its idle limit from
    its last recorded use (recorded at most a minute late: the end comes no later), or its absolute limit.
    A copy kept for use without a network must not outlive it."""
    ctx = identity_context.of(db)
    session = auth.session
    return min(session.created_at + ctx.absolute_timeout, session.last_seen_at + ctx.idle_timeout)


def offline_headers(db: Session, auth: Authenticated | None) -> dict[str, str]:
    """Headers of a page shown to this browser: the service worker is told the seconds its kept codes may
    last (relative, so a device clock that is off does not stretch them) and, for a session, a digest
    standing for it (the page does not expose the session's own identifier)."""
    if auth is None:
        return {OFFLINE_MAX_AGE: "0"}
    seconds = max(0, int((offline_until(db, auth) - utcnow()).total_seconds()))
    tag = hashlib.sha256(f"zhengwu-offline-session:{auth.session.id}".encode()).hexdigest()[:32]
    return {OFFLINE_MAX_AGE: str(seconds), OFFLINE_SESSION: tag}


#: The 工作台's sections beyond the case queue, each shown in the header only to staff whose bindings hold
#: its right (the page itself still asks the policy, second factor included): clerks, who share the
#: header, see 联办环节 and not the upper node's license sections.
STAFF_SECTIONS: Final = (
    (case_rights.HANDLE, "/staff/joint-steps", "联办环节"),
    (exchange_rights.OPERATE, "/staff/licenses/received", "下级上报证照"),
    (license_rights.PUSH_STATUS, "/staff/licenses/status-push", "下发证照状态变更"),
)


def staff_sections(db: Session, account_id: str) -> list[tuple[str, str]]:
    """The header links (address, name) of the sections this staff member may open."""
    bindings = policy.bindings_of(db, account_id)
    return [(href, label) for wanted, href, label in STAFF_SECTIONS if policy.bindings_hold(bindings, wanted)]


def render(
    request: Request,
    db: Session,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    public: bool = False,
) -> HTMLResponse:
    """Render a portal page with the node's look, the visitor's session, CSRF token and 适老化 step.

    ``public``: the page shows a visitor without a session nothing but the page itself (its templates
    print the CSRF token only for an account), so such a visitor's answer carries no token, sets no
    cookie and may be kept for the next anonymous visitor (kernel.pagecache, keyed as
    :func:`keep_public_pages` says)."""
    look = notices.page_look(db, node_of(request).settings)
    auth = current_session(request, db)
    anonymous_public = public and auth is None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    ctx: dict[str, Any] = {
        "csrf_token": "" if anonymous_public else csrf_token(request),
        "node_name": look["title"],
        "logo_url": look["logo_url"],
        "header_colour": look["header_colour"],
        "footer": look["footer"],
        "account": auth.account if auth else None,
        "care": care_level(request),
        "here": here,
        "login_url": "/identity/login?next=" + quote(here, safe=""),
    }
    if auth is not None and template.startswith("staff/"):
        ctx["staff_sections"] = staff_sections(db, auth.account.id)
    ctx.update(context or {})
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    # Every page says whether this browser's session goes on (and for how long), so that the kept
    # 扫码亮证 copies live as long as the session the holder keeps using, and go when it has ended.
    response.headers.update(offline_headers(db, auth))
    if anonymous_public:
        response.headers[PUBLIC_HEADER] = "1"
    else:
        attach_csrf_cookie(request, response)
    return response


_PUBLIC_PATHS = frozenset({"/", "/search", "/notices", "/columns"})
_PUBLIC_UNDER = re.compile(r"/(items|notices)/[^/]+")
# What the kept public pages read besides the stamps the catalog and the style bump: the apps serving an
# item, the license types materials cite, the national guides pushed from above (notices and columns:
# their table is watched where they are written, ``notices``).
_WATCHED = {
    "portal_app": "portal.apps",
    "licenses_type": "licenses.types",
    "catalog_national_guide": "catalog.national_guides",
}


def _public_path(path: str) -> bool:
    return path in _PUBLIC_PATHS or _PUBLIC_UNDER.fullmatch(path) is not None


def _public_vary(cookies: Mapping[str, str]) -> int:
    """Of the cookies, an anonymous visitor's page reads only the 适老化 type step."""
    raw = cookies.get(CARE_COOKIE, "")
    return int(raw) if raw.isdigit() and int(raw) in CARE_SIZES else 0


def keep_public_pages(node: Node) -> None:
    """Home, search, guides and notices are kept for anonymous visitors, per 适老化 step, until a stamp
    of what they show moves."""
    for table, stamp in _WATCHED.items():
        stamps.watch(table, stamp)
    extra = node.settings.portal.vocabulary_file
    serve_public(node, PublicPages(_public_path, _public_vary, lambda: id(vocabulary.load(extra))))


_T = TypeVar("_T")


def form_post(
    request: Request,
    csrf_token: str,
    load: Callable[[], tuple[Authenticated, _T] | Response],
    refuse: Callable[[Authenticated, _T, str], Response],
) -> tuple[Authenticated, _T] | Response:
    """The preamble of a person's form POST on one of their objects: the session and the object (else
    ``load``'s login or not-found page), then the form's CSRF token (else ``refuse``: the object's page
    with the refusal, what was typed kept)."""
    found = load()
    if isinstance(found, Response):
        return found
    auth, thing = found
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return refuse(auth, thing, exc.detail)
    return auth, thing


def _page_number(raw: str) -> int:
    """A page number from the address bar: anything odd is the first page (a link, not a form)."""
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 1000 else 1


def _vocabulary(request: Request) -> vocabulary.Vocabulary:
    return vocabulary.load(node_of(request).settings.portal.vocabulary_file)


# --- static and 适老化 ----------------------------------------------------------------------------


@router.get("/portal/static/portal.css")
async def stylesheet(request: Request) -> Response:
    """The portal's only stylesheet (served by the node: no CDN, no framework; refused when tampered)."""
    return await static_asset(request, _STATIC / "portal.css", "text/css")


@router.get("/portal/static/readaloud.js")
async def read_aloud_script(request: Request) -> Response:
    """适老化 mode's 朗读 button: the browser's speech synthesis reads the main content (a file, for the CSP)."""
    return await static_asset(request, _STATIC / "readaloud.js", "text/javascript; charset=utf-8")


@router.get("/portal/static/upload.js")
async def upload_script(request: Request) -> Response:
    """The apply and supplement forms' upload progress (progressive: the forms work without it)."""
    return await static_asset(request, _STATIC / "upload.js", "text/javascript; charset=utf-8")


@router.get("/portal/style/{origin}/logo")
def offered_logo(origin: str, db: DbSession) -> Response:
    """The logo an upper node sent with its style (PNG or JPEG, checked on arrival), served from here."""
    found = notices.offered_logo(db, origin)
    if found is None:
        return Response(status_code=404)
    data, media_type = found
    return Response(data, media_type=media_type,
                    headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})  # fmt: skip


@router.get("/care")
def care_mode(
    mode: Annotated[str, Query(pattern="^(on|off|larger|smaller)$")] = "on",
    next: Annotated[str, Query(max_length=2000)] = "/",
    request: Request = None,  # type: ignore[assignment]
) -> RedirectResponse:
    """Switch 适老化 mode (a link, no script): on, off, or one type step larger/smaller; kept in a cookie."""
    level = care_level(request)
    if mode == "on":
        level = max(level, 1)
    elif mode == "larger":
        level = min(max(level, 1) + 1, CARE_SIZES[-1])
    elif mode == "smaller":
        level = max(level - 1, 1) if level else 0
    else:
        level = 0
    response = RedirectResponse(safe_next(next, "/"), status_code=303)
    if level:
        response.set_cookie(CARE_COOKIE, str(level), max_age=365 * 86400, path="/", samesite="lax")
    else:
        response.delete_cookie(CARE_COOKIE, path="/")
    return response


# --- home and search -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbSession) -> HTMLResponse:
    """Search first, then items by theme (个人 and 法人) and the life events of the vocabulary."""
    own = node_of(request).settings.node_id
    return render(
        request,
        db,
        "portal/home.html",
        {
            "themes_html": _home_themes(db, _vocabulary(request)),
            **dict(zip(("notices", "columns"), home_entries(db, own), strict=True)),
            "own_node": own,
        },
        public=True,
    )


def home_entries(db: Session, own_node: str) -> tuple[list[NoticeRead], list[NoticeRead]]:
    """The newest notices and columns in force (this node's and the upper nodes'), kept under the notices'
    stamp: the home page and the mobile API's home read them from here."""

    def entries() -> tuple[list[NoticeRead], list[NoticeRead]]:
        return (
            [read_notice(n, own_node) for n in notices.latest(db, "notice", HOME_NOTICES)],
            [read_notice(n, own_node) for n in notices.latest(db, "column", HOME_COLUMNS)],
        )

    return remember(db, HOME_ENTRIES, (notices.NOTICES_STAMP,), own_node, entries)


def _home_themes(db: Session, words: vocabulary.Vocabulary) -> Markup:
    # Jinja hands out a new template object when the file changed (and its guard checked the new
    # bytes), and the vocabulary is a new object when its file changed: either is a new key.
    fragment = TEMPLATES.get_template("portal/_home_themes.html")

    def rendered() -> tuple[object, Markup]:
        themes = {"person_themes": items_by_theme(db, legal=False),
                  "legal_themes": items_by_theme(db, legal=True)}  # fmt: skip
        return words, Markup(fragment.render(events=words.events, **themes))  # noqa: S704 - autoescaped

    return remember(db, HOME_THEMES, (PUBLISHED_STAMP,), (fragment, id(words)), rendered)[1]


# --- 通知公告 ---------------------------------------------------------------------------------------


def _entries(
    request: Request, db: Session, kind: str, template: str, page: str, **extra: Any
) -> HTMLResponse:
    page_no = _page_number(page)
    rows, total = notices.current(db, kind, offset=(page_no - 1) * 20, limit=20)
    context = {
        "own_node": node_of(request).settings.node_id,
        "page": page_no,
        "pages": max(1, -(-total // 20)),
    }
    return render(request, db, template, {kind + "s": rows, **context, **extra}, public=True)


@router.get("/notices", response_class=HTMLResponse)
def notices_page(
    request: Request, db: DbSession, page: Annotated[str, Query(max_length=10)] = "1"
) -> HTMLResponse:
    """通知公告: this node's and the upper nodes' notices together, newest first, with who published each."""
    columns = notices.latest(db, "column", HOME_COLUMNS)
    return _entries(request, db, "notice", "portal/notices.html", page, columns=columns)


@router.get("/columns", response_class=HTMLResponse)
def columns_page(
    request: Request, db: DbSession, page: Annotated[str, Query(max_length=10)] = "1"
) -> HTMLResponse:
    """栏目 (办事资源): this node's and the upper nodes' application resources, newest first, 20 a page."""
    return _entries(request, db, "column", "portal/columns.html", page)


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(notice_id: str, request: Request, db: DbSession) -> HTMLResponse:
    """One notice in full (a withdrawn one is not found)."""
    try:
        notice = notices.shown(db, notice_id)
        if notice.kind != "notice":
            raise NoticeNotFound()
    except NoticeNotFound:
        return render(
            request,
            db,
            "portal/message.html",
            {"title": "没有找到这条通知", "message": "通知不存在或已撤回。请回到通知公告列表查看。"},
            status_code=404,
        )
    return render(
        request,
        db,
        "portal/notice.html",
        {"notice": notice, "own_node": node_of(request).settings.node_id},
        public=True,
    )


@functools.lru_cache(maxsize=256)
def _divisions_under(scope: str, chosen: str) -> list[tuple[str, str]]:
    """The node's own division, the ones directly under it, and the counties of a chosen city."""
    rows = [(scope, divisions.name_of(scope) or scope)]
    for d in divisions.children(scope):
        if not divisions.is_current(d.code):
            continue
        rows.append((d.code, d.name))
        if chosen != d.code and not (chosen.startswith(d.code[:4]) and chosen != scope):
            continue
        rows += [(c.code, f"　{c.name}") for c in divisions.children(d.code) if divisions.is_current(c.code)]
    return rows


def _inside(scope: str, code: str) -> bool:
    low, high = division_range(scope)
    return len(code) == 6 and code.isdigit() and low <= code < high and divisions.is_current(code)


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    db: DbSession,
    q: Annotated[str, Query(max_length=2000)] = "",
    division: Annotated[str, Query(max_length=12)] = "",
    department: Annotated[str, Query(max_length=20)] = "",
    who: Annotated[str, Query(max_length=8)] = "",
    task_type: Annotated[str, Query(max_length=4)] = "",
    page: Annotated[str, Query(max_length=10)] = "1",
) -> HTMLResponse:
    """Results grouped by item (one entry with the places offering it), with filters that keep the query.

    A logged-in person's place choice is remembered (cookie) and narrows later searches until they
    choose 全部地区: the account itself holds no place of residence.
    """
    settings = node_of(request).settings
    auth = current_session(request, db)
    chose = "division" in request.query_params
    remembered = None
    problems: list[str] = []
    if (
        not chose
        and auth is not None
        and _inside(settings.division_code, request.cookies.get(PLACE_COOKIE, ""))
    ):
        division = remembered = request.cookies[PLACE_COOKIE]
    if division == "all":
        division = ""
    if division and not _inside(settings.division_code, division):
        problems.append("所选地区不在本平台范围内，已按全部地区查找")
        division = ""
    places = _divisions_under(settings.division_code, division)
    where = division or settings.division_code
    departments = remember(db, DEPARTMENTS, (PUBLISHED_STAMP,), where, lambda: departments_in(db, where))
    if department and department not in {code for code, _ in departments}:
        department = ""
    if who not in ("", "person", "legal"):
        who = ""
    if task_type and task_type not in ct.TASK_TYPES:
        task_type = ""
    filters = SearchFilters(
        division=division or None,
        department=department or None,
        service_object=who or None,
        task_type=task_type or None,
    )
    text = q.strip()[:64]
    page_no = _page_number(page)
    offset = (page_no - 1) * PAGE_GROUPS
    words = _vocabulary(request)

    def search() -> tuple[object, finder.Found, list[finder.Shown]]:
        found = finder.find(db, text, filters, words, scope=settings.division_code)
        return words, found, finder.page(db, found, offset, PAGE_GROUPS)

    key = (text, filters, settings.division_code, offset, id(words))
    stamps = (PUBLISHED_STAMP, SYNONYMS_STAMP)
    _, found, shown = remember(db, SEARCHES, stamps, key, search, max_keys=512)
    pages = max(1, -(-len(found.groups) // PAGE_GROUPS))
    kept = {
        k: v
        for k, v in {
            "q": text,
            "division": division or ("all" if remembered is None and chose else ""),
            "department": department,
            "who": who,
            "task_type": task_type,
        }.items()
        if v
    }
    response = render(
        request,
        db,
        "portal/search.html",
        {
            "q": text,
            "found": found,
            "shown": shown,
            "page": page_no,
            "pages": pages,
            "query_of": lambda n: urlencode({**kept, "page": n}),
            "division": division,
            "department": department,
            "who": who,
            "task_type": task_type,
            "places": places,
            "departments": departments,
            "task_types": ct.TASK_TYPES,
            "place_name": divisions.name_of,
            "problems": problems,
            "implied_place": divisions.name_of(found.implied["division"])
            if "division" in found.implied
            else None,
            "remembered": divisions.name_of(remembered) if remembered else None,
            "all_places": urlencode({**kept, "division": "all"}),
        },
        public=True,
    )
    if auth is not None and chose:
        if division:
            response.set_cookie(PLACE_COOKIE, division, max_age=365 * 86400, path="/", samesite="lax")
        else:
            response.delete_cookie(PLACE_COOKIE, path="/")
    return response


# --- guide -----------------------------------------------------------------------------------------


def _days(number: Any, unit: Any) -> str | None:
    if number in (None, ""):
        return None
    return f"{number}个{ct.TIME_UNITS.get(str(unit), '工作日')}"


_LEVEL_LABELS = {1: "注册用户", 2: "实名用户（二级）", 3: "实名核验用户（三级，经人口库或法人库比对）"}


@router.get("/items/{task_code}", response_class=HTMLResponse)
def guide_page(task_code: str, request: Request, db: DbSession) -> HTMLResponse:
    """The service guide (办事指南) in plain Chinese: codes become their names, times in working days."""
    try:
        if not validate_task_code(task_code).ok:
            raise ItemNotFound()
        guide = catalog.get_public_item(db, task_code)
    except ItemNotFound:
        return render(
            request,
            db,
            "portal/message.html",
            {"title": "没有找到这个事项", "message": "事项不存在、尚未发布或已取消。请通过搜索查找。"},
            status_code=404,
        )
    # Only the names of the types the materials cite (one indexed read, not every type with its schema).
    cited = {str(m["license_type_code"]) for m in guide.get("materials") or [] if m.get("license_type_code")}
    type_names = type_names_of(db, cited) if cited else {}
    materials = [
        {
            "name": m.get("material_name"),
            "need": ct.IS_NEED.get(str(m.get("is_need")), "必要"),
            "source": ct.SOURCE_TYPES.get(str(m.get("source_type")), ""),
            "form": ct.MATERIAL_FORMATS.get(str(m.get("material_format")), ""),
            "kind": ct.MATERIAL_TYPES.get(str(m.get("material_type")), ""),
            "note": m.get("source_explain") or "",
            "fill": m.get("fill_explain") or "",
            "license": type_names.get(str(m.get("license_type_code")))
            if m.get("license_type_code")
            else None,
        }
        for m in guide.get("materials") or []
    ]
    objects = [ct.SERVER_TYPES.get(s, "") for s in str(guide.get("server_type") or "").split("^") if s]
    level = guide.get("auth_level")
    max_age = guide.get("auth_max_age")
    login = None
    if level:
        login = _LEVEL_LABELS.get(int(level), "实名用户")
        if max_age:
            login += f"，且须在{int(max_age) // 60}分钟内登录过"
    depth = [ct.ONLINE_DEPTHS.get(d, "") for d in str(guide.get("online_handle_depth") or "").split("^") if d]
    return render(
        request,
        db,
        "portal/guide.html",
        {
            "g": guide,
            "type_name": ct.TASK_TYPES.get(str(guide.get("task_type")), ""),
            "place": divisions.name_of(str(guide.get("division_code") or "")) or "",
            "materials": materials,
            "objects": [o for o in objects if o],
            "statutory": _days(guide.get("anticipate_day"), guide.get("anticipate_type")),
            "promised": _days(guide.get("promise_day"), guide.get("promise_type")),
            "fees": guide.get("fee_projects") or [],
            "charged": str(guide.get("is_fee")) == "1",
            "login": login,
            "depth": [d for d in depth if d],
            "visits": guide.get("limit_scene_num"),
            "area": ct.HANDLE_AREAS.get(str(guide.get("handle_area")), ""),
            "questions": guide.get("questions") or [],
            "handle_items": [h.get("handle_item_name") for h in guide.get("handle_items") or []],
            "result_type": ct.RESULT_TYPES.get(str(guide.get("result_type")), ""),
            "apps": apps.serving(db, task_code, str(guide.get("catalog_code") or "")),
        },
        public=True,
    )


# --- public verification ---------------------------------------------------------------------------


def _verify_form(
    request: Request,
    db: Session,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    answer: dict[str, Any] | None = None,
    status_code: int = 200,
    upload_error: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        db,
        "portal/verify.html",
        {
            "values": values or {},
            "errors": errors or {},
            "answer": answer,
            "upload_error": upload_error,
            "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )


def _caller(request: Request) -> licenses.Caller:
    return licenses.Caller("public", "门户公开核验", client_address(request))


def _answer_view(answer: licenses.Answer) -> dict[str, Any]:
    return {
        "valid": answer.valid,
        "status": lifecycle.label(answer.status) if answer.status else None,
        "type_name": answer.type_name,
        "issuer_name": answer.issuer_name,
        "reason": answer.reason,
        "seal": {
            "VALID": "签章有效",
            "INVALID": "签章无效",
            "INDETERMINATE": "签章无法确定",
            "ERROR": "签章无法验证",
        }.get(answer.seal_verdict or ""),
    }


@router.get("/licenses/verify", response_class=HTMLResponse)
def verify_page(request: Request, db: DbSession) -> HTMLResponse:
    """The public verification page: identifier and holder code, or an OFD file."""
    return _verify_form(request, db)


@router.post("/licenses/verify", response_class=HTMLResponse, dependencies=[_VERIFY_LIMIT])
def verify_submit(
    request: Request,
    db: DbSession,
    identifier: Annotated[str, Form(max_length=200)] = "",
    holder_code: Annotated[str, Form(max_length=60)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """Check identifier + holder code; every mistake is listed at once and the typed values stay."""
    values = {"identifier": identifier.strip(), "holder_code": holder_code.strip()}
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return _verify_form(request, db, values=values, errors={"form": exc.detail}, status_code=403)
    errors: dict[str, str] = {}
    if not values["identifier"]:
        errors["identifier"] = "请填写电子证照标识（证照上“证照标识”一栏）"
    if not values["holder_code"]:
        errors["holder_code"] = "请填写持证主体代码（身份证号码或统一社会信用代码）"
    elif not _HOLDER_CODE.fullmatch(values["holder_code"]):
        errors["holder_code"] = (
            "持证主体代码格式不对：应为身份证号码、统一社会信用代码或证件号码（字母和数字）"
        )
    if errors:
        return _verify_form(request, db, values=values, errors=errors, status_code=422)
    answer = licenses.verify_by_identifier(
        db, values["identifier"], values["holder_code"], caller=_caller(request)
    )
    return _verify_form(request, db, values=values, answer=_answer_view(answer))


async def _read_upload(request: Request) -> tuple[str, bytes]:
    """The CSRF field and the file of the upload form (bounded like the licenses API's upload)."""
    limit = MAX_UPLOAD_BYTES + 64 * KiB
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _UploadProblem(f"文件太大：不能超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _UploadProblem(f"文件太大：不能超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")

    async def replay() -> AsyncGenerator[bytes, None]:
        yield bytes(body)

    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "multipart/form-data":
        raise _UploadProblem("请通过页面上的表单选择文件上传")
    try:
        form = await MultiPartParser(request.headers, replay(), max_files=1, max_fields=5).parse()
    except MultiPartException as exc:
        raise _UploadProblem("上传的表单不完整，请重新选择文件") from exc
    token = str(form.get("csrf_token") or "")
    upload = form.get("file")
    data = await upload.read() if isinstance(upload, UploadFile) else b""
    await form.close()
    return token, data


class _UploadProblem(Exception):
    """A mistake in the upload form, shown on the page."""


@router.post(
    "/licenses/verify/file",
    response_class=HTMLResponse,
    dependencies=[_VERIFY_LIMIT],
    openapi_extra=body_limit(MAX_UPLOAD_BYTES + 64 * KiB),
)
async def verify_file_submit(request: Request, db: DbSession) -> HTMLResponse:
    """Check an uploaded OFD: seals and registry status, answered on the page."""
    from fastapi.concurrency import run_in_threadpool

    try:
        token, data = await _read_upload(request)
    except _UploadProblem as exc:
        problem = str(exc)
        return await run_in_threadpool(
            lambda: _verify_form(request, db, upload_error=problem, status_code=422)
        )
    try:
        check_csrf(request, token)
    except CsrfFailed as exc:
        refused = exc.detail
        return await run_in_threadpool(
            lambda: _verify_form(request, db, upload_error=refused, status_code=403)
        )
    if not data:
        return await run_in_threadpool(
            lambda: _verify_form(request, db, upload_error="请选择要核验的 OFD 文件", status_code=422)
        )
    settings = node_of(request).settings

    def check() -> HTMLResponse:
        try:
            answer = licenses.verify_file(db, settings, data, caller=_caller(request), limits=UPLOAD_LIMITS)
        except DomainError as exc:
            return _verify_form(request, db, upload_error=exc.detail, status_code=422)
        return _verify_form(request, db, answer=_answer_view(answer))

    return await run_in_threadpool(check)


# --- 我的证照 ---------------------------------------------------------------------------------------


def _holder(request: Request, db: Session) -> Authenticated | RedirectResponse:
    auth = current_session(request, db)
    if auth is None:
        here = request.url.path
        return RedirectResponse("/identity/login?next=" + quote(here, safe=""), status_code=303)
    return auth


def _license_view(db: Session, lic: Any) -> dict[str, Any]:
    status = licenses.status_of(lic)
    return {
        "id": lic.id,
        "identifier": lic.identifier,
        "type_name": lic.type_name,
        "number": lic.number,
        "issuer_name": lic.issuer_name,
        "holder_name": lic.holder_name,
        "holder_kind": holders.label(lic.holder_code_type),
        "issued_at": lic.issued_at,
        "valid_from": lic.valid_from,
        "valid_until": lic.valid_until,
        "status": lifecycle.label(status),
        "valid": status == lifecycle.VALID,
        "face": dict(lic.face),
    }


def _face(db: Session, lic: Any) -> list[tuple[str, str]]:
    """The 照面 items in the type's order, by their labels (values as issued)."""
    kind = licenses.get_type(db, lic.type_code)
    face = dict(lic.face)
    rows = []
    for spec in kind.fields:
        value = face.get(spec.get("name"))
        if value not in (None, ""):
            rows.append((str(spec.get("label") or spec.get("name")), str(value)))
    return rows


@router.get("/me/licenses", response_class=HTMLResponse)
def my_licenses(
    request: Request, db: DbSession, page: Annotated[str, Query(max_length=10)] = "1"
) -> Response:
    """我的证照: the person's licenses and those of the enterprises they act for."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    page_no = _page_number(page)
    rows, total = licenses.holder_licenses(db, auth.account, offset=(page_no - 1) * 20, limit=20)
    return render(
        request,
        db,
        "portal/my_licenses.html",
        {
            "licenses": [_license_view(db, lic) for lic in rows],
            "total": total,
            "page": page_no,
            "pages": max(1, -(-total // 20)),
        },
    )
