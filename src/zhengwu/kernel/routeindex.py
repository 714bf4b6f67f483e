"""A path index in front of the app's routers: a request is only offered to the routes that can hold its path.

FastAPI keeps every ``include_router`` as a nested router and finds a request's route by asking each
included router in turn, each of which tries its own routes' regular expressions. With some forty
routers and three hundred routes that search cost 0.3–0.7 ms of CPU per request before anything else
ran (measured on ``GET /api/v1/licenses/types``, the router near the end of the list), more than a
cheap endpoint itself.

A route pattern without parameters matches its own path only; one with parameters only paths that start
with its literal head (everything before its first ``{``); a mount only paths below it. Three pieces use
that, none of them changing which route answers:

* every included router gets a ``matches`` that answers "no match" at once when none of its routes can
  hold the path, and otherwise asks the router as before (``_gate``). FastAPI's own search (405s, the
  trailing-slash redirect, the low-priority routes) goes through these.
* the app's router gets a dispatcher (``_Dispatch``): for an HTTP request it looks the path up once,
  offers it to the routes that can hold it, in the app's order, and hands the first full match to the
  route exactly as FastAPI's search does. Anything else — no route, only a partial match (405), a
  redirect, a low-priority route, a websocket — goes to FastAPI's own search, whose answer is then the
  same as without the index.
* FastAPI matches a request against an included router twice, once to choose it and once more inside
  it to run the route; the second time gets the first answer back (``_remember``).

A router whose routes cannot all be told from a path (a host route, a route group without a path) is
always asked. What the index holds is computed again when routes change: FastAPI counts every change
of a router's routes (its routes version, which it uses for the same purpose), and the sum of these
counts over the routers concerned is compared on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

try:  # FastAPI >= 0.130 keeps included routers nested; older versions copy their routes flat.
    from fastapi.routing import (
        _apply_router_form_limits,
        _EffectiveRouteContext,
        _IncludedRouter,
        _update_scope,
    )
    from fastapi.telemetry._api import _route_selected
except ImportError:  # pragma: no cover - exercised only on older FastAPI
    _IncludedRouter = None  # type: ignore[assignment,misc]
    _EffectiveRouteContext = None  # type: ignore[assignment,misc]

Matches = Callable[[Scope], tuple[Match, Scope]]
# What request paths a route can match: (paths it matches exactly, heads of paths it matches); None
# when that cannot be told from its pattern.
Rule = tuple[frozenset[str], tuple[str, ...]] | None

_VERSION = attrgetter("_routes_version")
_MEMO = "zhengwu.route_match"  # scope key: an included router's last answer for this very scope
_PATHS_KEPT = 4096  # distinct request paths whose candidate routes the dispatcher keeps


def literal_head(path: str) -> str:
    """What every request path this route pattern matches starts with."""
    return path.split("{", 1)[0]


def _pattern(path: str) -> tuple[str, bool]:
    # Starlette compiles a path without parameters to ``^path$``: it matches that one path.
    head = literal_head(path)
    return head, head == path


def _leaf(route: Any) -> tuple[str, bool] | None:
    """(literal text, whether the route matches exactly that path) or None when it cannot be told."""
    if _EffectiveRouteContext is not None and isinstance(route, _EffectiveRouteContext):
        inner = route.starlette_route
        if inner is None:
            path = route.path if isinstance(route.path, str) and route.path else None
            return _pattern(path) if path is not None else None
        return _leaf(inner)
    if isinstance(route, Mount):
        return literal_head(route.path + "/"), False  # a mount matches below its path only
    if isinstance(route, Route | WebSocketRoute):
        return _pattern(route.path)
    return None


def _rule(included: Any) -> tuple[Rule, list[Any]]:
    """(the rule for every route the router would try; every router of the subtree, for its version)."""
    exact: set[str] = set()
    heads: set[str] = set()
    routers = [included.original_router]
    known = True
    for candidate in included.effective_candidates():
        if isinstance(candidate, _IncludedRouter):
            inner, nested = _rule(candidate)
            routers += nested
            if inner is None:
                known = False
            else:
                exact.update(inner[0])
                heads.update(inner[1])
            continue
        leaf = _leaf(candidate)
        if leaf is None:
            known = False
        elif leaf[1]:
            exact.add(leaf[0])
        else:
            heads.add(leaf[0])
    return ((frozenset(exact), tuple(sorted(heads))) if known else None), routers


def _route_rule(route: BaseRoute) -> tuple[Rule, list[Any]]:
    if _IncludedRouter is not None and isinstance(route, _IncludedRouter):
        return _rule(route)
    leaf = _leaf(route)
    if leaf is None:
        return None, []
    return ((frozenset((leaf[0],)), ()) if leaf[1] else (frozenset(), (leaf[0],))), []


def _may_match(rule: Rule, scope: Scope) -> bool:
    if rule is None or scope["type"] not in ("http", "websocket"):
        return True
    path = get_route_path(scope)
    return path in rule[0] or path.startswith(rule[1])


def _version(routers: Iterable[Any]) -> int:
    # Versions only grow, so their sum changes whenever one of them does.
    return sum(map(_VERSION, routers))


def _remember(included: Any) -> None:
    """The router's second match of a scope (to run the route it chose) returns its first answer."""
    compute = included._match

    def _match(scope: Scope) -> Any:
        memo = scope.get(_MEMO)
        path, method = scope["path"], scope.get("method")
        # The scope is the same dict, not a copy (FastAPI copies it to try the other trailing slash):
        # the memo holds the id of the scope it was made for.
        if memo is not None and memo[0] is included and memo[1] == id(scope) and memo[2] == (path, method):
            del scope[_MEMO]
            return memo[3]
        answer = compute(scope)
        scope[_MEMO] = (included, id(scope), (path, method), answer)
        return answer

    _match.__wrapped__ = compute  # type: ignore[attr-defined]
    included._match = _match


