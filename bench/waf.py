"""What the WAF in front costs: the token endpoint and a catalog search, direct and through nginx.

One node (``zhengwu serve``, SQLite in a temporary directory, the demo catalog with ``--demo``) and, in
the same run, three ways to reach it: directly (the baseline), through nginx without ModSecurity (the
proxy's own cost) and through nginx + ModSecurity v3 + OWASP CRS at paranoia level 2 as deploy/nginx
configures it. Each is driven by the same load generator: ``--concurrency`` keep-alive HTTP/1.1
clients for ``--seconds``. Figures: requests/s, p50/p99 latency, errors; ratio = through / direct.
Goal (issue 15): the WAF costs at most 20 % of the direct throughput (ratio >= 0.80).

    .venv/bin/python bench/waf.py [--seconds 10] [--concurrency 8] [--demo]

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
    parser.add_argument("--seconds", type=float, default=10.0)
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
                    root / name, listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{app_port}", waf=waf
                )
                proxies.append(render.Proxy(rendered, f"http://127.0.0.1:{port}").start())
            auth = httpx.BasicAuth(client["client_id"], client["client_secret"])

            def token() -> dict[str, Any]:
                body = {"grant_type": "client_credentials", "scope": "verify:person"}
                return {"method": "POST", "url": "/oidc/token", "data": body, "auth": auth}

            def search() -> dict[str, Any]:
                return {"method": "GET", "url": "/api/v1/catalog/search", "params": {"q": "护照 签发"}}

            for label, make in (("token endpoint", token), ("catalog search", search)):
                results = []
                for port, name in (
                    (app_port, "direct"),
                    (proxy_port, "nginx"),
                    (waf_port, "nginx + ModSecurity + CRS PL2"),
                ):
                    result = asyncio.run(
                        _drive(f"http://127.0.0.1:{port}", make, args.seconds, args.concurrency)
                    )
                    result.name = f"{label}: {name} ({result.name})"
                    results.append(result)
                report(
                    results,
                    baseline=results[0],
                    title=f"{label}, {args.concurrency} clients, {args.seconds:g} s",
                )
                cost = 1 - results[2].per_second / results[0].per_second
                print(f"   WAF cost: {cost:.1%} of direct throughput (goal <= 20%)")
        finally:
            for proxy in proxies:
                proxy.stop()
            node.terminate()
            node.wait(timeout=30)
    return 0


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
