"""Catalog import throughput: ``zhengwu catalog import`` of implementation items on SQLite.

Generates N implementation items (the demo guides, claimed by synthetic town governments registered in
every Hebei county), writes them as JSON lines, imports the file (validation, derived codes, chunked
commits; with ``--publish`` also versions, outbox rows and search entries), then measures the
baseline in the same run: a raw ``sqlite3.executemany`` of exactly the rows the import wrote, in the
same chunks, into a fresh database. Prints rows/s, the ratio, and the time 1,000,000 rows would take.

    .venv/bin/python bench/catalog_import.py [--rows 100000] [--publish] [--chunk 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from zhengwu.catalog.importexport import ImportOptions, directory_records, import_file, import_records
from zhengwu.catalog.importexport.importer import BULK_CACHE_KIB, default_workers
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.db import make_engine, new_id
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import make_session_factory, unit_of_work
from zhengwu.main import import_models
from zhengwu.orgs.models import Department
from zhengwu.seed.catalog import task_row
from zhengwu.seed.catalog_items import ITEMS, DemoItem

TARGET_SECONDS_PER_MILLION = 300  # issue 4: 1,000,000 implementation items in under 5 minutes

# Every item may be implemented at any level in the bench (分级管理), so town governments can claim it.
BENCH_ITEMS: tuple[DemoItem, ...] = tuple(replace(i, levels="7") for i in ITEMS)


def hebei_counties() -> list[tuple[str, str]]:
    """Current county-level divisions of Hebei with their names."""
    return [
        (c, divisions.name_of(c) or c)
        for c in sorted(divisions.current_codes())
        if c.startswith("13") and not c.endswith("00")
    ]


def bodies(count: int) -> list[dict[str, Any]]:
    """``count`` town governments (乡镇人民政府) spread over Hebei's counties, check-valid credit codes."""
    counties = hebei_counties()
    rows = []
    for serial in range(1, count + 1):
        code, name = counties[serial % len(counties)]
        body = f"MD{serial:06d}"
        rows.append(
            {
                "id": new_id(),
                "credit_code": complete_uscc(f"11{code}{body}{org_check_digit(body)}"),
                "name": f"{name}第{serial}镇人民政府",
                "short_name": f"第{serial}镇",
                "division_code": code,
                "level": 4,
                "parent_id": None,
            }
        )
    return rows


