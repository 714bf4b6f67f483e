"""HTTP API of electronic licenses: types (public), issuance and status (staff), verification (public),
holder access (the holder's own session).

Staff authorisation is identity's policy over ``licenses.rights``; the department an issuance touches is
the issuing department named in the body. Verification answers are minimal and every verification, holder
read and download is written to the usage log (用证记录).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from zhengwu.identity.deps import Authenticated, RequiredSession
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.config import Settings
from zhengwu.kernel.errors import BadRequest
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.limits import KiB, body_limit
from zhengwu.kernel.logging import current_trace_id, get_logger
from zhengwu.kernel.node import CurrentNode, ServiceKey, node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.ratelimit import RateLimited, SharedRateLimiter, client_address, per_address
from zhengwu.kernel.session import DbSession, unit_of_work
from zhengwu.kernel.stamps import StampedCache, remember
from zhengwu.licenses import lifecycle, rights, service
from zhengwu.licenses.batch import group_commit
from zhengwu.licenses.models import License
from zhengwu.licenses.schemas import (
    LicenseIssue,
    LicenseRead,
    LicenseRenew,
    LicenseTypeRead,
    QrAnswer,
    QrLookup,
    StatusChange,
    UsageRead,
    VerifyAnswer,
    VerifyRequest,
)
from zhengwu.orgs import service as orgs
from zhengwu.seals.routes import _OFD_BODY, MAX_UPLOAD_BYTES, OFD_MEDIA_TYPE, UPLOAD_LIMITS, read_document

router = APIRouter(prefix="/api/v1/licenses", tags=["licenses 电子证照"])

Issuer = Annotated[StaffPrincipal, Depends(guard(rights.ISSUE))]
Manager = Annotated[StaffPrincipal, Depends(guard(rights.MANAGE))]
log = get_logger("zhengwu.security")  # a refused verification is a security event, as the limiter logs it


def verify_rate(settings: Settings) -> float:
    return settings.security.public_rate_per_minute


_VERIFY_LIMITER = per_address("licenses.verify", verify_rate)
_VERIFY_LIMIT = Depends(_VERIFY_LIMITER)


def _take_verify_token(request: Request, db: Session) -> None:
    """The per-address limit of /verify, taken in the request's own transaction.

    The dependency form commits the bucket in a transaction of its own: a second SQLite write
    transaction on every verification. Here the bucket's upsert commits with the usage record. A
    refusal rolls the upsert back, which changes nothing: the bucket refills linearly from its last
    stored level either way."""
    settings = node_of(request).settings
    if settings.security.rate_limit_store != "database":
        _VERIFY_LIMITER(request)
        return
    limiter = SharedRateLimiter("licenses.verify", verify_rate(settings))
    allowed, retry_after = limiter.take(db, client_address(request))
    if not allowed:
        log.warning("rate_limited", limiter="licenses.verify", security_event=True)
        raise RateLimited(retry_after)


def _verify_identifier(
    request: Request, identifier: str, holder_code: str, caller: service.Caller
) -> dict[str, Any]:
    """Verification by identifier as one job of the node's group commit (``licenses.batch``): the
    address's token, the read and the usage record in the batch's transaction, answered once the record
    is committed. The read needs no transaction of its own: a lone request makes one transaction instead
    of two, a burst one for the whole batch; a refused request reads nothing."""
    node = node_of(request)
    shared = node.settings.security.rate_limit_store == "database"
    if not shared:
        _VERIFY_LIMITER(request)
    limiter = SharedRateLimiter("licenses.verify", verify_rate(node.settings)) if shared else None
    address = client_address(request)
    trace = current_trace_id()  # the batch may be committed by another request's thread

    def work(session: Session) -> tuple[int, service.Answer | None]:
        if limiter is not None:
            allowed, retry_after = limiter.take(session, address)
            if not allowed:
                return retry_after, None
        answer, result, license_ref = service.answer_identifier(session, identifier, holder_code)
        service.record_usage(session, caller, "verify_id", result, license_ref=license_ref, trace_id=trace)
        return 0, answer

    retry_after, answer = group_commit(node).run(work)
    if answer is None:
        log.warning("rate_limited", limiter="licenses.verify", security_event=True)
        raise RateLimited(retry_after)
    return answer.as_json()


_QR_LIMIT = Depends(per_address("licenses.qr_lookup", verify_rate))


def _settings(request: Request) -> Settings:
    settings: Settings = node_of(request).settings
    return settings


def _actor(staff: StaffPrincipal) -> str:
    return f"account:{staff.account_id}"


def license_read(db: Session, lic: License) -> LicenseRead:
    """A license as its holder, issuer or an entitled department system reads it."""
    return _read(db, lic)


def _read(db: Session, lic: License) -> LicenseRead:
    kind = service.get_type(db, lic.type_code)
    status = service.status_of(lic)
    return LicenseRead(
        id=lic.id,
        identifier=lic.identifier,
        type_code=lic.type_code,
        type_name=lic.type_name,
        number=lic.number,
        version=lic.version,
        issuer_name=lic.issuer_name,
        holder_name=lic.holder_name,
        holder_code_type=lic.holder_code_type,
        face=dict(lic.face),
        issued_at=lic.issued_at,
        valid_from=lic.valid_from,
        valid_until=lic.valid_until,
        trust_level=lic.trust_level,
        status=status,
        status_label=lifecycle.label(status),
        status_reason=lic.status_reason,
        supersedes_id=lic.supersedes_id,
        file_sm3=lic.file_sm3,
        metadata=service.metadata(lic, kind),
    )


#: The public type list as sent, kept per node under the types' change stamp: the same bytes for every
#: caller, and building them (an ORM row and a validated model per type, then FastAPI's encoding) was
#: about 7 ms of CPU a request for a list that changes when a type is defined or edited.
_TYPES_ANSWER: Final[ServiceKey[StampedCache[bytes]]] = ServiceKey("licenses.types_answer")
_TYPE_LIST: Final = TypeAdapter(list[LicenseTypeRead])


@router.get("/types", response_model=list[LicenseTypeRead], summary="证照类型目录（公开）")
def list_types(db: DbSession) -> Response:
    """Every license type with its face schema, validity and trust level."""

    def encode() -> bytes:
        return _TYPE_LIST.dump_json([LicenseTypeRead.model_validate(t) for t in service.list_types(db)])

    body = remember(db, _TYPES_ANSWER, (service.TYPES_STAMP,), "all", encode, max_keys=1)
    return Response(body, media_type="application/json")


@router.post(
    "",
    response_model=LicenseRead,
    status_code=201,
    summary="签发电子证照",
    responses=errors(404, 409),
)
def issue_license(
    data: LicenseIssue, request: Request, response: Response, db: DbSession, staff: Issuer
) -> LicenseRead | Response:
    """Issue a license sealed with the issuing department's seal (its license issuers only)."""
    department = orgs.get_by_credit_code(db, data.department_credit_code)
    staff.ensure(rights.ISSUE, department.id)
    idem = Idempotency(
        db, request, scope=f"licenses.issue:{staff.account_id}", payload=data.model_dump_json()
    )
    replay = idem.replay()
    if replay is not None:
        return replay
    lic = service.issue_license(
        db,
        _settings(request),
        type_code=data.type_code,
        department_id=department.id,
        holder_name=data.holder_name,
        holder_code=data.holder_code,
        holder_code_type=data.holder_code_type,
        face=data.face,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        actor=_actor(staff),
        bus=node_of(request).bus,
    )
    result = _read(db, lic)
    idem.remember(201, result.model_dump(mode="json"))
    response.headers["Location"] = f"/api/v1/licenses/{lic.id}"
    return result


