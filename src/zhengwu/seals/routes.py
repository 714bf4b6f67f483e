"""HTTP API: seal registry (staff), public seal status and verification, signing.

Staff authorisation is identity's staff-rights policy over ``seals.rights`` (ADR 0010): ``seal_admin``
manages and uses the seals of its own department, ``admin`` manages those of its department and
sub-departments, ``platform_admin`` those of every department; ``seal_user`` signs with its department's
seals, and nobody signs with another department's. Department systems call the signing API with a staff
service account of their department holding ``seal_user`` (and, like every staff session, a second factor).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.http import PageParams, page_params, set_page_headers
from zhengwu.kernel.idempotency import Idempotency
from zhengwu.kernel.limits import KiB, MiB, body_limit
from zhengwu.kernel.node import node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.ratelimit import per_address
from zhengwu.kernel.session import DbSession
from zhengwu.orgs import service as orgs
from zhengwu.seals import rights, service
from zhengwu.seals.errors import DocumentRejected, DocumentTooLarge, SealInvalid
from zhengwu.seals.models import Seal
from zhengwu.seals.ofd.container import ZipLimits
from zhengwu.seals.schemas import SealCreate, SealRead, SealStatusRead, StatusChange

router = APIRouter(prefix="/api/v1/seals", tags=["seals 电子印章"])

MAX_UPLOAD_BYTES: Final = 32 * 1024 * 1024
#: Uploaded documents get tighter container limits than files a node produces itself.
UPLOAD_LIMITS: Final = ZipLimits(
    max_input_bytes=MAX_UPLOAD_BYTES,
    max_entries=5_000,
    max_entry_bytes=64 * 1024 * 1024,
    max_total_bytes=128 * 1024 * 1024,
)
OFD_MEDIA_TYPE: Final = "application/ofd"
_RAW_TYPES: Final = frozenset({OFD_MEDIA_TYPE, "application/octet-stream", "application/zip", ""})
# The upload as the OpenAPI document states it (the routes read the stream themselves).
_OFD_BODY: Final = {
    "required": True,
    "content": {
        OFD_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    },
}


def _settings(request: Request) -> Settings:
    settings: Settings = node_of(request).settings
    return settings


# ---- staff authorisation ---------------------------------------------------------------------------

Staff = Annotated[StaffPrincipal, Depends(guard(rights.VIEW))]


def _actor(staff: StaffPrincipal) -> str:
    """How the account appears in status histories and usage records."""
    return f"account:{staff.account_id}"


def _read(db: Session, seal: Seal) -> SealRead:
    department = orgs.get_department(db, seal.department_id)
    cert = service.seal_certificate(db, seal)
    return SealRead(
        es_id=seal.es_id,
        name=seal.name,
        seal_type=seal.seal_type,
        department_id=seal.department_id,
        department_name=department.name,
        status=seal.status,
        status_label=service.status_label(seal.status),
        status_reason=seal.status_reason,
        status_changed_at=seal.status_changed_at,
        valid_start=seal.valid_start,
        valid_end=seal.valid_end,
        picture_type=seal.picture_type,
        certificate_serial=cert.serial,
        certificate_fingerprint=cert.fingerprint,
        certificate_status=cert.status,
        created_at=seal.created_at,
    )


# ---- registry --------------------------------------------------------------------------------------


# The seal picture travels Base64-encoded in the JSON body (up to 1.5 MB).
@router.post(
    "",
    response_model=SealRead,
    status_code=201,
    summary="制作电子印章",
    openapi_extra=body_limit(2 * MiB),
    responses=errors(404, 409),
)
def create_seal(
    data: SealCreate, request: Request, response: Response, db: DbSession, staff: Staff
) -> SealRead | Response:
    """Make a seal for a department (platform administrators, or the department's seal administrator)."""
    department = orgs.get_by_credit_code(db, data.department_credit_code)
    staff.ensure(rights.MANAGE, department.id)
    idem = Idempotency(db, request, scope=f"seals.create:{staff.account_id}", payload=data.model_dump_json())
    replay = idem.replay()
    if replay is not None:
        return replay
    picture = None
    if data.picture_base64 is not None:
        try:
            picture = base64.b64decode(data.picture_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SealInvalid("印章图片不是有效的 Base64", detail_en="picture_base64 is not Base64") from exc
    seal = service.create_seal(
        db,
        _settings(request),
        department_credit_code=data.department_credit_code,
        name=data.name,
        actor=_actor(staff),
        picture=picture,
        seal_type=data.seal_type,
        valid_years=data.valid_years,
        bus=node_of(request).bus,
    )
    result = _read(db, seal)
    idem.remember(201, result.model_dump(mode="json"))
    response.headers["Location"] = f"/api/v1/seals/{seal.es_id}"
    return result


@router.get("", response_model=list[SealRead], summary="印章列表")
def list_seals(
    request: Request,
    response: Response,
    db: DbSession,
    staff: Staff,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[str | None, Query(pattern="^(active|suspended|revoked)$")] = None,
    department_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[SealRead]:
    """Seals the caller may see: all for platform administrators, else those of their departments."""
    reached = staff.departments(rights.VIEW)
    visible = None if reached is None else sorted(reached)
    if department_id is not None:
        staff.ensure(rights.VIEW, department_id)
        visible = [department_id]
    rows, total = service.list_seals(
        db, department_ids=visible, status=status, offset=page.offset, limit=page.limit
    )
    set_page_headers(request, response, total=total, page=page)
    return [_read(db, row) for row in rows]


@router.get("/{es_id}/status", response_model=SealStatusRead, summary="印章状态查询（公开）")
def seal_status(es_id: str, db: DbSession) -> SealStatusRead:
    """The registry status of a seal — public, for anyone relying on a sealed document."""
    seal = service.get_seal(db, es_id)
    department = orgs.get_department(db, seal.department_id)
    cert = service.seal_certificate(db, seal)
    return SealStatusRead(
        es_id=seal.es_id,
        name=seal.name,
        department_name=department.name,
        status=seal.status,
        status_label=service.status_label(seal.status),
        status_changed_at=seal.status_changed_at,
        valid_start=seal.valid_start,
        valid_end=seal.valid_end,
        certificate_status=cert.status,
        checked_at=utcnow(),
    )


@router.get("/{es_id}", response_model=SealRead, summary="印章详情")
def get_seal(es_id: str, db: DbSession, staff: Staff) -> SealRead:
    """One seal (staff of its department or platform administrators)."""
    seal = service.get_seal(db, es_id)
    staff.ensure(rights.VIEW, seal.department_id)
    return _read(db, seal)


def _status_change(
    request: Request, db: Session, staff: StaffPrincipal, es_id: str, action: str, reason: str
) -> SealRead:
    seal = service.get_seal(db, es_id)
    staff.ensure(rights.MANAGE, seal.department_id)
    actor, bus = _actor(staff), node_of(request).bus
    if action == "suspend":
        service.suspend_seal(db, es_id, reason=reason, actor=actor, bus=bus)
    elif action == "resume":
        service.resume_seal(db, es_id, reason=reason, actor=actor, bus=bus)
    else:
        service.revoke_seal(db, _settings(request), es_id, reason=reason, actor=actor, bus=bus)
    return _read(db, seal)


@router.post("/{es_id}/suspend", response_model=SealRead, summary="挂起印章", responses=errors(409))
def suspend_seal(es_id: str, data: StatusChange, request: Request, db: DbSession, staff: Staff) -> SealRead:
    """Suspend a seal (reversible); signatures made while suspended do not verify."""
    return _status_change(request, db, staff, es_id, "suspend", data.reason)


@router.post("/{es_id}/resume", response_model=SealRead, summary="恢复印章", responses=errors(409))
def resume_seal(es_id: str, data: StatusChange, request: Request, db: DbSession, staff: Staff) -> SealRead:
    """Resume a suspended seal."""
    return _status_change(request, db, staff, es_id, "resume", data.reason)


@router.post("/{es_id}/revoke", response_model=SealRead, summary="吊销印章", responses=errors(409))
def revoke_seal(es_id: str, data: StatusChange, request: Request, db: DbSession, staff: Staff) -> SealRead:
    """Revoke a seal for good; its certificate is revoked and the CRL re-issued."""
    return _status_change(request, db, staff, es_id, "revoke", data.reason)


# ---- documents -------------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(detail_en=f"upload over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise DocumentTooLarge(detail_en=f"upload over {limit} bytes")
    return bytes(body)


async def read_document(request: Request, *, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The uploaded file: a raw ``application/ofd`` body or the file part of a multipart form."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        body = await _read_body(request, limit + 64 * 1024)

        async def replay() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(request.headers, replay(), max_files=1, max_fields=10).parse()
        except MultiPartException as exc:
            raise DocumentRejected(
                "表单格式错误", detail_en=f"malformed multipart body: {exc.message}"
            ) from exc
        uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not uploads:
            raise DocumentRejected("表单中没有文件", detail_en="no file part in the form")
        data = await uploads[0].read()
        await form.close()
        if len(data) > limit:
            raise DocumentTooLarge(detail_en=f"upload over {limit} bytes")
    elif media_type in _RAW_TYPES:
        data = await _read_body(request, limit)
    else:
        raise DocumentRejected(
            "请以 application/ofd 或 multipart/form-data 上传 OFD 文件",
            detail_en=f"unsupported content type {media_type!r}",
        )
    if not data:
        raise DocumentRejected("上传的文件为空", detail_en="empty upload")
    return data


@router.post(
    "/verify",
    summary="验证 OFD 签章（公开）",
    openapi_extra=body_limit(MAX_UPLOAD_BYTES + 64 * KiB, requestBody=_OFD_BODY),
    responses=errors(415, 422),
    dependencies=[Depends(per_address("seals.verify", lambda s: s.security.public_rate_per_minute))],
)
async def verify_document(request: Request, db: DbSession) -> JSONResponse:
    """Verify every signature of an uploaded OFD; answers the report (verdict VALID/INVALID/INDETERMINATE/ERROR)."""
    data = await read_document(request)
    report = await run_in_threadpool(
        service.verify_document, db, _settings(request), data, limits=UPLOAD_LIMITS
    )
    return JSONResponse(report.as_json())


@router.post(
    "/{es_id}/sign",
    summary="OFD 签章",
    response_class=Response,
    openapi_extra=body_limit(MAX_UPLOAD_BYTES + 64 * KiB, requestBody=_OFD_BODY),
    responses={200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "签章后的 OFD"}, **errors(409, 415)},
)
async def sign_document(
    es_id: str,
    request: Request,
    db: DbSession,
    staff: Staff,
    page: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    x: Annotated[float, Query(ge=0, le=10_000)] = 0.0,
    y: Annotated[float, Query(ge=0, le=10_000)] = 0.0,
    keyword: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Response:
    """Seal an uploaded OFD at page/x/y (mm) or centred on a keyword; answers the signed OFD."""
    seal = await run_in_threadpool(service.get_seal, db, es_id)
    await run_in_threadpool(staff.ensure, rights.USE, seal.department_id)
    data = await read_document(request)
    placement = service.Placement(page=page, x=x, y=y, keyword=keyword)
    signed = await run_in_threadpool(
        lambda: service.sign_document(
            db, _settings(request), es_id, data, placement=placement, actor=_actor(staff)
        )
    )
    return Response(
        signed,
        media_type=OFD_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{es_id}-signed.ofd"'},
    )
