"""Routes that run in the event loop (``async def``) must not do blocking work there.

A plain ``def`` route runs in the thread pool; an ``async def`` route runs in the event loop, where a
database round trip or a password hash holds up every other request of the worker — the token endpoint
included (issue 3's throughput). So ``async def`` routes are listed here with the reason each is safe
So an ``async def`` route must hand its work to the thread pool (``run_in_threadpool``) after reading
the body asynchronously, or be listed here with the reason it is safe.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zhengwu.kernel.config import Settings

ALLOWED = {
    # Routed variant of the token endpoint: ``issue_token`` signs from memory, database work in threads.
    "zhengwu.identity.oidc.routes.token_endpoint",
    # Uploads read the body here; ``cases.routes.store_material`` stores it with ``run_in_threadpool``.
    "zhengwu.cases.routes.upload_material",
    "zhengwu.portal.mobile.upload_material",
}


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
        if inspect.iscoroutinefunction(e) and "run_in_threadpool(" not in inspect.getsource(e)
    )
    assert set(suspicious) <= ALLOWED, f"async routes that may block the event loop: {suspicious}"
