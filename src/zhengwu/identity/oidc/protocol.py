"""Protocol responses: RFC 6749 error objects (JSON), Chinese error pages, and the error texts.

RFC 6749 ``error_description`` must be ASCII, so the Chinese message travels in ``detail`` (JSON) and on
the error page; the machine code is always the one the RFCs define.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

from zhengwu.kernel.logging import current_trace_id

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)

ERROR_ZH = {
    "invalid_request": "请求参数不完整或有误",
    "invalid_client": (
        "接入应用身份校验失败：应用不存在或已停用、密钥错误，或未使用该应用登记的认证方式"
        "（client_secret_basic、client_secret_post 或 none）"
    ),
    "invalid_grant": "授权码或刷新令牌无效、已过期或已被使用",
    "unauthorized_client": "该应用无权使用此授权方式",
    "unsupported_grant_type": "不支持的授权方式",
    "unsupported_response_type": "不支持的响应类型",
    "unsupported_token_type": "不支持的令牌类型",
    "invalid_scope": "申请的权限范围无效或超出该应用的许可",
    "access_denied": "您拒绝了授权，或不满足该应用的访问要求",
    "login_required": "需要先登录",
    "interaction_required": "需要您在页面上完成操作",
    "consent_required": "需要您的授权同意",
    "unmet_authentication_requirements": "您的实名等级不满足该事项的办理要求",
    "account_selection_required": "需要选择账号",
    "invalid_token": "访问令牌无效、已过期或已被撤销",
    "insufficient_scope": "访问令牌的权限范围不足",
    "invalid_redirect_uri": "回调地址未在该应用登记，出于安全考虑不予跳转",
    "server_error": "系统内部错误，请稍后再试",
    "temporarily_unavailable": "服务暂时不可用，请稍后再试",
}

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A JSON response that caches nowhere (tokens and errors alike)."""
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        payload, status_code=status, media_type="application/json", headers={**NO_STORE, **(headers or {})}
    )


def oauth_error_body(error: str, description: str | None = None) -> dict[str, Any]:
    """An RFC 6749 §5.2 error object with the Chinese ``detail`` and the ``trace_id``."""
    body: dict[str, Any] = {"error": error}
    if description:
        body["error_description"] = description
    body["detail"] = ERROR_ZH.get(error, "请求失败")
    body["trace_id"] = current_trace_id()
    return body


def oauth_error(
    status: int, error: str, description: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """JSON error of a protocol endpoint."""
    return json_response(status, oauth_error_body(error, description), headers)


def authlib_error(
    status: int, body: Any, headers: list[tuple[str, str]]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Normalise the triple Authlib returns: the RFC fields plus ``detail`` and ``trace_id``."""
    header_map = {k: v for k, v in headers if k.lower() not in ("content-type", "cache-control", "pragma")}
    if isinstance(body, dict) and "error" in body:
        body = {**body, **{k: v for k, v in oauth_error_body(body["error"]).items() if k not in body}}
    return status, body if isinstance(body, dict) else {}, header_map


def from_authlib(status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
    """Render the triple Authlib returns as a JSON response."""
    return json_response(*authlib_error(status, body, headers))


def error_page(
    error: str, *, status: int = 400, message: str | None = None, node_name: str = ""
) -> HTMLResponse:
    """A Chinese error page for the browser (never a redirect to an unverified address)."""
    html = TEMPLATES.get_template("oidc_error.html").render(
        title="登录请求无法处理",
        message=message or ERROR_ZH.get(error, "请求无效"),
        error=error,
        trace_id=current_trace_id(),
        node_name=node_name,
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def render(template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render one of this package's pages."""
    return HTMLResponse(
        TEMPLATES.get_template(template).render(**context), status_code=status, headers=NO_STORE
    )
