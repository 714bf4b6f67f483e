"""Password login throughput against the bare argon2id verify of the same parameters (issue 3: overhead ≤ 20%).

Rates are per CPU-second (``time.process_time`` in process, /proc for the served node), measured in interleaved rounds, so that other load on a shared host does not skew the ratio.
Three figures measured in the same run on one SQLite database file, in interleaved rounds:
* bare ``argon2.PasswordHasher.verify`` of a stored hash (the floor);
* ``identity.service.authenticate_password`` + ``start_session`` + commit (lookup by blind index,
  rate-limit counts, hash-chained audit rows, session row);
* ``POST /api/v1/identity/login`` to a real ``zhengwu serve`` process, per CPU-second of that process
  (read from /proc, so the load generator's own CPU is not counted).

A last line compares the served node's CPU time per login with the argon2id CPU time inside that same
process (``zhengwu_identity_password_hash_cpu_seconds_total`` from its /metrics): a baseline with the
caches a real login leaves, where the tight loop keeps argon2's 19 MiB in the L3 cache.

    .venv/bin/python bench/identity_login.py [--seconds 5] [--accounts 200]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from harness import Result, report
from zhengwu.identity import service
from zhengwu.identity.audit import RequestMeta
from zhengwu.identity.wiring import configure
from zhengwu.kernel.config import Settings
from zhengwu.kernel.logging import configure_logging
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work
from zhengwu.main import build_node
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSWORD = "Bench-Passw0rd"
TARGET_OVERHEAD = 0.20


def cpu_rate(name: str, fn: Callable[[], object], cpu_seconds: float) -> Result:
    """Calls of ``fn`` per CPU-second over about ``cpu_seconds`` of this process's CPU time."""
    fn()
    calls = 0
    start = time.process_time()
    while True:
        fn()
        calls += 1
        if time.process_time() - start >= cpu_seconds:
            break
    return Result(name, calls, time.process_time() - start, unit="logins")


