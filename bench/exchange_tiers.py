"""City → province → national over signed HTTP (SQLite everywhere): end-to-end rate against the two-tier
rate of the same run, and exactly-once delivery while each of the three nodes is SIGKILLed.

The national and the province nodes are ``zhengwu serve`` processes; the province and the city each
run a ``zhengwu worker`` process. First the province relays N rows of its own to the national node (the
two-tier reference); then the city relays N rows that the province takes, queues in the same
transaction and passes on. With ``--kills K`` the script SIGKILLs, at random moments while rows move,
the city's worker, the province (server and worker together) and the national node in turn, and
restarts it.
It ends by comparing the city's outbox with what the national node holds from the city (counts and an
SM3 checksum of the row_guids, which stay the city's end to end) and prints ``lost=0 duplicated=0``
when every row arrived exactly once.

With ``--steady`` it measures instead the arrival latency of the city's rows at the national node under a
steady load (``--rate`` records/s for ``--seconds``; p50/p95/max from the city's outbox time to the national
inbox time), then takes the province down (server and worker) for ``--outage`` seconds while the city keeps
producing at that rate, brings it back and times the drain of the backlog (restart included, no new
production meanwhile) against the production rate.

    .venv/bin/python bench/exchange_tiers.py --records 20000
    .venv/bin/python bench/exchange_tiers.py --records 20000 --kills 12
    .venv/bin/python bench/exchange_tiers.py --steady --rate 1000 --seconds 60 --outage 600
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, insert, select

from exchange_faults import Worker
from exchange_http import TOPIC, NodeProcess, case_row, free_port, node_env, settings_of
from zhengwu.exchange import join
from zhengwu.exchange.models import ExchangeInbox
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import make_engine, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.main import exchange_topics, import_models

FAST = {
    "ZHENGWU_EXCHANGE__LEASE_SECONDS": "3",
    "ZHENGWU_EXCHANGE__RETRY_BASE_SECONDS": "0.1",
    "ZHENGWU_EXCHANGE__RETRY_MAX_SECONDS": "1",
    "ZHENGWU_EXCHANGE__REQUEST_TIMEOUT_SECONDS": "20",
}


def runtime_of(env: dict[str, str]) -> ExchangeRuntime:
    """An exchange runtime on a node's database, in this process (emit, join, count)."""
    settings = settings_of(env)
    return ExchangeRuntime.create(
        settings, make_session_factory(make_engine(settings.database_url)), exchange_topics(settings)
    )


class Trio:
    """National and province servers, province and city workers; the city's rows are emitted here."""

    def __init__(self, root: Path, batch: int, log_level: str = "WARNING") -> None:
        import_models()
        nport, pport, cport = free_port(), free_port(), free_port()
        extra = {**FAST, "ZHENGWU_EXCHANGE__BATCH_SIZE": str(batch), "ZHENGWU_LOG_LEVEL": log_level}
        self.national_env = node_env(root, "national", nport, None)
        self.province_env = node_env(root, "hebei", pport, nport, **extra)
        self.city_env = node_env(root, "sjz", cport, pport, ZHENGWU_TIER="city", ZHENGWU_DIVISION_CODE="130100",
                                 ZHENGWU_EXCHANGE__DATA_SOURCE="222", **extra)  # fmt: skip
        for env in (self.national_env, self.province_env, self.city_env):
            upgrade(env["ZHENGWU_DATABASE_URL"])
        self.national = NodeProcess(self.national_env, nport)
        self.province = NodeProcess(self.province_env, pport)
        self.province_worker = Worker(self.province_env, root / "province-worker.log")
        self.city_worker = Worker(self.city_env, root / "city-worker.log")
        self.rt = {name: runtime_of(env) for name, env in
                   (("national", self.national_env), ("hebei", self.province_env), ("sjz", self.city_env))}  # fmt: skip

    def join(self) -> None:
        """Province joins the national node, the city joins the province."""
        for lower, upper in (("hebei", "national"), ("sjz", "hebei")):
            assert join.join(self.rt[lower]).status == "requested"
            with unit_of_work(self.rt[upper].session_factory) as session:
                join.approve(session, self.rt[upper], lower)
            assert join.join(self.rt[lower]).status == "joined"

    def emit(self, node: str, rows: Sequence[dict[str, Any]], chunk: int = 5_000) -> None:
        """Queue rows in a node's outbox (bulk, like a capability's bulk import)."""
        now = utcnow()
        for start in range(0, len(rows), chunk):
            values = [
                {"message_id": new_id(), "topic": TOPIC, "key": r.get("project_no"), "operation": "I", "payload": r,
                 "trace_id": None, "status": OutboxStatus.PENDING, "attempts": 0, "created_at": now, "updated_at": now}
                for r in rows[start : start + chunk]
            ]  # fmt: skip
            with unit_of_work(self.rt[node].session_factory) as session:
                session.execute(insert(OutboxRecord), values)

    def acknowledged(self, node: str) -> int:
        """Outbox rows of the bench topic a node has recorded as delivered."""
        with unit_of_work(self.rt[node].session_factory) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxRecord)
                    .where(OutboxRecord.topic == TOPIC, OutboxRecord.status == OutboxStatus.ACKNOWLEDGED)
                )
                or 0
            )

    def arrived(self, origin: str) -> int:
        """Rows the national node holds that were made at ``origin``."""
        with unit_of_work(self.rt["national"].session_factory) as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(ExchangeInbox)
                    .where(ExchangeInbox.origin == origin, ExchangeInbox.table_name == "up_pro_accept")
                )
                or 0
            )

    def check(self) -> tuple[int, int, int, str, str]:
        """(city rows, national rows from the city, distinct, city checksum, national checksum)."""
        with unit_of_work(self.rt["sjz"].session_factory) as session:
            made = sorted(session.scalars(select(OutboxRecord.message_id).where(OutboxRecord.topic == TOPIC)))
        with unit_of_work(self.rt["national"].session_factory) as session:
            got = sorted(
                session.scalars(
                    select(ExchangeInbox.row_guid).where(
                        ExchangeInbox.origin == "sjz", ExchangeInbox.table_name == "up_pro_accept"
                    )
                )
            )
        digest = sm3("\n".join(made).encode()).hex()
        return len(made), len(got), len(set(got)), digest, sm3("\n".join(sorted(set(got))).encode()).hex()

    def start(self) -> None:
        """Serve the national and the province nodes."""
        self.national.start()
        self.province.start()

    def close(self) -> None:
        """Stop everything."""
        for worker in (self.city_worker, self.province_worker):
            worker.stop()
        self.province.stop()
        self.national.stop()


