"""工作台 · 下级上报的电子证照: upper-node (province, national) staff look through the license rows lower
nodes reported and refuse one with a reason — a ``dn_lic_data_error`` row goes down the feed and lands in
that node's abnormal-data queue, where its staff correct and resubmit it.

The pages ask identity's staff-rights policy for ``exchange.operate`` (platform reach, second factor),
like the exchange's own operator pages; refusing is the licenses' service (``feedback.refuse_reported``,
also behind ``zhengwu licenses refuse``). The rows are read through the exchange's service; only their
non-personal columns are shown (the holder's code never). Forms are plain POSTs with identity's CSRF token
and keep what was typed; a second click refuses nothing twice.
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
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import feedback, offline
from zhengwu.portal.pages import beijing, render
from zhengwu.portal.staffpages import _message, _principal, _text

router = APIRouter(include_in_schema=False)
HOME: Final = "/staff/licenses/received"
TABLE: Final = "up_lic_data"
PAGE_SIZE: Final = 20


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
