"""工作台 · 下级上报的电子证照: upper-node (province, national) staff look through the license rows lower
nodes reported and refuse one with a reason — a ``dn_lic_data_error`` row goes down the feed and lands in
that node's abnormal-data queue, where its staff correct and resubmit it.

The pages ask identity's staff-rights policy for ``exchange.operate`` (platform reach, second factor),
like the exchange's own operator pages; refusing is the licenses' service (``feedback.refuse_reported``,
also behind ``zhengwu licenses refuse``). The rows are read through the exchange's service; only their
non-personal columns are shown (the holder's code never). Forms are plain POSTs with identity's CSRF token
and keep what was typed; a second click refuses nothing twice.

下发证照状态变更 (``/staff/licenses/status-push``) is the page over ``feedback.push_status`` (also
``POST /api/v1/licenses/status-pushes`` and ``zhengwu licenses push-status``), behind the licenses' own
``licenses.push_status`` right. A second click queues the same change again, which the lower node applies
as "already so", so no token guards it.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from zhengwu.exchange import rights as exchange_rights
from zhengwu.exchange import service as exchange
from zhengwu.exchange.models import ExchangeAggregate
from zhengwu.identity.errors import CsrfFailed
from zhengwu.identity.web import check_csrf
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import feedback, lifecycle, offline
from zhengwu.licenses import rights as license_rights
from zhengwu.portal.pages import beijing, render
from zhengwu.portal.staffpages import _message, _principal, _text

router = APIRouter(include_in_schema=False)
HOME: Final = "/staff/licenses/received"
TABLE: Final = "up_lic_data"
PAGE_SIZE: Final = 20
PUSH: Final = "/staff/licenses/status-push"
#: The choices of the status-push form, in the words the lower node's staff will read in the history.
PUSH_CHOICES: Final = (
    (lifecycle.SUSPENDED, "挂起（暂停使用，可恢复）"),
    (lifecycle.REVOKED, "注销（不可恢复）"),
    (lifecycle.VALID, "恢复有效"),
)
_PUSHED_WORDS: Final = {lifecycle.SUSPENDED: "挂起", lifecycle.REVOKED: "注销", lifecycle.VALID: "恢复有效"}


def _date(text: str) -> str:
    """The national columns' yyyyMMdd (or an ISO date) as people write it."""
    digits = text.replace("-", "")[:8]
    if len(digits) == 8 and digits.isdigit():
        return f"{int(digits[:4])}年{int(digits[4:6])}月{int(digits[6:])}日"
    return text or "—"


def _card(row: ExchangeAggregate, refused: set[str], names: dict[str, str]) -> dict[str, Any]:
    data = row.payload or {}
    holder = str(data.get("certificate_holder") or data.get("holder_name") or "")
    return {
        "id": row.id,
        "identifier": row.business_key,
        "name": str(data.get("certificate_name") or "（未填证照名称）"),
        "number": str(data.get("certificate_number") or "—"),
        "holder": offline.mask_name(holder) if holder else "—",
        "issuer": str(data.get("issue_dept") or "—"),
        "issued_on": _date(str(data.get("issue_date") or "")),
        "sender": names.get(row.sender, row.sender),
        "received_at": beijing(row.updated_at),
        "refused": feedback.refusal_key(row.sender, row.row_guid) in refused,
    }


def _cards(db: Session, rows: list[ExchangeAggregate]) -> list[dict[str, Any]]:
    refused = feedback.refused_already(db, [feedback.refusal_key(r.sender, r.row_guid) for r in rows])
    names = exchange.node_names(db, [r.sender for r in rows])
    return [_card(r, refused, names) for r in rows]


