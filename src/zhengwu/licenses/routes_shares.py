"""HTTP API of what holders and department systems do with licenses beyond reading them.

* Holder (the person's own session; an agent for the enterprises they act for): shares with consent
  (``/{license_id}/shares``, revoked with ``DELETE``), annotated copies (``/{license_id}/copies``) and the
  PNG preview (``/{license_id}/preview``).
* Verifier: ``POST /shares/redeem`` with the share token in the body — public and rate-limited; a share
  for a named department or client also needs that client's bearer token.
* Department systems (client credentials, ``licenses.use`` plus one scope per license type):
  ``/services/query``, ``/services/query-by-qr``, ``/services/query-by-holder``, ``/services/verify``, ``/services/download-url``,
  ``/services/copies``; the one-time address ``GET /downloads/{ticket}`` is its own credential.

Every use lands in the usage log the holder reads at ``GET /api/v1/licenses/usage``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from zhengwu.identity.deps import RequiredSession
from zhengwu.kernel.node import CurrentNode, node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.ratelimit import client_address, per_address
from zhengwu.kernel.session import DbSession
from zhengwu.licenses import copies, machine, preview, service, services, shares
from zhengwu.licenses.machine import ServiceClient
from zhengwu.licenses.routes import license_read
from zhengwu.licenses.schemas import LicenseRead, VerifyAnswer
from zhengwu.licenses.sharing_models import LicenseShare
from zhengwu.licenses.sharing_schemas import (
    CopyRequest,
    NewShareRead,
    ServiceCopy,
    ServiceHolderQuery,
    ServiceLicenses,
    ServiceQrQuery,
    ServiceQuery,
    ServiceUse,
    ServiceVerify,
    ShareAnswer,
    ShareCreate,
    ShareRead,
    ShareRedeem,
    ShareRevoke,
    TicketRead,
)
from zhengwu.seals.routes import OFD_MEDIA_TYPE

router = APIRouter(prefix="/api/v1/licenses", tags=["licenses 电子证照"])

Client = Annotated[ServiceClient, Depends(machine.SERVICE_GUARD)]
_REDEEM_LIMIT = Depends(per_address("licenses.redeem", lambda s: s.security.public_rate_per_minute))
_OFD: dict[int | str, dict[str, Any]] = {200: {"content": {OFD_MEDIA_TYPE: {}}, "description": "签章的 OFD"}}


def share_read(share: LicenseShare) -> dict[str, Any]:
    """A share as its holder reads it (the token is never kept)."""
    state = shares.status_of(share)
    return {
        "id": share.id,
        "license_id": share.license_id,
        "audience_kind": share.audience_kind,
        "audience_name": share.audience_name,
        "purpose": share.purpose,
        "grants": list(share.grants),
        "version": share.version,
        "status": state,
        "status_label": shares.STATUS_LABELS[state],
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "revoked_at": share.revoked_at,
        "uses": share.uses,
    }


def _ofd(data: bytes, filename: str) -> Response:
    return Response(
        data, media_type=OFD_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# --- verifier ----------------------------------------------------------------------------------------


@router.post(
    "/shares/redeem",
    response_model=ShareAnswer,
    summary="使用共享（核验方出示共享令牌）",
    responses=errors(401, 403, 404, 410),
    dependencies=[_REDEEM_LIMIT],
)
def redeem_share(data: ShareRedeem, request: Request, db: DbSession) -> dict[str, Any]:
    """What the holder's consent lets this verifier see; a named verifier also sends its bearer token."""
    verifier = machine.authenticate(request, db, scope=None) if request.headers.get("authorization") else None
    return shares.redeem(db, node_of(request).settings, data.token, verifier=verifier, purpose=data.purpose,
                         client_ip=client_address(request))  # fmt: skip


# --- department systems ------------------------------------------------------------------------------


def _use(data: ServiceUse) -> services.Use:
    return services.Use(data.purpose, data.item_code, data.case_number)


@router.post("/services/query", response_model=LicenseRead, summary="部门查询证照（按标识）",
             responses=errors(404))  # fmt: skip
def service_query(data: ServiceQuery, request: Request, db: DbSession, client: Client) -> LicenseRead:
    """QueryCertInfo: the license with its face, for a client holding the type's scope."""
    lic = services.query(db, client, data.identifier, _use(data), client_ip=client_address(request))
    return license_read(db, lic)


@router.post("/services/query-by-qr", response_model=LicenseRead, summary="部门查询证照（按二维码）",
             responses=errors(404, 422))  # fmt: skip
def service_query_qr(
    data: ServiceQrQuery, request: Request, db: DbSession, node: CurrentNode, client: Client
) -> LicenseRead:
    """QueryCertInfoByQrCode: the license the scanned 2-D code names, for a client granted ``query``."""
    lic = services.query_by_qr(
        db, node.settings, client, data.qr, _use(data), client_ip=client_address(request)
    )
    return license_read(db, lic)


@router.post("/services/query-by-holder", response_model=ServiceLicenses, summary="部门查询证照（按持证主体）",
             responses=errors(404, 422))  # fmt: skip
def service_query_holder(
    data: ServiceHolderQuery, request: Request, db: DbSession, client: Client
) -> ServiceLicenses:
    """QueryCertInfoByHolderCode: a holder's licenses of one type."""
    found = services.query_by_holder(db, client, holder_code=data.holder_code, type_code=data.type_code,
                                     holder_code_type=data.holder_code_type, use=_use(data),
                                     client_ip=client_address(request))  # fmt: skip
    return ServiceLicenses(licenses=[license_read(db, lic) for lic in found])


