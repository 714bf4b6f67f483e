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

import gzip
import threading
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Final, Protocol

import jinja2
from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from zhengwu.kernel.crypto import sm3
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


@dataclass(frozen=True, slots=True)
class _Asset:
    """One file's bytes as last read, its gzip form (None when not worth sending) and its tag."""

    stat: tuple[int, int, int]
    content: bytes
    gzipped: bytes | None
    etag: str


_ASSETS: dict[Path, _Asset] = {}
_assets_lock = threading.Lock()
#: Text types gain from gzip; images and fonts are compressed already.
_COMPRESSIBLE: Final = ("text/", "application/javascript", "application/json", "application/manifest+json",
                        "image/svg+xml")  # fmt: skip


def _stat_key(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _kept_asset(path: Path) -> _Asset | None:
    """The asset's kept bytes while the file still has the inode, size and modification time they were
    read with (one ``stat``, no read); None otherwise."""
    with _assets_lock:
        kept = _ASSETS.get(path)
    if kept is None:
        return None
    try:
        key = _stat_key(path)
    except OSError:
        return None
    return kept if kept.stat == key else None


def _read_asset(path: Path, media_type: str) -> _Asset:
    # Kept while the file's inode, size and modification time stay: a changed file is read again (and
    # checked again, below, like every answer). Only bytes the guard accepts are ever sent.
    key = _stat_key(path)
    with _assets_lock:
        kept = _ASSETS.get(path)
    if kept is not None and kept.stat == key:
        return kept
    content = path.read_bytes()
    gzipped = None
    if media_type.startswith(_COMPRESSIBLE) and len(content) > 256:
        packed = gzip.compress(content, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(content) else None
    asset = _Asset(key, content, gzipped, '"' + sm3(content).hex()[:32] + '"')
    with _assets_lock:
        _ASSETS[path] = asset
    return asset


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


async def static_asset(
    request: Request,
    path: Path,
    media_type: str,
    *,
    max_age: int = 3600,
    headers: dict[str, str] | None = None,
) -> Response:
    """The asset's bytes, after the node's guard accepted exactly those bytes (for an ``async def`` route).

    ``headers`` replace the default ``Cache-Control`` (a service worker is revalidated on every load).
    Text assets go gzip-compressed to browsers that accept it (compressed once, when the file is read;
    no HTML page passes here, so nothing secret is compressed beside what an attacker sends — BREACH), with
    an ``ETag`` per form, so that a browser revalidating answers with ``304 Not Modified``.

    While the file is unchanged since it was last read the answer is made in the event loop: one ``stat``
    of the file, and the guard's check, which for bytes it accepted before under the same manifest is one
    ``stat`` of the manifest (``security.tamper``). A file not yet read, or changed since, is read and
    checked in the thread pool."""
    kept = _kept_asset(path)
    if kept is None:
        return await run_in_threadpool(_read_and_answer, request, path, media_type, max_age, headers)
    return _answer(request, path, kept, media_type, max_age, headers)


def _read_and_answer(
    request: Request, path: Path, media_type: str, max_age: int, headers: dict[str, str] | None
) -> Response:
    return _answer(request, path, _read_asset(path, media_type), media_type, max_age, headers)


def _answer(
    request: Request,
    path: Path,
    asset: _Asset,
    media_type: str,
    max_age: int,
    headers: dict[str, str] | None,
) -> Response:
    _check(node_of(request).services.get(ASSET_GUARD), path, asset.content)
    sent = dict(headers) if headers is not None else {"Cache-Control": f"public, max-age={max_age}"}
    body = asset.content
    etag = asset.etag
    if asset.gzipped is not None:
        sent["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request):
            body, etag = asset.gzipped, asset.etag[:-1] + '-gz"'
            sent["Content-Encoding"] = "gzip"
    sent["ETag"] = etag
    wanted = request.headers.get("if-none-match")
    if wanted is not None and (wanted.strip() == "*" or etag in (t.strip() for t in wanted.split(","))):
        sent.pop("Content-Encoding", None)
        return Response(status_code=304, headers=sent)
    return Response(body, media_type=media_type, headers=sent)


#: Every live template loader: the page cache watches the files under their directories (below).
_LOADERS: weakref.WeakSet[GuardedLoader] = weakref.WeakSet()


class GuardedLoader(jinja2.FileSystemLoader):
    """Loads a template from the package only when the request's node guard accepts its bytes.

    Jinja calls this when a template is first used and again whenever its file changed (auto reload), so
    an edited template is checked before it is compiled; a refusal is not cached."""

    def __init__(self, searchpath: str | PathLike[str], encoding: str = "utf-8") -> None:
        super().__init__(searchpath, encoding=encoding)
        _LOADERS.add(self)

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


def template_files_version() -> int:
    """A number that changes when any template file is added, removed or written (inode, size,
    modification time): a page kept from rendered templates (kernel.pagecache) is rendered again — and so
    checked by the guard again — once a file it may have read changed."""
    seen: list[tuple[str, int, int, int]] = []
    directories = {Path(place) for loader in list(_LOADERS) for place in loader.searchpath}
    for directory in sorted(directories):
        for path in directory.rglob("*"):
            try:
                stat = path.stat()
            except OSError:  # removed while listed
                continue
            seen.append((str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return hash(tuple(sorted(seen)))


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