@router.get("/staff/licenses/received", response_class=HTMLResponse)
def received_page(request: Request, db: DbSession, identifier: str = "", page: str = "1") -> Response:
    """The license rows lower nodes reported, newest first, found by identifier."""
    staff = _principal(request, db, exchange_rights.OPERATE)
    if isinstance(staff, Response):
        return staff
    wanted = identifier.strip()[:128]
    page_no = int(page) if page.isdigit() and 1 <= int(page) <= 10_000 else 1
    rows, total = exchange.received_rows(db, TABLE, business_key=wanted or None,
                                         offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)  # fmt: skip
    pages = max(1, -(-total // PAGE_SIZE))

    def link(n: int) -> str:
        kept = {k: v for k, v in {"identifier": wanted, "page": str(n) if n > 1 else ""}.items() if v}
        return HOME + (f"?{urlencode(kept)}" if kept else "")

    return render(request, db, "staff/received.html", {
        "rows": _cards(db, rows), "total": total, "identifier": wanted, "page": page_no, "pages": pages,
        "previous": link(page_no - 1) if page_no > 1 else None, "next": link(page_no + 1) if page_no < pages else None,
    })  # fmt: skip


def _row(db: Session, row_id: str) -> ExchangeAggregate | None:
    return exchange.received_row(db, int(row_id)) if row_id.isdigit() and len(row_id) <= 18 else None


def _refuse_page(request: Request, db: Session, row: ExchangeAggregate, *, values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:  # fmt: skip
    return render(request, db, "staff/refuse.html", {"r": _cards(db, [row])[0], "values": values or {},
                                                      "errors": errors or {}}, status_code=status_code)  # fmt: skip


@router.get("/staff/licenses/received/{row_id}", response_class=HTMLResponse)
def refuse_form(row_id: str, request: Request, db: DbSession) -> Response:
    """One reported row and the form to refuse it."""
    staff = _principal(request, db, exchange_rights.OPERATE)
    if isinstance(staff, Response):
        return staff
    row = _row(db, row_id)
    if row is None:
        return _message(
            request,
            db,
            "没有这条数据",
            "这条上报数据不存在，或已被下级节点撤回。",
            404,
            (HOME, "返回上报列表"),
        )
    return _refuse_page(request, db, row)


@router.post("/staff/licenses/received/{row_id}/refuse", response_class=HTMLResponse)
async def refuse_submit(row_id: str, request: Request, db: DbSession) -> Response:
    """Refuse the row with the reason typed; mistakes come back on the page with what was typed."""
    posted = await request.form(max_files=0, max_fields=10)

    def work() -> Response:
        staff = _principal(request, db, exchange_rights.OPERATE)
        if isinstance(staff, Response):
            return staff
        row = _row(db, row_id)
        if row is None:
            return _message(request, db, "没有这条数据", "这条上报数据不存在，或已被下级节点撤回。", 404,
                            (HOME, "返回上报列表"))  # fmt: skip
        reason = _text(posted, "reason", 500)
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _refuse_page(request, db, row, values={"reason": reason}, errors={"form": exc.detail},
                                status_code=403)  # fmt: skip
        if len(reason) < 2:
            return _refuse_page(request, db, row, values={"reason": reason},
                                errors={"reason": "请填写退回原因（至少2个字），下级节点的工作人员会看到它"},
                                status_code=422)  # fmt: skip
        try:
            feedback.refuse_reported(db, row.payload, sender=row.sender, row_guid=row.row_guid, reason=reason,
                                     actor=f"account:{staff.account_id}")  # fmt: skip
        except DomainError as exc:
            db.rollback()
            return _refuse_page(request, db, row, values={"reason": reason}, errors={"form": exc.detail},
                                status_code=exc.status_code)  # fmt: skip
        sender = exchange.node_names(db, [row.sender]).get(row.sender, row.sender)
        return _message(request, db, "已退回",
                        f"已将这条电子证照数据退回{sender}，原因：{reason}。下级节点会在“证照异常数据”中看到它。",
                        200, (HOME, "返回上报列表"))  # fmt: skip

    return await run_in_threadpool(work)


def _push_page(request: Request, db: Session, *, values: dict[str, str], errors: dict[str, str] | None = None,
               done: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:  # fmt: skip
    return render(request, db, "staff/status_push.html", {"values": values, "errors": errors or {}, "done": done,
                                                           "choices": PUSH_CHOICES}, status_code=status_code)  # fmt: skip


@router.get(PUSH, response_class=HTMLResponse)
def push_form(request: Request, db: DbSession, identifier: str = "") -> Response:
    """The form to send a license's status change down (the identifier filled in from a reported row)."""
    staff = _principal(request, db, license_rights.PUSH_STATUS)
    if isinstance(staff, Response):
        return staff
    return _push_page(request, db, values={"identifier": identifier.strip()[:128]})


def _push_mistakes(values: dict[str, str]) -> dict[str, str]:
    """What the page can name before the service is asked (the service checks the same again)."""
    errors: dict[str, str] = {}
    if not values["identifier"]:
        errors["identifier"] = "请填写电子证照标识"
    if values["status"] not in _PUSHED_WORDS:
        errors["status"] = "请选择要下发的状态"
    if len(" ".join(values["reason"].split())) < 2:
        errors["reason"] = "请填写原因（至少2个字），下级节点会把它记入证照的状态历史"
    area = values["area_code"]
    if area and not (len(area) == 6 and area.isdigit()):
        errors["area_code"] = "管辖属地编码应为6位数字，例如 130100；不清楚时可不填"
    return errors


@router.post(PUSH, response_class=HTMLResponse)
async def push_submit(request: Request, db: DbSession) -> Response:
    """Queue the status change; mistakes come back on the page with what was typed, success says where the
    change goes and when it was queued."""
    posted = await request.form(max_files=0, max_fields=10)

    def work() -> Response:
        staff = _principal(request, db, license_rights.PUSH_STATUS)
        if isinstance(staff, Response):
            return staff
        values = {"identifier": _text(posted, "identifier", 128), "status": _text(posted, "status", 20),
                  "reason": _text(posted, "reason", 500), "area_code": _text(posted, "area_code", 12)}  # fmt: skip
        try:
            check_csrf(request, _text(posted, "csrf_token", 200))
        except CsrfFailed as exc:
            return _push_page(request, db, values=values, errors={"form": exc.detail}, status_code=403)
        mistakes = _push_mistakes(values)
        if mistakes:
            return _push_page(request, db, values=values, errors=mistakes, status_code=422)
        try:
            pushed = feedback.push_status(db, values["identifier"], values["status"], values["reason"],
                                          area_code=values["area_code"] or None,
                                          actor=f"account:{staff.account_id}")  # fmt: skip
        except DomainError as exc:
            db.rollback()
            return _push_page(
                request, db, values=values, errors={"form": exc.detail}, status_code=exc.status_code
            )
        where = (
            # the place in words first: a clerk reads 石家庄市, the code is there to check against the form
            f"{divisions.name_of(pushed.area_code) or '管辖属地'}（{pushed.area_code}）的下级节点"
            if pushed.area_code
            else "所有下级节点（未找到证照所属属地）"
        )
        done = {"identifier": pushed.identifier, "status": _PUSHED_WORDS[pushed.status], "reason": pushed.reason,
                "where": where, "at": beijing(utcnow())}  # fmt: skip
        return _push_page(request, db, values={}, done=done)

    return await run_in_threadpool(work)
