"""Load on a real node: 16 / 64 / 256 concurrent keep-alive clients on the public search, an item guide,
the OIDC token endpoint (client credentials), the password login (issue 10) and license verification by
identifier + holder code (issue 11; 20 licenses issued through the CLI before the node starts).

Starts ``zhengwu serve`` (one uvicorn worker) on the seeded demo data (``zhengwu seed --demo``, seeded
once into a cache directory and copied for every run on SQLite), then for every route and level lets N
asyncio clients — each an ``httpx.AsyncClient`` with one keep-alive connection — send requests back to
back for a fixed time, while one more client asks ``/_status`` every half second. Prints per level:
throughput, p50/p99 latency, errors (any non-2xx answer or failed request), and the ``/_status``
latencies seen during the burst. The clients run in this process on the same machine as the node, so
they take CPU from it: the figures are for comparing levels and versions on one machine, not absolute.

    .venv/bin/python bench/load.py [--levels 16,64,256] [--seconds 15] [--routes search,guide,token,login]
                                   [--short] [--postgres postgresql+psycopg://user@host/db]
                                   [--cache DIR] [--client-timeout 120] [--licenses 20]

``--routes types,verify`` measures verification next to its baseline in the same run: ``types`` is the
public list of license types, a read of a few rows through the same middleware stack.

``--short`` runs 16 and 64 clients for 3 seconds each (a smoke run). To measure another version of the
code, run this script with ``PYTHONPATH=<checkout>/src``: the node is started from the same path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from harness import Result

QUERIES = ("护照", "社保", "营业执照", "不动产", "户口", "医保", "公积金", "个体工商户", "驾驶证", "结婚登记")
ACCOUNTS = (
    "demo1",
    "demo2",
    "demo4",
)  # demo3 has a second factor: its login answers alike, but stops halfway
DEMO_PASSWORD = "Demo-Passw0rd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zhengwu", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"zhengwu {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def base_env(data: Path, url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    env.update(
        {
            "ZHENGWU_DATA_DIR": str(data),
            "ZHENGWU_DATABASE_URL": url,
            "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ZHENGWU_LOG_LEVEL": "WARNING",
            # The clients all come from 127.0.0.1: per-address limits are not what is measured.
            "ZHENGWU_IDENTITY__IP_FAILURE_LIMIT": "100000",
            "ZHENGWU_SECURITY__PUBLIC_RATE_PER_MINUTE": "1000000",
        }
    )
    return env


def prepare_database(args: argparse.Namespace, run_dir: Path, port: int) -> dict[str, str]:
    """A migrated, seeded database for this run; its environment."""
    if args.postgres:
        env = base_env(run_dir, args.postgres, port)
        run_cli(env, "migrate")
        run_cli(env, "seed", "--demo")  # seeding twice changes nothing
        return env
    cache = Path(args.cache)
    seeded = cache / "zhengwu.db"
    if not (cache / "seeded").exists():
        print(f"seeding the demo data once into {cache} (a few minutes on SQLite)...", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        env = base_env(cache, f"sqlite:///{seeded.as_posix()}", port)
        run_cli(env, "migrate")
        run_cli(env, "seed", "--demo")
        (cache / "seeded").write_text("ok")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{seeded}{suffix}")
        if source.exists():
            shutil.copy(source, run_dir / f"zhengwu.db{suffix}")
    for keys in cache.glob("*"):  # the node's keys (secret key, PKI) belong with its database
        if keys.is_dir():
            shutil.copytree(keys, run_dir / keys.name, dirs_exist_ok=True)
    env = base_env(run_dir, f"sqlite:///{(run_dir / 'zhengwu.db').as_posix()}", port)
    run_cli(env, "migrate")  # a cache seeded by an older version follows the current schema
    return env


def start_node(env: dict[str, str], port: int, log: Path, *, workers: int = 1) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_status", timeout=5).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"the node did not start:\n{log.read_text()[-3000:]}")


def stop_node(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Stop the node and say whether its log holds errors."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    lines = log.read_text(errors="replace").splitlines()
    problems = [line for line in lines if '"level": "error"' in line or "Traceback" in line]
    if problems:
        print(f"node log: {len(problems)} error lines, e.g. {problems[0][:300]}")


@dataclass
class Burst:
    """What one route at one level did."""

    route: str
    clients: int
    result: Result
    errors: dict[str, int] = field(default_factory=dict)
    status_latencies: list[float] = field(default_factory=list)
    status_errors: int = 0


Request = Callable[[httpx.AsyncClient, random.Random], Any]


def issue_licenses(env: dict[str, str], run_dir: Path, count: int) -> list[dict[str, str]]:
    """``count`` 营业执照 issued by the demo market regulator (CLI), for the verification route."""
    from zhengwu.seed import demo_departments
    from zhengwu.seed.synthetic import enterprise_credit_code

    types = json.loads(run_cli(env, "licenses", "types", "list", "--json"))
    type_code = next(t["code"] for t in types if t["name"] == "营业执照")
    issuer = next(d for d in demo_departments() if d.name == "河北省市场监督管理局")
    face = run_dir / "face.json"
    issued = []
    for n in range(count):
        holder = enterprise_credit_code("130100", 500 + n)
        name = f"石家庄负载测试{n}有限公司"
        face.write_text(json.dumps({**LICENSE_FACE, "name": name}, ensure_ascii=False), encoding="utf-8")
        out = run_cli(
            env, "licenses", "issue", "--type", type_code, "--holder-code", holder, "--holder-name", name,
            "--data", str(face), "--department", issuer.credit_code, "--json",
        )  # fmt: skip
        identifier = json.loads(out.strip().splitlines()[-1])["identifier"]
        issued.append({"identifier": identifier, "holder_code": holder})
    return issued


LICENSE_FACE = {
    "kind": "有限责任公司",
    "legal_rep": "负载测试",
    "founded": "2020-05-01",
    "address": "河北省石家庄市长安区演示路1号",
    "scope": "软件开发",
}


def requests_for(
    task_codes: list[str], client_id: str, secret: str, licenses: list[dict[str, str]] | None = None
) -> dict[str, Request]:
    """One request per route, as a client of that route would send it."""

    def search(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get("/api/v1/catalog/search", params={"q": rnd.choice(QUERIES)})

    def guide(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.get(f"/api/v1/catalog/items/{rnd.choice(task_codes)}")

    def token(c: httpx.AsyncClient, _rnd: random.Random) -> Any:
        return c.post(
            "/oidc/token", data={"grant_type": "client_credentials", "scope": "api"}, auth=(client_id, secret)
        )

    def login(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        c.cookies.clear()  # every login a new session, as from a new browser
        return c.post(
            "/api/v1/identity/login", json={"identifier": rnd.choice(ACCOUNTS), "password": DEMO_PASSWORD}
        )

    def verify(c: httpx.AsyncClient, rnd: random.Random) -> Any:
        return c.post("/api/v1/licenses/verify", json=rnd.choice(licenses or [{}]))

    def types(c: httpx.AsyncClient, _rnd: random.Random) -> Any:
        # A baseline for verify: a public read of a few rows through the same stack. Not /_status (its
        # probes each take a second pooled connection while it holds one: 16 concurrent calls exhaust
        # the pool until its timeout) nor a portal stylesheet (checked against the signed manifest).
        return c.get("/api/v1/licenses/types")

    return {
        "types": types,
        "search": search,
        "guide": guide,
        "token": token,
        "login": login,
        "verify": verify,
    }


async def burst(base: str, route: str, send: Request, clients: int, seconds: float, timeout: float) -> Burst:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    status_latencies: list[float] = []
    status_errors = 0
    stop = asyncio.Event()

    async def client(n: int) -> None:
        rnd = random.Random(n)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    answer = await send(c, rnd)
                    key = None if answer.status_code < 300 else str(answer.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                if key is None:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[key] = errors.get(key, 0) + 1

    async def status_probe() -> None:
        nonlocal status_errors
        async with httpx.AsyncClient(base_url=base, timeout=timeout) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    ok = (await c.get("/_status")).status_code in (200, 503)  # 503: a probe says degraded
                except httpx.HTTPError:
                    ok = False
                if ok:
                    status_latencies.append(time.perf_counter() - t0)
                else:
                    status_errors += 1
                await asyncio.sleep(0.5)

    started = time.perf_counter()
    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    probe = asyncio.create_task(status_probe())
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, probe)  # requests in flight finish: the queue drains into the figures
    elapsed = time.perf_counter() - started
    result = Result(f"{route} x{clients}", len(latencies), elapsed, latencies=latencies, unit="req")
    return Burst(route, clients, result, errors, status_latencies, status_errors)


def print_burst(b: Burst) -> None:
    r = b.result
    status = Result("status", len(b.status_latencies), 1.0, latencies=b.status_latencies)
    errors = sum(b.errors.values())
    detail = f" {b.errors}" if b.errors else ""
    print(
        f"{b.route:<7} {b.clients:>4} clients  {r.per_second:8.1f} req/s  p50 {r.percentile(50):8.1f} ms"
        f"  p99 {r.percentile(99):8.1f} ms  errors {errors:>5}{detail}"
        f"  | /_status p50 {status.percentile(50):7.1f} ms max {status.percentile(100):7.1f} ms"
        f" ({len(b.status_latencies)} answers, {b.status_errors} failed)",
        flush=True,
    )


async def fetch_task_codes(base: str) -> list[str]:
    codes: list[str] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        for q in QUERIES:
            page = (await c.get("/api/v1/catalog/search", params={"q": q, "limit": 50})).json()
            codes += [i["task_code"] for i in page.get("items", []) if "task_code" in i]
    if not codes:
        raise SystemExit("no implementation items found: is the demo catalog seeded?")
    return sorted(set(codes))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="16,64,256", help="concurrent clients per burst")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of every burst")
    parser.add_argument("--routes", default="search,guide,token,login,verify")
    parser.add_argument("--short", action="store_true", help="16 and 64 clients, 3 seconds each")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL database to use (migrated, seeded)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "zhengwu-load-cache"))
    parser.add_argument("--client-timeout", type=float, default=120.0)
    parser.add_argument("--licenses", type=int, default=20, help="licenses issued for the verify route")
    args = parser.parse_args()
    if args.short:
        args.levels, args.seconds = "16,64", 3.0
    levels = [int(x) for x in args.levels.split(",")]
    routes = args.routes.split(",")

    with tempfile.TemporaryDirectory(prefix="zhengwu-load-") as tmp:
        run_dir = Path(tmp)
        port = free_port()
        env = prepare_database(args, run_dir, port)
        created = json.loads(
            run_cli(
                env, "identity", "clients", "create", "--name", "负载测试机器客户端",
                "--grant", "client_credentials", "--scope", "api", "--json",
            ).strip().splitlines()[-1]
        )  # fmt: skip
        licenses = issue_licenses(env, run_dir, args.licenses) if "verify" in routes else []
        proc = start_node(env, port, run_dir / "node.log")
        base = f"http://127.0.0.1:{port}"
        try:
            codes = asyncio.run(fetch_task_codes(base))
            send = requests_for(codes, created["client_id"], created["client_secret"], licenses)
            kind = "PostgreSQL" if args.postgres else "SQLite"
            print(
                f"== load on one node ({kind}, one uvicorn worker, {os.cpu_count()} CPUs), {args.seconds:g} s per burst"
            )
            for route in routes:
                for clients in levels:
                    print_burst(
                        asyncio.run(
                            burst(base, route, send[route], clients, args.seconds, args.client_timeout)
                        )
                    )
        finally:
            stop_node(proc, run_dir / "node.log")


if __name__ == "__main__":
    main()
