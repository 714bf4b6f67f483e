"""前置库 (front-end database) mode: records/s from the province outbox into the national-shaped
``up_pro_accept`` table of a separate SQLite 前置库, and the national node's watermark ingest of the same
rows — against a raw ``sqlite3`` ``executemany`` of the same rows into the same table, in the same run.

    .venv/bin/python bench/exchange_frontdb.py [--records 50000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select

from exchange_http import TOPIC, Pair, case_row
from harness import Result, report
from zhengwu.exchange.frontdb_sync import ingest_frontdb
from zhengwu.exchange.models import ExchangeInbox
from zhengwu.exchange.transports.frontdb import FrontDb
from zhengwu.kernel.db import new_id
from zhengwu.kernel.session import unit_of_work


def raw_into_frontdb_shape(rows: list[dict[str, object]], root: Path, chunk: int) -> Result:
    """Baseline: the same rows, already converted, into an identical empty 前置库 with sqlite3 directly."""
    frontdb = FrontDb(f"sqlite:///{(root / 'raw-frontdb.db').as_posix()}")
    frontdb.dispose()
    table = "up_pro_accept"
    db = sqlite3.connect(root / "raw-frontdb.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    columns = [*rows[0].keys(), "row_guid", "cd_batch", "cd_operation", "cd_time", "data_source", "id",
               "tenant_id", "create_org_id", "create_user_id", "update_org_id", "update_user_id", "create_time",
               "update_time", "version"]  # fmt: skip
    values = [
        (*r.values(), new_id(), "b", "I", "2024-12-01 10:30:00", "111", i, 0, 0, 0, 0, 0, "2024-12-01 10:30:00",
         "2024-12-01 10:30:00", 1)
        for i, r in enumerate(rows)
    ]  # fmt: skip
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    start = time.perf_counter()
    for offset in range(0, len(values), chunk):
        with db:
            db.executemany(sql, values[offset : offset + chunk])
    elapsed = time.perf_counter() - start
    db.close()
    return Result("raw sqlite3 executemany into up_pro_accept", len(rows), elapsed, unit="records")


def main() -> None:
    """Run the benchmark."""
    from zhengwu.worker import run

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args()
    rows = [case_row(i) for i in range(args.records)]
    with tempfile.TemporaryDirectory(prefix="zw-frontdb-bench-") as tmp:
        root = Path(tmp)
        frontdb_url = f"sqlite:///{(root / 'frontdb.db').as_posix()}"
        pair = Pair(
            root,
            province_extra={
                "ZHENGWU_EXCHANGE__TRANSPORT": "frontdb",
                "ZHENGWU_EXCHANGE__FRONTDB_URL": frontdb_url,
                "ZHENGWU_EXCHANGE__BATCH_SIZE": str(args.batch),
                "ZHENGWU_EXCHANGE__FRONTDB_SETTLE_SECONDS": "0",
            },
        )
        try:
            pair.emit(rows, TOPIC)
            cpu = time.process_time()
            start = time.perf_counter()
            stats = run(pair.province, until_idle=True)
            write_cpu = time.process_time() - cpu
            write = Result("province outbox → 前置库 up_pro_accept", args.records, time.perf_counter() - start,
                           unit="records")  # fmt: skip
            pair.national_runtime.settings.exchange.frontdb_settle_seconds = 0
            frontdb = FrontDb(frontdb_url)
            cpu = time.process_time()
            start = time.perf_counter()
            ingested = ingest_frontdb(pair.national_runtime, frontdb, sender="hebei")
            read_cpu = time.process_time() - cpu
            read = Result("national ingest from 前置库 (watermark)", ingested.rows, time.perf_counter() - start,
                          unit="records")  # fmt: skip
            with frontdb.engine.connect() as conn:
                in_frontdb = conn.execute(
                    select(func.count()).select_from(frontdb.table("up_pro_accept"))
                ).scalar_one()
            frontdb.dispose()
            with unit_of_work(pair.national_runtime.session_factory) as session:
                applied = session.scalar(
                    select(func.count()).select_from(ExchangeInbox).where(ExchangeInbox.status == "applied")
                )
            counts = pair.province_counts()
            base = raw_into_frontdb_shape(rows, root, args.batch)
        finally:
            pair.province_engine.dispose()
            pair.national_engine.dispose()
    report([write, read, base], baseline=base, title="exchange through the 前置库 (SQLite)")
    print(json.dumps({"worker": stats.as_dict(), "province": counts}, ensure_ascii=False))
    print(
        f"cpu: province → 前置库 {write_cpu / args.records * 1e6:.0f} µs/record "
        f"({args.records / write_cpu:,.0f} records per CPU-second), national ingest "
        f"{read_cpu / args.records * 1e6:.0f} µs/record (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"records={args.records} in_frontdb={in_frontdb} national_applied={applied}")
    if in_frontdb != args.records or applied != args.records:
        sys.exit(1)


if __name__ == "__main__":
    main()
