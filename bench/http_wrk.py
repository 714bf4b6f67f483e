"""The node's HTTP request path under an external load generator: ``wrk`` in its own process, keep-alive,
16 and 64 connections, against a real node (``zhengwu serve``: uvicorn with uvloop and httptools when
installed, as in production), every route next to the static stylesheet measured in the same run.

Issue 11: license verification by identifier + holder code (``POST /api/v1/licenses/verify``), target
>= 2,000/s with p99 <= 20 ms on SQLite; its baseline ``GET /api/v1/licenses/types``. Issue 13: the home,
search and guide pages at 64 connections, target >= 0.5x the static route's throughput with p99 <= 100 ms.

``wrk`` is not a Python package: install it with ``apt-get install -y wrk`` (Debian/Ubuntu). The script
stops with that hint when it is missing. The node is prepared as ``bench/load.py`` does (the demo seed,
copied from a cache per run; ``--licenses`` licenses issued through the CLI for the verify route).

    .venv/bin/python bench/http_wrk.py [--routes static,types,verify,home,search,guide]
                                       [--connections 16,64] [--seconds 10] [--workers 1] [--threads 1]
                                       [--cache DIR] [--postgres URL] [--licenses 5] [--node DIR]
    PYTHONPATH=<checkout of another commit>/src .venv/bin/python bench/http_wrk.py ...   # another version

Every line reports throughput, p50/p99 from wrk's latency distribution (``--latency``: corrected for
coordinated omission is not needed here, as each connection sends its next request when the answer
came), non-2xx answers and socket errors, the node's CPU per request (all its processes, from /proc:
the figure that a loaded machine distorts least), the 1-minute load average before and after the run, and
the ratio to the static route at the same connection count. wrk sends no ``Accept-Encoding``: pages and
the stylesheet are measured uncompressed. The machine's other processes share its cores
with the node and with wrk: report the load average with any figure and alternate versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import (
    base_env,
    fetch_task_codes,
    free_port,
    issue_licenses,
    prepare_database,
    run_cli,
    start_node,
    stop_node,
)
from portal import PAGE_QUERIES, STATIC

INSTALL_HINT = "wrk is not installed: apt-get install -y wrk (it is a C program, not a Python package)"


@dataclass
class Run:
    """What wrk measured for one route at one connection count."""

    route: str
    connections: int
    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    load_before: float
    load_after: float
    cpu_ms: float  # the node's CPU (every process of it) per request, from /proc


def lua_script(method: str, paths: list[str], bodies: list[str] | None = None) -> str:
    """A wrk script sending ``paths`` (and ``bodies``) in turn on every connection."""

    def table(values: list[str]) -> str:
        return "{" + ", ".join(json.dumps(v, ensure_ascii=True) for v in values) + "}"

    body = table(bodies) if bodies else "nil"
    return f"""
