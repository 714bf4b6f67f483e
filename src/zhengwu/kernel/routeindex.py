"""A prefix index in front of the app's routers: a request skips the routers that cannot hold its path.

FastAPI keeps every ``include_router`` as a nested router and finds a request's route by asking each
included router in turn, each of which tries its own routes' regular expressions. With some forty
routers and three hundred routes that search cost 0.3–0.7 ms of CPU per request before anything else
ran (measured on ``GET /api/v1/licenses/types``, the router near the end of the list), more than a
cheap endpoint itself.

A route's path can only match a request path that starts with the path's literal head (everything
before its first ``{``). :func:`index_routes` gives every included router of the app a ``matches`` that
first checks the request path against the literal heads of all the router's routes and answers "no
match" at once when none fits; otherwise it asks the router as before. Nothing else changes: the order
of routers, partial matches (405), the trailing-slash redirect and the low-priority routes are FastAPI's
own, and a router whose routes cannot all be described by a literal head (a host route, a route group
without a path) is always asked. The heads are computed again when a router's routes change (FastAPI's
own routes version, which it uses for the same purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.types import Scope

try:  # FastAPI >= 0.130 keeps included routers nested; older versions copy their routes flat.
    from fastapi.routing import _EffectiveRouteContext, _IncludedRouter
except ImportError:  # pragma: no cover - exercised only on older FastAPI
    _IncludedRouter = None  # type: ignore[assignment,misc]
    _EffectiveRouteContext = None  # type: ignore[assignment,misc]

Matches = Callable[[Scope], tuple[Match, Scope]]


def literal_head(path: str) -> str:
    """What every request path this route pattern matches starts with."""
    return path.split("{", 1)[0]


def _leaf_head(route: Any) -> str | None:
    """The literal head of a route, or None when it cannot be told from a path."""
    if _EffectiveRouteContext is not None and isinstance(route, _EffectiveRouteContext):
        inner = route.starlette_route
        if inner is None:
            path = route.path if isinstance(route.path, str) and route.path else None
            return literal_head(path) if path is not None else None
        return _leaf_head(inner)
    if isinstance(route, Mount):
        return literal_head(route.path + "/")  # a mount matches below its path only
    if isinstance(route, Route | WebSocketRoute):
        return literal_head(route.path)
    return None


def _heads(included: Any) -> tuple[tuple[str, ...] | None, list[Any]]:
    """(literal heads of every route the router would try, or None; every router of the subtree)."""
    heads: set[str] = set()
    routers = [included.original_router]
    for candidate in included.effective_candidates():
        if isinstance(candidate, _IncludedRouter):
            inner, nested = _heads(candidate)
            routers += nested
            if inner is None:
                return None, routers
            heads.update(inner)
            continue
        head = _leaf_head(candidate)
        if head is None:
            return None, routers
        heads.add(head)
    return tuple(sorted(heads)), routers


def _version(routers: list[Any]) -> int:
    total = 0
    for router in routers:
        total += router._routes_version
    return total


def _gate(included: Any) -> None:
    asked: Matches = included.matches
    heads: tuple[str, ...] | None = None
    routers: list[Any] = []
    version = -1

    def matches(scope: Scope) -> tuple[Match, Scope]:
        nonlocal heads, routers, version
        if version != _version(routers) or version < 0:
            heads, routers = _heads(included)
            version = _version(routers)
        if (
            heads is not None
            and scope["type"] in ("http", "websocket")
            and not get_route_path(scope).startswith(heads)
        ):
            return Match.NONE, {}
        return asked(scope)

    matches.__wrapped__ = asked  # type: ignore[attr-defined]  # tests compare both answers
    included.matches = matches


def index_routes(app: FastAPI) -> int:
    """Put the prefix check in front of every router included in ``app`` (once all are included).

    Returns how many routers got it (0 on a FastAPI that copies included routes flat)."""
    if _IncludedRouter is None:
        return 0
    gated = 0
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter) and "matches" not in vars(route):
            _gate(route)
            gated += 1
    return gated
