"""The OpenAPI document says what the API really answers, and ``/api/docs`` works offline under the CSP.

FastAPI documents bodies, parameters and the 2xx answer. What else a route can answer follows from its
structure, and is added here when the document is built:

* dependencies marked with :func:`security` (the session cookie, client-credentials tokens) give the
  operation its security requirement and their statuses (401; 403 for guards layered on a marked
  one, such as staff rights built on the session); signed exchange routes declare theirs in
  ``openapi_extra`` (:data:`SIGNED_ENVELOPE`);
* a request body gives 413 (``kernel.limits``), a JSON body also 415, parameters or a body 422;
* path parameters give 404, the database session 503 (busy), a marked rate limit 429;
* anything else a route raises on purpose it declares with ``responses=errors(409, ...)``.

Every one of these answers is the one error envelope (``ErrorEnvelope``), which replaces FastAPI's own
validation-error schema. The documentation page loads Swagger UI from the ``fastapi-offline`` package
and its start-up script from the node, so it needs no CDN and no inline script.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, TypeVar

from fastapi import FastAPI, params
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field

from zhengwu.kernel.limits import LIMIT_KEY, SETTING_KEY
from zhengwu.kernel.session import DbSession

F = TypeVar("F", bound=Callable[..., Any])

ENVELOPE: Final = "ErrorEnvelope"
SESSION_COOKIE: Final = "sessionCookie"
CLIENT_CREDENTIALS: Final = "clientCredentials"
SIGNED: Final = "signedEnvelope"
_GUARD_ATTR: Final = "__zhengwu_openapi_guard__"
_STATUS_ATTR: Final = "__zhengwu_openapi_statuses__"

#: Client-credentials tokens (RFC 9068 JWTs from ``/oidc/token``); scopes are collected from the routes.
CLIENT_CREDENTIALS_SCHEME: Final[Mapping[str, Any]] = {
    "type": "oauth2",
    "description": "接入系统以客户端凭证获取的访问令牌 / client-credentials access token (Bearer)",
    "flows": {"clientCredentials": {"tokenUrl": "/oidc/token", "scopes": {}}},
}
#: ``openapi_extra`` of the node-to-node routes whose body is an SM2-signed envelope.
SIGNED_ENVELOPE: Final[dict[str, Any]] = {"security": [{SIGNED: []}]}

DESCRIPTIONS: Final[dict[int, str]] = {
    400: "请求无效 / bad request",
    401: "未登录、会话已过期或凭证无效 / not authenticated",
    403: "无权执行此操作 / not allowed",
    404: "资源不存在 / not found",
    409: "与当前状态冲突 / conflicts with the current state",
    413: "请求内容超过该接口的上限 / body too large (x-body-limit)",
    415: "请求内容类型不受支持 / unsupported media type",
    422: "请求数据格式有误（不回显输入）/ malformed input (never echoed)",
    423: "账号已临时锁定 / account temporarily locked",
    429: "请求过于频繁（Retry-After）/ rate limited",
    503: "服务暂时不可用，请稍后重试（Retry-After）/ temporarily unavailable",
}
_RETRY_AFTER: Final = {"Retry-After": {"description": "秒 / seconds", "schema": {"type": "integer"}}}


class FieldError(BaseModel):
    """One field that failed validation: where and why, never the value."""

    loc: list[str]
    type: str | None = None
    msg: str


class ErrorEnvelope(BaseModel):
    """The one error body of the node (ADR 0003); errors may add fields of their own."""

    model_config = ConfigDict(extra="allow", title=ENVELOPE)

    error: str = Field(description="machine name, e.g. NotFound")
    code: str = Field(description="stable code, e.g. catalog.item_not_found")
    detail: str = Field(description="中文说明")
    detail_en: str | None = None
    status: int
    trace_id: str | None = Field(description="X-Request-ID of the request")
    errors: list[FieldError] | None = None


@dataclass(frozen=True, slots=True)
class Guard:
    """What a marked dependency demands: a security scheme (with scopes) and the statuses it answers."""

    scheme: str
    # A callable is asked with the application (a scheme may depend on the node's settings).
    definition: Mapping[str, Any] | Callable[[FastAPI], Mapping[str, Any]]
    scopes: tuple[str, ...] = ()
    statuses: tuple[int, ...] = (401,)


def security(
    scheme: str,
    definition: Mapping[str, Any] | Callable[[FastAPI], Mapping[str, Any]],
    *,
    scopes: tuple[str, ...] = (),
    statuses: tuple[int, ...] = (401,),
) -> Callable[[F], F]:
    """Mark a dependency as demanding ``scheme``: routes depending on it (at any depth) declare it."""

    def mark(dependency: F) -> F:
        setattr(dependency, _GUARD_ATTR, Guard(scheme, definition, scopes, statuses))
        return dependency

    return mark


def answers(*statuses: int) -> Callable[[F], F]:
    """Mark a dependency that can answer ``statuses`` itself (a rate limit: 429; a media type: 415)."""

    def mark(dependency: F) -> F:
        setattr(dependency, _STATUS_ATTR, tuple(statuses))
        return dependency

    return mark


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route for errors it raises on purpose, each the envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": DESCRIPTIONS.get(status, "")} for status in statuses
    }


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _walk(sub)


_DB_DEPENDENCY: Final = typing.get_args(DbSession)[1].dependency


@dataclass
class _Findings:
    statuses: set[int]
    requirements: list[dict[str, list[str]]]
    schemes: dict[str, Guard]


def _inspect(route: Any) -> _Findings:
    """Statuses and security a route can answer with, read from its dependency tree and its parameters."""
    found = _Findings(set(), [], {})
    dependant: Dependant = route.dependant
    for sub in _walk(dependant):
        guard: Guard | None = getattr(sub.call, _GUARD_ATTR, None)
        if guard is not None:
            found.statuses.update(guard.statuses)
            found.schemes[guard.scheme] = guard
            requirement = {guard.scheme: list(guard.scopes)}
            if requirement not in found.requirements:
                found.requirements.append(requirement)
        # A guard layered on a marked one (staff rights on the session, a real-name level) can refuse.
        if guard is None and any(getattr(d.call, _GUARD_ATTR, None) for d in sub.dependencies):
            found.statuses.add(403)
        found.statuses.update(getattr(sub.call, _STATUS_ATTR, ()))
        if sub.call is _DB_DEPENDENCY:
            found.statuses.add(503)
    flat = [*_walk(dependant), dependant]
    if any(d.path_params for d in flat):
        found.statuses.update((404, 422))
    if any(d.query_params or d.header_params or d.cookie_params for d in flat):
        found.statuses.add(422)
    extra = route.openapi_extra or {}
    if route.body_field is not None or LIMIT_KEY in extra or SETTING_KEY in extra:
        found.statuses.add(413)
    if route.body_field is not None:
        found.statuses.add(422)
        if not isinstance(route.body_field.field_info, params.Form):
            found.statuses.add(415)  # kernel.http answers it for JSON bodies sent as something else
    if extra.get("security"):
        found.statuses.add(401)
    return found


def _envelope_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "错误 / error"),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ENVELOPE}"}}},
    }
    if status in (429, 503):
        response["headers"] = dict(_RETRY_AFTER)
    return response


def _is_envelope(response: Mapping[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith(f"/{ENVELOPE}"))


def build_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, completed with every error answer, the envelope and the security schemes."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas[ENVELOPE] = envelope
    for framework_schema in ("HTTPValidationError", "ValidationError"):
        schemas.pop(framework_schema, None)
    schemes: dict[str, Guard] = {}
    scopes: dict[str, set[str]] = {}
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        found = _inspect(context)
        schemes.update(found.schemes)
        for requirement in found.requirements:
            for name, wanted in requirement.items():
                scopes.setdefault(name, set()).update(wanted)
        for method in sorted(context.methods or ()):
            operation = document["paths"].get(context.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(found.statuses):
                key = str(status)
                if key not in responses or not _is_envelope(responses[key]):
                    responses[key] = {**responses.get(key, {}), **_envelope_response(status)}
            if found.requirements and "security" not in operation:
                operation["security"] = found.requirements
    security_schemes = components.setdefault("securitySchemes", {})
    for name, guard in schemes.items():
        definition = dict(guard.definition(app) if callable(guard.definition) else guard.definition)
        if definition.get("type") == "oauth2":
            for flow in definition.get("flows", {}).values():
                flow["scopes"] = {scope: scope for scope in sorted(scopes.get(name, ()))}
        security_schemes[name] = definition
    security_schemes[SIGNED] = {
        "type": "http",
        "scheme": "zhengwu-sm2-envelope",
        "description": (
            "节点间报文：请求体为 SM2/SM3 签名信封，签名证书由上级节点的交换 CA 签发（exchange join）。"
            " The body is an SM2-signed envelope; the signing certificate was issued by this node's "
            "exchange CA when the lower node joined."
        ),
    }
    return document


# --- the documentation page -------------------------------------------------------------------------

DOCS: Final = "/api/docs"
_ASSETS: Final = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
_INIT_JS: Final = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def _asset(name: str) -> bytes:
    return resources.files("fastapi_offline").joinpath("static", name).read_bytes()


def install(app: FastAPI) -> None:
    """Serve the completed document at ``app.openapi_url`` and Swagger UI at ``/api/docs``, no CDN.

    The app is created with ``docs_url=None``: FastAPI's own page loads its assets from a CDN and
    starts Swagger UI with an inline script, which the node's Content-Security-Policy forbids.
    """
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if "document" not in cached:
            cached["document"] = build_document(app)
        document: dict[str, Any] = cached["document"]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    title = app.title
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title} — API</title>"
        f'<link rel="stylesheet" href="{DOCS}/swagger-ui.css"></head>'
        '<body><div id="swagger-ui"></div>'
        f'<script src="{DOCS}/swagger-ui-bundle.js"></script>'
        f'<script src="{DOCS}/init.js"></script></body></html>'
    ).encode()
    init = (_INIT_JS % json.dumps(app.openapi_url)).encode()

    @app.get(DOCS, include_in_schema=False, response_class=HTMLResponse)
    def docs_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{DOCS}/init.js", include_in_schema=False)
    def docs_init() -> Response:
        return Response(init, media_type="application/javascript; charset=utf-8")

    for name, media_type in _ASSETS.items():
        app.add_api_route(
            f"{DOCS}/{name}", _asset_route(name, media_type), methods=["GET"], include_in_schema=False
        )


def _asset_route(name: str, media_type: str) -> Callable[[], Response]:
    body = _asset(name)

    def serve() -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    serve.__name__ = f"docs_{name.replace('-', '_').replace('.', '_')}"
    return serve