def _gate(included: Any) -> None:
    asked: Matches = included.matches
    rule: Rule = None
    routers: list[Any] = []
    version = -1

    def matches(scope: Scope) -> tuple[Match, Scope]:
        nonlocal rule, routers, version
        if version < 0 or version != _version(routers):
            rule, routers = _rule(included)
            version = _version(routers)
        if not _may_match(rule, scope):
            return Match.NONE, {}
        return asked(scope)

    matches.__wrapped__ = asked  # type: ignore[attr-defined]  # tests compare both answers
    included.matches = matches
    _remember(included)


class _Dispatch:
    """The app router's entry for HTTP requests: one lookup of the path, then only its candidate routes."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.search = router.app  # FastAPI's own search, for everything but a full match
        self.key: tuple[int, int, int] | None = None
        self.routers: list[Any] = [router]
        self._build()

    def _key(self) -> tuple[int, int, int]:
        routes = self.router.routes
        # Starlette's mount() appends without counting a change: the list's length is watched as well.
        return id(routes), len(routes), _version(self.routers)

    def _build(self) -> None:
        self.always: list[int] = []
        self.exact: dict[str, list[int]] = {}
        self.heads: dict[str, list[int]] = {}
        self.entries: list[tuple[BaseRoute, Matches]] = []
        routers: list[Any] = [self.router]
        for position, route in enumerate(self.router.routes):
            rule, nested = _route_rule(route)
            routers += nested
            asked = getattr(route.matches, "__wrapped__", route.matches)  # past the gate: checked here
            self.entries.append((route, asked))
            if rule is None:
                self.always.append(position)
                continue
            for path in rule[0]:
                self.exact.setdefault(path, []).append(position)
            for head in rule[1]:
                self.heads.setdefault(head, []).append(position)
        self.lengths = sorted({len(head) for head in self.heads})
        self.routers = routers
        self.paths: dict[str, tuple[tuple[BaseRoute, Matches], ...]] = {}
        self.key = self._key()

    def candidates(self, path: str) -> tuple[tuple[BaseRoute, Matches], ...]:
        if self._key() != self.key:
            self._build()
        found = self.paths.get(path)
        if found is not None:
            return found
        positions = set(self.always)
        positions.update(self.exact.get(path, ()))
        for length in self.lengths:
            if length > len(path):
                break
            positions.update(self.heads.get(path[:length], ()))
        found = tuple(self.entries[i] for i in sorted(positions))
        if len(self.paths) >= _PATHS_KEPT:  # paths carrying identifiers are many: start over
            self.paths.clear()
        self.paths[path] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.search(scope, receive, send)
            return
        router = self.router
        # As FastAPI's search starts.
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        for route, matches in self.candidates(get_route_path(scope)):
            match, child_scope = matches(scope)
            if match is Match.FULL:
                # What FastAPI's search does with the first full match.
                _update_scope(scope, child_scope)
                _route_selected(
                    scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount)
                )
                await route.handle(scope, receive, send)
                return
        await self.search(scope, receive, send)


def index_routes(app: FastAPI) -> int:
    """Put the path check in front of every router included in ``app`` (once all are included), and
    the dispatcher in front of the app's router (once).

    Returns how many routers got the check (0 on a FastAPI that copies included routes flat)."""
    if _IncludedRouter is None:
        return 0
    gated = 0
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter) and "matches" not in vars(route):
            _gate(route)
            gated += 1
    router = app.router
    # Only where nothing sits between the router and its search (no router middleware).
    if not isinstance(router.middleware_stack, _Dispatch) and router.middleware_stack == router.app:
        router.middleware_stack = _Dispatch(router)
    return gated
