"""License issuance and verification rates next to the raw SM2 sign rate of the same backend.

Issuance (issue 11 target: >= 0.2x raw SM2 sign): one one-page license — face checked, serial counted,
OFD rendered with its QR code, the offline payload signed, sealed with a time-stamp token from the node
TSA (two more SM2 signatures), stored and queued for the exchange — committed per license on SQLite.
Verification by identifier + holder code is measured through the app (in-process ASGI client, so the
figure leaves out the network and the server loop) with its latency percentiles, and its CPU per request
(httpx's client included) driven in an event loop of its own; the usage-log row of each verification is
committed with it. The public type list's CPU per request is taken the same way.

    .venv/bin/python bench/licenses.py [--seconds 3] [--profile 100] [--stages 300] [--issuance-only]
        [--interleaved 200]

``--profile N`` prints cProfile's cumulative table of N issuances instead of the rates, ``--stages N``
the CPU of each stage of N issuances (``licenses_stages.py``); ``bench/licenses_floor.py`` times the
irreducible parts of one. To compare with another version, run this script with
``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import latency, rate, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

FACE = {
    "name": "石家庄演示科技有限公司",
    "kind": "有限责任公司",
    "legal_rep": "演示用户",
    "founded": "2020-05-01",
    "address": "河北省石家庄市长安区演示路1号",
    "scope": "软件开发",
}


def build() -> tuple[Settings, Any, Callable[[], str], str]:
    """A node on a fresh SQLite file with a sealing department; returns settings, node, issue() and the
    holder code issue() uses."""
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-licenses-"))
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        data_dir=folder,
        log_level="WARNING",
        # One client from one address: the per-address limit of the public route is not what is measured.
        security={"public_rate_per_minute": 1_000_000},
    )
    from zhengwu.commands.node import open_node
    from zhengwu.kernel.logging import configure_logging

    configure_logging(settings.log_level)  # as `zhengwu serve` does: no console lines per issuance

    node = open_node(settings)  # sessions carry their node (identity's field keys come from it)
    factory = node.session_factory

    from zhengwu.licenses import service
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.pki import authority
    from zhengwu.seals import service as seals
    from zhengwu.seed.licenses import seed_license_types

    code = government_credit_code("130000", 77)
    with unit_of_work(factory) as session:
        authority.init_pki(session, settings)
        department = orgs.add_department(
            session, DepartmentCreate(credit_code=code, name="河北省市场监督管理局", division_code="130000")
        )
        seals.create_seal(
            session,
            settings,
            department_credit_code=code,
            name="河北省市场监督管理局行政审批专用章",
            actor="bench",
        )
        seed_license_types(session)
        department_id = department.id
        type_code = next(t.code for t in service.list_types(session) if t.name == "营业执照")
    holder = enterprise_credit_code("130100", 1)

    def issue() -> str:
        with unit_of_work(factory) as session:
            lic = service.issue_license(
                session, settings, type_code=type_code, department_id=department_id,
                holder_name="石家庄演示科技有限公司", holder_code=holder, face=FACE, actor="bench",
            )  # fmt: skip
            return lic.identifier

    return settings, node, issue, holder


def cpu_per_call(fn: Callable[[], object], *, calls: int) -> float:
    """``time.process_time()`` (every thread of this process) per call of ``fn``."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def app_cpu(
    app: Any, path: str, body: dict[str, str] | None = None, *, calls: int = 300, rounds: int = 3
) -> float:
    """CPU (every thread of this process) per request to ``path`` (POST ``body``, else GET) driven
    through the app in its own event loop, as uvicorn runs it (no TestClient portal thread): the least
    of ``rounds`` rounds."""
    import asyncio

    import httpx

    async def run() -> float:
        best = float("inf")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("10.0.0.9", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
                for number in range(rounds + 1):
                    start = time.process_time()
                    for _ in range(calls):
                        if body is None:
                            answer = await client.get(path)
                            assert answer.status_code == 200 and answer.json(), answer.text
                        else:
                            answer = await client.post(path, json=body)
                            assert answer.status_code == 200 and answer.json()["valid"], answer.text
                    if number:  # the first round warms up
                        best = min(best, (time.process_time() - start) / calls)
        return best

    return asyncio.run(run())


def interleaved(issue: Callable[[], str], issuances: int) -> None:
    """Median CPU of one issuance and of one raw sign, taken turn about (five signs, one issuance): what
    the machine's other load does to either, it does to both, which a run of each after the other on a
    shared machine does not guarantee (the raw sign moved between 0.41 and 0.72 ms within minutes)."""
    import statistics

    signer = SoftwareSigner(SM2PrivateKey.generate())
    message = b"x" * 256
    for _ in range(20):
        issue()
    signs: list[float] = []
    issues: list[float] = []
    for _ in range(issuances):
        for _ in range(5):
            start = time.process_time()
            signer.sign(message)
            signs.append(time.process_time() - start)
        start = time.process_time()
        issue()
        issues.append(time.process_time() - start)
    sign, one = statistics.median(signs), statistics.median(issues)
    print(
        f"median CPU, interleaved: raw SM2 sign {sign * 1000:.3f} ms, issuance {one * 1000:.2f} ms,"
        f" ratio {sign / one:.3f} ({issuances} issuances, {5 * issuances} signs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--profile", type=int, default=0, help="cProfile this many issuances instead")
    parser.add_argument(
        "--stages", type=int, default=0, help="time this many issuances stage by stage instead"
    )
    parser.add_argument(
        "--issuance-only", action="store_true", help="leave out verification and the type list"
    )
    parser.add_argument(
        "--interleaved",
        type=int,
        default=0,
        help="median CPU of N issuances, each after 5 raw signs, instead",
    )
    args = parser.parse_args()
    if args.stages:
        from licenses_stages import measure

        measure(args.stages)
        return
    settings, node, issue, holder = build()
    if args.interleaved:
        interleaved(issue, args.interleaved)
        node.close()
        return
    if args.profile:
        import cProfile
        import pstats

        issue()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.profile):
            issue()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        node.close()
        return
    signer = SoftwareSigner(SM2PrivateKey.generate())
    message = b"x" * 256
    raw = rate("raw SM2 sign (same backend)", lambda: signer.sign(message), seconds=args.seconds)
    # Latencies as well as the rate: on a loaded machine the minimum is the steadiest figure.
    issued = latency(
        "issue one license (sealed, TSA, stored, queued)", issue, samples=max(20, int(10 * args.seconds))
    )
    # CPU per operation from loops of their own, after the runs above warmed both up: the first
    # issuance makes the node's license key and imports lazily, which is no issuance's steady cost.
    raw_cpu = cpu_per_call(lambda: signer.sign(message), calls=max(200, raw.ops // 4))
    issue_cpu = cpu_per_call(issue, calls=max(20, issued.ops))
    report([raw, issued], baseline=raw, title="issuance (target >= 0.2x raw SM2 sign)")
    print(
        f"issuance latency min {min(issued.latencies) * 1000:.1f} ms, median {issued.percentile(50):.1f} ms"
    )
    # CPU time (every thread of this process) per operation: what other processes on a shared machine
    # take from the wall-clock figures stays out of it, and so does the store's fsync wait.
    print(
        f"CPU per op: raw SM2 sign {raw_cpu * 1000:.3f} ms, issuance {issue_cpu * 1000:.2f} ms,"
        f" ratio {raw_cpu / issue_cpu:.3f}"
    )
    if args.issuance_only:
        # The least of three longer rounds each: on a shared machine the least is the steadiest figure.
        raw_least = min(cpu_per_call(lambda: signer.sign(message), calls=1000) for _ in range(3))
        issue_least = min(cpu_per_call(issue, calls=60) for _ in range(3))
        print(
            f"CPU per op, least of 3 rounds: raw SM2 sign {raw_least * 1000:.3f} ms, issuance"
            f" {issue_least * 1000:.2f} ms, ratio {raw_least / issue_least:.3f}"
        )
        node.close()
        return

    from fastapi.testclient import TestClient

    from zhengwu.main import create_app

    identifier = issue()
    body = {"identifier": identifier, "holder_code": holder}
    app = create_app(settings)
    with TestClient(app) as client:

        def verify() -> None:
            answer = client.post("/api/v1/licenses/verify", json=body)
            assert answer.status_code == 200 and answer.json()["valid"], answer.text

        through_app = latency(
            "verify by identifier (ASGI, usage logged)", verify, samples=int(300 * args.seconds)
        )
        report(
            [raw, through_app],
            baseline=raw,
            title="verification by identifier (target >= 2,000/s, p99 <= 20 ms)",
        )
    verify_ms = app_cpu(app, "/api/v1/licenses/verify", body) * 1000
    print(f"CPU per verification through the app: {verify_ms:.3f} ms (min of 3 rounds)")
    types_ms = app_cpu(app, "/api/v1/licenses/types", calls=100) * 1000
    print(f"CPU per GET /api/v1/licenses/types through the app: {types_ms:.3f} ms (min of 3 rounds)")
    node.close()


if __name__ == "__main__":
    main()
