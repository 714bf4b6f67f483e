"""Scale-out: token and case-submission throughput of one node on one PostgreSQL with 1 server + 1 worker
process against 2 servers + 2 workers, alternating the two layouts round by round in the same run, against
the same database (docs/scaling.md; issue 16 asks for a ratio >= 1.6).

The load comes from ``wrk`` (a C program: ``apt-get install -y wrk``), so the generator costs little of
the machine the servers share; with two servers, two wrk processes run at once, each with half the
connections on one server. Measured per layout and round, each for ``--seconds``:

- tokens: ``POST /oidc/token`` with ``grant_type=client_credentials`` (HTTP Basic);
- cases: ``POST /api/v1/cases`` submitting a published item with three uploaded materials, as one
  logged-in citizen (session cookie) — a real submission each time (case number, history, audit,
  outbox rows for the exchange, which the workers relay).

A layout's second server and worker are started before its rounds and stopped after them, so the 1 + 1
rounds run with nothing else of the node alive. Figures: successful answers per second (wrk's requests
minus non-2xx), the ratio 2+2 / 1+1 per round and over all rounds, the load average around each run, and
where the CPU went (servers, workers, the database's PostgreSQL backends, wrk, the rest of the machine).
On a machine with fewer cores than server processes plus PostgreSQL plus the generator, the ratio
measures the machine, not the node — the script prints the core count.

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/zw_bench_scale \
        .venv/bin/python bench/scaleout.py [--seconds 10] [--connections 16] [--rounds 2]

The database named must be empty or absent (it is dropped and created).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import _guide
from harness import Result, report
from http_wrk import INSTALL_HINT, parse
from oidc_tokens import free_port, wait_http


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
    """CPU of this process and its finished children: wrk runs to completion inside a measurement (the
    servers and workers, still running, are counted by pid instead)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime


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
        cores["wrk + this script"] = (_own() - own) / wall
        machine_busy = (busy_after - busy) / wall
        cores["rest of the machine"] = max(0.0, machine_busy - sum(cores.values()))
        cores["idle"] = max(0.0, (total_after - total - (busy_after - busy)) / wall)
        self.where = Where(wall, cores, self.where.waits, self.where.rounds)
        self.engine.dispose()
        return result


