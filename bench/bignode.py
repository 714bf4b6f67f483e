"""Build a real-shaped big SQLite node: the demo seed's rows multiplied to ``--items`` implementation items
(实施清单) and ``--users`` user accounts, in the migrated schema of the real tables (issue 16's backup size).

Nothing is random padding: every added row is a copy of a seeded row of the same table — a task with its
materials, questions, published version snapshot, history and search entry; a natural-person or legal-
person account with its SM4-encrypted ID number and phone — with the keys rewritten so that the unique
constraints hold (ids, task codes, version codes, login names, blind indexes). The copies therefore
have the seed's sizes, text and compressibility. They are not valid business data (task codes lose their
check digit, copied ciphertexts decrypt to the seed person): a node to measure storage work on, not to
serve citizens from.

The seed is made once with ``zhengwu migrate`` + ``zhengwu seed --demo`` into ``--seed`` (kept between
runs), then copied to ``--out`` and multiplied there with bulk ``INSERT … SELECT`` batches.

    .venv/bin/python bench/bignode.py --out /tmp/bignode [--items 1000000] [--users 100000] [--seed DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

#: Child tables of a task, copied with it: (table, columns rewritten besides id and task_id).
_TASK_CHILDREN = ("catalog_material", "catalog_question")


def seed(directory: Path) -> Path:
    """The demo seed as a migrated SQLite node in ``directory`` (made once)."""
    database = directory / "zhengwu.db"
    if (directory / "seeded").exists():
        return database
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env = {**os.environ, "ZHENGWU_DATA_DIR": str(directory), "ZHENGWU_DATABASE_URL": f"sqlite:///{database}",
           "ZHENGWU_LOG_LEVEL": "WARNING"}  # fmt: skip
    for args in (("migrate",), ("seed", "--demo")):
        subprocess.run([sys.executable, "-m", "zhengwu", *args], env=env, check=True, capture_output=True)
    (directory / "seeded").write_text("ok")
    return database


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _copy_sql(conn: sqlite3.Connection, table: str, rewrite: dict[str, str], source: str) -> str:
    """``INSERT INTO table SELECT …`` with some columns replaced by expressions of the copy number ``:k``."""
    columns = _columns(conn, table)
    chosen = ", ".join(rewrite.get(c, f"src.{c}") for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT {chosen} {source}"


#: A 32-character id of copy ``k``: the seed id's first 24 characters (time + randomness) and k.
_ID = "substr(src.{col}, 1, 24) || printf('%08x', :k)"


def _seed_rows(conn: sqlite3.Connection, name: str, select: str) -> None:
    """A temporary list of seed rows (id, rn: the rank of their task); copies are driven from it, so that
    each batch reads the seed rows by key instead of scanning a table that grows with every batch."""
    conn.execute(f"CREATE TEMP TABLE {name} AS {select}")
    conn.execute(f"CREATE INDEX {name}_rn ON {name} (rn)")


def _driven(table: str, seeds: str) -> str:
    # CROSS JOIN keeps the seed list as the outer loop (SQLite does not reorder it).
    return f"FROM {seeds} AS b CROSS JOIN {table} AS src ON src.id = b.id WHERE b.rn <= :n"


def multiply_tasks(conn: sqlite3.Connection, items: int) -> int:
    """Copies of the seeded tasks (with their children) until there are ``items``; returns copies made."""
    _seed_rows(conn, "bn_task", "SELECT id, row_number() OVER (ORDER BY id) AS rn FROM catalog_task")
    base = conn.execute("SELECT count(*) FROM bn_task").fetchone()[0]
    prefixes = conn.execute("SELECT count(DISTINCT substr(id, 1, 24)) FROM bn_task").fetchone()[0]
    assert prefixes == base, "seed ids must differ in their first 24 characters"
    for table in (*_TASK_CHILDREN, "catalog_search_entry"):
        key = "task_id" if table == "catalog_search_entry" else "id"
        _seed_rows(
            conn,
            f"bn_{table}",
            f"SELECT c.{key} AS id, b.rn FROM {table} c JOIN bn_task b ON b.id = c.task_id",
        )
    for table in ("catalog_version", "catalog_history"):  # keyed by the task code
        _seed_rows(conn, f"bn_{table}", f"SELECT c.id, b.rn FROM {table} c JOIN catalog_task t ON t.task_code = c.code"
                   " JOIN bn_task b ON b.id = t.id WHERE c.kind = 'task'")  # fmt: skip
    new_id, new_code = _ID.format(col="id"), "src.{col} || printf('%05d', :k)"
    statements = [
        _copy_sql(conn, "catalog_task", {"id": new_id, "task_code": new_code.format(col="task_code")},
                  _driven("catalog_task", "bn_task")),
        *(_copy_sql(conn, table, {"id": new_id, "task_id": _ID.format(col="task_id")},
                    _driven(table, f"bn_{table}")) for table in _TASK_CHILDREN),
        _copy_sql(conn, "catalog_search_entry",
                  {"task_id": _ID.format(col="task_id"), "task_code": new_code.format(col="task_code")},
                  _driven("catalog_search_entry", "bn_catalog_search_entry").replace("src.id", "src.task_id")),
        *(_copy_sql(conn, table, {"id": new_id, "code": new_code.format(col="code")},
                    _driven(table, f"bn_{table}")) for table in ("catalog_version", "catalog_history")),
    ]  # fmt: skip
    k = 0
    have = base
    while have < items:
        k += 1
        n = min(base, items - have)
        for sql in statements:
            conn.execute(sql, {"k": k, "n": n})
        conn.commit()
        have += n
        if k % 20 == 0:
            print(f"  tasks: {have:,} ({time.perf_counter() - STARTED:.0f} s)", flush=True)
    return k


def multiply_users(conn: sqlite3.Connection, users: int) -> None:
    """Copies of the seeded citizen and legal-person accounts until there are ``users`` of them."""
    _seed_rows(conn, "bn_people", "SELECT id, row_number() OVER (ORDER BY id) AS rn FROM identity_account"
               " WHERE kind IN ('natural', 'legal')")  # fmt: skip
    base = conn.execute("SELECT count(*) FROM bn_people").fetchone()[0]
    assert base, "the demo seed has citizens and legal persons"

    def unique(column: str) -> str:  # a blind index is a keyed hash: 64 hex characters, unique per person
        return f"CASE WHEN src.{column} IS NULL THEN NULL ELSE lower(hex(randomblob(32))) END"

    copy = _copy_sql(conn, "identity_account", {
        "id": _ID.format(col="id"),
        "login_name": "CASE WHEN src.login_name IS NULL THEN NULL"
                      " ELSE substr(src.login_name, 1, 52) || printf('-%011d', :k) END",
        "citizen_id_index": unique("citizen_id_index"),
        "phone_index": unique("phone_index"),
        "cert_key": unique("cert_key"),
        "email": "CASE WHEN src.email IS NULL THEN NULL ELSE printf('u%d.', :k) || src.email END",
    }, _driven("identity_account", "bn_people"))  # fmt: skip
    have, k = base, 0
    while have < users:
        k += 1
        n = min(base, users - have)
        conn.execute(copy, {"k": k, "n": n})
        have += n
    conn.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory of the big node (replaced)")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=Path, default=Path("/tmp/zhengwu-bignode-seed"))
    args = parser.parse_args()
    source = seed(args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    for item in args.seed.iterdir():  # the node's keys belong with its database
        if item.is_dir():
            shutil.copytree(item, args.out / item.name)
    database = args.out / "zhengwu.db"
    shutil.copy(source, database)
    conn = sqlite3.connect(database)
    # A throw-away build: no journal, no syncs; the node's own WAL mode is set back at the end.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    cpu = time.process_time()
    copies = multiply_tasks(conn, args.items)
    multiply_users(conn, args.users)
    conn.execute("ANALYZE")
    conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")
    counts = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in (
            "catalog_task",
            "catalog_material",
            "catalog_question",
            "catalog_version",
            "catalog_search_entry",
            "identity_account",
        )
    }
    conn.close()
    size = database.stat().st_size / 1e9
    print(f"big node at {database}: {size:.2f} GB, {copies} copies of the seed's tasks")
    for table, count in counts.items():
        print(f"  {table:<22} {count:>10,}")
    print(f"built in {time.perf_counter() - STARTED:.0f} s wall, {time.process_time() - cpu:.0f} s CPU; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
