"""Typed domain errors and the one error envelope every response that is an error uses.

Envelope (RFC 9457 fields welcome): ``{"error": "<MachineName>", "code": "<stable.code>",
"detail": "<中文说明>", "detail_en": "...", "status": 404, "trace_id": "...", "errors": [...]}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a capability raises on purpose; carries its HTTP status and a Chinese message."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "请求无效"

    def __init__(
        self,
        detail: str | None = None,
        *,
        detail_en: str | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.detail_en = detail_en
        self.instance_code = code or self.code
        self.extra = extra or {}
        super().__init__(self.detail_en or self.detail)

    @property
    def name(self) -> str:
        """Machine-readable error name (the class name)."""
        return type(self).__name__

    def envelope(self, trace_id: str | None) -> dict[str, Any]:
        """The JSON body of this error."""
        return error_envelope(
            self.name,
            self.instance_code,
            self.detail,
            self.status_code,
            trace_id,
            detail_en=self.detail_en,
            **self.extra,
        )


class BadRequest(DomainError):
    """The request is well-formed but breaks a rule."""


class ValidationFailed(DomainError):
    """A field-level validation failure found by a service (not by the schema)."""

    status_code = 422
    code = "validation_failed"
    default_detail = "数据校验未通过"


class Unauthorized(DomainError):
    """No or invalid credentials."""

    status_code = 401
    code = "unauthorized"
    default_detail = "请先登录"


class Forbidden(DomainError):
    """Authenticated but not allowed."""

    status_code = 403
    code = "forbidden"
    default_detail = "无权执行此操作"


class NotFound(DomainError):
    """The resource does not exist (or is not visible to the caller)."""

    status_code = 404
    code = "not_found"
    default_detail = "资源不存在"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "conflict"
    default_detail = "与当前状态冲突"


class TooManyRequests(DomainError):
    """A rate limit was hit."""

    status_code = 429
    code = "rate_limited"
    default_detail = "请求过于频繁，请稍后再试"


class UpstreamUnavailable(DomainError):
    """The upper-tier node or another dependency did not answer."""

    status_code = 503
    code = "upstream_unavailable"
    default_detail = "上级平台暂时无法访问，请稍后再试"


HTTP_DEFAULTS: dict[int, tuple[str, str, str]] = {
    400: ("BadRequest", "bad_request", "请求无效"),
    401: ("Unauthorized", "unauthorized", "请先登录"),
    403: ("Forbidden", "forbidden", "无权执行此操作"),
    404: ("NotFound", "not_found", "资源不存在"),
    405: ("MethodNotAllowed", "method_not_allowed", "不支持该请求方法"),
    406: ("NotAcceptable", "not_acceptable", "无法提供所请求的格式"),
    409: ("Conflict", "conflict", "与当前状态冲突"),
    413: ("PayloadTooLarge", "payload_too_large", "请求内容过大"),
    415: ("UnsupportedMediaType", "unsupported_media_type", "不支持的内容类型"),
    422: ("ValidationFailed", "validation_failed", "请求数据格式有误"),
    429: ("TooManyRequests", "rate_limited", "请求过于频繁，请稍后再试"),
    500: ("InternalError", "internal_error", "系统内部错误，请稍后再试"),
    503: ("ServiceUnavailable", "service_unavailable", "服务暂时不可用，请稍后再试"),
}


def error_envelope(
    name: str,
    code: str,
    detail: str,
    status: int,
    trace_id: str | None,
    *,
    detail_en: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build the one error envelope."""
    body: dict[str, Any] = {
        "error": name,
        "code": code,
        "detail": detail,
        "status": status,
        "trace_id": trace_id,
    }
    if detail_en:
        body["detail_en"] = detail_en
    body.update(extra)
    return body


def http_default(status: int) -> tuple[str, str, str]:
    """Name, code and Chinese message for a bare HTTP status."""
    if status in HTTP_DEFAULTS:
        return HTTP_DEFAULTS[status]
    return ("HttpError", f"http_{status}", "请求失败") if status < 500 else HTTP_DEFAULTS[500]
