"""Routes that run in the event loop (``async def``) must not do blocking work there.

A plain ``def`` route runs in the thread pool; an ``async def`` route runs in the event loop, where a
database round trip or a password hash holds up every other request of the worker — the token endpoint
included (issue 3's throughput). So ``async def`` routes are listed here with the reason each is safe
So an ``async def`` route must hand its work to the thread pool (``run_in_threadpool``) after reading
the body asynchronously — itself or through an ``async def`` helper of the project it awaits — or be
listed here with the reason it is safe.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zhengwu.kernel.config import Settings

ALLOWED = {
    # Routed variant of the token endpoint: ``issue_token`` signs from memory, database work in threads.
    "zhengwu.identity.oidc.routes.token_endpoint",
}

HANDS_OFF = "run_in_threadpool("


def _awaited_helpers(endpoint: Any) -> Iterator[Any]:
    """The project's ``async def`` functions the endpoint awaits (``await f(...)`` or ``await m.f(...)``)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(endpoint)))
    namespace = vars(sys.modules[endpoint.__module__])
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Await) and isinstance(node.value, ast.Call)):
            continue
        target: Any = None
        func = node.value.func
        if isinstance(func, ast.Name):
            target = namespace.get(func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            target = getattr(namespace.get(func.value.id), func.attr, None)
        if inspect.iscoroutinefunction(target) and target.__module__.startswith("zhengwu."):
            yield target


def _hands_off(endpoint: Any) -> bool:
    """True when the route, or a project helper it awaits, hands its work to the thread pool."""
    if HANDS_OFF in inspect.getsource(endpoint):
        return True
    return any(HANDS_OFF in inspect.getsource(helper) for helper in _awaited_helpers(endpoint))


def _endpoints(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router (resolved lazily)
            yield from _endpoints(route.original_router.routes)
        elif getattr(route, "endpoint", None) is not None:
            yield route.endpoint


def test_async_routes_are_only_those_known_not_to_block(tmp_path: Path) -> None:
    from zhengwu.main import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'a.db'}"))
    endpoints = [e for e in _endpoints(app.router.routes) if e.__module__.startswith("zhengwu.")]
    assert len(endpoints) > 50, "few routes found: the walk over FastAPI's routers no longer works"
    suspicious = sorted(
        f"{e.__module__}.{e.__qualname__}"
        for e in endpoints
        if inspect.iscoroutinefunction(e) and not _hands_off(e)
    )
    assert set(suspicious) <= ALLOWED, f"async routes that may block the event loop: {suspicious}"


async def _awaits_nothing_of_ours() -> None:
    import asyncio

    await asyncio.sleep(0)


def test_the_hand_off_is_followed_one_awaited_helper_deep() -> None:
    from zhengwu.cases import routes
    from zhengwu.portal import mobile

    assert _hands_off(routes.upload_material)  # awaits store_material, which hands off
    assert _hands_off(mobile.upload_material)  # awaits case_routes.store_material
    assert not _hands_off(_awaits_nothing_of_ours)
