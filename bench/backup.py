"""Backup and restore throughput next to a raw copy of the same data in the same run.

A migrated SQLite node is padded with random rows to ``--megabytes`` (random data does not compress, so
nothing flatters the figures). Measured: the raw SQLite online backup alone (the baseline: what any
backup of this database must at least do), ``backup create`` (snapshot + SM4-GCM chunks + SM3 manifest),
``backup verify`` and ``backup restore`` into a clean place, in MB/s with their ratio to the baseline.
The issue's target (a node with 1,000,000 items and 100,000 users backed up in 2 minutes) is
extrapolated from the measured MB/s and the size given with ``--target-gb``; say so when quoting it
(``--megabytes 4096`` measures a database of that size itself). Each step also prints the CPU seconds
of this process (all its threads) and of the cipher's worker processes: on a shared machine the wall
clock measures the neighbours too. ``--compare`` then runs create and restore again in alternating rounds
with the cipher in this process alone (1 worker) and in worker processes (one per usable core), and
prints both with the load average of each round.

``--compression both`` measures create, verify and restore with zstd-compressed chunks (the default)
and with uncompressed chunks (what sets made before held) in the same run, alternating which goes
first round by round, with the sealed size of each; ``none`` or ``zstd`` measures one.

    .venv/bin/python bench/backup.py [--megabytes 128] [--target-gb 4] [--compare --rounds 2]
        [--compression both --rounds 2]

``--node DIR`` measures an existing SQLite node instead (its ``zhengwu.db`` and key folders, e.g. the
real-shaped node ``bench/bignode.py`` builds with 1,000,000 items and 100,000 users): the node is
only read; the backup, the raw copy and the restore go to ``--work`` (default: a temporary folder on
the same file system as the node would be best — each needs the node's size again).

    .venv/bin/python bench/bignode.py --out /tmp/bignode && .venv/bin/python bench/backup.py --node /tmp/bignode
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import tempfile
import time
from functools import partial
from pathlib import Path

from harness import Result, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.ops import backup, sealing
from zhengwu.ops.sealing import BackupKey, load_key


def _pad(db: Path, megabytes: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE bench_padding (id INTEGER PRIMARY KEY, body BLOB)")
    rows = megabytes * 256  # 4 KiB each
    conn.executemany(
        "INSERT INTO bench_padding (body) VALUES (?)", ((os.urandom(4096),) for _ in range(rows))
    )
    conn.commit()
    conn.close()


CPU: dict[str, float] = {}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the cipher's worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _timed(name: str, megabytes: float, fn: object) -> Result:
    cpu = _cpu()
    start = time.perf_counter()
    load = os.getloadavg()[0]
    fn()  # type: ignore[operator]
    CPU[name] = _cpu() - cpu
    wall = time.perf_counter() - start
    # Printed as it ends: a step of a multi-gigabyte node takes minutes, and a run cut short keeps its figures.
    print(f"{name}: wall {wall:.1f} s, CPU {CPU[name]:.1f} s, load average {load:.2f} -> {os.getloadavg()[0]:.2f}",
          flush=True)  # fmt: skip
    return Result(name, round(megabytes), wall, unit="MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=128)
    parser.add_argument("--target-gb", type=float, default=4.0)
    parser.add_argument("--compare", action="store_true", help="1 worker against worker processes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--node", type=Path, help="an existing SQLite node folder to back up (read only)")
    parser.add_argument("--work", type=Path, help="where the backup and the restore go (default: temporary)")
    parser.add_argument("--compression", choices=("zstd", "none", "both"), default="zstd")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        root = Path(tmp)
        if args.node is not None:
            live_db = args.node / "zhengwu.db"
            live = Settings(data_dir=args.node, database_url=f"sqlite:///{live_db}")
        else:
            live_db = root / "live" / "zhengwu.db"
            live = Settings(data_dir=root / "live" / "data", database_url=f"sqlite:///{live_db}")
            live.data_dir.mkdir(parents=True)
            upgrade(live.database_url)
            _pad(live_db, args.megabytes)
        size = live_db.stat().st_size / 1e6
        key = load_key(root / "backup.key", create=True)

        def raw() -> None:
            source = sqlite3.connect(live_db)
            dest = sqlite3.connect(root / "raw.db")
            source.backup(dest)
            dest.close()
            source.close()

        base = _timed("raw SQLite online backup", size, raw)
        (root / "raw.db").unlink()  # only the baseline: its space is the backup's and the restore's
        kinds = ("zstd", "none") if args.compression == "both" else (args.compression,)
        rounds = args.rounds if len(kinds) > 1 else 1
        for round_ in range(rounds):
            for compression in kinds if round_ % 2 == 0 else kinds[::-1]:
                label = f" [{compression}, round {round_}]" if len(kinds) > 1 else ""
                _steps(live, root, key, size, base, compression, label, args.target_gb)
        if args.compare:
            _compare(live, root, key, size, args.rounds)


def _steps(
    live: Settings,
    root: Path,
    key: BackupKey,
    size: float,
    base: Result,
    compression: str,
    label: str,
    target_gb: float,
) -> None:
    made: dict[str, object] = {}
    offsite = root / "offsite"
    create = _timed(
        f"backup create{label}",
        size,
        lambda: made.update(backup.create(live, offsite, key, compression=compression)),
    )
    verify = _timed(f"backup verify{label}", size, lambda: backup.verify(offsite, key))
    clean = Settings(data_dir=root / "clean" / "data", database_url=f"sqlite:///{root}/clean/zhengwu.db")
    restore = _timed(f"backup restore{label}", size, lambda: backup.restore(clean, offsite, key))
    sealed = sum(p.stat().st_size for p in Path(str(made["path"])).iterdir())
    report(
        [base, create, verify, restore],
        baseline=base,
        title=f"backup of a {size:.0f} MB SQLite node, chunks {compression}",
    )
    for step in (base, create, verify, restore):
        print(
            f"{step.name:<40} wall {step.seconds:7.1f} s  CPU {CPU[step.name]:7.1f} s"
            f"  ({size / max(CPU[step.name], 1e-9):.0f} MB per CPU second)"
        )
    print(f"sealed set {sealed / 1e6:.0f} MB ({size * 1e6 / sealed:.1f}x smaller than the database)")
    print(f"load average {os.getloadavg()[0]:.2f}; cores {os.cpu_count()}")
    target_mb = target_gb * 1000
    print(
        f"extrapolated (not measured) for {target_gb:g} GB: create "
        f"{target_mb / create.per_second:.0f} s, verify {target_mb / verify.per_second:.0f} s,"
        f" restore {target_mb / restore.per_second:.0f} s",
        flush=True,
    )
    shutil.rmtree(offsite)
    shutil.rmtree(root / "clean")


def _compare(live: Settings, root: Path, key: BackupKey, size: float, rounds: int) -> None:
    auto = sealing.parallel_workers()
    for round_ in range(rounds):
        for workers in (1, auto) if round_ % 2 == 0 else (auto, 1):
            node = live.model_copy(update={"ops": live.ops.model_copy(update={"backup_processes": workers})})
            clean = node.model_copy(
                update={"data_dir": root / "c" / "data", "database_url": f"sqlite:///{root}/c/zhengwu.db"}
            )
            target = root / f"offsite-{workers}-{round_}"
            made = _timed(f"create w={workers}", size, partial(backup.create, node, target, key))
            done = _timed(f"restore w={workers}", size, partial(backup.restore, clean, target, key))
            shutil.rmtree(root / "c")
            shutil.rmtree(target)
            for step in (made, done):
                print(f"round {round_} {step.name:<12} wall {step.seconds:6.1f} s  CPU {CPU[step.name]:6.1f} s"
                      f"  load {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
