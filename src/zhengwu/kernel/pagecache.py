"""Public pages for anonymous visitors, answered from the bytes kept when they were last rendered.

The portal's home, search and guide pages are the same for every visitor without a session: rendering
them per request (a session, a thread hand-off, the template) cost 3–7 ms of CPU where the static
stylesheet costs 0.3 ms. This ASGI middleware keeps the whole answer — body, its gzip form, headers, an
``ETag`` — and answers the next anonymous request for the same page from it, in the event loop, with no
session, no thread and no database while the node's stamps are fresh.

What decides that a kept answer may be sent to someone else:

- **Who asks.** Only a ``GET`` with no session cookie (``private_cookies``) and no ``Authorization``
  header. A visitor with a session — valid or not — is always rendered for.
- **What the route said.** Only answers whose route set :data:`PUBLIC_HEADER` are kept: the route
  promises that the page shows nothing of the visitor (no account, no CSRF token, no message meant for
  one person) and sets no cookie. An answer with ``Set-Cookie``, or not ``200``, is never kept.
- **What the page depends on.** The key is the path, the raw query string, what the capability says
  its pages read from cookies (:class:`PublicPages` ``vary``, e.g. the 适老化 type step) and the version of
  what they read from files (``version``, e.g. the operator's vocabulary). Kept answers
  carry the node's change stamps they were rendered under (:class:`~zhengwu.kernel.stamps.ProcessView`):
  any moved stamp, and any change this process made (its stamps' local generation), renders afresh. Data
  without a writer that bumps a stamp is :func:`~zhengwu.kernel.stamps.watch`-ed by table.
- **How stale.** This process's own changes show on its next request; another process's within
  :data:`~zhengwu.kernel.stamps.CROSS_PROCESS_BOUND` (1 s: the view re-reads the stamps when older).
- **The templates.** An edited template file is refused by the anti-tamper guard when it is loaded
  (kernel.assets); a kept page would never load it. The template files' version
  (:func:`~zhengwu.kernel.assets.template_files_version`, re-read with the stamps, at most once a second)
  is part of the key, so within that second the page rendered from the released files is still sent —
  never the edited bytes — and then the page is rendered again, and the guard refuses it.

**One render per page at a time.** When many visitors ask at once for a page that is not kept (a cold
start, a moved stamp, a search nobody made before), the first request renders it and the others await
that render instead of each rendering the same page: 64 clients on 14 cold searches of a 1,000,000-item
catalog otherwise ran 64 renders of ~100 ms at once on one core and answered 9 pages a second, p50 4 s,
for as long as the burst lasted (bench/portal.py). A waiter uses the leader's answer only if it was kept
under the same stamps the waiter read; otherwise (not a public page, a stamp moved, the leader failed or
its client went away) it renders for itself.

The answer's ``Cache-Control`` becomes ``private, no-cache`` (a browser keeps it and revalidates:
``If-None-Match`` gets a ``304``), with ``Vary: Cookie, Accept-Encoding``. Kept pages are compressed:
they carry no secret for BREACH to recover, unlike pages rendered for a session (never compressed).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhengwu.kernel.assets import template_files_version
from zhengwu.kernel.node import Node, ServiceKey
from zhengwu.kernel.stamps import ProcessView

#: Set by a route on an answer that is the same for every anonymous visitor (stripped before sending).
PUBLIC_HEADER: Final = "x-zhengwu-public-page"
_PUBLIC: Final = PUBLIC_HEADER.encode("latin-1")
_DROPPED: Final = frozenset({_PUBLIC, b"content-length", b"cache-control", b"etag", b"vary"})
_GZIP_FROM: Final = 512  # smaller bodies gain nothing worth a header


@dataclass(frozen=True)
class PublicPages:
    """A capability's pages that may be kept: which paths, what of the cookies they read, and the
    version of what they read outside the database (a file an operator edits), asked per request."""

    matches: Callable[[str], bool]
    vary: Callable[[Mapping[str, str]], Hashable] = lambda _cookies: None
    version: Callable[[], Hashable] = lambda: None


#: The node's public pages (capabilities add theirs at install).
PUBLIC_PAGES: ServiceKey[list[PublicPages]] = ServiceKey("kernel.public_pages")


def serve_public(node: Node, pages: PublicPages) -> None:
    """Let the node keep ``pages`` for anonymous visitors."""
    found = node.services.get(PUBLIC_PAGES)
    if found is None:
        found = node.services.put(PUBLIC_PAGES, [])
    found.append(pages)


#: The node's page cache (tests and benchmarks look at its counters).
PAGE_CACHE: ServiceKey[PageCache] = ServiceKey("kernel.page_cache")


@dataclass
class Kept:
    """One page's answer as sent, and the stamps it was rendered under."""

    generation: int
    stamps: dict[str, int]
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes
    gzipped: bytes | None = None
    gzip_etag: bytes = b""
    route: object = None  # the route that rendered it: the request metrics label a kept answer with it
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.body) + len(self.gzipped or b"") + 512