def _manage(
    db: Session, node: CurrentNode, staff: StaffPrincipal, license_id: str, action: str, reason: str
) -> LicenseRead:
    lic = service.get_license(db, license_id)
    staff.ensure(rights.MANAGE, lic.department_id)
    changed = service.change_status(db, license_id, action, reason=reason, actor=_actor(staff), bus=node.bus)
    return _read(db, changed)


@router.post("/{license_id}/suspend", response_model=LicenseRead, summary="挂起证照", responses=errors(409))
def suspend_license(
    license_id: str, data: StatusChange, db: DbSession, node: CurrentNode, staff: Manager
) -> LicenseRead:
    """Suspend a valid license (reversible)."""
    return _manage(db, node, staff, license_id, "suspend", data.reason)


@router.post("/{license_id}/resume", response_model=LicenseRead, summary="恢复证照", responses=errors(409))
def resume_license(
    license_id: str, data: StatusChange, db: DbSession, node: CurrentNode, staff: Manager
) -> LicenseRead:
    """Make a suspended license valid again."""
    return _manage(db, node, staff, license_id, "resume", data.reason)


@router.post("/{license_id}/revoke", response_model=LicenseRead, summary="注销证照", responses=errors(409))
def revoke_license(
    license_id: str, data: StatusChange, db: DbSession, node: CurrentNode, staff: Manager
) -> LicenseRead:
    """Revoke a license for good."""
    return _manage(db, node, staff, license_id, "revoke", data.reason)


@router.post(
    "/{license_id}/renew",
    response_model=LicenseRead,
    status_code=201,
    summary="换发证照",
    responses=errors(409),
)
def renew_license(
    license_id: str, data: LicenseRenew, request: Request, db: DbSession, staff: Issuer
) -> LicenseRead:
    """Issue the next version of a license; the old one becomes superseded."""
    lic = service.get_license(db, license_id)
    staff.ensure(rights.ISSUE, lic.department_id)
    renewed = service.renew_license(
        db,
        _settings(request),
        license_id,
        reason=data.reason,
        face=data.face,
        valid_until=data.valid_until,
        actor=_actor(staff),
        bus=node_of(request).bus,
    )
    return _read(db, renewed)


def _caller(request: Request, who: str, purpose: str | None) -> service.Caller:
    return service.Caller(who, purpose, client_address(request))


