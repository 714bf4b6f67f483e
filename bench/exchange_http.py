"""Province → national over signed HTTP: records/s through the whole pipeline, against a raw bulk insert.

A national node runs as a real ``zhengwu serve`` process (SQLite); the province relays N outbox rows
(``up_pro_accept`` 办件受理 rows, the highest-volume national table) with the worker loop: batches are
canonicalised, SM3-digested, SM2-signed, posted, verified (chain, CRL, signature, freshness, nonce),
validated against the national DDL, taken once into the inbox, applied to the aggregate, answered with
a signed receipt, and acknowledged. The baseline, measured in the same run, is a raw ``sqlite3``
``executemany`` of exactly the same rows into a table of the same columns. Both sides are then checked
(counts and an order-independent SM3 checksum of the row_guids).

    .venv/bin/python bench/exchange_http.py [--records 20000] [--batch 1000]

The 前置库 and fault benchmarks (bench/exchange_frontdb.py, bench/exchange_faults.py) reuse the helpers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Result, report
from zhengwu.exchange import join
from zhengwu.exchange.models import ExchangeInbox
from zhengwu.exchange.runtime import ExchangeRuntime
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings, Tier
from zhengwu.kernel.crypto import sm3
from zhengwu.kernel.db import make_engine, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.main import exchange_topics, import_models

REPO = Path(__file__).resolve().parents[1]
TOPIC = "cases.up_pro_accept"
TABLE = "up_pro_accept"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def case_row(i: int) -> dict[str, Any]:
    """A realistic 办件受理 row (national column names; fictional people and bodies)."""
    return {
        "project_no": f"13000020241201{i:010d}",
        "project_name": f"演示申请人{i % 997}申请演示事项（第{i}号）",
        "task_code": "11130000MB000012344000110110000",
        "task_handle_item": "1113000MB00001234400011011000001",
        "task_name": "演示：食品经营许可（新办）",
        "task_version": 3,
        "catalog_code": "000110110000",
        "apply_type": "1",
        "project_type": "2",
        "applyer_type": "1",
        "applyer_name": f"演示申请人{i % 997}",
        "applyer_page_type": "111",
        "applyer_page_code": sm3(f"applicant-{i % 997}".encode()).hex()[:64],
        "contact_name": f"演示联系人{i % 89}",
        "contact_mobile": "138****0000",
        "address": "河北省石家庄市长安区演示路 1 号",
        "zip_code": "050000",
        "org_name": "石家庄市行政审批局（演示）",
        "org_code": "11130100MB0000123X",
        "handle_user_name": "演示受理员",
        "apply_date": "20241201093000",
        "accept_date": "20241201103000",
        "accept_doc_no": f"石审受字〔2024〕{i}号",
        "promise_date": "20241220170000",
    }


def node_env(root: Path, name: str, port: int, upstream: int | None, **extra: str) -> dict[str, str]:
    """Environment of one node process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    env.update(
        {
            "ZHENGWU_DATA_DIR": str(root / name),
            "ZHENGWU_DATABASE_URL": f"sqlite:///{(root / name / 'zhengwu.db').as_posix()}",
            "ZHENGWU_TIER": "province" if upstream else "national",
            "ZHENGWU_DIVISION_CODE": "130000" if upstream else "000000",
            "ZHENGWU_NODE_ID": name,
            "ZHENGWU_NODE_NAME": f"{name}（基准测试）",
            "ZHENGWU_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ZHENGWU_LOG_LEVEL": "WARNING",
            "ZHENGWU_EXCHANGE__RETRY_BASE_SECONDS": "0.2",
            "ZHENGWU_EXCHANGE__RETRY_MAX_SECONDS": "1",
            "ZHENGWU_EXCHANGE__POLL_SECONDS": "0.2",
            "ZHENGWU_EXCHANGE__LEASE_SECONDS": "5",
            "ZHENGWU_EXCHANGE__REQUEST_TIMEOUT_SECONDS": "30",
            **extra,
        }
    )
    if upstream:
        env["ZHENGWU_UPSTREAM_URL"] = f"http://127.0.0.1:{upstream}"
    (root / name).mkdir(parents=True, exist_ok=True)
    return env


def settings_of(env: dict[str, str]) -> Settings:
    """Settings built from a node environment (without touching os.environ)."""
    values = {
        k[len("ZHENGWU_") :].lower(): v for k, v in env.items() if k.startswith("ZHENGWU_") and "__" not in k
    }
    exchange = {
        k[len("ZHENGWU_EXCHANGE__") :].lower(): v
        for k, v in env.items()
        if k.startswith("ZHENGWU_EXCHANGE__")
    }
    values["tier"] = Tier(values["tier"])
    return Settings(**values, exchange=exchange)