def _cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat fields 14 and 15: user and system time in clock ticks (all threads).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedNode:
    """A real ``zhengwu serve`` process; :meth:`measure` counts its CPU time over a number of logins."""

    def __init__(self, data_dir: Path, url: str, identifiers: list[str]) -> None:
        port = _free_port()
        env = dict(os.environ)
        env.update(
            {
                "ZHENGWU_DATABASE_URL": url,
                "ZHENGWU_DATA_DIR": str(data_dir),
                "ZHENGWU_LOG_LEVEL": "WARNING",
                "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
            }
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/_status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise SystemExit("zhengwu serve did not start")
            time.sleep(0.3)
        self.client = httpx.Client(base_url=base, timeout=30)
        self.who = itertools.cycle(identifiers)
        for _ in range(5):
            self.login()
        # Background work of the node (OIDC dispatcher, exchange relay, metrics) is not login cost.
        idle_start, idle_cpu = time.monotonic(), _cpu_seconds(self.proc.pid)
        time.sleep(3)
        self.idle_rate = (_cpu_seconds(self.proc.pid) - idle_cpu) / (time.monotonic() - idle_start)
        print(f"served node idle CPU {self.idle_rate:.1%} of a core")

    def login(self) -> None:
        """One password login over HTTP (the cookie is dropped, as a new browser would have none)."""
        response = self.client.post(
            "/api/v1/identity/login", json={"identifier": next(self.who), "password": PASSWORD}
        )
        if response.status_code != 200:
            raise SystemExit(f"login failed: {response.status_code} {response.text[:200]}")
        self.client.cookies.clear()

    def argon2_cpu(self) -> float:
        """CPU seconds the node spent in argon2id so far (its ``/metrics``)."""
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith("zhengwu_identity_password_hash_cpu_seconds_total "):
                return float(line.split()[1])
        raise SystemExit("the node exports no zhengwu_identity_password_hash_cpu_seconds_total")

    def measure(self, logins: int) -> tuple[int, float, float]:
        """(logins, server CPU-seconds net of idle, of which in argon2id) over ``logins`` logins."""
        argon2_before = self.argon2_cpu()
        before, started = _cpu_seconds(self.proc.pid), time.monotonic()
        for _ in range(logins):
            self.login()
        spent = _cpu_seconds(self.proc.pid) - before
        elapsed = time.monotonic() - started
        argon2 = self.argon2_cpu() - argon2_before
        return logins, max(spent - self.idle_rate * elapsed, 1e-9), argon2

    def close(self) -> None:
        """Stop the node."""
        if hasattr(self, "client"):
            self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--http-logins", type=int, default=300, help="logins sent to the served node")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds (other load on the host drifts)"
    )
    args = parser.parse_args()
    configure_logging("WARNING", json_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{(Path(tmp) / 'bench.db').as_posix()}"
        upgrade(url)
        settings = Settings(data_dir=Path(tmp), database_url=url, log_level="WARNING")
        node = build_node(settings)
        ctx = configure(node)
        print(
            f"argon2id m={ctx.argon2_memory_kib} KiB t={ctx.argon2_time_cost} p={ctx.argon2_parallelism}; "
            f"{args.accounts} accounts"
        )
        engine, factory = node.engine, node.session_factory
        with unit_of_work(factory) as db:
            for n in range(args.accounts):
                service.register_natural_person(
                    db, name="演示用户", id_number=nth_citizen_id(n), phone=nth_phone(n), password=PASSWORD
                )
        with unit_of_work(factory) as db:
            stored = service.resolve_identifier(db, nth_phone(0))
            assert stored is not None and stored.password_hash is not None
            stored_hash = stored.password_hash
        hasher = ctx.passwords.hasher

        phones = itertools.cycle([nth_phone(n) for n in range(args.accounts)])
        meta = RequestMeta(ip="192.0.2.1", user_agent="bench")

        def one_login() -> None:
            with unit_of_work(factory) as db:
                account = service.authenticate_password(db, next(phones), PASSWORD, meta=meta)
                service.start_session(db, account, amr=["pwd"], meta=meta)

        candidates = {
            "bare argon2id verify": lambda: hasher.verify(stored_hash, PASSWORD),
            "authenticate_password + start_session + commit": one_login,
        }
        served_name = "POST /api/v1/identity/login (zhengwu serve, server CPU net of idle)"
        totals = {name: Result(name, 0, 0.0, unit="logins") for name in (*candidates, served_name)}
        node = ServedNode(Path(tmp), url, [nth_phone(n) for n in range(args.accounts)])
        served_argon2 = 0.0
        try:
            # Interleave short rounds, the served node's included, so that drifting load and clock
            # speed on a shared host hit every figure alike.
            for _ in range(args.rounds):
                for name, fn in candidates.items():
                    part = cpu_rate(name, fn, args.seconds / args.rounds)
                    totals[name].ops += part.ops
                    totals[name].seconds += part.seconds
                logins, cpu, argon2 = node.measure(max(1, args.http_logins // args.rounds))
                totals[served_name].ops += logins
                totals[served_name].seconds += cpu
                served_argon2 += argon2
        finally:
            node.close()
        engine.dispose()
        bare, ours, http = totals.values()
        report([ours, http, bare], baseline=bare, title="password login vs bare argon2id verify")
        for result in (ours, http):
            overhead = bare.per_second / result.per_second - 1
            verdict = "meets" if overhead <= TARGET_OVERHEAD else "MISSES"
            print(f"{result.name}: overhead {overhead:+.1%} {verdict} the ≤{TARGET_OVERHEAD:.0%} target")
        # The same comparison inside the served process: its own argon2id CPU time (thread CPU time
        # around each verify, from /metrics) against its whole CPU time for the logins. This baseline
        # runs under the conditions of a real login (caches shared with the rest of the request), where
        # the tight loop above keeps argon2's 19 MiB resident in the L3 cache between calls.
        inside = http.seconds / served_argon2 - 1
        verdict = "meets" if inside <= TARGET_OVERHEAD else "MISSES"
        print(
            f"served node: argon2id {served_argon2 / http.ops * 1000:.1f} ms of "
            f"{http.seconds / http.ops * 1000:.1f} ms CPU per login, overhead {inside:+.1%} {verdict} the "
            f"≤{TARGET_OVERHEAD:.0%} target"
        )


if __name__ == "__main__":
    main()
