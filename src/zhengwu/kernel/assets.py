"""Static assets and page templates served by the node, checked before they are used.

Anti-tamper (issue 15): a script, stylesheet or template altered on the server would reach every
visitor, so the node refuses to serve an asset, or render a template, whose bytes differ from the
release's signed manifest. The kernel only offers the port: the security capability installs the guard
that knows the manifest (``security.tamper``). Every capability serves its assets through
``static_asset`` and builds its templates with ``guarded_templates``. Without a guard on the node (tests of
lower layers, a node whose release was never sealed) files are used as they are.

Templates are loaded by Jinja, not by a request handler, so the guard of the request's node travels in
a context variable that ``GuardContext`` (a middleware the composition root adds) sets per request.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from os import PathLike
from pathlib import Path
from typing import Final, Protocol

import jinja2
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from zhengwu.kernel.errors import DomainError
from zhengwu.kernel.node import Node, ServiceKey, node_of


class AssetGuard(Protocol):
    """Decides whether the bytes of a released file may be used."""

    def refusal(self, path: Path, content: bytes) -> str | None:
        """None when ``content`` may be used as ``path``; otherwise why not (English, for the log)."""
        ...


ASSET_GUARD: Final[ServiceKey[AssetGuard]] = ServiceKey("kernel.asset_guard")

_REQUEST_GUARD: ContextVar[AssetGuard | None] = ContextVar("zhengwu_asset_guard", default=None)


class AssetTampered(DomainError):
    """The file's bytes are not the released ones: it is not served or rendered."""

    status_code = 503
    code = "asset_integrity_failed"
    default_detail = "页面资源未通过完整性校验，暂停提供，请联系网站运维人员"


def _check(guard: AssetGuard | None, path: Path, content: bytes) -> None:
    if guard is not None:
        reason = guard.refusal(path, content)
        if reason is not None:
            raise AssetTampered(detail_en=f"{path.name}: {reason}")


def static_asset(
    request: Request,
    path: Path,
    media_type: str,
    *,
    max_age: int = 3600,
    headers: dict[str, str] | None = None,
) -> Response:
    """The asset's bytes, after the node's guard accepted exactly those bytes (read once: no race).

    ``headers`` replace the default ``Cache-Control`` (a service worker is revalidated on every load)."""
    content = path.read_bytes()
    _check(node_of(request).services.get(ASSET_GUARD), path, content)
    sent = headers if headers is not None else {"Cache-Control": f"public, max-age={max_age}"}
    return Response(content, media_type=media_type, headers=sent)


class GuardedLoader(jinja2.FileSystemLoader):
    """Loads a template from the package only when the request's node guard accepts its bytes.

    Jinja calls this when a template is first used and again whenever its file changed (auto reload), so
    an edited template is checked before it is compiled; a refusal is not cached."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        # FileSystemLoader decoded the file's bytes as UTF-8: encoding them again gives those bytes.
        _check(_REQUEST_GUARD.get(), Path(filename), source.encode(self.encoding))
        return source, filename, uptodate


def guarded_templates(directory: str | PathLike[str]) -> Jinja2Templates:
    """Jinja2 templates of a capability, checked by the node's guard when they are loaded."""
    env = jinja2.Environment(loader=GuardedLoader(str(directory)), autoescape=True)
    return Jinja2Templates(env=env)


class GuardContext:
    """ASGI middleware: the request's node guard, for the template loader (see the module's docstring)."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app, self.node = app, node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _REQUEST_GUARD.set(self.node.services.get(ASSET_GUARD))
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST_GUARD.reset(token)
