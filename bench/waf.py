"""What the WAF in front costs: the token endpoint and a catalog search, direct and through nginx.

One node (``zhengwu serve``, SQLite in a temporary directory, the demo catalog with ``--demo``) and, in
the same run, three ways to reach it: directly (the baseline), through nginx without ModSecurity (the
proxy's own cost) and through nginx + ModSecurity v3 + OWASP CRS at paranoia level 2 as deploy/nginx
configures it. Each is driven by the same load generator (``--client``: wrk when installed, one thread,
a few microseconds of CPU per request; else httpx, about a millisecond): ``--concurrency`` keep-alive
HTTP/1.1 connections for ``--seconds`` in all, in ``--rounds`` slices that take every way in turn (the
order rotating each round), so that a shared machine's load drifting during the run weighs on all alike
instead of on whichever came last. Figures: requests/s, p50/p99 latency, errors; ratio = through / direct;
the CPU seconds the node and each nginx (master and workers) spent per request, read from /proc, and
from them how many WAF cores per node core the goal needs where each has cores of its own.
Goal (issue 15): the WAF costs at most 20 % of the direct throughput (ratio >= 0.80).

Two layouts, measured in the same run (``--layout both``, the default), each against its own direct
baseline:

* ``shared``: nobody is pinned. The node, nginx's workers (``--workers``) and the load generator share
  every core, as on a developer's machine; each WAF millisecond is taken from the node.
* ``pinned``: the WAF has a core of its own, as a deployment gives it one (a gateway host, or cores
  reserved for nginx). The node (every thread of ``zhengwu serve``) is pinned to one core in the direct
  and in the proxied runs alike; a second nginx pair (one worker, the master too) is pinned to the other
  core. The load generator is pinned to the WAF's core in all of that layout's runs: it is the same
  client in every run, so the direct and the proxied runs pay the same for it, and it never takes the
  node's core (which would slow the baseline and flatter the WAF). The price of the choice: behind the
  WAF the client competes with nginx for its core, so the figure is, if anything, a little worse than a
  gateway reached by clients on other machines (with wrk, by a few microseconds per request; with the
  httpx client, which costs more than the WAF, by much more). Neither layout keeps other processes off
  the two cores: on a shared machine each pinned process gets only its share of its core.
  ``--cores NODE,WAF`` picks the two.

``--before DIR`` adds, in each layout, a fourth way: nginx + ModSecurity rendered from another copy of
deploy/nginx (``git archive REV deploy/nginx | tar -x -C DIR``, then ``--before DIR/deploy/nginx``), so a
configuration change is measured against what it replaces in the same run.

    .venv/bin/python bench/waf.py [--seconds 12] [--rounds 4] [--concurrency 8] [--workers N] [--demo]
        [--layout shared|pinned|both] [--cores 0,1] [--before DIR] [--only token|catalog]

Needs nginx, libnginx-mod-http-modsecurity and modsecurity-crs (Debian); says so and stops otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, report

ROOT = Path(__file__).resolve().parents[1]
WAF = "nginx + ModSecurity + CRS PL2"


def _render_module(
    folder: Path = ROOT / "deploy" / "nginx", name: str = "zhengwu_nginx_render"
) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, folder / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "zhengwu", *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _drive(url: str, make: Any, seconds: float, concurrency: int) -> Result:
    import httpx

    latencies: list[float] = []
    errors = 0

    async def client() -> int:
        nonlocal errors
        done = 0
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
            await http.request(**make())  # warm the connection outside the measurement
            stop_at = time.perf_counter() + seconds
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                answer = await http.request(**make())
                latencies.append(time.perf_counter() - t0)
                if answer.status_code != 200:
                    errors += 1
                done += 1
        return done

    start = time.perf_counter()
    counts = await asyncio.gather(*(client() for _ in range(concurrency)))
    result = Result("", sum(counts), time.perf_counter() - start, latencies=latencies, unit="req")
    result.name = f"errors={errors}"
    return result


_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("{\\"requests\\": %d, \\"microseconds\\": %d, \\"errors\\": %d, \\"quantiles\\": [",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status))
  for i = 0, 999 do
    io.write(string.format(i == 0 and "%d" or ", %d", latency:percentile((i + 0.5) / 10)))
  end
  io.write("]}\\n")
end
"""


