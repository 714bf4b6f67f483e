"""HTTP edge shared by every capability: correlation ids, the one error envelope, pagination."""

from __future__ import annotations

import random
import re
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhengwu.kernel.errors import DomainError, error_envelope, http_default
from zhengwu.kernel.logging import current_trace_id, error_origin, get_logger, reset_trace_id, set_trace_id

log = get_logger("zhengwu.http")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_TRACEPARENT_RE = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACE_HEADERS = (b"traceparent", b"x-request-id")
_CREDENTIALS = (b"cookie", b"authorization")
_SERIES_KEPT = 4096  # (method, route, status) series whose metric children are kept at hand
# The version (4) and variant (10) bits of a UUID, where ``uuid.uuid4().hex`` puts them.
_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


def new_trace_id() -> str:
    """A fresh trace id: 32 hex digits laid out as a random (version 4) UUID.

    It only correlates log lines and answers; nothing relies on it being unguessable (any caller
    chooses its own with ``X-Request-ID``). So it comes from the process's pseudo-random generator
    (reseeded in every forked worker) rather than the operating system's: ``uuid.uuid4()`` cost a
    system call and a UUID object per request, 9 µs on this machine.
    """
    return ((random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET).to_bytes(16, "big").hex()


def trace_id_from_headers(headers: dict[str, str]) -> str:
    """Accept ``traceparent`` or ``X-Request-ID`` from the caller, else start a new trace."""
    tp = headers.get("traceparent", "")
    m = _TRACEPARENT_RE.match(tp.strip())
    if m and m.group(1) != "0" * 32:
        return m.group(1)
    rid = headers.get("x-request-id", "").strip()
    if _REQUEST_ID_RE.match(rid):
        return rid
    return new_trace_id()


class SecurityHeadersMiddleware:
    """Headers against sniffing, framing and injected scripts, on every response of the node.

    Every response: ``X-Content-Type-Options: nosniff`` (and HSTS when the node is served over https).
    HTML pages also get ``X-Frame-Options: DENY`` and a Content-Security-Policy: scripts only from the
    node itself, no framing (the login and consent pages must not be clickjacked), no plugins, no
    ``<base>`` rewriting. Inline ``<style>`` blocks stay allowed (the pages carry their CSS inline);
    inline scripts do not. ``connect_src`` adds origins the pages' scripts may call (the UKey agent).
    The API documentation (``/api/docs``, ``kernel.openapi``) lives under the same policy.

    ``Referrer-Policy``: identity and OIDC pages send no referrer at all (their URLs carry authorization
    requests); everything else only its origin across sites. JSON and HTML answered to a request that
    carried credentials (a cookie or an ``Authorization`` header) get ``Cache-Control: no-store`` unless
    the route chose otherwise: personal data must not stay in shared or browser caches.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        connect_src: tuple[str, ...] = (),
        hsts: bool = False,
        no_referrer: tuple[str, ...] = ("/identity", "/oidc", "/.well-known"),
    ) -> None:
        self.app = app
        connect = " ".join(("'self'", *connect_src))
        self._csp = (
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
        ).encode("latin-1")
        self._always: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]
        if hsts:
            self._always.append((b"strict-transport-security", b"max-age=31536000"))
        self._no_referrer = no_referrer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        identity = scope["path"].startswith(self._no_referrer)
        credentials = False
        for name, _ in scope["headers"]:
            if name in _CREDENTIALS:
                credentials = True
                break

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = set()
                content_type = None  # the first one's value
                for name, value in headers:
                    lowered = name.lower()
                    present.add(lowered)
                    if content_type is None and lowered == b"content-type":
                        content_type = value
                if content_type is None:
                    content_type = b""
                extra = list(self._always)
                extra.append(
                    (b"referrer-policy", b"no-referrer" if identity else b"strict-origin-when-cross-origin")
                )
                if credentials and content_type.startswith((b"application/json", b"text/html")):
                    extra.append((b"cache-control", b"no-store"))
                if content_type.startswith(b"text/html"):
                    extra.append((b"x-frame-options", b"DENY"))
                    extra.append((b"content-security-policy", self._csp))
                message["headers"] = headers + [h for h in extra if h[0] not in present]
            await send(message)

        await self.app(scope, receive, send_wrapper)


class CorrelationMiddleware:
    """Binds a trace id to every request, echoes it as ``X-Request-ID`` and times the request."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.requests: Counter | None = None
        self.latency: Histogram | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if registry is not None:
            self.requests = Counter(
                "zhengwu_http_requests", "HTTP requests", ["method", "route", "status"], registry=registry
            )
            self.latency = Histogram(
                "zhengwu_http_request_seconds", "HTTP request latency", ["method", "route"], registry=registry
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the two headers a trace id comes from are decoded (the last of each, as a dict keeps).
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered in _TRACE_HEADERS:
                headers[lowered.decode("latin-1")] = value.decode("latin-1")
        trace_id = trace_id_from_headers(headers)
        token = set_trace_id(trace_id)
        scope.setdefault("state", {})["trace_id"] = trace_id
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            if self.requests is not None and self.latency is not None:
                counted, timed = self._series(scope["method"], route_path, status_holder[0])
                counted.inc()
                timed.observe(time.perf_counter() - started)
            reset_trace_id(token)

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        # The labelled children, found once per (method, route, status): the client library's
        # ``labels()`` checks and joins the values and takes a lock on every call.
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            assert self.requests is not None and self.latency is not None
            found = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            if len(self._children) < _SERIES_KEPT:
                self._children[key] = found
        return found


def _envelope_response(
    body: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    # Error bodies are logged at DEBUG so the log scan also covers them (conventions §2).
    log.debug("error_response", status=status, body=body)
    return JSONResponse(body, status_code=status, headers=headers)


def _json_refused(request: Request) -> bool:
    """A JSON-body route was sent a body of another type (FastAPI then reports it as a bad value)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    if isinstance(route.body_field.field_info, Form):
        return False
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media_type:
        return request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    return not (media_type == "application/json" or media_type.endswith("+json"))


def install_error_handlers(app: FastAPI) -> None:
    """Render every error — ours and the framework's — as the one envelope."""

    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        headers: dict[str, str] | None = getattr(exc, "headers", None)  # e.g. Retry-After
        return _envelope_response(exc.envelope(current_trace_id()), exc.status_code, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name, code, message = http_default(exc.status_code)
        message = getattr(exc, "detail_zh", None) or message
        detail_en = exc.detail if isinstance(exc.detail, str) else None
        body = error_envelope(name, code, message, exc.status_code, current_trace_id(), detail_en=detail_en)
        return _envelope_response(body, exc.status_code, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _json_refused(request):
            name, code, _ = http_default(415)
            body = error_envelope(
                name, code, "请求内容类型必须为 application/json", 415, current_trace_id(),
                detail_en="Content-Type must be application/json",
            )  # fmt: skip
            return _envelope_response(body, 415)
        errors = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "type": err.get("type"),
                # The input is not echoed: it may carry personal data.
                "msg": str(err.get("msg", "")),
            }
            for err in exc.errors()
        ]
        body = error_envelope(
            "ValidationFailed",
            "validation_failed",
            "请求数据格式有误",
            422,
            current_trace_id(),
            errors=errors,
        )
        return _envelope_response(body, 422)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Runs in Starlette's outermost middleware, after CorrelationMiddleware has unbound the
        # trace id, so it is read back from the request scope.
        trace_id = getattr(request.state, "trace_id", None) or current_trace_id()
        log.error(
            "unhandled_error", error_type=type(exc).__name__, origin=error_origin(exc), trace_id=trace_id
        )
        name, code, message = http_default(500)
        headers = {"X-Request-ID": trace_id} if trace_id else None
        return _envelope_response(error_envelope(name, code, message, 500, trace_id), 500, headers)


MAX_PAGE_SIZE = 200


class PageParams(BaseModel):
    """``offset``/``limit`` pagination with a maximum page size (conventions §11)."""

    offset: int = 0
    limit: int = 50


def page_params(
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> PageParams:
    """FastAPI dependency for the pagination query parameters."""
    return PageParams(offset=offset, limit=limit)


def set_page_headers(request: Request, response: Response, *, total: int, page: PageParams) -> None:
    """Set ``X-Total-Count`` and RFC 8288 ``Link`` headers (first/prev/next/last)."""
    response.headers["X-Total-Count"] = str(total)
    base = str(request.url.remove_query_params(["offset", "limit"]))
    params = dict(request.query_params)

    def link(offset: int, rel: str) -> str:
        query = {**params, "offset": str(offset), "limit": str(page.limit)}
        sep = "&" if "?" in base else "?"
        return f'<{base}{sep}{urlencode(query)}>; rel="{rel}"'

    links = [link(0, "first")]
    if page.offset > 0:
        links.append(link(max(0, page.offset - page.limit), "prev"))
    if page.offset + page.limit < total:
        links.append(link(page.offset + page.limit, "next"))
    last = max(0, ((total - 1) // page.limit) * page.limit) if total else 0
    links.append(link(last, "last"))
    response.headers["Link"] = ", ".join(links)
