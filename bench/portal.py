"""The portal's pages under load: home, search and guide at 64 concurrent keep-alive clients on a real node,
each as a ratio of the same node's static stylesheet (``/portal/static/portal.css``) in the same run.

Starts ``zhengwu serve`` (one uvicorn worker) on the seeded demo data exactly as ``bench/load.py`` does
(its helpers: the seeded SQLite cache copied per run, or ``--postgres``), measures the stylesheet first as
the node's floor (a route that touches neither the database nor a template), then every page. The clients
run in this process on the same machine, so the absolute figures depend on that machine and its load; the
ratio to the static route measured minutes apart in the same run is what to compare.

Also prints the size of the first page a visitor loads: the home page's HTML and the stylesheet, as sent
(``Content-Length`` of the body over the wire, compressed when the node compresses) and uncompressed.

    .venv/bin/python bench/portal.py [--clients 64] [--seconds 10] [--postgres URL] [--cache DIR]
    .venv/bin/python bench/portal.py --node /tmp/bignode      # a node built by bench/bignode.py, in place

Kept pages (ADR 15) make repeated home, search and guide pages cost the same whatever the catalog's size:
every page those bursts ask for is opened once first (the steady state of a node in service; the time it
took is printed), and two more bursts measure first renders, which do depend on it: ``guide-cold`` opens guides of
implementation items drawn at random from the whole catalog (most never opened before in the run), and
``search-cold`` searches the page queries narrowed to a random division (county) of the catalog, so
nearly every request is a new page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from load import (
    QUERIES,
    Burst,
    base_env,
    burst,
    fetch_task_codes,
    free_port,
    prepare_database,
    print_burst,
    run_cli,
    start_node,
    stop_node,
)

STATIC = "/portal/static/portal.css"
# Portal searches as people type them: life events and short forms go through the vocabulary.
PAGE_QUERIES = (*QUERIES, "开饭店", "生孩子", "身份证丢了", "办护照")


async def warm(base: str, task_codes: list[str]) -> tuple[int, float]:
    """Open every page the home/search/guide bursts ask for once, as a node in service has them kept:
    those bursts then measure the steady state, and the cold bursts measure first renders."""
    import time

    paths = ["/", *(f"/search?q={q}" for q in PAGE_QUERIES), *(f"/items/{c}" for c in task_codes)]
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        for path in paths:
            (await c.get(path)).raise_for_status()
    return len(paths), time.perf_counter() - started


def catalog_sample(database: Path, count: int) -> tuple[list[str], list[str], int]:
    """Random task codes, the divisions in use and the number of implementation items, read directly."""
    import sqlite3

    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT count(*) FROM catalog_task").fetchone()[0]
        top = conn.execute("SELECT max(rowid) FROM catalog_task").fetchone()[0] or 0
        rnd = random.Random(7)
        rowids = sorted({rnd.randint(1, top) for _ in range(count * 2)})
        codes = [
            row[0]
            for chunk in range(0, len(rowids), 500)
            for row in conn.execute(
                f"SELECT task_code FROM catalog_task WHERE rowid IN ({','.join('?' * len(rowids[chunk : chunk + 500]))})",
                rowids[chunk : chunk + 500],
            )
        ][:count]
        divisions = [
            row[0] for row in conn.execute("SELECT DISTINCT division_code FROM catalog_task LIMIT 400")
        ]
    finally:
        conn.close()
    return codes, divisions, total


def cold_pages(task_codes: list[str], divisions: list[str]) -> dict[str, Any]:
    """Requests that are nearly always first renders: random guides, searches narrowed to a random county."""

    def guide_cold(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get(f"/items/{rnd.choice(task_codes)}")

    def search_cold(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get("/search", params={"q": rnd.choice(PAGE_QUERIES), "division": rnd.choice(divisions)})

    return {"guide-cold": guide_cold, "search-cold": search_cold}


def pages(task_codes: list[str]) -> dict[str, Any]:
    """One request per measured route, as a browser would send it."""

    def static(c: httpx.AsyncClient, _rnd: random.Random) -> Any:
        return c.get(STATIC)

    def home(c: httpx.AsyncClient, _rnd: random.Random) -> Any:
        return c.get("/")

    def search(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get("/search", params={"q": rnd.choice(PAGE_QUERIES)})

    def guide(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get(f"/items/{rnd.choice(task_codes)}")

    return {"static": static, "home": home, "search": search, "guide": guide}


async def first_page(base: str) -> None:
    """What the home page and its stylesheet weigh, over the wire and uncompressed."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        sizes = []
        for path in ("/", STATIC):
            answer = await c.get(path)
            sizes.append((path, answer.num_bytes_downloaded, len(answer.content), answer.headers))
    wire = sum(s[1] for s in sizes)
    raw = sum(s[2] for s in sizes)
    print(
        f"== first page: home HTML + portal.css = {wire / 1024:.1f} KiB sent, {raw / 1024:.1f} KiB uncompressed"
    )
    for path, sent, plain, headers in sizes:
        encoding = headers.get("content-encoding", "none")
        print(f"   {path:<28} {sent:>7} B sent ({encoding}), {plain:>7} B uncompressed")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent keep-alive clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of every burst")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use (migrated, seeded)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "zhengwu-load-cache"))
    parser.add_argument("--client-timeout", type=float, default=120.0)
    parser.add_argument("--node", type=Path, help="an existing SQLite node's data directory, used in place")
    parser.add_argument("--cold", type=int, default=20000, help="random items drawn for the guide-cold burst")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zhengwu-portal-") as tmp:
        run_dir = Path(tmp)
        port = free_port()
        if args.node:
            env = base_env(args.node, f"sqlite:///{(args.node / 'zhengwu.db').as_posix()}", port)
            run_cli(env, "migrate")
            database = args.node / "zhengwu.db"
        else:
            env = prepare_database(args, run_dir, port)
            database = None if args.postgres else run_dir / "zhengwu.db"
        proc = start_node(env, port, run_dir / "node.log")
        base = f"http://127.0.0.1:{port}"
        try:
            task_codes = asyncio.run(fetch_task_codes(base))
            send = pages(task_codes)
            items = "?"
            if database is not None:
                codes, divisions, total = catalog_sample(database, args.cold)
                send.update(cold_pages(codes, divisions))
                items = f"{total:,}"
            kind = "PostgreSQL" if args.postgres else "SQLite"
            print(
                f"== portal pages on one node ({kind}, {items} implementation items, one uvicorn worker, "
                f"{os.cpu_count()} CPUs), {args.clients} clients, {args.seconds:g} s per burst"
            )
            asyncio.run(first_page(base))
            opened, took = asyncio.run(warm(base, task_codes))
            print(
                f"== warmed: {opened} pages opened once in {took:.1f} s ({took / opened * 1000:.1f} ms each)"
            )
            results: dict[str, Burst] = {}
            for route, request in send.items():
                results[route] = asyncio.run(
                    burst(base, route, request, args.clients, args.seconds, args.client_timeout)
                )
                print_burst(results[route])
            floor = results["static"].result.per_second
            print("== throughput as a share of the static stylesheet's (same node, same run)")
            for route in [r for r in results if r != "static"]:
                r = results[route].result
                share = r.per_second / floor if floor else float("nan")
                print(f"   {route:<7} {share:6.1%}  ({r.per_second:.1f} vs {floor:.1f} req/s)")
        finally:
            stop_node(proc, run_dir / "node.log")


if __name__ == "__main__":
    main()