def _wrk_script(folder: Path, request: dict[str, Any]) -> Path:
    """A wrk Lua script sending ``request`` (the httpx arguments of ``make()``) and printing JSON at the end."""
    import httpx

    built = httpx.Client().build_request(
        request["method"], "http://127.0.0.1" + request["url"], data=request.get("data"),
        params=request.get("params"),
    )  # fmt: skip
    if request.get("auth") is not None:
        built = next(request["auth"].auth_flow(built))  # adds the Authorization header httpx would send
    # The headers httpx sends (user agent, accept-encoding, ...), but wrk's own Host and Content-Length.
    headers = {k: v for k, v in built.headers.items() if k.lower() not in ("host", "content-length")}
    lines = [
        f"wrk.method = {json.dumps(built.method)}",
        f"wrk.path = {json.dumps(built.url.raw_path.decode())}",
    ]
    if built.content:
        lines.append(f"wrk.body = {json.dumps(built.content.decode())}")
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path = folder / f"wrk-{built.method.lower()}-{len(list(folder.glob('wrk-*.lua')))}.lua"
    path.write_text("\n".join(lines) + "\n" + _WRK_DONE)
    return path


def _drive_wrk(url: str, script: Path, seconds: float, concurrency: int, cpus: set[int]) -> Result:
    """wrk (one thread, ``concurrency`` keep-alive connections) on ``cpus``: a C client costing a few
    microseconds of CPU per request, so where it sits weighs little on what is measured."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", str(script), url],
        capture_output=True, text=True, check=False, preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {(out.stdout + out.stderr)[-2000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    result = Result("", found["requests"], found["microseconds"] / 1e6, unit="req",
                    latencies=[q / 1e6 for q in found["quantiles"]])  # fmt: skip
    result.name = f"errors={found['errors']}"
    return result


@dataclass
class Way:
    """One way of reaching the node in one layout."""

    layout: str
    name: str
    port: int
    proxy: Any = None  # render.Proxy, None for the direct way
    slices: list[Result] = field(default_factory=list)
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0])  # node, proxy: CPU seconds

    @property
    def group(self) -> list[int]:
        return [self.proxy.proc.pid] if self.proxy is not None and self.proxy.proc is not None else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="per way of reaching the node, in all")
    parser.add_argument("--rounds", type=int, default=4, help="slices per way, taken in turn")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="nginx worker processes of the shared layout (default: one per core, as worker_processes auto)",
    )
    parser.add_argument("--only", choices=("token", "catalog"), help="measure one endpoint only")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--demo", action="store_true", help="load the demo catalog (about 4,600 items) first")
    parser.add_argument("--layout", choices=("shared", "pinned", "both"), default="both")
    parser.add_argument("--cores", help="NODE,WAF: the pinned layout's two cores (default: the first two)")
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator (default wrk when installed: a few microseconds of CPU per request)",
    )
    parser.add_argument("--before", type=Path, help="another deploy/nginx folder, measured as a fourth way")
    args = parser.parse_args()
    render = _render_module()
    reason = render.missing()
    if reason is not None:
        print(f"cannot run: {reason}")
        return 1
    before = _render_module(args.before.resolve(), "zhengwu_nginx_render_before") if args.before else None
    everywhere = sorted(os.sched_getaffinity(0))
    layouts = ["shared", "pinned"] if args.layout == "both" else [args.layout]
    cores = [int(c) for c in args.cores.split(",")] if args.cores else everywhere[:2]
    if "pinned" in layouts and (len(cores) != 2 or len(set(cores)) != 2 or not set(cores) <= set(everywhere)):
        print(f"cannot run the pinned layout: needs two distinct cores of {everywhere}, got {cores}")
        return 1
    import httpx

    with tempfile.TemporaryDirectory(prefix="zw-bench-waf-") as tmp:
        root = Path(tmp)
        app_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
        env.update({
            "ZHENGWU_DATA_DIR": str(root / "node"), "ZHENGWU_DATABASE_URL": f"sqlite:///{root / 'node' / 'zhengwu.db'}",
            "ZHENGWU_NODE_ID": "bench", "ZHENGWU_PUBLIC_URL": "http://127.0.0.1:8443",
            "ZHENGWU_SECURITY__SECRET_KEY": "bench-secret-0123456789abcdef0123", "ZHENGWU_LOG_LEVEL": "WARNING",
            # one address sends everything here: the per-address limits are not what is measured
            "ZHENGWU_SECURITY__PUBLIC_RATE_PER_MINUTE": "1000000",
        })  # fmt: skip
        (root / "node").mkdir()
        subprocess.run([sys.executable, "-m", "zhengwu", "migrate"], env=env, check=True, capture_output=True)
        if args.demo:
            subprocess.run(
                [sys.executable, "-m", "zhengwu", "seed", "--demo"], env=env, check=True, capture_output=True
            )
        client = _cli(env, "identity", "clients", "create", "--name", "压测部门系统", "--grant", "client_credentials",
                      "--scope", "verify:person", "--json")  # fmt: skip
        node = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--port", str(app_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ways: list[Way] = []
        try:
            _wait(f"http://127.0.0.1:{app_port}/_status")
            for layout in layouts:
                ways.append(Way(layout, "direct", app_port))
                workers = args.workers if layout == "shared" else 1
                kinds = [("nginx", render, False), (WAF, render, True)]
                if before is not None:
                    kinds.append((f"{WAF} (before)", before, True))
                for index, (name, module, waf) in enumerate(kinds):
                    port = _free_port()
                    rendered = module.render(
                        root / f"{layout}-{index}", listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{app_port}",
                        waf=waf, workers=workers,
                    )  # fmt: skip
                    proxy = module.Proxy(rendered, f"http://127.0.0.1:{port}").start()
                    ways.append(Way(layout, name, port, proxy))
                    if layout == "pinned":  # for good: its workers are forked by the pinned master
                        _pin(_session(ways[-1].group), {cores[1]})
            auth = httpx.BasicAuth(client["client_id"], client["client_secret"])

            def token() -> dict[str, Any]:
                body = {"grant_type": "client_credentials", "scope": "verify:person"}
                return {"method": "POST", "url": "/oidc/token", "data": body, "auth": auth}

            def search() -> dict[str, Any]:
                return {"method": "GET", "url": "/api/v1/catalog/search", "params": {"q": "护照 签发"}}

            chosen = [(label, make) for label, make in (("token endpoint", token), ("catalog search", search))
                      if args.only is None or label.startswith(args.only)]  # fmt: skip
            for label, make in chosen:
                _measure(label, make, ways, node.pid, args, everywhere, cores, root)
        finally:
            _pin([os.getpid()], set(everywhere))
            for way in ways:
                if way.proxy is not None:
                    way.proxy.stop()
            node.terminate()
            node.wait(timeout=30)
    return 0


def _measure(
    label: str,
    make: Any,
    ways: list[Way],
    node: int,
    args: Any,
    everywhere: list[int],
    cores: list[int],
    root: Path,
) -> None:
    """Drive every way in turn, ``args.rounds`` times, and print each layout's figures."""
    import httpx

    for way in ways:
        way.slices, way.cpu = [], [0.0, 0.0]
        # wrk has no warm-up: the first search loads the segmenter's dictionary (seconds), outside the clock.
        with httpx.Client(base_url=f"http://127.0.0.1:{way.port}", timeout=120) as http:
            http.request(**make()).raise_for_status()
    slice_seconds = args.seconds / args.rounds
    script = _wrk_script(root, make()) if args.client == "wrk" else None
    for round_no in range(args.rounds):
        for k in range(len(ways)):
            way = ways[(round_no + k) % len(ways)]
            pinned = way.layout == "pinned"
            # Placed before every slice: uvicorn's thread pool may have grown since the last one.
            _pin(_tree(node), {cores[0]} if pinned else set(everywhere))
            _pin([os.getpid()], {cores[1]} if pinned else set(everywhere))
            before = (_cpu_seconds(_tree(node)), _cpu_seconds(_session(way.group)))
            url = f"http://127.0.0.1:{way.port}"
            if script is not None:
                generator = {cores[1]} if pinned else set(everywhere)
                way.slices.append(_drive_wrk(url, script, slice_seconds, args.concurrency, generator))
            else:
                way.slices.append(asyncio.run(_drive(url, make, slice_seconds, args.concurrency)))
            # CPU seconds the node and the way's proxy spent: what each request costs whatever else runs.
            way.cpu[0] += _cpu_seconds(_tree(node)) - before[0]
            way.cpu[1] += _cpu_seconds(_session(way.group)) - before[1]
    _pin([os.getpid()], set(everywhere))
    for layout in dict.fromkeys(way.layout for way in ways):
        mine = [way for way in ways if way.layout == layout]
        results = [_merge(f"{label}: {way.name}", way.slices) for way in mine]
        where = (
            f"pinned: node on core {cores[0]}, nginx (1 worker) and the load generator on core {cores[1]}"
            if layout == "pinned"
            else f"shared: {args.workers} nginx workers, nobody pinned"
        )
        report(
            results,
            baseline=results[0],
            title=f"{label} [{where}], {args.client}, {args.concurrency} connections, {args.seconds:g} s per way in {args.rounds} rounds",
        )
        for way, result in zip(mine, results, strict=True):
            if way.name.startswith(WAF) and results[0].ops:
                cost = 1 - result.per_second / results[0].per_second
                spread = [
                    1 - w.per_second / d.per_second for d, w in zip(mine[0].slices, way.slices, strict=True)
                ]
                print(f"   {way.name}: WAF cost {cost:.1%} of direct throughput (goal <= 20%), "
                      f"per round {', '.join(f'{c:.0%}' for c in spread)}")  # fmt: skip
        direct_node_ms = mine[0].cpu[0] / max(1, results[0].ops) * 1000
        for way, result in zip(mine, results, strict=True):
            node_ms, proxy_ms = (seconds / max(1, result.ops) * 1000 for seconds in way.cpu)
            print(f"   CPU per request, {way.name}: node {node_ms:.2f} ms + proxy {proxy_ms:.2f} ms")
            if way.name.startswith(WAF) and direct_node_ms:
                # Where each side has cores of its own and is busy: the WAF keeps 80 % of the node's
                # throughput when its cores serve 0.8 x the requests the node's cores can.
                print(
                    f"      cores this WAF needs per core of the node for the goal: {0.8 * proxy_ms / direct_node_ms:.1f}"
                )


