"""HTTP surface of the exchange.

* ``/exchange/v1/...`` node to node (versioned so tiers can upgrade on different days): signed batches,
  signed verification queries, joining (CSR in, certificate out), this node's CA certificate and CRL,
  the interface self-test (联调: signed sample batches checked, never applied).
* ``/api/v1/exchange/...`` operators: status, abnormal feedback, resend — a client with scope
  ``exchange:admin``, or a staff member holding ``exchange.operate`` under identity's policy (ADR 0010).
* ``/api/v1/verify/...`` verification services for authorised clients (personal data in POST bodies).
* ``/exchange/overview`` the national page: lower nodes and per-topic received / applied / rejected, lag.
* ``/exchange/progress`` connection progress (应上尽上) for staff: page, XLSX, and ``/api/v1/exchange/progress``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy.orm import Session

from zhengwu.exchange import (
    applying,
    downward,
    join,
    progress,
    rights,
    selftest,
    service,
    tiers,
    verification,
)
from zhengwu.exchange.canonical import dumps_text, loads
from zhengwu.exchange.errors import BatchTooLarge, MalformedEnvelope, VerificationUnauthenticated
from zhengwu.exchange.receiving import receive_batch, record_refusal
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.exchange.schemas import (
    FeedbackRead,
    LegalPersonQuery,
    LicenseQuery,
    PersonQuery,
    ResendResult,
    VerifyAnswer,
)
from zhengwu.exchange.servicekeys import AUTHORIZER, RUNTIME
from zhengwu.exchange.verification import Caller
from zhengwu.identity.policy import MachineGuard, StaffOrMachine, StaffPrincipal, guard
from zhengwu.kernel.assets import guarded_templates
from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.limits import body_limit
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import (
    CLIENT_CREDENTIALS,
    CLIENT_CREDENTIALS_SCHEME,
    SIGNED_ENVELOPE,
    errors,
    security,
)
from zhengwu.kernel.ratelimit import client_address, per_address
from zhengwu.kernel.session import DbSession

node_router = APIRouter(prefix="/exchange/v1", tags=["exchange 节点间交换"])
api_router = APIRouter(prefix="/api/v1/exchange", tags=["exchange 数据交换"])
verify_router = APIRouter(prefix="/api/v1/verify", tags=["exchange 共享核验"])
page_router = APIRouter(tags=["exchange 数据交换"])

_templates = guarded_templates(Path(__file__).parent / "templates")
ADMIN_SCOPE = "exchange:admin"
TIER_NAMES = {"national": "国家级", "province": "省级", "city": "市级", "county": "县级"}
NODE_STATUS_NAMES = {"pending": "待审批", "approved": "已接入", "revoked": "已吊销", "superseded": "已换发证书",
                     "expired": "证书已过期"}  # fmt: skip
G = TypeVar("G", bound=Callable[..., Any])


def runtime_of(request: Request) -> ExchangeRuntime:
    """The exchange runtime installed by the composition root."""
    node = node_of(request)
    runtime = node.services.provide(RUNTIME)
    runtime.rebind(node.session_factory)
    return runtime


class ScopeGuard(MachineGuard):
    """Client credentials: a bearer access token of this node's provider that carries the scope."""

    def authorize(self, request: Request) -> Caller:
        """The calling client (401 without a valid token, 403 without the scope)."""
        authorizer = node_of(request).services.get(AUTHORIZER)
        if authorizer is None:
            raise VerificationUnauthenticated(
                "本节点未配置客户端凭证校验", detail_en="no client authoriser is configured on this node"
            )
        caller: Caller = authorizer(request.headers.get("authorization"), self.scope)
        return caller


def _documented(scope: str) -> Callable[[G], G]:
    """The OpenAPI document names the client-credentials scheme and the scope (kernel.openapi)."""
    return security(CLIENT_CREDENTIALS, CLIENT_CREDENTIALS_SCHEME, scopes=(scope,), statuses=(401, 403))