class NodeProcess:
    """A ``zhengwu serve`` process."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        """Start and wait until /_status answers."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zhengwu", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Block until the node answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_status", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("node did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop (SIGTERM by default, SIGKILL for fault injection)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Pair:
    """A national node process and a province runtime (in this process), joined."""

    def __init__(self, root: Path, *, province_extra: dict[str, str] | None = None) -> None:
        self.root = root
        nport, pport = free_port(), free_port()
        self.national_env = node_env(root, "national", nport, None)
        self.province_env = node_env(root, "hebei", pport, nport, **(province_extra or {}))
        import_models()
        for env in (self.national_env, self.province_env):
            upgrade(env["ZHENGWU_DATABASE_URL"])
        self.national = NodeProcess(self.national_env, nport)
        self.province_settings = settings_of(self.province_env)
        self.province_engine = make_engine(self.province_settings.database_url)
        self.province = ExchangeRuntime.create(
            self.province_settings,
            make_session_factory(self.province_engine),
            exchange_topics(self.province_settings),
        )
        self.national_settings = settings_of(self.national_env)
        self.national_engine = make_engine(self.national_settings.database_url)
        self.national_runtime = ExchangeRuntime.create(
            self.national_settings,
            make_session_factory(self.national_engine),
            exchange_topics(self.national_settings),
        )

    def join(self) -> None:
        """Join the province to the national node (request, approve, install)."""
        assert join.join(self.province).status == "requested"
        with unit_of_work(self.national_runtime.session_factory) as session:
            join.approve(session, self.national_runtime, self.province_settings.node_id)
        assert join.join(self.province).status == "joined"

    def emit(self, rows: Sequence[dict[str, Any]], topic: str = TOPIC, chunk: int = 5_000) -> None:
        """Queue rows in the province outbox (bulk, like a capability's bulk import)."""
        now = utcnow()
        for start in range(0, len(rows), chunk):
            values = [
                {"message_id": new_id(), "topic": topic, "key": r.get("project_no"), "operation": "I", "payload": r,
                 "trace_id": None, "status": OutboxStatus.PENDING, "attempts": 0, "created_at": now, "updated_at": now}
                for r in rows[start : start + chunk]
            ]  # fmt: skip
            with unit_of_work(self.province.session_factory) as session:
                session.execute(insert(OutboxRecord), values)

    def province_counts(self) -> dict[str, int]:
        """Outbox rows per status."""
        with unit_of_work(self.province.session_factory) as session:
            return {
                s: int(c)
                for s, c in session.execute(
                    select(OutboxRecord.status, func.count()).group_by(OutboxRecord.status)
                ).all()
            }

    def national_check(self) -> tuple[int, int, str]:
        """(inbox rows, distinct row_guids, SM3 over the sorted row_guids) on the national side."""
        with unit_of_work(self.national_runtime.session_factory) as session:
            guids = sorted(
                session.scalars(select(ExchangeInbox.row_guid).where(ExchangeInbox.sender == "hebei"))
            )
        return len(guids), len(set(guids)), sm3("\n".join(guids).encode()).hex()

    def province_checksum(self, topic: str = TOPIC) -> tuple[int, str]:
        """(outbox rows of the topic, SM3 over their sorted message ids = row_guids)."""
        with unit_of_work(self.province.session_factory) as session:
            ids = sorted(session.scalars(select(OutboxRecord.message_id).where(OutboxRecord.topic == topic)))
        return len(ids), sm3("\n".join(ids).encode()).hex()

    def close(self) -> None:
        """Stop the national node and release engines."""
        self.national.stop()
        self.province_engine.dispose()
        self.national_engine.dispose()


@contextmanager
def pair(**kwargs: Any) -> Iterator[Pair]:
    """A joined province/national pair in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="zw-exchange-bench-") as tmp:
        p = Pair(Path(tmp), **kwargs)
        try:
            p.national.start()
            p.join()
            yield p
        finally:
            p.close()


def raw_insert(rows: Sequence[dict[str, Any]], root: Path, chunk: int) -> Result:
    """Baseline: ``sqlite3.executemany`` of the same rows into a table with the same columns."""
    columns = ["row_guid", "cd_batch", "cd_operation", "cd_time", "data_source", *rows[0].keys()]
    db = sqlite3.connect(root / "raw.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"CREATE TABLE raw ({', '.join(columns)})")
    values = [(new_id(), "b", "I", "20241201103000", "111", *r.values()) for r in rows]
    sql = f"INSERT INTO raw VALUES ({', '.join('?' for _ in columns)})"
    start = time.perf_counter()
    for offset in range(0, len(values), chunk):
        with db:
            db.executemany(sql, values[offset : offset + chunk])
    elapsed = time.perf_counter() - start
    db.close()
    return Result("raw sqlite3 executemany (same rows)", len(rows), elapsed, unit="records")


def main() -> None:
    """Run the benchmark."""
    from zhengwu.worker import run

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    rows = [case_row(i) for i in range(args.records)]
    with pair(province_extra={"ZHENGWU_EXCHANGE__BATCH_SIZE": str(args.batch)}) as p:
        p.emit(rows)
        assert p.national.proc is not None
        server_cpu = cpu_seconds(p.national.proc.pid)
        own_cpu = time.process_time()
        start = time.perf_counter()
        stats = run(p.province, until_idle=True)
        elapsed = time.perf_counter() - start
        own_cpu = time.process_time() - own_cpu
        server_cpu = cpu_seconds(p.national.proc.pid) - server_cpu
        ours = Result(
            f"province → national, signed HTTP (batch {args.batch})", args.records, elapsed, unit="records"
        )
        counts = p.province_counts()
        received, distinct, n_sum = p.national_check()
        sent, p_sum = p.province_checksum()
        base = raw_insert(rows, p.root, args.batch)
    report([ours, base], baseline=base, title="exchange over signed HTTP (SQLite both sides)")
    print(json.dumps({"worker": stats.as_dict(), "province": counts}, ensure_ascii=False))
    print(
        f"cpu: province {own_cpu / args.records * 1e6:.0f} µs/record, national {server_cpu / args.records * 1e6:.0f} "
        f"µs/record; wall {elapsed / args.records * 1e6:.0f} µs/record (load average {os.getloadavg()[0]:.1f})"
    )
    lost, duplicated = sent - distinct, received - distinct
    same = "match" if n_sum == p_sum else "MISMATCH"
    print(f"records={args.records} acknowledged={counts.get('acknowledged', 0)} national_rows={received} "
          f"lost={lost} duplicated={duplicated} checksum {same}")  # fmt: skip
    if lost or duplicated or n_sum != p_sum:
        sys.exit(1)


if __name__ == "__main__":
    main()