@router.post("/services/verify", response_model=VerifyAnswer, summary="部门核验证照")
def service_verify(data: ServiceVerify, request: Request, db: DbSession, client: Client) -> dict[str, Any]:
    """VerifyCertInfo: identifier + holder, minimal answer."""
    answer = services.verify(db, client, data.identifier, data.holder_code, _use(data),
                             client_ip=client_address(request))  # fmt: skip
    return answer.as_json()


@router.post("/services/download-url", response_model=TicketRead, summary="获取一次性下载地址",
             responses=errors(404))  # fmt: skip
def service_download_url(data: ServiceQuery, request: Request, db: DbSession, client: Client) -> TicketRead:
    """DownLoadUrl: an address that delivers the sealed OFD once, within minutes."""
    ticket = services.download_url(db, node_of(request).settings, client, data.identifier, _use(data),
                                   client_ip=client_address(request))  # fmt: skip
    return TicketRead(url=ticket.url, expires_at=ticket.expires_at)


@router.post("/services/copies", response_model=TicketRead, status_code=201, summary="部门申请加注件",
             responses=errors(404, 409))  # fmt: skip
def service_copy(data: ServiceCopy, request: Request, db: DbSession, client: Client) -> TicketRead:
    """CertRemark: an annotated copy for the stated purpose, fetched once through the address."""
    made, ticket = services.request_copy(db, node_of(request).settings, client, data.identifier, _use(data),
                                         expires_at=data.expires_at, client_ip=client_address(request))  # fmt: skip
    return TicketRead(url=ticket.url, expires_at=ticket.expires_at, copy_id=made.row.id,
                      copy_expires_at=made.row.expires_at)  # fmt: skip


@router.get("/downloads/{ticket}", summary="一次性下载（部门系统）", response_class=Response,
            responses={**_OFD, **errors(404, 410)})  # fmt: skip
def download(ticket: str, request: Request, db: DbSession) -> Response:
    """The file of a one-time address: the first use gets it, every later one 410."""
    got = services.redeem_ticket(db, node_of(request).settings, ticket, client_ip=client_address(request))
    return _ofd(got.data, got.filename)


# --- holder (after the fixed paths above: /{license_id}/... would swallow /services/...) ------------------------------------------------------------------------------------------


@router.post(
    "/{license_id}/shares",
    response_model=NewShareRead,
    status_code=201,
    summary="共享证照（持证人授权）",
    responses=errors(404, 409),
)
def create_share(
    license_id: str, data: ShareCreate, request: Request, db: DbSession, auth: RequiredSession
) -> dict[str, Any]:
    """Share one license with a department, a client or anyone with the link; the token is shown once."""
    made = shares.create_share(
        db, node_of(request).settings, auth.account, license_id, audience_kind=data.audience_kind,
        audience=data.audience, purpose=data.purpose, expires_at=data.expires_at, grants=data.grants,
        bus=node_of(request).bus,
    )  # fmt: skip
    return {**share_read(made.share), "token": made.token, "url": made.url, "qr_png": made.qr_data_uri}


@router.get("/{license_id}/shares", response_model=list[ShareRead], summary="证照的共享记录（持证人）")
def list_shares(license_id: str, db: DbSession, auth: RequiredSession) -> list[dict[str, Any]]:
    """Every share of the license, every version, newest first."""
    return [share_read(s) for s in shares.holder_shares(db, auth.account, license_id)]


@router.delete(
    "/{license_id}/shares/{share_id}",
    response_model=ShareRead,
    summary="撤销共享（立即生效）",
    responses=errors(404),
)
def revoke_share(
    license_id: str, share_id: str, db: DbSession, node: CurrentNode, auth: RequiredSession,
    data: ShareRevoke | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Revoke a share: the next redemption is refused (410)."""
    share = shares.revoke_share(
        db, auth.account, license_id, share_id, reason=data.reason if data else None, bus=node.bus
    )
    return share_read(share)


@router.get(
    "/{license_id}/preview",
    summary="证照预览图 PNG（持证人）",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "照面预览"}, **errors(404, 503)},
)
def license_preview(license_id: str, request: Request, db: DbSession, auth: RequiredSession) -> Response:
    """The sealed face rasterised (a plain route: FastAPI runs it, rendering included, in its thread pool)."""
    lic = service.holder_license(db, auth.account, license_id)
    png = preview.preview_png(node_of(request).settings, lic)
    service.record_usage(db, service.Caller(f"holder:{auth.account.id}", "持证人预览", client_address(request)),
                         "holder_preview", "ok", lic)  # fmt: skip
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post(
    "/{license_id}/copies",
    summary="制作加注件（持证人）",
    response_class=Response,
    status_code=201,
    responses={
        201: {"content": {OFD_MEDIA_TYPE: {}}, "description": "加注并重新签章的 OFD"},
        **errors(404, 409),
    },
)
def holder_copy(
    license_id: str, data: CopyRequest, request: Request, db: DbSession, auth: RequiredSession
) -> Response:
    """An annotated copy for a purpose, until a time, sealed again by the issuer's seal."""
    lic = service.holder_license(db, auth.account, license_id)
    made = copies.make_copy(db, node_of(request).settings, lic, requested_by=f"holder:{auth.account.id}",
                            requester_name="持证人本人", purpose=data.purpose, expires_at=data.expires_at)  # fmt: skip
    service.record_usage(db, service.Caller(f"holder:{auth.account.id}", data.purpose, client_address(request)),
                         "holder_copy", "made", lic)  # fmt: skip
    answer = _ofd(made.data, f"license-copy-{made.row.id}.ofd")
    answer.status_code = 201
    answer.headers["X-Copy-Id"] = made.row.id
    return answer