def items(n: int, towns: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``n`` implementation items: every town claims the bench items in turn (level 5)."""
    produced = 0
    for town in towns:
        for item in BENCH_ITEMS:
            if produced >= n:
                return
            yield task_row(
                item, 5, town["credit_code"], town["name"], town["name"][:-4], town["division_code"]
            )
            produced += 1


def prepare(workdir: Path, n: int) -> tuple[str, Path, list[dict[str, Any]]]:
    """A migrated database with bodies and the (published) basic catalog, and the JSON lines file."""
    url = f"sqlite:///{(workdir / 'catalog.db').as_posix()}"
    upgrade(url)
    towns = bodies(-(-n // len(BENCH_ITEMS)))
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        session.execute(insert(Department), towns)
    directory = [
        {
            "catalog_code": i.code,
            "task_name": i.name,
            "task_type": i.task_type,
            "use_level": i.levels,
            "by_law": i.law,
        }
        for i in BENCH_ITEMS
    ]
    import_records(factory, directory_records(directory), options=ImportOptions(publish=True))
    engine.dispose()
    path = workdir / "items.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for row in items(n, towns):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return url, path, towns


TABLES = (
    "catalog_task",
    "catalog_material",
    "catalog_fee_project",
    "catalog_question",
    "catalog_handle_item",
    "catalog_history",
    "catalog_version",
    "kernel_outbox",
    "catalog_search_entry",
)


def snapshot_rows(db: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row the import wrote, per table (the baseline inserts exactly these)."""
    conn = sqlite3.connect(db)
    found = {}
    for table in TABLES:
        cursor = conn.execute(f"SELECT * FROM {table}")
        columns = [d[0] for d in cursor.description]
        if table == "kernel_outbox":
            rows = [r[1:] for r in cursor.fetchall()]  # seq is assigned by the database
            columns = columns[1:]
        else:
            rows = cursor.fetchall()
        if table in ("catalog_history", "catalog_version"):
            # Only the implementation items: the basic catalog was there before the import.
            rows = [r for r in rows if len(r[columns.index("code")]) == 31]
        if table == "kernel_outbox":
            rows = [r for r in rows if r[columns.index("topic")] != "catalog.up_task_directory"]
        found[table] = (columns, rows)
    conn.close()
    return found


# How each table's rows name their implementation item (so that chunks hold whole items).
_OWNER = {
    "catalog_task": "id",
    "catalog_material": "task_id",
    "catalog_fee_project": "task_id",
    "catalog_question": "task_id",
    "catalog_handle_item": "task_id",
    "catalog_search_entry": "task_id",
    "catalog_history": "code",
    "catalog_version": "code",
    "kernel_outbox": "key",
}


def raw_executemany(
    url: str, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]], chunk: int
) -> float:
    """Insert the same rows with sqlite3.executemany (same pragmas, same chunks); returns seconds."""
    task_columns, tasks = tables["catalog_task"]
    id_at, code_at = task_columns.index("id"), task_columns.index("task_code")
    plans = []  # per chunk: (table, sql, rows) — grouping is done before the clock starts
    grouped: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for table, (columns, rows) in tables.items():
        at = columns.index(_OWNER[table])
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            groups.setdefault(row[at], []).append(row)
        grouped[table] = groups
    for start in range(0, len(tasks), chunk):
        part = tasks[start : start + chunk]
        statements = []
        for table, (columns, _) in tables.items():
            keys = [t[id_at] if _OWNER[table] in ("id", "task_id") else t[code_at] for t in part]
            rows = [r for k in keys for r in grouped[table].get(k, ())]
            if rows:
                sql = f"INSERT INTO {table} ({','.join(columns)}) VALUES ({','.join('?' * len(columns))})"
                statements.append((sql, rows))
        plans.append(statements)
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")  # as the importer does
    start_time = time.perf_counter()
    for statements in plans:
        conn.execute("BEGIN")
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - start_time
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument(
        "--publish", action="store_true", help="publish while importing (versions, outbox, search)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: as the CLI chooses)"
    )
    args = parser.parse_args()
    import_models()
    with tempfile.TemporaryDirectory(prefix="zw-catalog-bench-") as tmp:
        workdir = Path(tmp)
        print(f"generating {args.rows:,} implementation items ...", file=sys.stderr)
        url, path, _ = prepare(workdir, args.rows)
        size = path.stat().st_size
        engine = make_engine(url)
        factory = make_session_factory(engine)
        rejects: list[Any] = []
        workers = default_workers(path) if args.workers is None else args.workers
        before = os.times()
        started = time.perf_counter()
        cpu_started = time.process_time()
        report = import_file(
            factory,
            path,
            options=ImportOptions(publish=args.publish, chunk_size=args.chunk, workers=workers),
            on_reject=rejects.append,
        )
        seconds = time.perf_counter() - started
        main_cpu = time.process_time() - cpu_started
        after = os.times()  # the worker processes count too
        worker_cpu = (
            after.children_user + after.children_system - before.children_user - before.children_system
        )
        cpu_seconds = main_cpu + worker_cpu
        engine.dispose()
        if rejects or report.inserted != args.rows:
            print(f"unexpected: inserted {report.inserted}, rejects {rejects[:3]}", file=sys.stderr)
            sys.exit(1)
        tables = snapshot_rows(workdir / "catalog.db")
        base_dir = workdir / "base"
        base_dir.mkdir()
        base_url, _, _ = prepare(base_dir, 1)
        # The fresh database needs the same bodies and catalog as the measured one.
        conn = sqlite3.connect(workdir / "catalog.db")
        departments = conn.execute("SELECT * FROM orgs_department").fetchall()
        conn.close()
        base = sqlite3.connect(base_dir / "catalog.db")
        base.execute("DELETE FROM orgs_department")
        base.execute("DELETE FROM catalog_search_dept")
        base.execute("DELETE FROM catalog_search_name")
        base.executemany(
            f"INSERT INTO orgs_department VALUES ({','.join('?' * len(departments[0]))})", departments
        )
        base.commit()
        base.close()
        _copy_catalog(workdir / "catalog.db", base_dir / "catalog.db")
        raw_seconds = raw_executemany(base_url, tables, args.chunk)
    rows_per_s = args.rows / seconds
    raw_per_s = args.rows / raw_seconds
    written = sum(len(rows) for _, rows in tables.values())
    mode = ("publish" if args.publish else "draft") + f", {workers} worker process(es)"
    print(
        f"== catalog import ({mode}), SQLite, {args.rows:,} items, {size / 1e6:,.1f} MB JSON lines, {written:,} rows written"
    )
    print(
        f"zhengwu catalog import        {rows_per_s:>10,.0f} items/s  ({seconds:,.1f} s wall, {cpu_seconds:,.1f} s CPU)"
    )
    print(
        f"raw sqlite3.executemany       {raw_per_s:>10,.0f} items/s  ({raw_seconds:,.1f} s, same rows and chunks)"
    )
    print(f"ratio import / raw            {rows_per_s / raw_per_s:>10.3f}")
    million = 1_000_000 / rows_per_s
    verdict = "OK" if million <= TARGET_SECONDS_PER_MILLION else "TOO SLOW"
    print(
        f"1,000,000 items extrapolated  {million:>10,.0f} s  (target {TARGET_SECONDS_PER_MILLION} s: {verdict})"
    )
    cpu_million = 1_000_000 * cpu_seconds / args.rows
    print(
        f"  CPU time, all processes     {cpu_million:>10,.0f} s  (per million items, summed over processes)"
    )
    busiest = max(main_cpu, worker_cpu / workers if workers else 0.0)
    print(
        f"  busiest process             {1_000_000 * busiest / args.rows:>10,.0f} s  "
        f"(per million items: the wall time on idle cores, one per process; importer {main_cpu:.1f} s, "
        f"workers {worker_cpu:.1f} s CPU)"
    )
    print(f"  load average after the run  {os.getloadavg()[0]:>10.1f}  ({os.cpu_count()} CPUs)")


def _copy_catalog(source: Path, target: Path) -> None:
    """Copy the basic catalog, names and departments of the search (the import's starting state)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    for table in ("catalog_basic_item", "catalog_search_name", "catalog_search_dept"):
        rows = src.execute(f"SELECT * FROM {table}").fetchall()
        dst.execute(f"DELETE FROM {table}")
        if rows:
            dst.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
    dst.commit()
    src.close()
    dst.close()


if __name__ == "__main__":
    main()
