"""Client-credentials token issuance (ES256 JWT access tokens, RFC 9068): zhengwu vs node-oidc-provider.

Both servers run on loopback, one process each, and are driven by the same load generator: 8 concurrent
keep-alive HTTP/1.1 connections POSTing ``grant_type=client_credentials`` with HTTP Basic client
authentication. Figures: tokens/s, p50/p99 latency, error count; ratio = zhengwu / baseline.
Goal (issue 3): ratio >= 1.0 and p99 <= 15 ms with 0 errors.

The baseline is node-oidc-provider (``npm install oidc-provider`` into a temporary directory, configured with
``features.clientCredentials`` and a resource server issuing ES256 JWT access tokens). When npm is missing
or the install fails, the script says "baseline unavailable" and compares against a bare joserfc ES256
signing loop (the cost of the signature alone) instead.

    .venv/bin/python bench/oidc_tokens.py [--seconds 10] [--concurrency 8]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/zw_bench .venv/bin/python bench/oidc_tokens.py

The nodes keep their data in a temporary SQLite file unless ``BENCH_DATABASE_URL`` names another
(empty) database, as production's PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, rate, report

ROOT = Path(__file__).resolve().parents[1]

NODE_SERVER = r"""
import Provider from 'oidc-provider';
import fs from 'node:fs';
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const provider = new Provider(cfg.issuer, {
  clients: [{
    client_id: cfg.client_id, client_secret: cfg.client_secret,
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic', id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [cfg.jwk] },
  ttl: { ClientCredentials: 600, AccessToken: 600 },
  scopes: ['api'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api', audience: 'urn:bench:api', accessTokenTTL: 600,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(cfg.port, '127.0.0.1', () => console.log('ready'));
"""


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, timeout: float = 60.0) -> None:
    """Wait until ``GET path`` answers on the port."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


# --- load generator: raw asyncio HTTP/1.1 keep-alive (same for both servers) -------------------------


async def _worker(
    port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lname = name.strip().lower()
                if lname == b"content-length":
                    length = int(value)
                elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                body = b""
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    body += await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if status != 200 or b"access_token" not in body:
                errors.append(status)
            done += 1
    finally:
        writer.close()
    return done


def _runner() -> Any:
    # uvloop (when installed) keeps the load generator cheap; the same generator drives both servers.
    try:
        import uvloop

        return uvloop.run
    except ImportError:
        return asyncio.run


def drive(name: str, port: int, client_id: str, secret: str, *, seconds: float, concurrency: int) -> Result:
    """Warm up for 2 s, then measure ``seconds`` of load."""
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    body = b"grant_type=client_credentials"
    request = (
        f"POST /{{path}} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic {basic}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    path = "oidc/token" if name.startswith("zhengwu") else "token"
    request = request.replace(b"{path}", path.encode())

    async def run(duration: float) -> tuple[int, list[float], list[int], float]:
        latencies: list[float] = []
        errors: list[int] = []
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(_worker(port, request, start + duration, latencies, errors) for _ in range(concurrency))
        )
        return sum(counts), latencies, errors, time.perf_counter() - start

    runner = _runner()
    _, _, warm_errors, _ = runner(run(2.0))
    ops, latencies, errors, elapsed = runner(run(seconds))
    result = Result(name, ops, elapsed, latencies=latencies, unit="tokens")
    result.errors = len(errors) + len(warm_errors)  # type: ignore[attr-defined] # warm-up errors count too
    return result


# --- zhengwu node -------------------------------------------------------------------------------------


def start_zhengwu(tmp: Path, workers: int) -> tuple[subprocess.Popen[bytes], int, str, str]:
    """Migrate a fresh node, register a machine client with the CLI, serve it on loopback."""
    port = free_port()
    data = tmp / f"node-{workers}"
    env = {
        **os.environ,
        "ZHENGWU_DATA_DIR": str(data),
        "ZHENGWU_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{data / 'zhengwu.db'}"),
        "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ZHENGWU_LOG_LEVEL": "WARNING",
    }
    run = [sys.executable, "-m", "zhengwu"]
    subprocess.run([*run, "migrate"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [*run, "identity", "clients", "create", "--name", "bench machine client", "--grant", "client_credentials",
         "--scope", "api", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    client = json.loads(created.stdout)
    serve = [*run, "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(serve, env=env, cwd=tmp)
    wait_http(port, "/.well-known/openid-configuration")
    return proc, port, client["client_id"], client["client_secret"]


# --- baselines ----------------------------------------------------------------------------------------


def start_node_oidc_provider(tmp: Path) -> tuple[subprocess.Popen[bytes], int, str, str] | None:
    """Install and start node-oidc-provider; ``None`` when npm or the install is unavailable."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        print("baseline unavailable: npm/node not found — comparing with a bare joserfc ES256 signing loop")
        return None
    work = tmp / "nodeop"
    work.mkdir()
    (work / "package.json").write_text('{"name":"bench","private":true,"type":"module"}')
    install = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--silent", "oidc-provider@9"],
        cwd=work, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if install.returncode != 0:
        print("baseline unavailable: `npm install oidc-provider` failed — comparing with a bare joserfc loop")
        return None
    from joserfc.jwk import ECKey

    jwk = dict(ECKey.generate_key("P-256", private=True).as_dict(private=True))
    jwk.update({"alg": "ES256", "use": "sig", "kid": "bench-es256"})
    port = free_port()
    cfg = {
        "issuer": f"http://127.0.0.1:{port}",
        "client_id": "bench-machine",
        "client_secret": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
        "jwk": jwk,
        "port": port,
    }
    (work / "config.json").write_text(json.dumps(cfg))
    (work / "server.mjs").write_text(NODE_SERVER)
    env = {**os.environ, "NODE_ENV": "production"}
    proc = subprocess.Popen([node, "server.mjs", "config.json"], cwd=work, env=env, stdout=subprocess.DEVNULL)
    wait_http(port, "/.well-known/openid-configuration")
    version = json.loads((work / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    print(
        f"baseline: node-oidc-provider {version} on node {subprocess.run([node, '--version'], capture_output=True, text=True, check=False).stdout.strip()}"
    )
    return proc, port, cfg["client_id"], cfg["client_secret"]


def joserfc_loop(seconds: float) -> Result:
    """What one ES256 JWT costs with joserfc alone (no HTTP, no client authentication)."""
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    claims = {
        "iss": "http://127.0.0.1",
        "sub": "c",
        "aud": "urn:bench:api",
        "scope": "api",
        "exp": 2_000_000_000,
    }
    return rate(
        "bare joserfc ES256 sign",
        lambda: jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k"}, claims, key, algorithms=["ES256"]),
        seconds=seconds,
        unit="tokens",
    )


def _best(results: list[Result]) -> Result:
    # The round with the median throughput of a system stands for it (the machine may be shared).
    ordered = sorted(results, key=lambda r: r.per_second)
    return ordered[len(ordered) // 2]


def main() -> None:
    """Run the servers side by side and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the median round is reported"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the zhengwu node (one per core, as deployed); 1 is measured as well",
    )
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    runs: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="zw-bench-oidc-") as name:
        tmp = Path(name)
        try:
            # Every server is started first and measured in turns, round after round, so that a change
            # in the background load of the machine hits all of them alike.
            targets: list[tuple[str, int, str, str]] = []
            node = start_node_oidc_provider(tmp)
            if node is not None:
                procs.append(node[0])
                targets.append(("node-oidc-provider", *node[1:]))
            for workers in sorted({1, max(1, args.workers)}):
                proc, port, cid, secret = start_zhengwu(tmp, workers)
                procs.append(proc)
                targets.append((f"zhengwu {workers} worker{'s' if workers > 1 else ''}", port, cid, secret))
            for _ in range(args.rounds):
                for label, port, cid, secret in targets:
                    result = drive(
                        label, port, cid, secret, seconds=args.seconds, concurrency=args.concurrency
                    )
                    runs.setdefault(label, []).append(result)
            if node is None:
                runs["bare joserfc ES256 sign"] = [joserfc_loop(args.seconds)]
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=20)
    results = [_best(r) for r in runs.values()]
    baseline = results[0] if node is not None else results[-1]
    ours = [r for r in results if r.name.startswith("zhengwu")][-1]
    report(
        results,
        baseline=baseline,
        title=f"client-credentials tokens, {args.concurrency} concurrent clients, median of {args.rounds} rounds",
    )
    # Errors of every round count, not only the reported (median) one.
    total_errors = {name: sum(getattr(r, "errors", 0) for r in rounds) for name, rounds in runs.items()}
    for r in results:
        print(
            f"{r.name:<24} p50 {r.percentile(50):6.2f} ms  p99 {r.percentile(99):6.2f} ms  "
            f"errors {total_errors.get(r.name, 0)} in all rounds"
        )
    ratio = ours.per_second / baseline.per_second
    ok = ratio >= 1.0 and ours.percentile(99) <= 15.0 and total_errors.get(ours.name, 0) == 0
    print(
        f"goal ratio >= 1.0, p99 <= 15 ms, 0 errors ({ours.name}): {'MET' if ok else 'NOT MET'} (ratio {ratio:.2f})"
    )


if __name__ == "__main__":
    main()