local paths = {table(paths)}
local bodies = {body}
local n = 0
local headers = {{}}
if bodies then headers["Content-Type"] = "application/json" end
request = function()
  n = n + 1
  local body = nil
  if bodies then body = bodies[(n % #bodies) + 1] end
  return wrk.format("{method}", paths[(n % #paths) + 1], headers, body)
end
"""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse(output: str) -> tuple[float, float, float, int, int, int]:
    """(req/s, p50 ms, p99 ms, requests, non-2xx, socket errors) from wrk's ``--latency`` report."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    found = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    non_2xx = int(found.group(1)) if found else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    return rate, p50, p99, requests, non_2xx, socket_errors


def node_cpu_seconds(pid: int) -> float:
    """User + system CPU of the node's process and its children (uvicorn's workers), from Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's id
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def run_wrk(
    base: str, route: str, script: Path, connections: int, seconds: float, threads: int, pid: int
) -> Run:
    before = os.getloadavg()[0]
    cpu_before = node_cpu_seconds(pid)
    done = subprocess.run(
        [
            "wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds:g}s",
            "--timeout", "30s", "--latency", "-s", str(script), base,
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"wrk failed on {route}:\n{done.stdout}\n{done.stderr}")
    cpu = node_cpu_seconds(pid) - cpu_before
    rate, p50, p99, requests, non_2xx, errors = parse(done.stdout)
    return Run(
        route, connections, rate, p50, p99, requests, non_2xx, errors, before, os.getloadavg()[0],
        1000 * cpu / max(requests, 1),
    )  # fmt: skip


def scripts(folder: Path, codes: list[str], licenses: list[dict[str, str]]) -> dict[str, Path]:
    """One wrk script per route."""
    from urllib.parse import quote

    made = {
        "static": lua_script("GET", [STATIC]),
        "types": lua_script("GET", ["/api/v1/licenses/types"]),
        "home": lua_script("GET", ["/"]),
        "search": lua_script("GET", [f"/search?q={quote(q)}" for q in PAGE_QUERIES]),
        "guide": lua_script("GET", [f"/items/{code}" for code in codes[:200]]),
    }
    if licenses:
        bodies = [json.dumps(lic) for lic in licenses]
        made["verify"] = lua_script("POST", ["/api/v1/licenses/verify"], bodies)
    paths = {}
    for name, text in made.items():
        paths[name] = folder / f"{name}.lua"
        paths[name].write_text(text)
    return paths


def check_answers(base: str, codes: list[str], licenses: list[dict[str, str]]) -> None:
    """One request per route before the load: each must answer 200 (a 404 or 500 measured fast is no
    figure)."""
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        answers = {
            "static": client.get(STATIC),
            "types": client.get("/api/v1/licenses/types"),
            "home": client.get("/"),
            "search": client.get("/search", params={"q": PAGE_QUERIES[0]}),
            "guide": client.get(f"/items/{codes[0]}"),
        }
        if licenses:
            answers["verify"] = client.post("/api/v1/licenses/verify", json=licenses[0])
            if not answers["verify"].json().get("valid"):
                raise SystemExit(f"the verify route does not answer valid: {answers['verify'].text[:300]}")
    bad = {name: a.status_code for name, a in answers.items() if a.status_code != 200}
    if bad:
        raise SystemExit(f"routes not answering 200 before the load: {bad}")


def report(runs: list[Run]) -> None:
    static = {r.connections: r.rate for r in runs if r.route == "static"}
    print(
        f"{'route':<7} {'conns':>5} {'req/s':>9} {'x static':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'requests':>9} {'non-2xx':>8} {'sock err':>8} {'node CPU ms/req':>15}  load 1-min before/after"
    )
    for r in runs:
        ratio = r.rate / static[r.connections] if static.get(r.connections) else float("nan")
        print(
            f"{r.route:<7} {r.connections:>5} {r.rate:>9.1f} {ratio:>9.2f} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f}"
            f" {r.requests:>9} {r.non_2xx:>8} {r.socket_errors:>8} {r.cpu_ms:>15.3f}"
            f"  {r.load_before:.1f} / {r.load_after:.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--routes", default="static,types,verify,home,search,guide")
    parser.add_argument("--connections", default="16,64", help="keep-alive connections per run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the generator's CPU)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the node")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use (migrated, seeded)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "zhengwu-load-cache"))
    parser.add_argument("--licenses", type=int, default=5, help="licenses issued for the verify route")
    parser.add_argument(
        "--node", type=Path, help="an existing SQLite node's data directory used in place (bench/bignode.py)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(INSTALL_HINT)
    routes = args.routes.split(",")
    if "static" not in routes:
        routes.insert(0, "static")  # the baseline of every ratio
    levels = [int(x) for x in args.connections.split(",")]

    with tempfile.TemporaryDirectory(prefix="zhengwu-wrk-") as tmp:
        run_dir = Path(tmp)
        port = free_port()
        if args.node:
            env = base_env(args.node, f"sqlite:///{(args.node / 'zhengwu.db').as_posix()}", port)
            run_cli(env, "migrate")
        else:
            env = prepare_database(args, run_dir, port)
        licenses = issue_licenses(env, run_dir, args.licenses) if "verify" in routes else []
        proc = start_node(env, port, run_dir / "node.log", workers=args.workers)
        base = f"http://127.0.0.1:{port}"
        try:
            codes = asyncio.run(fetch_task_codes(base))
            check_answers(base, codes, licenses)
            paths = scripts(run_dir, codes, licenses)
            kind = "PostgreSQL" if args.postgres else "SQLite"
            print(
                f"== wrk against one node ({kind}, {args.workers} uvicorn worker(s), {os.cpu_count()} CPUs,"
                f" wrk -t{args.threads}), {args.seconds:g} s per run, code from"
                f" {os.environ.get('PYTHONPATH') or 'the installed package'}",
                flush=True,
            )
            runs = [
                run_wrk(base, route, paths[route], level, args.seconds, args.threads, proc.pid)
                for level in levels
                for route in routes
            ]
            report(runs)
        finally:
            stop_node(proc, run_dir / "node.log")


if __name__ == "__main__":
    main()