def require(scope: str) -> ScopeGuard:
    """Dependency: the caller's client credentials must carry ``scope``."""
    return _documented(scope)(ScopeGuard(scope))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BatchTooLarge(f"报文超过 {limit} 字节", detail_en=f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BatchTooLarge(f"报文超过 {limit} 字节", detail_en=f"body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _claimed(envelope: Any) -> dict[str, Any]:
    doc = envelope.get("document") if isinstance(envelope, dict) else None
    return doc if isinstance(doc, dict) else {}


def _signed(session: Session, runtime: ExchangeRuntime, body: bytes, handler: Any) -> dict[str, Any]:
    envelope: Any = None
    try:
        try:
            envelope = loads(body)
        except ValueError as exc:
            raise MalformedEnvelope("报文不是有效的 JSON", detail_en="body is not JSON") from exc
        result: dict[str, Any] = handler(session, runtime, envelope)
        return result
    except DomainError as exc:
        session.rollback()  # release our locks before the refusal is logged in a transaction of its own
        record_refusal(runtime, body, exc, _claimed(envelope))
        verification.write_refusal_audit(runtime)
        raise


def _json_response(document: dict[str, Any]) -> Response:
    # Signed documents are serialised once, directly (no re-encoding of a large receipt by the framework).
    return Response(dumps_text(document).encode("utf-8"), media_type="application/json")


@node_router.post(
    "/batches",
    summary="接收下级节点的签名数据批次",
    response_class=Response,
    # _read_body counts the stream against this node setting.
    openapi_extra=body_limit(setting="ZHENGWU_EXCHANGE__MAX_BATCH_BYTES", **SIGNED_ENVELOPE),
    responses=errors(403, 409, 422),
)
async def post_batch(request: Request, session: DbSession) -> Response:
    """Receive a signed batch; answer with a signed receipt (accepted and rejected rows with reasons)."""
    runtime = runtime_of(request)
    try:
        body = await _read_body(request, runtime.settings.exchange.max_batch_bytes)
    except BatchTooLarge as exc:
        await run_in_threadpool(record_refusal, runtime, b"", exc, {})
        raise
    return _json_response(await run_in_threadpool(_signed, session, runtime, body, receive_batch))


@node_router.post(
    "/verify",
    summary="答复下级节点的共享核验请求",
    response_class=Response,
    openapi_extra=SIGNED_ENVELOPE,
    responses=errors(403, 409, 413, 422, 429),
)
async def post_verify(request: Request, session: DbSession) -> Response:
    """Answer a lower node's signed verification query with a signed answer."""
    runtime = runtime_of(request)
    body = await _read_body(request, 64 * 1024)
    return _json_response(await run_in_threadpool(_signed, session, runtime, body, verification.answer_child))


@node_router.post(
    "/feed",
    summary="下级节点获取下发数据",
    response_class=Response,
    openapi_extra=SIGNED_ENVELOPE,
    responses=errors(403, 409, 413, 422),
)
async def post_feed(request: Request, session: DbSession) -> Response:
    """One signed page of the downward feed after the lower node's last sequence."""
    runtime = runtime_of(request)
    body = await _read_body(request, 64 * 1024)
    return _json_response(await run_in_threadpool(_signed, session, runtime, body, downward.answer_feed))


@node_router.post(
    "/selftest",
    summary="接口联调自测：按国家表字段规则校验下级节点的签名样例批次（不入库）",
    response_class=Response,
    openapi_extra=body_limit(setting="ZHENGWU_EXCHANGE__MAX_BATCH_BYTES", **SIGNED_ENVELOPE),
    responses=errors(403, 409, 413, 422),
)
async def post_selftest(request: Request, session: DbSession) -> Response:
    """Check a lower node's signed self-test batch by the national column rules; answer with a signed
    receipt. Nothing is applied or stored but the nonce and an exchange log entry."""
    runtime = runtime_of(request)
    body = await _read_body(request, runtime.settings.exchange.max_batch_bytes)
    return _json_response(await run_in_threadpool(_signed, session, runtime, body, selftest.answer))


@node_router.post(
    "/feedback",
    summary="下级节点获取上级对其上报记录的异常反馈",
    response_class=Response,
    openapi_extra=SIGNED_ENVELOPE,
    responses=errors(403, 409, 413, 422),
)
async def post_feedback(request: Request, session: DbSession) -> Response:
    """One signed page of the refusals queued for the asking lower node after its last sequence."""
    runtime = runtime_of(request)
    body = await _read_body(request, 64 * 1024)
    return _json_response(await run_in_threadpool(_signed, session, runtime, body, tiers.answer_feedback))


@node_router.post(
    "/join",
    summary="下级节点接入申请（证书请求）",
    responses=errors(400, 429),
    # Unauthenticated by nature (the node has no certificate yet): limited per address.
    dependencies=[Depends(per_address("exchange.join", lambda s: s.security.public_rate_per_minute))],
)
def post_join(request: Request, session: DbSession, payload: dict[str, Any]) -> dict[str, Any]:
    """Record a lower node's join request; answers with this node's exchange CA certificate."""
    return join.accept_request(session, runtime_of(request), payload, source=client_address(request))


@node_router.get("/join/{request_id}", summary="接入申请状态与签发的证书")
def get_join(request_id: str, session: DbSession) -> dict[str, Any]:
    """The state of a join request and, once approved, the issued certificate."""
    return join.request_status(session, request_id)


@node_router.get("/ca", response_class=PlainTextResponse, summary="本节点交换 CA 证书")
def get_ca(request: Request) -> PlainTextResponse:
    """This node's exchange CA certificate (PEM); compare its fingerprint out of band."""
    cert = runtime_of(request).credentials.ca().certificate
    return PlainTextResponse(
        cert.to_pem().decode("ascii"), headers={"X-Certificate-Fingerprint": cert.fingerprint}
    )


@node_router.get("/crl", response_class=PlainTextResponse, summary="本节点交换 CA 的证书撤销列表")
def get_crl(request: Request) -> PlainTextResponse:
    """The current CRL of this node's exchange CA (PEM)."""
    return PlainTextResponse(runtime_of(request).credentials.current_crl().to_pem().decode("ascii"))


# --- operators --------------------------------------------------------------------------------------

# A bearer token is a machine operator (scope exchange:admin); a browser session goes through the policy.
Admin = Annotated[
    Caller | StaffPrincipal,
    Depends(_documented(ADMIN_SCOPE)(StaffOrMachine(require(ADMIN_SCOPE), guard(rights.OPERATE)))),
]


@api_router.get("/status", summary="交换状态（按主题）")
def get_status(request: Request, session: DbSession, _caller: Admin) -> dict[str, Any]:
    """Per topic: pending, sent, acknowledged, rejected, dead and lag; uplink; open feedback."""
    return service.status(session, runtime_of(request))


@api_router.get("/feedback", response_model=list[FeedbackRead], summary="异常反馈列表")
def get_feedback(
    request: Request,
    response: Response,
    session: DbSession,
    _caller: Admin,
    page: Annotated[PageParams, Depends(page_params)],
    status: str | None = "open",
    topic: str | None = None,
) -> list[FeedbackRead]:
    """Rows the upper node refused, with reasons (newest first)."""
    rows, total = service.list_feedback(
        session, status=status, topic=topic, offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [FeedbackRead.model_validate(r) for r in rows]


@api_router.get("/applied", summary="下发数据应用记录")
def get_applied(
    request: Request,
    response: Response,
    session: DbSession,
    _caller: Admin,
    page: Annotated[PageParams, Depends(page_params)],
    outcome: Literal["applied", "stored", "refused", "refused_below"] | None = None,
    table: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """What became of the rows the upper node pushed down (applied, stored, refused) and the refusals
    lower nodes fed back (refused_below), newest first."""
    rows, total = applying.list_applied(
        session, outcome=outcome, table=table, offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [applying.as_dict(r) for r in rows]


@api_router.post(
    "/feedback/{feedback_id}/resend",
    response_model=ResendResult,
    summary="修正后重新上报",
    responses=errors(409),
)
def post_resend(request: Request, feedback_id: str, session: DbSession, caller: Admin) -> ResendResult:
    """Resend a refused row as a new row (the owner's current version when it can supply one)."""
    actor = (
        f"account:{caller.account_id}" if isinstance(caller, StaffPrincipal) else f"client:{caller.client_id}"
    )
    counts = service.resend_feedback(
        session, runtime_of(request).registry, feedback_id=feedback_id, actor=actor
    )
    return ResendResult(**counts)


@api_router.get("/overview", summary="下级节点（逐级）接收情况")
def get_overview(session: DbSession) -> dict[str, Any]:
    """Lower nodes and per topic received / applied / rejected counts and lag; under each, the nodes
    beneath it (recursively) with per-table counts of the rows each one made."""
    return service.overview(session)


@page_router.get("/exchange/overview", response_class=HTMLResponse, include_in_schema=False)
def overview_page(request: Request, session: DbSession) -> HTMLResponse:
    """The national page (also useful on any node with lower nodes)."""
    runtime = runtime_of(request)
    return _templates.TemplateResponse(
        request,
        "overview.html",
        {
            "data": service.overview(session),
            "node_name": runtime.settings.node_name,
            "tier": runtime.settings.tier.value,
            "tier_names": TIER_NAMES,
            "status_names": NODE_STATUS_NAMES,
            "beijing": progress.beijing,
        },
    )


# A page and its download for staff only (the policy's second factor); no bearer tokens in a browser.
Operator = Annotated[StaffPrincipal, Depends(guard(rights.OPERATE))]


@api_router.get("/progress", summary="接入进度（应上尽上）：各下级节点与部门")
def get_progress(request: Request, session: DbSession, _caller: Admin) -> dict[str, Any]:
    """Per lower node and department: objects held there against accepted here, rejection rate and top
    reasons, lag and last contact."""
    return progress.current(session, runtime_of(request))


@page_router.get("/exchange/progress", response_class=HTMLResponse, include_in_schema=False)
def progress_page(request: Request, session: DbSession, _staff: Operator) -> HTMLResponse:
    """The connection progress page (zh-CN, 北京时间)."""
    return _templates.TemplateResponse(
        request, "progress.html", {"data": progress.current(session, runtime_of(request)),
                                   "beijing": progress.beijing, "labels": progress.LABELS}
    )  # fmt: skip


@page_router.get("/exchange/progress.xlsx", include_in_schema=False)
def progress_xlsx(request: Request, session: DbSession, _staff: Operator) -> Response:
    """The same numbers as a workbook for the periodic assessment report."""
    data = progress.current(session, runtime_of(request))
    return Response(
        progress.to_xlsx(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="exchange-progress.xlsx"'},
    )


# --- verification services --------------------------------------------------------------------------


def _answer(
    request: Request,
    session: Session,
    caller: Caller,
    kind: str,
    body: PersonQuery | LegalPersonQuery | LicenseQuery,
) -> VerifyAnswer:
    data = body.model_dump(exclude={"purpose"})
    runtime = runtime_of(request)
    try:
        return VerifyAnswer(**verification.check(session, runtime, kind, data, caller, purpose=body.purpose))
    except DomainError:
        session.rollback()
        verification.write_refusal_audit(runtime)
        raise


@verify_router.post(
    "/person", response_model=VerifyAnswer, summary="人口核验（姓名 + 公民身份号码）", responses=errors(429)
)
def verify_person(
    request: Request,
    body: PersonQuery,
    session: DbSession,
    caller: Annotated[Caller, Depends(require(verification.SCOPES["person"]))],
) -> VerifyAnswer:
    """Match / no-match; never echoes the query."""
    return _answer(request, session, caller, "person", body)


@verify_router.post(
    "/legal-person",
    response_model=VerifyAnswer,
    summary="法人核验（信用代码 + 名称 + 法定代表人）",
    responses=errors(429),
)
def verify_legal_person(
    request: Request,
    body: LegalPersonQuery,
    session: DbSession,
    caller: Annotated[Caller, Depends(require(verification.SCOPES["legal_person"]))],
) -> VerifyAnswer:
    """Match / no-match plus status and entity type."""
    return _answer(request, session, caller, "legal_person", body)


@verify_router.post(
    "/license", response_model=VerifyAnswer, summary="证照核验（证照标识 + 持证主体）", responses=errors(429)
)
def verify_license(
    request: Request,
    body: LicenseQuery,
    session: DbSession,
    caller: Annotated[Caller, Depends(require(verification.SCOPES["license"]))],
) -> VerifyAnswer:
    """Match / no-match plus status and license type."""
    return _answer(request, session, caller, "license", body)
