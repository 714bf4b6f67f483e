"""The route walk of the route-guard and authorisation-matrix tests: every route of an application with
how it is guarded (tests/architecture/test_arch_routes.py explains the categories, ADR 0010)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from zhengwu.identity.deps import require_session
from zhengwu.identity.policy import Guard

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def category(dependant: Dependant | None) -> str | None:
    """How a route is guarded, from its dependency tree (None: not guarded)."""
    if dependant is None:
        return None
    calls = list(_calls(dependant))
    guards = {c.category for c in calls if isinstance(c, Guard)}
    for kind in ("staff-or-machine", "staff", "machine", "person"):
        if kind in guards:
            return kind
    return "self" if require_session in calls else None


def routes(app: Any) -> dict[str, str | None]:
    """``"METHOD /path"`` → category of every route of the application, included routers resolved."""
    found: dict[str, str | None] = {}
    for context in iter_route_contexts(app.routes):
        methods = getattr(context, "methods", None) or {"*"}
        kind = category(getattr(context, "dependant", None))
        for method in sorted(set(methods) - IGNORED_METHODS):
            found[f"{method} {context.path}"] = kind
    return found
