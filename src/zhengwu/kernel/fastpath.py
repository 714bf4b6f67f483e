"""Hot routes answered before the route table: a handler may answer the clean, common request itself
and hands everything else to the ordinary stack, which answers exactly as without it (ADR 17).

Measured on the node (wrk, 16 connections, SQLite): an async endpoint that does nothing costs about
0.48 ms of CPU per request between uvicorn and the endpoint — route matching over some forty routers,
FastAPI's request and response handling and a dozen middleware layers. A public route asked for
thousands of times a second (license verification by identifier) cannot meet its target behind that.

The layer sits inside the request metrics and trace id (``CorrelationMiddleware``) and the security
headers (``SecurityHeadersMiddleware``), so a fast answer gets both, and outside everything else. A
handler registered for ``(method, path)`` is called with the rest of the stack as ``fallback``; it
either sends a complete answer or calls ``fallback`` with a ``receive`` that gives back what it has
read (``replay``). It must answer only what the ordinary route would answer the same way: errors,
refusals and unusual input go to ``fallback``, so there is still one error envelope and one place for
each rule. Nothing else changes for routes without a handler (one dictionary lookup per request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhengwu.kernel.node import Node, ServiceKey

#: A handler: (scope, receive, send, fallback) — answer, or await ``fallback(scope, receive', send)``.
Handler = Callable[[Scope, Receive, Send, ASGIApp], Awaitable[None]]

#: Fast answers carry small JSON bodies only: a larger or chunked body goes the ordinary way.
MAX_FAST_BODY: Final = 4096


class FastRoutes:
    """The node's registry of fast handlers, by (method, path)."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], tuple[Handler, _RouteRef]] = {}

    def register(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` (an exact path, no parameters) through ``handler`` first."""
        key = (method.upper(), path)
        if key in self.handlers:
            raise ValueError(f"a fast handler for {method} {path} is already registered")
        self.handlers[key] = (handler, _RouteRef(path))


FAST_ROUTES: ServiceKey[FastRoutes] = ServiceKey("kernel.fast_routes")


def routes_of(node: Node) -> FastRoutes:
    """The node's fast-route registry (made on first use)."""
    found = node.services.get(FAST_ROUTES)
    return found if found is not None else node.services.put(FAST_ROUTES, FastRoutes())


class _RouteRef:
    """Stands for the route in ``scope["route"]``: the request metrics label answers by its path."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class FastRouteMiddleware:
    """ASGI layer: requests with a registered handler go to it, everything else straight on."""

    def __init__(self, app: ASGIApp, *, node: Node) -> None:
        self.app = app
        self.handlers = routes_of(node).handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.handlers:
            found = self.handlers.get((scope["method"], scope["path"]))
            if found is not None:
                handler, route = found
                scope["route"] = route
                await handler(scope, receive, send, self.app)
                return
        await self.app(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` when it is a plain decimal number and no transfer coding is sent."""
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            return None
    return length


def has_json_body(scope: Scope) -> bool:
    """The request says its body is ``application/json`` (parameters allowed, as the route accepts)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json"
    return False


async def read_small_body(receive: Receive, length: int) -> tuple[bytes | None, list[Message]]:
    """Read a body declared as ``length`` bytes: (the body, or None when the client disconnected or sent
    other than it declared; every message read, for :func:`replay`)."""
    chunks: list[bytes] = []
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > length:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if size != length:
        return None, messages
    return b"".join(chunks), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives ``messages`` again, then the request's own ``receive`` (disconnects)."""
    pending = list(messages)

    async def receive_again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return receive_again


async def send_json(send: Send, status: int, body: bytes) -> None:
    """A complete JSON answer (the headers the ordinary route would send for it)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
