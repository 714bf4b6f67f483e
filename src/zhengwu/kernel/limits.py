"""Request size limits at the edge: a default for JSON and forms, larger limits declared by upload routes.

A request body is counted while it streams in, before any of it is buffered: a declared
``Content-Length`` above the route's limit is refused before the first byte is read, and a chunked
body is refused as soon as the bytes received pass the limit. The limit is looked up when the route
first reads its body (routing has happened by then), so an upload route may declare more than the
default (``body_limit``) and every other route gets the default. The refusal is the one error
envelope with status 413; nothing is read beyond the limit.

Routes that stream a body against a node setting of their own (the exchange's signed batches,
``ZHENGWU_EXCHANGE__MAX_BATCH_BYTES``) name the setting (``body_limit(setting=...)``) and count
themselves, the same way.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Final

from pydantic import AfterValidator
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KiB: Final = 1024
MiB: Final = 1024 * KiB

#: JSON bodies and HTML forms: the largest legitimate one (a whole service guide) is far below this.
DEFAULT_BODY_LIMIT: Final = 1 * MiB
#: Where a route declares its limit (OpenAPI extensions, so the document states it too).
LIMIT_KEY: Final = "x-body-limit"
SETTING_KEY: Final = "x-body-limit-setting"
#: Largest integer a path or query parameter may carry: PostgreSQL ``integer`` (versions, sequence
#: numbers); larger values would overflow the driver and must be refused as malformed input.
MAX_DB_INT: Final = 2_147_483_647
#: The same for ``bigint`` columns (audit and log sequence numbers).
MAX_DB_BIGINT: Final = 2**63 - 1


class BodyTooLarge(HTTPException):
    """413: the body passed the route's limit (an HTTPException so body parsing re-raises it unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"request body exceeds {limit} bytes")
        self.limit = limit
        self.detail_zh = f"请求内容超过 {_human(limit)} 上限"


def _human(size: int) -> str:
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MB"
    if size >= KiB and size % KiB == 0:
        return f"{size // KiB} KB"
    return f"{size} 字节"


def body_limit(
    limit: int | None = None, *, setting: str | None = None, **openapi_extra: Any
) -> dict[str, Any]:
    """``openapi_extra`` of a route accepting bodies up to ``limit`` bytes, or up to a node ``setting``
    that the route itself counts against while streaming."""
    if (limit is None) == (setting is None):
        raise ValueError("declare a limit in bytes or the setting the route enforces, not both")
    return {**openapi_extra, **({LIMIT_KEY: limit} if setting is None else {SETTING_KEY: setting})}


def route_limit(scope: Scope, default: int) -> int | None:
    """The body limit of the route this request was routed to: its own, the default, or None when the
    route counts against a setting itself."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    if SETTING_KEY in extra:
        return None
    declared: int = extra.get(LIMIT_KEY, default)
    return declared


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see the request
    return None


class BodyLimitMiddleware:
    """Counts request bodies against the route's limit while they stream in (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, default: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"limit": 0, "seen": 0, "resolved": False}

        async def counted_receive() -> Message:
            if not state["resolved"]:
                state["resolved"] = True
                state["limit"] = route_limit(scope, self.default)
                declared = _declared_length(scope)
                if state["limit"] is not None and declared is not None and declared > state["limit"]:
                    raise BodyTooLarge(state["limit"])
            message = await receive()
            if state["limit"] is not None and message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > state["limit"]:
                    raise BodyTooLarge(state["limit"])
            return message

        await self.app(scope, counted_receive, send)


def _search_text(value: str) -> str:
    # Undecodable percent-escapes arrive as U+FFFD; control and unassigned characters are never part
    # of a name. Refusing them says so, where dropping them would silently search for something else.
    for ch in value:
        if ch == "\ufffd" or (unicodedata.category(ch)[0] == "C" and ch not in "\t"):
            raise ValueError("检索词含有无法识别的字符，请检查输入")
    return value


#: Free text typed into a search box (``q=``): refused with 422 when it carries undecodable bytes.
SearchText = Annotated[str, AfterValidator(_search_text)]
