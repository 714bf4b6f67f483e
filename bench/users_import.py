"""Legacy user import throughput (issue 3: 1,000,000 legacy rows in under 10 minutes).

Generates a CSV of synthetic legacy users (national ``up_uc_province_user`` column names; about 2 %
exact duplicates, 1 % invalid ID numbers, half the rows with a bcrypt/salted-SHA-256 legacy hash), then
in the same run on fresh SQLite databases (or PostgreSQL with --database-url):

* ``zhengwu.identity.importer.import_users`` — cleanse, validate (GB 11643 incl. division history),
  de-duplicate by blind index, SM4-GCM encrypt, HMAC-SM3 index, outbox rows, one transaction;
* the baseline: a raw ``executemany`` of already-prepared account rows into the same table (no reading,
  no validation, no cryptography) — the floor of what any importer can do on this database.

    .venv/bin/python bench/users_import.py [--rows 200000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from harness import Result, report
from zhengwu.identity.context import configure
from zhengwu.identity.importer import import_users
from zhengwu.identity.models import Account
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import make_engine, new_id
from zhengwu.kernel.logging import configure_logging
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

TARGET_ROWS_PER_SECOND = 1_000_000 / 600  # 1M rows in 10 minutes
HEADER = ["user_id", "user_name", "cert_type", "cert_no", "user_mobile", "user_mail", "password_hash",
          "password_scheme", "password_salt"]  # fmt: skip
# One precomputed bcrypt hash (cost 10) reused: the importer only parses and stores it.
BCRYPT = "$2b$10$C6UzMDM.H6dfI/f/IKcEeO5bT1FqYx2VZGm2d8y5dHqYwq1TQ0n2K"


def generate(path: Path, rows: int) -> None:
    """Write ``rows`` synthetic legacy rows with known dirt."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            n = i - 1 if i % 50 == 49 else i  # 2 % exact duplicates of the previous person
            number = nth_citizen_id(n)
            if i % 100 == 7:
                number = number[:17] + ("0" if number[17] != "0" else "1")  # 1 % bad check digit
            if i % 2:
                salt = f"s{i:x}"
                digest = hashlib.sha256((salt + "pw").encode()).hexdigest()
                pwd = [digest, "sha256_salt", salt]
            else:
                pwd = [BCRYPT, "", ""]
            writer.writerow([f"L{i}", "演示用户", "111", number.lower(), nth_phone(n), "", *pwd])


@contextmanager
def fresh_database(base_url: str | None, tmp: Path, name: str) -> Iterator[str]:
    """A migrated empty database (a new SQLite file, or a new PostgreSQL database)."""
    if base_url is None:
        url = f"sqlite:///{(tmp / f'{name}.db').as_posix()}"
        upgrade(url)
        yield url
        return
    admin_url, _, _ = base_url.rpartition("/")
    dbname = f"zw_bench_{name}"
    admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    url = f"{admin_url}/{dbname}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
        admin.dispose()


def run_import(url: str, path: Path, rows: int, tmp: Path) -> tuple[Result, Result, dict[str, int]]:
    """Import the generated file; rows per second over the whole transaction."""
    configure(Settings(data_dir=tmp, database_url=url, log_level="WARNING"))
    engine = make_engine(url)
    start, cpu = time.perf_counter(), time.process_time()
    with unit_of_work(make_session_factory(engine)) as db:
        result = import_users(db, path, source="bench", batch_size=2000)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    name = "zhengwu users import (cleanse, validate, dedupe, encrypt, outbox)"
    return Result(name, rows, elapsed, unit="rows"), Result(name, rows, cpu, unit="rows"), result.summary()


def run_baseline(url: str, rows: int) -> tuple[Result, Result]:
    """Raw executemany of prepared account rows (constant ciphertext stand-ins, unique indexes)."""
    now = utcnow()
    blob = b"\x01" + bytes(40)
    prepared = [
        {
            "id": new_id(),
            "kind": "natural",
            "display_name": "演示用户",
            "real_name_level": 2,
            "cert_type": "111",
            "citizen_id_enc": blob,
            "citizen_id_index": f"{i:064x}",
            "cert_key": f"{i:064x}",
            "phone_enc": blob,
            "phone_index": f"{i:064x}",
            "status": "active",
            "failed_logins": 0,
            "source": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(rows)
    ]
    engine = make_engine(url)
    start, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        for offset in range(0, rows, 2000):
            conn.execute(insert(Account), prepared[offset : offset + 2000])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    name = "raw executemany of prepared rows (floor)"
    return Result(name, rows, elapsed, unit="rows"), Result(name, rows, cpu, unit="rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL server URL (a database is created)")
    args = parser.parse_args()
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "legacy.csv"
        started = time.perf_counter()
        generate(path, args.rows)
        print(
            f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)"
        )
        with fresh_database(args.database_url, tmp, "import") as url:
            ours, ours_cpu, summary = run_import(url, path, args.rows, tmp)
        with fresh_database(args.database_url, tmp, "baseline") as url:
            floor, floor_cpu = run_baseline(url, args.rows)
    print(f"summary: {summary}")
    where = "PostgreSQL" if args.database_url else "SQLite"
    report([ours, floor], baseline=floor, title=f"legacy import, {args.rows:,} rows, {where}, wall clock")
    # On a shared host the wall clock measures the neighbours too; this process's CPU time does not
    # (with PostgreSQL the server's CPU is not included).
    report([ours_cpu, floor_cpu], baseline=floor_cpu, title="same runs per CPU-second of this process")
    for label, result in (("wall clock", ours), ("CPU time", ours_cpu)):
        projected = 1_000_000 / result.per_second
        verdict = "meets" if result.per_second >= TARGET_ROWS_PER_SECOND else "MISSES"
        print(
            f"projected time for 1,000,000 rows ({label}): {projected / 60:.1f} min — {verdict} the 10-minute target"
        )


if __name__ == "__main__":
    main()
