"""授权管理 and 我的数据使用记录: the consents a person gave and who used their data.

* ``/me/consents`` lists the consents to department systems and apps (identity's OIDC consents: what is
  released, why, since when) and the shares of the person's licenses, each with its withdrawal; withdrawing
  asks first on a page of its own (no pop-up). Withdrawing an OIDC consent also revokes the app's tokens
  that relied on it, as identity's API does.
* ``/me/data-use`` (我的数据使用记录) merges identity's read records (staff, apps, department systems)
  with the usage log of the person's licenses (verifications, department queries, share redemptions),
  newest first, in plain Chinese: who by name, what in words, why as recorded.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhengwu.audit.reads import count_reads_of, reads_of
from zhengwu.identity import deps
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.oidc import claims as consents
from zhengwu.identity.oidc import service as oidc_clients
from zhengwu.identity.oidc.errors import ConsentNotFound
from zhengwu.identity.servicekeys import OIDC
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import service as licenses
from zhengwu.licenses import shares, usage
from zhengwu.orgs import service as orgs
from zhengwu.portal.licensepages import share_row
from zhengwu.portal.pages import _holder, _page_number, render

router = APIRouter(include_in_schema=False)
SHARES_PER_PAGE: Final = 20
_CONSENT_STATUS: Final = {"granted": "有效", "withdrawn": "已撤回", "superseded": "已被新的授权取代"}


def client_names(db: Session, client_ids: set[str]) -> dict[str, str]:
    """Apps and department systems by the name a person reads: 部门·系统 (never a client id)."""
    names: dict[str, str] = {}
    for client_id in sorted(client_ids):
        try:
            row = oidc_clients.get_client(db, client_id)
        except DomainError:
            names[client_id] = "已注销的应用"
            continue
        department = None
        if row.department_id:
            try:
                department = orgs.get_department(db, row.department_id).name
            except DomainError:
                department = None
        names[client_id] = f"{department}·{row.name}" if department else row.name
    return names


def withdraw_app_consent(request: Request, db: Session, account_id: str, consent_id: str, reason: str) -> Any:
    """Withdraw one of the person's consents (404 ``ConsentNotFound`` otherwise) and revoke the app's tokens
    that relied on it — the page's and the mobile API's withdrawal, as identity's API does it."""
    consent = consents.withdraw_consent(
        db, account_id, consent_id, reason=reason, meta=deps.request_meta(request)
    )
    node_of(request).services.provide(OIDC).revoke_consent_grants(
        db, account_id, consent.client_id, reason="consent_withdrawn"
    )
    return consent


def consent_rows(db: Session, account_id: str) -> list[dict[str, Any]]:
    """The person's consents to apps and department systems in words, newest first."""
    rows = consents.list_consents(db, account_id)
    names = client_names(db, {r.client_id for r in rows})
    return [
        {
            "id": r.id,
            "app": names[r.client_id],
            "what": "、".join(consents.SCOPE_LABELS.get(s, "其他账号信息") for s in r.scopes) or "登录状态",
            "purpose": r.purpose,
            "granted_at": r.granted_at,
            "withdrawn_at": r.withdrawn_at,
            "status": _CONSENT_STATUS.get(r.status, "已失效"),
            "active": r.status == "granted",
        }
        for r in rows
    ]


