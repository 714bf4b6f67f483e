"""Public PKI endpoints: the node CAs' CRLs and certificates, the RFC 3161 TSA.

All three are public on purpose: relying parties (other nodes, document verifiers, OpenSSL) fetch CRLs and CA
certificates without an account, and the TSA answers anyone's query (the token only attests a time).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.node import node_of
from zhengwu.kernel.pki import build_timestamp_response
from zhengwu.kernel.session import DbSession
from zhengwu.pki import authority, tsa
from zhengwu.pki.errors import PkiNotInitialized, TimestampQueryRejected, TimestampQueryTooLarge

router = APIRouter(tags=["pki 证书与时间戳服务"])


def _settings(request: Request) -> Settings:
    settings: Settings = node_of(request).settings
    return settings


@router.get(
    "/pki/crl/{ca}.crl",
    summary="证书撤销列表（DER）",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
def get_crl(ca: str, request: Request, db: DbSession) -> Response:
    """The current CRL of one of the node's CAs (re-issued when due)."""
    crl = authority.current_crl(db, _settings(request), ca)
    max_age = max(0, int((crl.next_update - utcnow()).total_seconds()) // 4)
    return Response(
        crl.der,
        media_type="application/pkix-crl",
        headers={
            "Cache-Control": f"public, max-age={min(max_age, 3600)}",
            "Last-Modified": _http_date(crl.this_update),
        },
    )


@router.get(
    "/pki/ca/{ca}.crt",
    summary="CA 证书（DER）",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
def get_ca_certificate(ca: str, db: DbSession) -> Response:
    """The certificate of one of the node's CAs, for other nodes' trust stores."""
    row = authority.ca_certificate(db, ca)
    return Response(row.der, media_type="application/pkix-cert")


async def _read_query(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > tsa.MAX_QUERY_BYTES:
        raise TimestampQueryTooLarge(detail_en=f"query over {tsa.MAX_QUERY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > tsa.MAX_QUERY_BYTES:
            raise TimestampQueryTooLarge(detail_en=f"query over {tsa.MAX_QUERY_BYTES} bytes")
    return bytes(body)


@router.post(
    "/tsa",
    summary="时间戳服务（RFC 3161）",
    response_class=Response,
    responses={200: {"content": {tsa.CONTENT_TYPE_REPLY: {}}}},
)
async def timestamp(request: Request, db: DbSession) -> Response:
    """RFC 3161 over HTTP: a DER TimeStampReq in, a DER TimeStampResp (SM2-signed token) out."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != tsa.CONTENT_TYPE_QUERY:
        raise TimestampQueryRejected(
            "请以 application/timestamp-query 提交时间戳请求",
            detail_en=f"unsupported content type {media_type!r}",
        )
    query = await _read_query(request)
    try:
        status, body = await run_in_threadpool(tsa.respond, db, _settings(request), query)
    except PkiNotInitialized:
        status = 503
        body = build_timestamp_response(
            None, status="rejection", fail_info="system_failure", text="TSA not initialised"
        )
    return Response(body, status_code=status, media_type=tsa.CONTENT_TYPE_REPLY)


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
