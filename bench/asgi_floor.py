"""The framework's CPU per request without a server: the node's ASGI app called directly, in this process.

What every request spends around its endpoint — routing, the node's middlewares, FastAPI's request
handling — measured on an ``async`` route that does nothing (included last, as a capability's router
is), the static stylesheet, the public license types and a 404. Requests are built as uvicorn builds
them; ``time.process_time()`` around N calls per route after 200 warm-up calls. No socket, no HTTP
parsing: for the figure with the server, see ``bench/http_wrk.py``. The node is the demo seed copied
from the cache ``bench/load.py`` makes (run that, or ``http_wrk.py``, once first).

    .venv/bin/python bench/asgi_floor.py [--requests 3000] [--routes noop,static,types,missing]
    PYTHONPATH=<checkout of another commit>/src .venv/bin/python bench/asgi_floor.py   # another version

Alternate versions on a shared machine and report the load average with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from load import base_env

PATHS = {
    "noop": "/api/v1/_floor",
    "static": "/portal/static/portal.css",
    "types": "/api/v1/licenses/types",
    "missing": "/api/v1/nothing",
}


def build_app(cache: Path, run_dir: Path) -> Any:
    seeded = cache / "zhengwu.db"
    if not seeded.exists():
        raise SystemExit(f"no seeded database in {cache}: run bench/http_wrk.py or bench/load.py once")
    for source in cache.glob("zhengwu.db*"):
        shutil.copy(source, run_dir / source.name)
    os.environ.update(base_env(run_dir, f"sqlite:///{(run_dir / 'zhengwu.db').as_posix()}", 8000))
    subprocess.run([sys.executable, "-m", "zhengwu", "migrate"], check=True, capture_output=True)
    from fastapi import APIRouter

    from zhengwu.kernel import routeindex
    from zhengwu.main import create_app

    app = create_app()
    router = APIRouter()

    @router.get(PATHS["noop"])
    async def floor() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    routeindex.index_routes(app)
    return app


async def measure(app: Any, routes: list[str], requests: int) -> None:
    startup: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, answers.put)
    )
    started = await answers.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the node did not start: {started}")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    for name in routes:
        path = PATHS[name]
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        async def one(path: str = path, sent: list[dict[str, Any]] = sent) -> int:
            sent.clear()
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")],
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
            }  # fmt: skip
            await app(scope, receive, send)
            return int(sent[0]["status"])

        for _ in range(200):
            status = await one()
        begun = time.process_time()
        for _ in range(requests):
            await one()
        cpu = time.process_time() - begun
        print(
            f"{name:8s} {path:28s} status {status}  {1000 * cpu / requests:.3f} ms CPU per request",
            flush=True,
        )
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--routes", default=",".join(PATHS))
    parser.add_argument("--cache", default="/tmp/zhengwu-load-cache")
    args = parser.parse_args()
    routes = [r for r in args.routes.split(",") if r]
    unknown = set(routes) - set(PATHS)
    if unknown:
        raise SystemExit(f"unknown routes: {sorted(unknown)} (known: {', '.join(PATHS)})")
    with tempfile.TemporaryDirectory(prefix="zw-floor-") as tmp:
        app = build_app(Path(args.cache), Path(tmp))
        import zhengwu

        print(f"code from {Path(zhengwu.__file__).parents[1]}, load average {os.getloadavg()[0]:.1f}")
        asyncio.run(measure(app, routes, args.requests))
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