def _lua(path: str, body: str, headers: dict[str, str]) -> str:
    """A wrk script sending one fixed POST (static request: wrk builds it once)."""
    lines = ['wrk.method = "POST"', f"wrk.path = {json.dumps(path)}", f"wrk.body = {json.dumps(body)}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def _wrk(ports: list[int], script: Path, connections: int, seconds: float) -> tuple[int, int, int, float]:
    """Run one wrk per port at once (connections split evenly); (ok answers, non-2xx, socket errors, wall)."""
    share = max(1, connections // len(ports))
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{share}",
                f"-d{seconds:g}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    ok = bad = errors = 0
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"wrk failed:\n{out}\n{err}")
        _rate, _p50, _p99, requests, non_2xx, socket_errors = parse(out)
        ok += requests - non_2xx
        bad += non_2xx
        errors += socket_errors
    return ok, bad, errors, time.perf_counter() - started


@dataclass
class Measured:
    """One layout, one route, one round."""

    layout: str
    route: str
    round: int
    ok: int
    non_2xx: int
    socket_errors: int
    seconds: float
    load_before: float
    load_after: float
    where: Where

    @property
    def rate(self) -> float:
        return self.ok / self.seconds


def measure(layout: str, route: str, round_: int, url: str, procs: dict[str, list[subprocess.Popen[bytes]]],
            ports: list[int], script: Path, args: argparse.Namespace) -> Measured:  # fmt: skip
    """Warm up 2 s, then measure with the CPU probe around the wrk runs."""
    _wrk(ports, script, args.connections, 2)
    probe = Probe(url, [p.pid for p in procs["servers"]], [p.pid for p in procs["workers"]])
    before = os.getloadavg()[0]
    ok, bad, errors, wall = probe.measure(lambda: _wrk(ports, script, args.connections, args.seconds))  # type: ignore[misc]
    return Measured(layout, route, round_, ok, bad, errors, wall, before, os.getloadavg()[0], probe.where)


def _case_setup(url: str, data_dir: Path) -> dict[str, Any]:
    """A department, a published item with three materials, a citizen with a session and three uploads."""
    from zhengwu.catalog import service as catalog
    from zhengwu.commands.node import open_node
    from zhengwu.identity import service as identity
    from zhengwu.identity.deps import COOKIE
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.session import unit_of_work
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

    node = open_node(Settings(database_url=url, data_dir=data_dir, log_level="WARNING"))
    try:
        with unit_of_work(node.session_factory) as session:
            dept = orgs.add_department(session, DepartmentCreate(
                credit_code=government_credit_code("130000", 88), name="河北省住房和城乡建设厅",
                division_code="130000"))  # fmt: skip
            catalog.create_directory(
                session,
                {"catalog_code": "000132001000", "task_name": "建筑施工特种作业人员操作资格认定", "task_type": "01",
                 "use_level": "2^3^4", "by_law": "《建设工程安全生产管理条例》"},
                actor="bench",
            )  # fmt: skip
            catalog.publish_directory(session, "000132001000", actor="bench")
            item = catalog.publish_task(
                session,
                catalog.create_task(session, _guide(dept.credit_code), actor="bench").task_code,
                actor="bench",
            )
            ids = [str(m["row_guid"]) for m in catalog.get_public_item(session, item.task_code)["materials"]]
            person = identity.register_natural_person(
                session, name="演示用户", id_number=nth_citizen_id(1), phone=nth_phone(1), password=None
            )
            token = identity.start_session(session, person, amr=["pwd"]).token
            task_code = item.task_code
        files = [node.files.put(f"材料{n}".encode() * 50) for n in range(3)]
    finally:
        node.close()
    body = {"task_code": task_code, "form": {"note": "bench"},
            "materials": [{"material_id": m, "file_sm3": f} for m, f in zip(ids, files, strict=True)]}  # fmt: skip
    return {"body": json.dumps(body, ensure_ascii=False), "cookie": f"{COOKIE}={token}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--routes", default="tokens,cases")
    parser.add_argument(
        "--settle", type=float, default=8.0, help="seconds after starting the 2 + 2 processes"
    )
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("BENCH_DATABASE_URL must name a PostgreSQL database (scale-out needs one)")
    if shutil.which("wrk") is None:
        sys.exit(INSTALL_HINT)
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
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        case = _case_setup(url, tmp / "node")
        scripts = {
            "tokens": _lua("/oidc/token", "grant_type=client_credentials",
                           {"Authorization": f"Basic {basic}",
                            "Content-Type": "application/x-www-form-urlencoded"}),
            "cases": _lua("/api/v1/cases", case["body"],
                          {"Cookie": case["cookie"], "Content-Type": "application/json"}),
        }  # fmt: skip
        paths = {}
        for route, text in scripts.items():
            paths[route] = tmp / f"{route}.lua"
            paths[route].write_text(text)
        routes = [r for r in args.routes.split(",") if r in scripts]
        results: list[Measured] = []
        first, port_a = _server(env, tmp)
        worker_a = _worker_process(env)
        try:
            for round_ in range(args.rounds):
                for layout in ("1 + 1", "2 + 2") if round_ % 2 == 0 else ("2 + 2", "1 + 1"):
                    extra: list[subprocess.Popen[bytes]] = []
                    ports = [port_a]
                    if layout == "2 + 2":
                        second, port_b = _server(env, tmp)
                        extra = [second, _worker_process(env)]
                        ports.append(port_b)
                        # A worker just started spends seconds importing and connecting: not in the figures.
                        time.sleep(args.settle)
                    procs = {"servers": [first, *extra[:1]], "workers": [worker_a, *extra[1:]]}
                    try:
                        for route in routes:
                            found = measure(layout, route, round_, url, procs, ports, paths[route], args)
                            results.append(found)
                            print(f"round {round_} {layout} {route}: {found.rate:.1f}/s ({found.non_2xx} non-2xx, "
                                  f"{found.socket_errors} socket errors; load {found.load_before:.2f} -> "
                                  f"{found.load_after:.2f})", flush=True)  # fmt: skip
                    finally:
                        for proc in extra:
                            proc.terminate()
                        for proc in extra:
                            proc.wait(timeout=30)
        finally:
            for proc in (first, worker_a):
                proc.terminate()
            for proc in (first, worker_a):
                proc.wait(timeout=30)
    _summary(results, args)


def _summary(results: list[Measured], args: argparse.Namespace) -> None:
    print(
        f"cores: {os.cpu_count()}  connections: {args.connections}  seconds: {args.seconds}  rounds: {args.rounds}"
    )
    for route in sorted({r.route for r in results}):
        mine = [r for r in results if r.route == route]
        by = {layout: [r for r in mine if r.layout == layout] for layout in ("1 + 1", "2 + 2")}
        totals = {k: Result(f"{k} ({route})", sum(r.ok for r in v), sum(r.seconds for r in v), unit=route)
                  for k, v in by.items()}  # fmt: skip
        report(
            list(totals.values()),
            baseline=totals["1 + 1"],
            title=f"{route}, all rounds (target ratio >= 1.6)",
        )
        for round_ in range(args.rounds):
            one = next(r for r in by["1 + 1"] if r.round == round_)
            two = next(r for r in by["2 + 2"] if r.round == round_)
            print(f"  round {round_}: {one.rate:.1f}/s vs {two.rate:.1f}/s, ratio {two.rate / one.rate:.2f}")
        for r in mine:
            print(f"  where round {r.round} {r.layout} went ({r.seconds:.1f} s):")
            for line in r.where.lines():
                print("  " + line)


if __name__ == "__main__":
    main()
