"""Fault injection: exactly-once delivery while the worker and the receiving node are SIGKILLed.

Mode ``kills`` (default): the province holds N outbox rows; a ``zhengwu worker`` process relays them to a
national ``zhengwu serve`` process over signed HTTP while this script SIGKILLs the worker or the national
node at random moments (``--kills`` times) and restarts it. Mode ``outage``: the national node goes down
for ``--outage`` seconds while the province keeps producing rows; the backlog must drain afterwards.
Both end by comparing counts and an SM3 checksum of the row_guids on both sides and print
``lost=0 duplicated=0`` when every row arrived exactly once.

    .venv/bin/python bench/exchange_faults.py --records 100000 --kills 20
    .venv/bin/python bench/exchange_faults.py --mode outage --records 20000 --outage 10
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select

from exchange_http import REPO, TOPIC, Pair, case_row
from zhengwu.exchange.models import ExchangeAggregate, ExchangeInbox
from zhengwu.kernel.session import unit_of_work


class Worker:
    """A ``zhengwu worker`` process of the province."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker loop."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zhengwu", "worker"], env=self.env, cwd=REPO, stdout=out, stderr=out
            )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def verdict(pair: Pair, expected: int) -> int:
    """Compare both sides; print the figures; return the exit code."""
    counts = pair.province_counts()
    sent, p_sum = pair.province_checksum(TOPIC)
    received, distinct, n_sum = pair.national_check()
    with unit_of_work(pair.national_runtime.session_factory) as session:
        applied = session.scalar(
            select(func.count()).select_from(ExchangeInbox).where(ExchangeInbox.status == "applied")
        )
        objects = session.scalar(select(func.count()).select_from(ExchangeAggregate))
    lost = expected - distinct
    duplicated = received - distinct
    same = n_sum == p_sum
    print(f"province: {counts}")
    print(f"national: inbox={received} distinct={distinct} applied={applied} aggregate={objects}")
    print(
        f"checksum sm3(row_guids): province {p_sum[:16]}… national {n_sum[:16]}… {'match' if same else 'MISMATCH'}"
    )
    print(f"lost={lost} duplicated={duplicated}")
    ok = (
        lost == 0 and duplicated == 0 and same and sent == expected and counts.get("acknowledged") == expected
    )
    return 0 if ok else 1


def acknowledged(pair: Pair) -> int:
    """Rows the province has recorded as delivered."""
    return pair.province_counts().get("acknowledged", 0)


def run_kills(pair: Pair, worker: Worker, args: argparse.Namespace, rng: random.Random) -> None:
    """Kill the worker or the national node at random moments until the budget is spent, then drain."""
    pair.emit([case_row(i) for i in range(args.records)])
    worker.start()
    kills = {"worker": 0, "national": 0}
    start = time.monotonic()
    while sum(kills.values()) < args.kills and acknowledged(pair) < args.records:
        # Strike while rows are moving: wait for progress since the last restart, then a random moment.
        before, waited = acknowledged(pair), time.monotonic()
        while acknowledged(pair) == before and time.monotonic() - waited < 20:
            time.sleep(0.1)
        time.sleep(rng.uniform(0.05, 1.5))
        victim = rng.choice(("worker", "national"))
        kills[victim] += 1
        done = acknowledged(pair)
        if victim == "worker":
            worker.kill()
            worker.start()
        else:
            pair.national.stop(signal.SIGKILL)
            time.sleep(rng.uniform(0.0, 1.0))
            pair.national.start()
        print(
            f"kill {sum(kills.values()):>2}: {victim:<8} at {done:>7} acknowledged ({time.monotonic() - start:5.1f} s)"
        )
    deadline = time.monotonic() + args.timeout
    while acknowledged(pair) < args.records and time.monotonic() < deadline:
        time.sleep(0.5)
    worker.stop()
    print(
        f"kills: worker={kills['worker']} national={kills['national']}; drained in {time.monotonic() - start:.1f} s"
    )


def run_outage(pair: Pair, worker: Worker, args: argparse.Namespace) -> None:
    """Take the national node down while the province keeps producing; the backlog must drain."""
    half = args.records // 2
    pair.emit([case_row(i) for i in range(half)])
    worker.start()
    while acknowledged(pair) < half // 2:
        time.sleep(0.2)
    pair.national.stop(signal.SIGTERM)
    down_at = time.monotonic()
    print(f"national down at {acknowledged(pair)} acknowledged")
    produced = half
    while time.monotonic() - down_at < args.outage:
        chunk = min(args.records - produced, max(1, (args.records - half) // max(1, int(args.outage))))
        pair.emit([case_row(produced + i) for i in range(chunk)])
        produced += chunk
        counts = pair.province_counts()
        print(
            f"  outage {time.monotonic() - down_at:4.1f} s: backlog {counts.get('pending', 0) + counts.get('sent', 0)}"
        )
        time.sleep(1.0)
    if produced < args.records:
        pair.emit([case_row(i) for i in range(produced, args.records)])
    backlog = args.records - acknowledged(pair)
    pair.national.start()
    up_at = time.monotonic()
    print(f"national up again; backlog {backlog} rows")
    deadline = up_at + args.timeout
    while acknowledged(pair) < args.records and time.monotonic() < deadline:
        time.sleep(0.5)
    print(
        f"backlog drained in {time.monotonic() - up_at:.1f} s ({backlog / max(0.001, time.monotonic() - up_at):,.0f} rows/s)"
    )
    worker.stop()


def main() -> None:
    """Run one fault scenario."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("kills", "outage"), default="kills")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the national node is down")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up draining after this long")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    extra = {
        "ZHENGWU_EXCHANGE__BATCH_SIZE": str(args.batch),
        "ZHENGWU_EXCHANGE__LEASE_SECONDS": "3",
        "ZHENGWU_EXCHANGE__RETRY_BASE_SECONDS": "0.1",
        "ZHENGWU_EXCHANGE__RETRY_MAX_SECONDS": "1",
        "ZHENGWU_EXCHANGE__REQUEST_TIMEOUT_SECONDS": "20",
    }
    with tempfile.TemporaryDirectory(prefix="zw-exchange-faults-") as tmp:
        pair = Pair(Path(tmp), province_extra=extra)
        worker = Worker(pair.province_env, Path(tmp) / "worker.log")
        try:
            pair.national.start()
            pair.join()
            if args.mode == "kills":
                run_kills(pair, worker, args, rng)
            else:
                run_outage(pair, worker, args)
            if pair.national.proc is None:
                pair.national.start()
            code = verdict(pair, args.records)
        finally:
            worker.stop()
            pair.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
