"""Scale-out: client-credentials token throughput of one node on one PostgreSQL with 1 server + 1 worker
process, then 2 servers + 2 workers, in the same run and against the same database (docs/scaling.md).

The same load generator (bench/oidc_tokens.py: keep-alive HTTP/1.1 connections POSTing
``grant_type=client_credentials``) spreads its connections over the servers. Figures: tokens/s per layout
and the ratio 2+2 / 1+1. Issue 16 asks ≥ 1.6; on a machine with fewer cores than server processes plus
the load generator, the ratio measures the machine, not the node — the script prints the core count.
Case submission throughput is not measured here.

Where each layout is bound: during the measured seconds the script reads the CPU time of every server
and worker process, of the PostgreSQL backends serving this database, of itself (the load generator)
and of the whole machine (/proc), and samples what the active backends wait on (``pg_stat_activity``
ten times a second: on the CPU, a lock, a light-weight lock, I/O, the client). Shares are in cores
(CPU seconds / wall seconds): when servers + generator + PostgreSQL + the rest of the machine fill every
core and the backends seldom wait on a lock, the run is bound by the machine, not by contention.

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
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 when it is gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK, sum(values[:8]) / _TICK


def _own() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Where:
    """CPU shares (cores) of one measured run and what PostgreSQL's active backends waited on."""

    wall: float = 0.0
    cores: dict[str, float] = field(default_factory=dict)
    waits: Counter[str] = field(default_factory=Counter)
    rounds: int = 0

    def lines(self) -> list[str]:
        shares = ", ".join(f"{name} {value:.2f}" for name, value in self.cores.items())
        seen = sum(self.waits.values())
        waits = ", ".join(f"{k} {100 * v / seen:.0f}%" for k, v in self.waits.most_common()) if seen else "-"
        return [
            f"  cores used: {shares}",
            f"  pg_stat_activity sampled {self.rounds} times: {seen} active backends seen ({waits})",
        ]


class Probe:
    """Reads CPU counters around the measured seconds and samples ``pg_stat_activity`` meanwhile."""

    def __init__(self, url: str, servers: list[int], workers: list[int]) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url, pool_size=1)
        self.groups = {"servers": servers, "workers": workers}
        self.where = Where()
        self._stop = threading.Event()

    def _backends(self) -> list[int]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return list(conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).scalars())  # fmt: skip

    def _sample(self) -> None:
        from sqlalchemy import text

        query = text(
            "SELECT coalesce(wait_event_type, 'on CPU') FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self._stop.wait(0.1):
                self.where.waits.update(conn.execute(query).scalars())
                self.where.rounds += 1

    def measure(self, work: Callable[[], object]) -> object:
        backends = self._backends()
        pids = {**self.groups, "PostgreSQL (this database)": backends}
        before = {name: sum(_cpu(p) for p in group) for name, group in pids.items()}
        own, (busy, total), started = _own(), _machine(), time.perf_counter()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            result = work()
        finally:
            self._stop.set()
            sampler.join()
        wall = time.perf_counter() - started
        after = {name: sum(_cpu(p) for p in group) for name, group in pids.items()}
        busy_after, total_after = _machine()
        cores = {name: (after[name] - before[name]) / wall for name in pids}
        cores["load generator"] = (_own() - own) / wall
        machine_busy = (busy_after - busy) / wall
        cores["rest of the machine"] = max(0.0, machine_busy - sum(cores.values()))
        cores["idle"] = max(0.0, (total_after - total - (busy_after - busy)) / wall)
        self.where = Where(wall, cores, self.where.waits, self.where.rounds)
        self.engine.dispose()
        return result


def drive(
    name: str,
    ports: list[int],
    client_id: str,
    secret: str,
    *,
    seconds: float,
    concurrency: int,
    probe: Probe | None = None,
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
    measured = probe.measure(lambda: runner(run(seconds))) if probe else runner(run(seconds))
    ops, latencies, errors, elapsed = measured  # type: ignore[misc]
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
            worker_a = _worker_process(env)
            procs += [first, worker_a]
            probe_one = Probe(url, [first.pid], [worker_a.pid])
            one = drive("1 server + 1 worker", [port_a], client["client_id"], client["client_secret"],
                        seconds=args.seconds, concurrency=args.concurrency, probe=probe_one)  # fmt: skip
            second, port_b = _server(env, tmp)
            worker_b = _worker_process(env)
            procs += [second, worker_b]
            probe_two = Probe(url, [first.pid, second.pid], [worker_a.pid, worker_b.pid])
            two = drive("2 servers + 2 workers", [port_a, port_b], client["client_id"], client["client_secret"],
                        seconds=args.seconds, concurrency=args.concurrency, probe=probe_two)  # fmt: skip
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    print(f"cores: {os.cpu_count()}  concurrency: {args.concurrency}  seconds: {args.seconds}")
    report([one, two], baseline=one, title="token throughput, one PostgreSQL (target ratio >= 1.6)")
    print(f"errors: 1+1 {one.errors}, 2+2 {two.errors}")  # type: ignore[attr-defined]
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for label, probe in (("1 + 1", probe_one), ("2 + 2", probe_two)):
        print(f"where {label} went ({probe.where.wall:.1f} s measured):")
        for line in probe.where.lines():
            print(line)


if __name__ == "__main__":
    main()