def _page(
    request: Request, db: Session, auth: deps.Authenticated, *, errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    page_no = _page_number(request.query_params.get("page", "1"))
    rows, total = shares.holder_all_shares(
        db, auth.account, offset=(page_no - 1) * SHARES_PER_PAGE, limit=SHARES_PER_PAGE
    )
    return render(
        request,
        db,
        "portal/consents.html",
        {
            "consents": consent_rows(db, auth.account.id),
            "shares": [{**share_row(s), "license": lic.type_name} for s, lic in rows],
            "page": page_no,
            "pages": max(1, -(-total // SHARES_PER_PAGE)),
            "errors": errors or {},
            "notice": {
                "consent": "授权已撤回，该应用不能再获取您的信息；需要时可在下次登录该应用时重新授权。",
                "share": "共享已撤销，核验方再打开链接或扫码时将被拒绝。",
            }.get(request.query_params.get("done", "")),
        },
        status_code=status_code,
    )


@router.get("/me/consents", response_class=HTMLResponse)
def my_consents(request: Request, db: DbSession) -> Response:
    """授权管理: consents to apps and department systems, and license shares, each withdrawable."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    return _page(request, db, auth)


@router.post("/me/consents/{consent_id}/withdraw", response_class=HTMLResponse)
def withdraw_submit(
    consent_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    confirmed: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Withdraw an app's consent in two steps on the page (ask, then confirm); its tokens stop working."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return RedirectResponse("/identity/login?next=%2Fme%2Fconsents", status_code=303)
    row = next((c for c in consent_rows(db, auth.account.id) if c["id"] == consent_id[:64]), None)
    if row is None or not row["active"]:
        return render(request, db, "portal/message.html",
                      {"title": "没有找到这项授权", "message": "授权不存在、不属于您，或已经撤回。"}, status_code=404)  # fmt: skip
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return render(request, db, "portal/withdraw_consent.html",
                      {"consent": row, "errors": {"form": exc.detail}}, status_code=403)  # fmt: skip
    if confirmed != "yes":
        return render(request, db, "portal/withdraw_consent.html", {"consent": row, "errors": {}})
    try:
        withdraw_app_consent(request, db, auth.account.id, row["id"], "本人在授权管理中撤回")
    except ConsentNotFound:
        return render(request, db, "portal/message.html",
                      {"title": "没有找到这项授权", "message": "授权不存在或不属于您。"}, status_code=404)  # fmt: skip
    return RedirectResponse("/me/consents?done=consent", status_code=303)


# --- 我的数据使用记录 ------------------------------------------------------------------------------------

USES_PER_PAGE: Final = 20
#: The merged log is read from the top of both logs, so its depth is bounded (50 pages of 20).
MAX_USE_PAGES: Final = 50
_LICENSE_READS: Final = "license:"  # reads of licenses: the licenses' usage log lists them, with more detail
_READERS: Final = {
    "account": "政务服务工作人员",
    "node": "其他政务服务平台",
    "share": "共享链接持有人",
    "public": "公众核验",
}
_FIELDS: Final = {
    "account.citizen_id": "身份证号码",
    "account.phone": "手机号码",
    "account.real_name": "姓名和身份证号码（实名核验）",
    "verification.real_name": "姓名和身份证号码（共享核验：与人口库比对）",
}
_CLAIMS: Final = {
    "name": "姓名",
    "real_name_level": "实名等级",
    "account_type": "账号类型",
    "phone_number": "手机号码",
    "citizen_id": "身份证号码",
    "cert_type": "证件类型",
    "email": "电子邮箱",
    "acting_for": "所代理的企业",
    "auth_level": "登录认证等级",
    "amr": "登录方式",
    "auth_time": "登录时间",
}
_QUIET_CLAIMS: Final = {"phone_number_verified", "email_verified", "sub"}


def _what(what: str) -> str:
    """The data read, in words (never the field's code)."""
    if what in _FIELDS:
        return _FIELDS[what]
    if what.startswith("userinfo:"):
        words: list[str] = []
        for claim in what.split(":", 1)[1].split(","):
            word = _CLAIMS.get(claim, "其他账号信息") if claim not in _QUIET_CLAIMS else ""
            if word and word not in words:
                words.append(word)
        return "、".join(words) or "账号信息"
    return "个人信息"


def _why(purpose: str) -> str:
    """The reason as recorded; the provider's own wording of a release becomes a sentence."""
    if purpose.startswith("userinfo"):
        return "您登录该应用时，按您的授权提供"
    return purpose or "未说明"


def _read_rows(db: Session, rows: list[Any]) -> list[dict[str, Any]]:
    apps = client_names(
        db, {r.reader.split(":", 1)[1] for r in rows if r.reader.split(":", 1)[0] in ("client", "oidc")}
    )
    result = []
    for r in rows:
        kind, _, rest = r.reader.partition(":")
        who = apps[rest] if kind in ("client", "oidc") else _READERS.get(kind, "其他")
        result.append({"at": r.at, "who": who, "what": f"读取了您的{_what(r.what)}", "why": _why(r.purpose),
                       "result": ""})  # fmt: skip
    return result


def data_use(db: Session, account: Any, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """A slice of the person's merged data-use log (the page's and the mobile API's) and its size.

    Both logs are read from their newest down to ``offset + limit`` rows and merged, so a slice lies
    within the first ``MAX_USE_PAGES * USES_PER_PAGE`` rows: deeper is empty (the total says how many)."""
    depth = min(offset + limit, MAX_USE_PAGES * USES_PER_PAGE)
    if offset >= depth:
        reads: list[Any] = []
        uses: Any = []
        _, use_total = licenses.holder_usage(db, account, limit=1, others_only=True)
    else:
        reads = list(reads_of(db, account.id, limit=depth, excluding=_LICENSE_READS))
        uses, use_total = licenses.holder_usage(db, account, limit=depth, others_only=True)
    merged = _read_rows(db, reads) + [
        {"at": u.at, "who": usage.who(u), "what": f"{usage.operation_label(u.operation)}您的{lic.type_name}",
         "why": u.purpose or "未说明", "result": usage.result_label(u.result)}
        for u, lic in uses
    ]  # fmt: skip
    merged.sort(key=lambda row: row["at"], reverse=True)
    total = count_reads_of(db, account.id, excluding=_LICENSE_READS) + use_total
    return merged[offset:depth], total


@router.get("/me/data-use", response_class=HTMLResponse)
def my_data_use(request: Request, db: DbSession) -> Response:
    """我的数据使用记录: who read the person's data or used or verified their licenses, when and why."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    page_no = min(_page_number(request.query_params.get("page", "1")), MAX_USE_PAGES)
    rows, total = data_use(db, auth.account, offset=(page_no - 1) * USES_PER_PAGE, limit=USES_PER_PAGE)
    return render(
        request,
        db,
        "portal/data_use.html",
        {
            "rows": rows,
            "page": page_no,
            "pages": min(MAX_USE_PAGES, max(1, -(-total // USES_PER_PAGE))),
            "more": total > MAX_USE_PAGES * USES_PER_PAGE,
        },
    )
