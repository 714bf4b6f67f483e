"""The route index answers exactly as FastAPI's own search: same route, same partial match, for every
route of the node and for paths that match none; routes added after the first request are found."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Host, Match

from zhengwu.kernel.routeindex import _Dispatch, index_routes, literal_head


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


def _first_full(routes: list[tuple[Any, Any]], scope: dict[str, Any]) -> Any:
    for route, matches in routes:
        if matches(dict(scope))[0] == Match.FULL:
            return route
    return None


def test_the_dispatcher_offers_a_request_to_the_route_fastapi_would_choose(app: Any) -> None:
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, _Dispatch)  # the composition root put it in front of the app's search
    every = [(route, getattr(route.matches, "__wrapped__", route.matches)) for route in app.router.routes]
    checked = 0
    for path in _paths(app):
        for method in ("GET", "POST", "DELETE"):
            scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
            assert _first_full(list(dispatch.candidates(path)), scope) is _first_full(every, scope), (
                path,
                method,
            )
            checked += 1
    assert checked > 1_000


def _counted(calls: list[str], name: str, function: Any) -> Any:
    def counting(*args: Any) -> Any:
        calls.append(name)
        return function(*args)

    return counting


def _small_app(tmp_path: Any) -> tuple[FastAPI, dict[str, Any]]:
    app = FastAPI()
    home, items, orgs = APIRouter(), APIRouter(), APIRouter()

    @home.get("/")
    async def root() -> dict[str, str]:
        return {"page": "home"}

    @items.get("/items/{code}")
    async def item(code: str) -> dict[str, str]:
        return {"item": code}

    @items.post("/things")
    async def things() -> dict[str, str]:
        return {"things": "made"}

    @orgs.get("/people/{person}")
    async def person(org: str, person: str) -> dict[str, str]:
        return {"org": org, "person": person}

    (tmp_path / "index.html").write_text("<p>front</p>")
    home.frontend("/front", directory=tmp_path)
    app.include_router(home)
    app.include_router(items)
    app.include_router(orgs, prefix="/orgs/{org}")
    included = {
        type_: route for type_, route in zip(("home", "items", "orgs"), app.router.routes[-3:], strict=True)
    }
    assert index_routes(app) == 3
    included["router"] = items
    return app, included


def test_a_router_is_asked_only_for_paths_its_routes_can_hold(tmp_path: Any) -> None:
    app, included = _small_app(tmp_path)
    calls: list[str] = []
    for name in ("home", "items", "orgs"):
        route = included[name]
        assert hasattr(route.matches, "__wrapped__")  # gated
        route._match = _counted(calls, name, route._match)
    with TestClient(app) as client:
        assert client.get("/items/a1").json() == {"item": "a1"}
        # "/" matches the root page only: the home router is not asked for other paths.
        assert set(calls) == {"items"}
        calls.clear()
        assert client.get("/").json() == {"page": "home"}
        assert set(calls) == {"home"}
        calls.clear()
        assert client.get("/orgs/o1/people/p1").json() == {"org": "o1", "person": "p1"}
        assert set(calls) == {"orgs"}


def test_the_router_that_answers_is_searched_once_per_request(tmp_path: Any) -> None:
    app, included = _small_app(tmp_path)
    calls: list[str] = []
    # Under the memo: the router's own search, which FastAPI runs once to choose and once to run.
    memo = included["items"]._match
    memo_closure = dict(zip(memo.__code__.co_freevars, memo.__closure__, strict=True))
    memo_closure["compute"].cell_contents = _counted(calls, "items", memo_closure["compute"].cell_contents)
    with TestClient(app) as client:
        assert client.get("/items/a1").json() == {"item": "a1"}
        assert calls == ["items"]
        calls.clear()
        assert client.post("/items/a1").status_code == 405  # FastAPI's own search: partial match
        assert client.get("/items/a1").json() == {"item": "a1"}


def test_what_fastapi_answers_besides_a_full_match_is_unchanged(tmp_path: Any) -> None:
    app, included = _small_app(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        wrong = client.get("/things")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
        assert client.post("/things/").status_code == 307
        assert client.post("/things/").headers["location"].endswith("/things")
        assert client.get("/items/a1/").headers["location"].endswith("/items/a1")
        assert client.get("/nothing/here").status_code == 404
        # A low-priority route (FastAPI's frontend), also after the redirect to its slash.
        assert client.get("/front").headers["location"].endswith("/front/")
        assert client.get("/front/").text == "<p>front</p>"
        assert client.get("/front/deep/link", headers={"accept": "text/html"}).text == "<p>front</p>"

        # Routes added after the first request, at the top and inside an included router.
        @app.get("/later")
        async def later() -> dict[str, str]:
            return {"later": "yes"}

        assert client.get("/later").json() == {"later": "yes"}
        assert client.get("/later/").status_code == 307

        @included["router"].get("/parts/{part}")
        async def part(part: str) -> dict[str, str]:
            return {"part": part}

        assert client.get("/parts/p1").json() == {"part": "p1"}


def test_a_router_with_a_route_that_cannot_be_told_from_a_path_is_always_asked() -> None:
    app = FastAPI()
    hosts = APIRouter()
    hosts.routes.append(Host("api.example.org", app=FastAPI()))
    hosts._mark_routes_changed()
    app.include_router(hosts)
    index_routes(app)
    dispatch = app.router.middleware_stack
    assert [route for route, _ in dispatch.candidates("/anything")] == [app.router.routes[-1]]
