"""The route index answers exactly as FastAPI's own search: same route, same partial match, for every
route of the node and for paths that match none; routes added after the first request are found."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.testclient import TestClient
from starlette.routing import Match

from zhengwu.kernel.routeindex import index_routes, literal_head


def _sample(path: str) -> str:
    # A value for every parameter; ``{x:path}`` gets two segments.
    return re.sub(r"\{[^}:]+(:path)?\}", lambda m: "a/b" if m.group(1) else "x1", path)


def _leaves(routes: list[Any]) -> list[str]:
    paths: list[str] = []
    for route in routes:
        if hasattr(route, "effective_candidates"):  # an included router: its routes, prefixed
            paths += _leaves(route.effective_candidates())
        elif isinstance(getattr(route, "path", None), str):
            paths.append(route.path)
    return paths


def _paths(app: Any) -> list[str]:
    found = ["/", "/nothing/here", "/api/v1", "/api/v1/", "/api/v1/licenses/types/", "/portal/static/x.css"]
    for path in _leaves(app.router.routes):
        found += [_sample(path), _sample(path) + "/", _sample(path) + "/extra"]
    return found


def _answer(answer: tuple[Match, dict[str, Any]]) -> tuple[Match, Any, Any]:
    match, child = answer
    return match, child.get("endpoint"), child.get("path_params")


def test_gated_routers_answer_as_fastapi_does(app: Any) -> None:
    gated = [r for r in app.router.routes if "matches" in vars(r)]
    assert len(gated) > 20  # the composition root indexed the node's routers
    checked = 0
    for path in _paths(app):
        for method in ("GET", "POST", "DELETE"):
            for route in gated:
                scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
                fast = _answer(route.matches(dict(scope)))
                slow = _answer(route.matches.__wrapped__(dict(scope)))
                assert fast == slow, (path, method)
                checked += 1
    assert checked > 10_000


def test_a_route_added_after_the_first_request_is_found(app: Any) -> None:
    router = APIRouter()

    @router.get("/api/v1/_routeindex/one")
    def one() -> dict[str, int]:
        return {"n": 1}

    app.include_router(router)
    assert index_routes(app) == 1  # the new router; the others are indexed already
    with TestClient(app) as client:
        assert client.get("/api/v1/_routeindex/one").json() == {"n": 1}

        @router.get("/api/v1/_routeindex/two")
        def two() -> dict[str, int]:
            return {"n": 2}

        assert client.get("/api/v1/_routeindex/two").json() == {"n": 2}
        assert client.get("/api/v1/_routeindex/three").status_code == 404


def test_literal_head() -> None:
    assert literal_head("/api/v1/licenses/{license_id}/file") == "/api/v1/licenses/"
    assert literal_head("/pki/crl/{ca}.crl") == "/pki/crl/"
    assert literal_head("/") == "/"
