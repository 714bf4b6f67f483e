"""What the WAF in front costs: the token endpoint and a catalog search, direct and through nginx.

One node (``zhengwu serve``, SQLite in a temporary directory, the demo catalog with ``--demo``) and, in
the same run, three ways to reach it: directly (the baseline), through nginx without ModSecurity (the
proxy's own cost) and through nginx + ModSecurity v3 + OWASP CRS at paranoia level 2 as deploy/nginx
configures it. Each is driven by the same load generator: ``--concurrency`` keep-alive HTTP/1.1
clients for ``--seconds`` in all, in ``--rounds`` slices that take the three ways in turn (the order
rotating each round), so that a shared machine's load drifting during the run weighs on all three alike
instead of on whichever came last. Figures: requests/s, p50/p99 latency, errors; ratio = through / direct.
Goal (issue 15): the WAF costs at most 20 % of the direct throughput (ratio >= 0.80).

    .venv/bin/python bench/waf.py [--seconds 12] [--rounds 4] [--concurrency 8] [--workers N] [--demo]

Needs nginx, libnginx-mod-http-modsecurity and modsecurity-crs (Debian); says so and stops otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, report

ROOT = Path(__file__).resolve().parents[1]


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "zhengwu_nginx_render", ROOT / "deploy" / "nginx" / "render.py"
    )
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="per way of reaching the node, in all")
    parser.add_argument("--rounds", type=int, default=4, help="slices per way, taken in turn")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="nginx worker processes (default: one per core, as Debian's worker_processes auto)",
    )
    parser.add_argument("--only", choices=("token", "catalog"), help="measure one endpoint only")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--demo", action="store_true", help="load the demo catalog (about 4,600 items) first")
    args = parser.parse_args()
    render = _render_module()
    reason = render.missing()
    if reason is not None:
        print(f"cannot run: {reason}")
        return 1
    import httpx

    with tempfile.TemporaryDirectory(prefix="zw-bench-waf-") as tmp:
        root = Path(tmp)
        ports = [_free_port() for _ in range(3)]
        app_port, proxy_port, waf_port = ports
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
        env.update({
            "ZHENGWU_DATA_DIR": str(root / "node"), "ZHENGWU_DATABASE_URL": f"sqlite:///{root / 'node' / 'zhengwu.db'}",
            "ZHENGWU_NODE_ID": "bench", "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{waf_port}",
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
        proxies = []
        try:
            _wait(f"http://127.0.0.1:{app_port}/_status")
            for port, waf, name in ((proxy_port, False, "nginx"), (waf_port, True, "nginx-modsecurity")):
                rendered = render.render(
                    root / name, listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{app_port}", waf=waf,
                    workers=args.workers,
                )  # fmt: skip
                proxies.append(render.Proxy(rendered, f"http://127.0.0.1:{port}").start())
            auth = httpx.BasicAuth(client["client_id"], client["client_secret"])

            def token() -> dict[str, Any]:
                body = {"grant_type": "client_credentials", "scope": "verify:person"}
                return {"method": "POST", "url": "/oidc/token", "data": body, "auth": auth}

            def search() -> dict[str, Any]:
                return {"method": "GET", "url": "/api/v1/catalog/search", "params": {"q": "护照 签发"}}

            ways = ((app_port, "direct"), (proxy_port, "nginx"), (waf_port, "nginx + ModSecurity + CRS PL2"))
            groups = [[], *[[proxy.proc.pid] for proxy in proxies if proxy.proc is not None]]
            slice_seconds = args.seconds / args.rounds
            chosen = [(label, make) for label, make in (("token endpoint", token), ("catalog search", search))
                      if args.only is None or label.startswith(args.only)]  # fmt: skip
            for label, make in chosen:
                slices: list[list[Result]] = [[] for _ in ways]
                # CPU seconds the node and the way's proxy spent, per way: what each request costs the
                # host whatever else runs on it (the throughput ratio is at the mercy of the load).
                cpu = [[0.0, 0.0] for _ in ways]
                for round_no in range(args.rounds):
                    order = [(round_no + k) % len(ways) for k in range(len(ways))]
                    for index in order:
                        url = f"http://127.0.0.1:{ways[index][0]}"
                        before = (_cpu_seconds(_tree(node.pid)), _cpu_seconds(_session(groups[index])))
                        slices[index].append(asyncio.run(_drive(url, make, slice_seconds, args.concurrency)))
                        cpu[index][0] += _cpu_seconds(_tree(node.pid)) - before[0]
                        cpu[index][1] += _cpu_seconds(_session(groups[index])) - before[1]
                results = [
                    _merge(f"{label}: {name}", parts)
                    for (_port, name), parts in zip(ways, slices, strict=True)
                ]
                report(
                    results,
                    baseline=results[0],
                    title=f"{label}, {args.concurrency} clients, {args.seconds:g} s per way in {args.rounds} rounds",
                )
                cost = 1 - results[2].per_second / results[0].per_second
                print(f"   WAF cost: {cost:.1%} of direct throughput (goal <= 20%)")
                spread = [1 - w.per_second / d.per_second for d, w in zip(slices[0], slices[2], strict=True)]
                print(f"   per round: {', '.join(f'{c:.0%}' for c in spread)}")
                per_request = [
                    (node_cpu / result.ops * 1000, proxy_cpu / result.ops * 1000)
                    for (node_cpu, proxy_cpu), result in zip(cpu, results, strict=True)
                ]
                for (_port, name), (node_ms, proxy_ms) in zip(ways, per_request, strict=True):
                    print(f"   CPU per request, {name}: node {node_ms:.2f} ms + proxy {proxy_ms:.2f} ms")
                host = per_request[0][0] / sum(per_request[2])
                print(f"   WAF cost by CPU (node and proxy on one busy host): {1 - host:.1%}")
        finally:
            for proxy in proxies:
                proxy.stop()
            node.terminate()
            node.wait(timeout=30)
    return 0


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