@router.post(
    "/verify",
    response_model=VerifyAnswer,
    summary="核验电子证照（公开）：标识+持证主体代码，或二维码",
    responses=errors(400, 429),
)
async def verify(data: VerifyRequest, request: Request) -> dict[str, Any]:
    """Valid or not, status, type and issuer; never the holder's data (conventions §4).

    Async, with no request session: the one worker thread it takes runs the verification's own
    transaction (the group commit's, or the QR check's unit of work), so no thread hand-off is spent on
    a session the identifier path never uses."""
    caller = _caller(request, "public", data.purpose)
    if data.qr is not None and data.identifier is None and data.holder_code is None:
        qr = data.qr

        def by_qr() -> dict[str, Any]:
            with unit_of_work(node_of(request).session_factory) as db:
                _take_verify_token(request, db)
                return service.verify_token(db, _settings(request), qr, caller=caller).as_json()

        return await run_in_threadpool(by_qr)
    if data.identifier is not None and data.holder_code is not None and data.qr is None:
        return await run_in_threadpool(_verify_identifier, request, data.identifier, data.holder_code, caller)
    raise BadRequest(
        "请提供电子证照标识和持证主体代码，或二维码内容（二者择一）",
        detail_en="give identifier + holder_code, or qr",
        code="licenses.verify_request",
    )


@router.post(
    "/qr-lookup",
    response_model=QrAnswer,
    summary="按二维码查询电子证照（公开）：核验结果与二维码所示信息",
    responses=errors(422),
    dependencies=[_QR_LIMIT],
)
def qr_lookup(data: QrLookup, request: Request, db: DbSession) -> dict[str, Any]:
    """QueryCertInfoByQrCode for anyone: valid or not, status, type, issuer, and what the code shows
    (identifier, masked holder name, dates) — the signature is checked before anything is said."""
    from zhengwu.licenses import qrlookup as qr

    caller = _caller(request, "public", data.purpose)
    return qr.lookup(db, _settings(request), data.qr, caller=caller).as_json()


@router.post(
    "/verify/file",
    response_model=VerifyAnswer,
    summary="核验电子证照文件（公开）：签章与登记状态",
    openapi_extra=body_limit(MAX_UPLOAD_BYTES + 64 * KiB, requestBody=_OFD_BODY),
    responses=errors(415, 422),
    dependencies=[_VERIFY_LIMIT],
)
async def verify_file(request: Request, db: DbSession) -> dict[str, Any]:
    """Verify an uploaded license OFD: every seal (with its trusted time) and the registry status."""
    data = await read_document(request)
    caller = _caller(request, "public", None)
    answer = await run_in_threadpool(
        lambda: service.verify_file(db, _settings(request), data, caller=caller, limits=UPLOAD_LIMITS)
    )
    return answer.as_json()


@router.get(
    "/offline-certificate",
    summary="离线核验证书（公开）",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}, "description": "DER 证书"}},
)
def offline_certificate(request: Request, db: DbSession) -> Response:
    """The certificate that signs the 2-D codes' offline payloads (chains to the node's root)."""
    der = service.offline_certificate(db, _settings(request))
    return Response(der, media_type="application/pkix-cert")


def _holder_caller(request: Request, auth: Authenticated) -> service.Caller:
    return _caller(request, f"holder:{auth.account.id}", "持证人查看")


@router.get("/mine", response_model=list[LicenseRead], summary="我的电子证照")
def my_licenses(
    request: Request,
    response: Response,
    db: DbSession,
    auth: RequiredSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[LicenseRead]:
    """The licenses of the person and of the enterprises they act for."""
    rows, total = service.holder_licenses(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    return [_read(db, lic) for lic in rows]


@router.get("/usage", response_model=list[UsageRead], summary="我的用证记录")
def my_usage(
    request: Request,
    response: Response,
    db: DbSession,
    auth: RequiredSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> list[UsageRead]:
    """Who used the person's licenses, when, why and with what result."""
    rows, total = service.holder_usage(db, auth.account, offset=page.offset, limit=page.limit)
    set_page_headers(request, response, total=total, page=page)
    purposes = service.grant_purposes(db, [u for u, _ in rows])
    return [UsageRead.of(u, lic, purposes) for u, lic in rows]


@router.get("/{license_id}", response_model=LicenseRead, summary="证照详情（持证人）")
def get_license(license_id: str, request: Request, db: DbSession, auth: RequiredSession) -> LicenseRead:
    """One of the person's licenses (404 for anyone else's); the read is logged."""
    lic = service.holder_license(db, auth.account, license_id)
    service.record_usage(db, _holder_caller(request, auth), "holder_view", "ok", lic)
    return _read(db, lic)


@router.get(
    "/{license_id}/file",
    summary="下载证照 OFD（持证人）",
    response_class=Response,
    responses={200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "签章的 OFD"}},
)
def license_file(license_id: str, request: Request, db: DbSession, auth: RequiredSession) -> Response:
    """The sealed OFD of one of the person's licenses; the download is logged."""
    lic = service.holder_license(db, auth.account, license_id)
    data = service.license_file(_settings(request), lic)
    service.record_usage(db, _holder_caller(request, auth), "holder_download", "ok", lic)
    return Response(
        data,
        media_type=OFD_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="license-{lic.id}.ofd"'},
    )