def _merge(name: str, parts: list[Result]) -> Result:
    errors = sum(int(p.name.removeprefix("errors=")) for p in parts)
    latencies = [latency for p in parts for latency in p.latencies]
    merged = Result(f"{name} (errors={errors})", sum(p.ops for p in parts), sum(p.seconds for p in parts),
                    latencies=latencies, unit="req")  # fmt: skip
    return merged


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of live processes (Linux /proc; those gone meanwhile count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _pin(pids: list[int], cpus: set[int]) -> None:
    """Put every thread of ``pids`` on ``cpus`` (sched_setaffinity takes one thread; threads started
    later inherit their creator's cores). Threads that ended meanwhile are skipped."""
    for pid in pids:
        try:
            threads = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            continue
        for tid in threads:
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                continue


def _stats() -> list[tuple[int, int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append((int(entry.name), int(fields[1]), int(fields[3])))  # pid, ppid, session
    return found


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn may fork)."""
    stats, tree = _stats(), [pid]
    for child, parent, _session in stats:
        if parent in tree:
            tree.append(child)
    return tree


def _session(leaders: list[int]) -> list[int]:
    """Every process of the sessions ``leaders`` started (nginx's master and workers)."""
    return [pid for pid, _parent, session in _stats() if session in leaders] if leaders else []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    raise SystemExit(main())
