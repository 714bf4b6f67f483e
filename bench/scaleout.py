"""Scale-out: client-credentials token throughput of one node on one PostgreSQL with 1 server + 1 worker
process, then 2 servers + 2 workers, in the same run and against the same database (docs/scaling.md).

The same load generator (bench/oidc_tokens.py: keep-alive HTTP/1.1 connections POSTing
``grant_type=client_credentials``) spreads its connections over the servers. Figures: tokens/s per layout
and the ratio 2+2 / 1+1. Issue 16 asks ≥ 1.6; on a machine with fewer cores than server processes plus
the load generator, the ratio measures the machine, not the node — the script prints the core count.
Case submission throughput is not measured here.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/zw_bench_scale \
        .venv/bin/python bench/scaleout.py [--seconds 10] [--concurrency 16]

The database named must be empty or absent (it is dropped and created).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, report
from oidc_tokens import _runner, _worker, free_port, wait_http


def _fresh_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    admin_url, _, name = url.rpartition("/")
    admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _server(env: dict[str, str], tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhengwu", "serve", "--port", str(port)],
        env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_http(port, "/.well-known/openid-configuration")
    return proc, port


def _worker_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "zhengwu", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def drive(
    name: str, ports: list[int], client_id: str, secret: str, *, seconds: float, concurrency: int
) -> Result:
    """Warm up 2 s, then measure; connections are spread evenly over ``ports``."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = b"grant_type=client_credentials"

    def request(port: int) -> bytes:
        return (
            f"POST /oidc/token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {basic}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def run(duration: float) -> tuple[int, list[float], list[int], float]:
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(
                _worker(port, request(port), start + duration, latencies, errors)
                for i in range(concurrency)
                for port in [ports[i % len(ports)]]
            )
        )
        return sum(counts), latencies, errors, time.perf_counter() - start

    runner = _runner()
    runner(run(2.0))
    ops, latencies, errors, elapsed = runner(run(seconds))
    result = Result(name, ops, elapsed, latencies=latencies, unit="tokens")
    result.errors = len(errors)  # type: ignore[attr-defined]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("BENCH_DATABASE_URL must name a PostgreSQL database (scale-out needs one)")
    _fresh_database(url)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")},
            "ZHENGWU_DATA_DIR": str(tmp / "node"),
            "ZHENGWU_DATABASE_URL": url,
            "ZHENGWU_PUBLIC_URL": "http://127.0.0.1:8000",
            "ZHENGWU_LOG_LEVEL": "WARNING",
        }
        run = [sys.executable, "-m", "zhengwu"]
        subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
        created = subprocess.run(
            [*run, "identity", "clients", "create", "--name", "bench machine client", "--grant",
             "client_credentials", "--scope", "api", "--json"],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        client = json.loads(created.stdout)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            first, port_a = _server(env, tmp)
            procs += [first, _worker_process(env)]
            one = drive("1 server + 1 worker", [port_a], client["client_id"], client["client_secret"],
                        seconds=args.seconds, concurrency=args.concurrency)  # fmt: skip
            second, port_b = _server(env, tmp)
            procs += [second, _worker_process(env)]
            two = drive("2 servers + 2 workers", [port_a, port_b], client["client_id"], client["client_secret"],
                        seconds=args.seconds, concurrency=args.concurrency)  # fmt: skip
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    print(f"cores: {os.cpu_count()}  concurrency: {args.concurrency}  seconds: {args.seconds}")
    report([one, two], baseline=one, title="token throughput, one PostgreSQL (target ratio >= 1.6)")
    print(f"errors: 1+1 {one.errors}, 2+2 {two.errors}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