def _kept(generation: int, stamps: dict[str, int], headers: list[tuple[bytes, bytes]], body: bytes) -> Kept:
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    own = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
    own += [(b"cache-control", b"private, no-cache"), (b"vary", b"Cookie, Accept-Encoding")]
    kept = Kept(generation, stamps, own, body, f'"p-{digest}"'.encode())
    if len(body) >= _GZIP_FROM:
        kept.gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        kept.gzip_etag = f'"p-{digest}-gz"'.encode()
        kept.size = len(body) + len(kept.gzipped) + 512
    return kept


class PageCache:
    """ASGI middleware keeping anonymous visitors' public pages (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        node: Node,
        private_cookies: tuple[str, ...],
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.app, self.node = app, node
        self.private = tuple(private_cookies)
        self.max_bytes = max_bytes
        self.view = ProcessView()
        self._pages: list[PublicPages] | None = None
        self._reading: tuple[asyncio.AbstractEventLoop, asyncio.Task[tuple[int, dict[str, int]]]] | None = (
            None
        )
        self._files: tuple[float, int] | None = None  # when the template files were looked at, their version
        self._kept: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # Renders in flight, per event loop (a test process runs many): the waiters' shared answer.
        self._flying: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Future[Kept | None]] = {}
        self.hits = self.rendered = self.joined = 0  # for tests and benchmarks
        if PAGE_CACHE in node.services:
            node.services.replace(PAGE_CACHE, self)
        else:
            node.services.put(PAGE_CACHE, self)

    def _page_of(self, path: str) -> PublicPages | None:
        if self._pages is None:
            registered = self.node.services.get(PUBLIC_PAGES)
            self._pages = list(registered) if registered is not None else []
        for pages in self._pages:
            if pages.matches(path):
                return pages
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        pages = self._page_of(scope["path"])
        if pages is None:
            await self.app(scope, receive, send)
            return
        cookie = gzip_ok = None
        wanted = b""
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
            elif name == b"authorization":
                await self.app(scope, receive, send)
                return
            elif name == b"accept-encoding":
                gzip_ok = b"gzip" in value
            elif name == b"if-none-match":
                wanted = value
        cookies = cookie_parser(cookie.decode("latin-1")) if cookie else {}
        if any(name in cookies for name in self.private):
            await self.app(scope, receive, send)
            return
        generation, stamps = self.view.fresh() or await self._read_stamps()
        key = (
            scope["path"],
            scope["query_string"],
            pages.vary(cookies),
            pages.version(),
            self._files_version(),
        )
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.generation == generation and kept.stamps == stamps:
                self._kept.move_to_end(key)
                self.hits += 1
                scope["route"] = kept.route
            else:
                kept = None
        if kept is None:
            kept = await self._joined(key, generation, stamps)
        if kept is None:
            kept = await self._lead(scope, receive, send, key, generation, stamps)
            if kept is None:
                return  # answered as rendered: not a page to keep
        await _answer(kept, bool(gzip_ok), wanted, send)

    async def _joined(self, key: Hashable, generation: int, stamps: dict[str, int]) -> Kept | None:
        """The answer of a render of the same page already in flight, if it is kept under these stamps."""
        flying = self._flying.get((asyncio.get_running_loop(), key))
        if flying is None:
            return None
        kept = await asyncio.shield(flying)
        if kept is None or kept.generation != generation or kept.stamps != stamps:
            return None
        with self._lock:
            self.joined += 1
        return kept

    async def _lead(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: Hashable,
        generation: int,
        stamps: dict[str, int],
    ) -> Kept | None:
        """Render, letting requests for the same page that arrive meanwhile wait for this answer."""
        loop = asyncio.get_running_loop()
        flight = (loop, key)
        mine: asyncio.Future[Kept | None] | None = None
        if flight not in self._flying:
            mine = self._flying[flight] = loop.create_future()
        kept: Kept | None = None
        try:
            kept = await self._render(scope, receive, send, key, generation, stamps)
            return kept
        finally:
            # Also when the render failed or this request was cancelled: the waiters then render.
            if mine is not None:
                del self._flying[flight]
                mine.set_result(kept)

    def _files_version(self) -> int:
        # A few hundred stat calls, once per bound at most: not worth a thread hand-off per second.
        now = self.view.clock()
        if self._files is None or now - self._files[0] >= self.view.bound:
            self._files = (now, template_files_version())
        return self._files[1]

    async def _read_stamps(self) -> tuple[int, dict[str, int]]:
        """Re-read the stamps in a worker thread; the requests that find them stale meanwhile await the
        same read (one thread hand-off a second, not one per request in flight at that moment)."""
        loop = asyncio.get_running_loop()
        if self._reading is None or self._reading[0] is not loop:
            task = loop.create_task(run_in_threadpool(self.view.current, self.node.session_factory))
            self._reading = (loop, task)
            task.add_done_callback(self._read_done)
        return await asyncio.shield(self._reading[1])

    def _read_done(self, task: asyncio.Task[tuple[int, dict[str, int]]]) -> None:
        if self._reading is not None and self._reading[1] is task:
            self._reading = None

    async def _render(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: Hashable,
        generation: int,
        stamps: dict[str, int],
    ) -> Kept | None:
        """Render through the app; keep and return the answer when the route marked it public, else send
        it on as it came (buffered: these routes answer with one body)."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        headers: list[tuple[bytes, bytes]] = list(start.get("headers", [])) if start else []
        names = {k.lower() for k, _ in headers}
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if start is None or start["status"] != 200 or _PUBLIC not in names or b"set-cookie" in names:
            if start is not None:
                start["headers"] = [(k, v) for k, v in headers if k.lower() != _PUBLIC]
            for message in messages:
                await send(message)
            return None
        kept = _kept(generation, stamps, headers, body)
        kept.route = scope.get("route")
        with self._lock:
            self.rendered += 1
            old = self._kept.pop(key, None)
            self._bytes += kept.size - (old.size if old else 0)
            self._kept[key] = kept
            while self._bytes > self.max_bytes and len(self._kept) > 1:
                self._bytes -= self._kept.popitem(last=False)[1].size
        return kept

    def clear(self) -> None:
        """Forget every kept page (tests)."""
        with self._lock:
            self._kept.clear()
            self._bytes = 0


async def _answer(kept: Kept, gzip_ok: bool, wanted: bytes, send: Send) -> None:
    body, etag = kept.body, kept.etag
    headers = list(kept.headers)
    if gzip_ok and kept.gzipped is not None:
        body, etag = kept.gzipped, kept.gzip_etag
        headers.append((b"content-encoding", b"gzip"))
    headers.append((b"etag", etag))
    if wanted and (wanted.strip() == b"*" or etag in (t.strip() for t in wanted.split(b","))):
        headers = [(k, v) for k, v in headers if k not in (b"content-encoding", b"content-type")]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