def latencies(trio: Trio, after: int) -> list[float]:
    """Seconds from the city's outbox (created) to the national inbox (received) of the city's rows
    numbered from ``after`` on (row_guid = the city's message id, end to end)."""
    with unit_of_work(trio.rt["sjz"].session_factory) as session:
        made = dict(
            session.execute(
                select(OutboxRecord.message_id, OutboxRecord.created_at).where(
                    OutboxRecord.topic == TOPIC, OutboxRecord.seq > after
                )
            ).all()
        )
    with unit_of_work(trio.rt["national"].session_factory) as session:
        got = session.execute(
            select(ExchangeInbox.row_guid, ExchangeInbox.received_at).where(
                ExchangeInbox.origin == "sjz", ExchangeInbox.table_name == "up_pro_accept"
            )
        ).all()
    return sorted((at - made[guid]).total_seconds() for guid, at in got if guid in made)


def last_seq(trio: Trio) -> int:
    """The city's last outbox sequence so far."""
    with unit_of_work(trio.rt["sjz"].session_factory) as session:
        return int(session.scalar(select(func.max(OutboxRecord.seq))) or 0)


def produce(trio: Trio, rate: float, seconds: float, first: int) -> int:
    """Emit ``rate`` city rows per second for ``seconds`` (in tenths of a second); rows emitted."""
    emitted, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(rate * elapsed) - emitted
        if due > 0:
            trio.emit("sjz", [case_row(first + emitted + i) for i in range(due)])
            emitted += due
        time.sleep(0.1)
    return emitted


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` percentile of sorted ``values``."""
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def steady_and_outage(trio: Trio, args: argparse.Namespace) -> int:
    """Steady load through three tiers (p95 arrival latency), then a province outage under the same
    load and the drain of its backlog once it is back (rate against the production rate)."""
    trio.city_worker.start()
    trio.province_worker.start()
    base = last_seq(trio)
    emitted = produce(trio, args.rate, args.seconds, 20_000_000)
    wait(lambda: trio.arrived("sjz") >= emitted, args.timeout)
    values = latencies(trio, base)
    print(f"steady {args.rate:,.0f} records/s for {args.seconds:.0f} s: {len(values):,} rows, arrival latency "
          f"p50 {percentile(values, 0.5):.2f} s p95 {percentile(values, 0.95):.2f} s max {values[-1]:.2f} s")  # fmt: skip
    # The province goes down (server and worker); the city keeps producing at the same rate.
    trio.province_worker.stop()
    trio.province.stop()
    before = trio.arrived("sjz")
    backlog = produce(trio, args.rate, args.outage, 30_000_000)
    trio.province.start()
    trio.province_worker.start()
    drained = wait(lambda: trio.arrived("sjz") >= before + backlog, args.timeout, 0.1)
    # The drain is measured without new production: the backlog of the outage alone.
    drain_rate = backlog / drained if drained else float("inf")
    print(f"outage {args.outage:.0f} s of the province at {args.rate:,.0f} records/s: backlog {backlog:,} rows "
          f"drained in {drained:.1f} s after its restart (restart included) = {drain_rate:,.0f} records/s, "
          f"{drain_rate / args.rate:.1f}× the production rate")  # fmt: skip
    made, received, distinct, city_sum, national_sum = trio.check()
    lost, duplicated = made - distinct, received - distinct
    print(f"lost={lost} duplicated={duplicated}")
    return 0 if lost == 0 and duplicated == 0 and city_sum == national_sum else 1


def wait(cond: Any, timeout: float, step: float = 0.2) -> float:
    """Seconds until ``cond()`` came true (raises after ``timeout``)."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise TimeoutError("rows did not arrive in time")
        time.sleep(step)
    return time.monotonic() - start


def kill_round(trio: Trio, rng: random.Random, victim: str) -> None:
    """SIGKILL one node (the province: its server and its worker) and bring it back."""
    if victim == "city":
        trio.city_worker.kill()
        time.sleep(rng.uniform(0.0, 1.0))
        trio.city_worker.start()
    elif victim == "province":
        trio.province_worker.kill()
        trio.province.stop(signal.SIGKILL)
        time.sleep(rng.uniform(0.0, 1.0))
        trio.province.start()
        trio.province_worker.start()
    else:
        trio.national.stop(signal.SIGKILL)
        time.sleep(rng.uniform(0.0, 1.0))
        trio.national.start()


def rates_and_kills(trio: Trio, args: argparse.Namespace, rng: random.Random) -> int:
    """Two tiers, then three tiers with kills: the rates, their ratio, and exactly-once delivery."""
    # Two tiers: the province's own rows to the national node.
    trio.emit("hebei", [case_row(i) for i in range(args.records)])
    trio.province_worker.start()
    two = wait(lambda: trio.acknowledged("hebei") >= args.records, args.timeout)
    two_rate = args.records / two
    # Three tiers: the city's rows through the province (its worker keeps running).
    trio.emit("sjz", [case_row(10_000_000 + i) for i in range(args.records)])
    started = time.monotonic()
    trio.city_worker.start()
    kills = {"city": 0, "province": 0, "national": 0}
    order = rng.sample(list(kills), 3)
    while sum(kills.values()) < args.kills and trio.arrived("sjz") < args.records:
        before, since = trio.arrived("sjz") + trio.acknowledged("sjz"), time.monotonic()
        while trio.arrived("sjz") + trio.acknowledged("sjz") == before and time.monotonic() - since < 30:
            time.sleep(0.1)
        time.sleep(rng.uniform(0.05, 1.5))
        victim = order[sum(kills.values()) % 3]  # each of the three in turn
        kills[victim] += 1
        kill_round(trio, rng, victim)
        print(f"kill {sum(kills.values()):>2}: {victim:<8} at {trio.arrived('sjz'):>7} arrived "
              f"({time.monotonic() - started:5.1f} s)")  # fmt: skip
    wait(lambda: trio.arrived("sjz") >= args.records and trio.acknowledged("sjz") >= args.records,
         args.timeout)  # fmt: skip
    three = time.monotonic() - started
    three_rate = args.records / three
    trio.city_worker.stop()
    trio.province_worker.stop()
    made, received, distinct, city_sum, national_sum = trio.check()
    lost, duplicated = made - distinct, received - distinct
    print(f"two tiers   province → national          {two_rate:9,.0f} records/s ({two:6.1f} s)")
    print(f"three tiers city → province → national   {three_rate:9,.0f} records/s ({three:6.1f} s)")
    print(f"ratio three/two tiers: {three_rate / two_rate:.2f}"
          + (f" (with kills: city={kills['city']} province={kills['province']} "
             f"national={kills['national']})" if args.kills else ""))  # fmt: skip
    same = "match" if city_sum == national_sum else "MISMATCH"
    print(f"checksum sm3(row_guids): city {city_sum[:16]}… national {national_sum[:16]}… {same}")
    print(f"lost={lost} duplicated={duplicated}")
    return 0 if lost == 0 and duplicated == 0 and same == "match" else 1


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--kills", type=int, default=0, help="SIGKILLs during the three-tier run")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the node directories and logs")
    parser.add_argument("--log-level", default="WARNING", help="of the workers (their logs with --keep)")
    parser.add_argument("--steady", action="store_true",
                        help="instead: steady load (p95 arrival latency), then a province outage and its drain")  # fmt: skip
    parser.add_argument("--rate", type=float, default=1_000.0, help="records/s of the steady load")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady load")
    parser.add_argument("--outage", type=float, default=600.0, help="seconds the province is down")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed={seed} records={args.records} batch={args.batch} kills={args.kills}")
    code = 1
    kept = tempfile.mkdtemp(prefix="zw-exchange-tiers-") if args.keep else None
    with (
        contextlib.nullcontext(kept)
        if kept
        else tempfile.TemporaryDirectory(prefix="zw-exchange-tiers-") as tmp
    ):
        if kept:
            print(f"nodes in {tmp}")
        trio = Trio(Path(tmp), args.batch, args.log_level)
        try:
            trio.start()
            trio.join()
            code = steady_and_outage(trio, args) if args.steady else rates_and_kills(trio, args, rng)
        finally:
            trio.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
