"""我的证照, one license: its face and file, sharing by QR code and link (共享授权), annotated copies
(加注件) and the license's usage log (用证记录).

Thin handlers over the licenses capability's holder functions (``shares``, ``copies``, ``service``). A new
share's token and QR code are shown once, in the answer to the POST that made it (the node keeps only the
token's digest), as the API does. Revoking asks first on a page of its own (no pop-up).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from zhengwu.identity.deps import Authenticated, current_session
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import node_of
from zhengwu.kernel.ratelimit import client_address
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import copies, shares, usage
from zhengwu.licenses import render as render_license
from zhengwu.licenses import service as licenses
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.offline import mask_name
from zhengwu.orgs import service as orgs
from zhengwu.portal import keptform
from zhengwu.portal.pages import (
    _face,
    _holder,
    _license_view,
    _page_number,
    beijing,
    form_post,
    offline_until,
    render,
)
from zhengwu.seals.routes import OFD_MEDIA_TYPE

router = APIRouter(include_in_schema=False)
#: How long a share or a copy serves: the choices offered (days), within the services' limits.
SHARE_DAYS: Final = {"1": "1天", "7": "7天", "30": "30天", "90": "90天"}
COPY_DAYS: Final = {"1": "1天", "7": "7天", "30": "30天", "90": "90天"}
USES_PER_PAGE: Final = 10
_KINDS: Final = {
    shares.ANYONE: "任何持有链接或二维码的人",
    shares.DEPARTMENT: "指定的政府部门",
    shares.CLIENT: "指定的核验方系统（只有它能查看）",
}
#: The share's end chosen as a date and time (北京时间) instead of one of the durations.
UNTIL: Final = "until"
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME: Final = re.compile(r"(\d{2}):(\d{2})")


def _not_found(request: Request, db: Session) -> HTMLResponse:
    return render(
        request,
        db,
        "portal/message.html",
        {"title": "没有找到这个证照", "message": "证照不存在，或不属于您和您代办的企业。"},
        status_code=404,
    )


def share_row(share: Any) -> dict[str, Any]:
    """A share as the holder reads it (no codes: the verifier's name, the status in words)."""
    state = shares.status_of(share)
    return {
        "id": share.id,
        "license_id": share.license_id,
        "audience": share.audience_name,
        "anyone": share.audience_kind == shares.ANYONE,
        "purpose": share.purpose,
        "face": "face" in share.grants,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "revoked_at": share.revoked_at,
        "status": shares.STATUS_LABELS[state],
        "active": state == shares.GRANTED,
        "uses": share.uses,
    }


def usage_row(row: Any) -> dict[str, Any]:
    """One usage record in plain Chinese: who, what, why, the outcome."""
    return {
        "at": row.at,
        "who": "您本人" if row.caller.startswith("holder:") else usage.who(row),
        "what": usage.operation_label(row.operation),
        "purpose": "" if row.caller.startswith("holder:") else (row.purpose or ""),
        "result": usage.result_label(row.result),
    }


def _copy_row(row: Any, made: str) -> dict[str, Any]:
    return {"id": row.id, "purpose": row.purpose, "by": row.requester_name, "created_at": row.created_at,
            "expires_at": row.expires_at, "expired": row.expires_at <= utcnow(), "new": row.id == made}  # fmt: skip


def _departments(db: Session) -> list[tuple[str, str]]:
    rows, _ = orgs.list_departments(db, limit=500)
    return sorted(((d.credit_code, d.name) for d in rows), key=lambda r: r[1])


def beijing_input(at: datetime) -> str:
    """The 北京时间 date of ``at`` as a date field takes it (``2027-01-31``)."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d")


def share_until(day: str, clock: str, now: datetime) -> tuple[datetime | None, str]:
    """The end a holder typed (a date and a time, 北京时间) as UTC, or None with what is wrong in words:
    missing, not a date or time, already past, or later than a share may last."""
    day, clock = day.strip(), clock.strip()
    if not day or not clock:
        return None, "请填写共享截止的日期和时间（北京时间）"
    found_day, found_clock = _DATE.fullmatch(day), _TIME.fullmatch(clock)
    try:
        if found_day is None or found_clock is None:
            raise ValueError(day)
        year, month, date_ = (int(g) for g in found_day.groups())
        hour, minute = (int(g) for g in found_clock.groups())
        until = datetime(year, month, date_, hour, minute, tzinfo=BEIJING).astimezone(UTC)
    except ValueError:
        return None, "截止时间的写法不对：日期如 2027-01-31，时间如 18:00（北京时间）"
    if until <= now:
        return None, f"截止时间 {beijing(until)} 已经过去，请选一个以后的时间"
    latest = shares.latest_expiry(now)
    if until > latest:
        return None, f"共享最长{shares.MAX_DAYS}天：截止时间不能晚于 {beijing(latest)}"
    return until, ""


def license_page(
    request: Request,
    db: Session,
    auth: Authenticated,
    lic: Any,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
    restored: bool = False,
) -> HTMLResponse:
    """The license page with its shares, copies and a page of its usage log."""
    uses_page = _page_number(request.query_params.get("uses", "1"))
    rows, total = licenses.holder_license_usage(
        db, auth.account, lic.id, offset=(uses_page - 1) * USES_PER_PAGE, limit=USES_PER_PAGE
    )
    made = request.query_params.get("copy", "")
    return render(
        request,
        db,
        "portal/my_license.html",
        {
            "lic": _license_view(db, lic),
            "face": _face(db, lic),
            "shares": [share_row(s) for s in shares.holder_shares(db, auth.account, lic.id)],
            "copies": [
                {
                    "id": c.id,
                    "purpose": c.purpose,
                    "by": c.requester_name,
                    "created_at": c.created_at,
                    "expires_at": c.expires_at,
                    "expired": c.expires_at <= utcnow(),
                    "new": c.id == made,
                }
                for c in copies.holder_copies(db, auth.account, lic.id)
            ],
            "uses": [usage_row(u) for u in rows],
            "uses_page": uses_page,
            "uses_pages": max(1, -(-total // USES_PER_PAGE)),
            "departments": _departments(db),
            "clients": shares.verifier_clients(db),
            "max_days": shares.MAX_DAYS,
            "until_min": beijing_input(utcnow()),
            "until_max": beijing_input(shares.latest_expiry()),
            "share_days": SHARE_DAYS,
            "copy_days": COPY_DAYS,
            "kinds": _KINDS,
            "errors": errors or {},
            "values": values or {},
            "notice": "您的登录已过期。刚才填写的共享内容已为您保留，请核对后再提交。"
            if restored
            else {
                "revoked": "共享已撤销，核验方再打开链接或扫码时将被拒绝。",
                "copied": "加注件已制作，可以在下面下载。",
            }.get(request.query_params.get("done", "")),
        },
        status_code=status_code,
    )


def _own(request: Request, db: Session, license_id: str) -> tuple[Authenticated, Any] | Response:
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        # After logging in the person comes back to the license's page, never to a form's POST address.
        return RedirectResponse(
            "/identity/login?next=" + quote(f"/me/licenses/{license_id[:64]}", safe=""), status_code=303
        )
    try:
        return auth, licenses.holder_license(db, auth.account, license_id[:64])
    except LicenseError:
        return _not_found(request, db)


@router.get("/me/licenses/{license_id}", response_class=HTMLResponse)
def my_license(license_id: str, request: Request, db: DbSession) -> Response:
    """One license: face, download, shares, annotated copies and its usage log (the view is logged)."""
    found = _own(request, db, license_id)
    if isinstance(found, Response):
        return found
    auth, lic = found
    holder_view(request, db, auth.account, lic, "持证人查看")
    kept = keptform.kept_values(request, db, account_id=auth.account.id, key=f"license:{lic.id}")
    values = (
        {k: v for k, v in (kept or {}).items() if k != "form"} if (kept or {}).get("form") == "share" else {}
    )
    response = license_page(request, db, auth, lic, values=values, restored=bool(values))
    return keptform.forget_on(request, response, f"/me/licenses/{quote(lic.id, safe='')}")


def holder_view(request: Request, db: Session, account: Any, lic: Any, why: str) -> None:
    """Log the holder's own look at a license (the page, the 2-D code, the mobile API's preview)."""
    caller = licenses.Caller(f"holder:{account.id}", why, client_address(request))
    licenses.record_usage(db, caller, "holder_view", "ok", lic)


def showing(request: Request, db: Session, account: Any, lic: Any) -> dict[str, Any]:
    """扫码亮证 for a valid license: a freshly signed 2-D code (PNG data URI) and what a verifier compares,
    the look logged — the page's and the mobile API's."""
    content = licenses.showing_code(db, node_of(request).settings, lic, at=utcnow())
    holder_view(request, db, account, lic, "持证人亮证")
    png = base64.b64encode(render_license.qr_png(content, scale=4)).decode()
    return {
        "masked_name": mask_name(lic.holder_name),
        "qr": f"data:image/png;base64,{png}",
        "made_at": utcnow(),
    }


def license_download(request: Request, db: Session, account: Any, lic: Any) -> Response:
    """The sealed OFD of one of the person's licenses, the download logged (page and mobile API)."""
    data = licenses.license_file(node_of(request).settings, lic)
    caller = licenses.Caller(f"holder:{account.id}", "持证人下载", client_address(request))
    licenses.record_usage(db, caller, "holder_download", "ok", lic)
    return Response(
        data,
        media_type=OFD_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="license-{lic.id}.ofd"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/me/licenses/{license_id}/file")
def my_license_file(license_id: str, request: Request, db: DbSession) -> Response:
    """The sealed OFD of one of the person's licenses (the download is logged)."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    try:
        lic = licenses.holder_license(db, auth.account, license_id[:64])
    except LicenseError:
        return _not_found(request, db)
    return license_download(request, db, auth.account, lic)


@router.get("/me/licenses/{license_id}/qr", response_class=HTMLResponse)
def show_code(license_id: str, request: Request, db: DbSession) -> Response:
    """扫码亮证: the license's 2-D code, large, with what a verifier compares (masked name, type, dates).

    The code holds the signed offline payload, so a verifier checks it without the node; the service
    worker keeps this page on the holder's device so that it opens without a network too, until the
    session it was shown in would have ended (``pages.offline_headers``, sent with every page, renews it
    while that session is used) or the holder logs out. Only a valid
    license is shown this way."""
    found = _own(request, db, license_id)
    if isinstance(found, Response):
        return found
    auth, lic = found
    view = _license_view(db, lic)
    if not view["valid"]:
        return render(request, db, "portal/message.html", {
            "title": "该证照目前不能亮证",
            "message": f"证照状态：{view['status']}。只有有效的证照可以出示二维码。"}, status_code=409)  # fmt: skip
    until = offline_until(db, auth)
    response = render(request, db, "portal/license_qr.html",
                      {"lic": view, **showing(request, db, auth.account, lic), "kept_until": until})  # fmt: skip
    # The worker keeps this page; no HTTP cache, shared or the browser's own, may.
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- shares --------------------------------------------------------------------------------------------


@router.post("/me/licenses/{license_id}/shares", response_class=HTMLResponse)
def share_submit(
    license_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    audience_kind: Annotated[str, Form(max_length=20)] = "",
    department: Annotated[str, Form(max_length=40)] = "",
    purpose: Annotated[str, Form(max_length=400)] = "",
    grants: Annotated[str, Form(max_length=10)] = "",
    days: Annotated[str, Form(max_length=5)] = "",
    client: Annotated[str, Form(max_length=64)] = "",
    until_date: Annotated[str, Form(max_length=20)] = "",
    until_time: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Make a share; the answer shows its link, QR code and token this once."""
    values = {"audience_kind": audience_kind, "department": department, "client": client,
              "purpose": purpose.strip(), "grants": grants, "days": days, "until_date": until_date.strip(),
              "until_time": until_time.strip()}  # fmt: skip
    if current_session(request, db) is None:
        return keptform.keep_and_login(
            request, db, page=f"/me/licenses/{quote(license_id[:64], safe='')}", key=f"license:{license_id[:64]}",
            csrf_token=csrf_token, values={"form": "share", **values},
        )  # fmt: skip
    found = form_post(
        request, csrf_token, lambda: _own(request, db, license_id),
        lambda auth, lic, refusal: license_page(request, db, auth, lic, errors={"share": refusal}, values=values,
                                                status_code=403),
    )  # fmt: skip
    if isinstance(found, Response):
        return found
    auth, lic = found
    errors: dict[str, str] = {}
    if audience_kind not in _KINDS:
        errors["share_kind"] = "请选择给谁看"
    elif audience_kind == shares.DEPARTMENT and department not in {c for c, _ in _departments(db)}:
        errors["share_department"] = "请选择要给哪个部门看"
    elif audience_kind == shares.CLIENT and client not in {c for c, _ in shares.verifier_clients(db)}:
        errors["share_client"] = (
            "没有找到这个核验方系统，它可能已停用，请从列表中重新选择"
            if client
            else "请选择要给哪个核验方系统看"
        )
    if not values["purpose"]:
        errors["share_purpose"] = "请填写共享事由，例如：租房、入学报名"
    elif len(values["purpose"]) > 200:
        errors["share_purpose"] = "共享事由不能超过200个字"
    now = utcnow()
    until: datetime | None = None
    if days == UNTIL:
        until, problem = share_until(values["until_date"], values["until_time"], now)
        if problem:
            errors["share_until"] = problem
    elif days in SHARE_DAYS:
        until = now + timedelta(days=int(days))
    else:
        errors["share_days"] = "请选择共享多长时间"
    if errors or until is None:
        return license_page(request, db, auth, lic, errors=errors, values=values, status_code=422)
    node = node_of(request)
    try:
        made = shares.create_share(
            db, node.settings, auth.account, lic.id, audience_kind=audience_kind,
            audience={shares.DEPARTMENT: department, shares.CLIENT: client}.get(audience_kind),
            purpose=values["purpose"], expires_at=until, grants=["face"] if grants == "face" else [],
            bus=node.bus, at=now,
        )  # fmt: skip
    except DomainError as exc:
        db.rollback()
        return license_page(request, db, auth, lic, errors={"share": exc.detail}, values=values,
                            status_code=exc.status_code)  # fmt: skip
    return render(
        request,
        db,
        "portal/share_made.html",
        {"lic": _license_view(db, lic), "share": share_row(made.share), "url": made.url,
         "token": made.token, "qr": made.qr_data_uri},
        status_code=201,
    )  # fmt: skip


_BACK: Final = {"consents": "/me/consents?done=share"}


@router.post("/me/licenses/{license_id}/shares/{share_id}/revoke", response_class=HTMLResponse)
def revoke_submit(
    license_id: str,
    share_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    confirmed: Annotated[str, Form(max_length=4)] = "",
    back: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Revoke in two steps on the page itself (no pop-up): ask, then confirm; effective at once."""
    found = _own(request, db, license_id)
    if isinstance(found, Response):
        return found
    auth, lic = found
    share = next((s for s in shares.holder_shares(db, auth.account, lic.id) if s.id == share_id[:64]), None)
    if share is None:
        return render(request, db, "portal/message.html",
                      {"title": "没有找到这项共享", "message": "共享不存在，或不属于您的证照。"}, status_code=404)  # fmt: skip
    back = back if back in _BACK else ""
    if shares.status_of(share) != shares.GRANTED:
        # Already revoked, replaced or expired: nothing left to stop (a second click lands here too).
        return RedirectResponse(_BACK.get(back) or f"/me/licenses/{lic.id}#shares", status_code=303)
    try:
        check_csrf(request, csrf_token)
    except CsrfFailed as exc:
        return render(request, db, "portal/revoke_share.html",
                      {"lic": _license_view(db, lic), "share": share_row(share), "back": back,
                       "errors": {"form": exc.detail}}, status_code=403)  # fmt: skip
    if confirmed != "yes":
        return render(request, db, "portal/revoke_share.html",
                      {"lic": _license_view(db, lic), "share": share_row(share), "back": back, "errors": {}})  # fmt: skip
    shares.revoke_share(
        db, auth.account, lic.id, share.id, reason="持证人在门户撤销", bus=node_of(request).bus
    )
    return RedirectResponse(_BACK.get(back) or f"/me/licenses/{lic.id}?done=revoked#shares", status_code=303)


# --- annotated copies ----------------------------------------------------------------------------------


def make_holder_copy(
    request: Request, db: Session, account: Any, lic: Any, purpose: str, expires_at: Any
) -> Any:
    """Make and log an annotated copy for the holder (the page's and the mobile API's)."""
    made = copies.make_copy(
        db, node_of(request).settings, lic, requested_by=f"holder:{account.id}", requester_name="持证人本人",
        purpose=purpose, expires_at=expires_at,
    )  # fmt: skip
    licenses.record_usage(
        db,
        licenses.Caller(f"holder:{account.id}", purpose, client_address(request)),
        "holder_copy",
        "made",
        lic,
    )
    return made


def copy_download(request: Request, db: Session, account: Any, license_id: str, copy_id: str) -> Response:
    """One annotated copy's sealed OFD, the download logged (``LicenseError`` when it is not the person's)."""
    lic, row, data = copies.holder_copy_file(
        db, node_of(request).settings, account, license_id[:64], copy_id[:64]
    )
    licenses.record_usage(
        db,
        licenses.Caller(f"holder:{account.id}", row.purpose, client_address(request)),
        "download_copy",
        "ok",
        lic,
    )
    return Response(
        data,
        media_type=OFD_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="license-copy-{row.id}.ofd"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/me/licenses/{license_id}/copies", response_class=HTMLResponse)
def copy_submit(
    license_id: str,
    request: Request,
    db: DbSession,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    copy_purpose: Annotated[str, Form(max_length=400)] = "",
    copy_days: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Make an annotated copy (sealed again by the issuer) for a purpose; it is listed for download."""
    values = {"copy_purpose": copy_purpose.strip(), "copy_days": copy_days}
    found = form_post(
        request, csrf_token, lambda: _own(request, db, license_id),
        lambda auth, lic, refusal: license_page(request, db, auth, lic, errors={"copy": refusal}, values=values,
                                                status_code=403),
    )  # fmt: skip
    if isinstance(found, Response):
        return found
    auth, lic = found
    errors: dict[str, str] = {}
    if not values["copy_purpose"]:
        errors["copy_purpose"] = "请填写加注件的用途，例如：办理入学报名"
    elif len(values["copy_purpose"]) > 200:
        errors["copy_purpose"] = "用途不能超过200个字"
    if copy_days not in COPY_DAYS:
        errors["copy_days"] = "请选择加注件的有效期"
    if errors:
        return license_page(request, db, auth, lic, errors=errors, values=values, status_code=422)
    try:
        made = make_holder_copy(request, db, auth.account, lic, values["copy_purpose"],
                                utcnow() + timedelta(days=int(copy_days)))  # fmt: skip
    except DomainError as exc:
        db.rollback()
        return license_page(request, db, auth, lic, errors={"copy": exc.detail}, values=values,
                            status_code=exc.status_code)  # fmt: skip
    return RedirectResponse(f"/me/licenses/{lic.id}?done=copied&copy={made.row.id}#copies", status_code=303)


@router.get("/me/licenses/{license_id}/copies/{copy_id}/file")
def copy_file(license_id: str, copy_id: str, request: Request, db: DbSession) -> Response:
    """The sealed OFD of one annotated copy of the person's license (the download is logged)."""
    auth = _holder(request, db)
    if isinstance(auth, RedirectResponse):
        return auth
    try:
        return copy_download(request, db, auth.account, license_id, copy_id)
    except LicenseError:
        return _not_found(request, db)
