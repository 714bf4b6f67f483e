"""``zhengwu backup``: off-site backup (异地容灾备份) — create, verify, restore, list, ship, drill.

The key file is named by ``ZHENGWU_BACKUP_KEY_FILE`` (default ``<data_dir>/../backup.key``, outside the
data directory so that a backup never contains its own key); ``create`` makes it with mode 600 when it
is absent, every other command needs the existing one.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zhengwu.commands.node import load_settings
from zhengwu.commands.operator import privileged, routine
from zhengwu.kernel.config import Settings
from zhengwu.ops import backup
from zhengwu.ops import rights as ops_rights
from zhengwu.ops.sealing import BackupError, BackupKey, load_key

app = typer.Typer(
    help="容灾备份 / off-site backup: create, verify, restore, ship, drill.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

Target = Annotated[Path, typer.Option("--to", help="Backup target directory (the off-site store).")]
Source = Annotated[Path, typer.Option("--from", help="Backup target directory to read from.")]
SetName = Annotated[str | None, typer.Option("--set", help="Backup set name (default: the newest).")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Kind = Annotated[
    str,
    typer.Option("--type", help="pgBackRest backup type: full, diff or incr (the first one is always full)."),
]


def key_file(settings: Settings) -> Path:
    """Where the backup key lives: ``ZHENGWU_BACKUP_KEY_FILE`` or next to (not inside) the data directory."""
    named = os.environ.get("ZHENGWU_BACKUP_KEY_FILE")
    if named:
        return Path(named)
    return Path(settings.data_dir).resolve().parent / "backup.key"


def _key(settings: Settings, *, create: bool) -> tuple[Path, BackupKey]:
    path = key_file(settings)
    return path, load_key(path, create=create)


def _fail(exc: BackupError, as_json: bool) -> typer.Exit:
    if as_json:
        print(
            json.dumps(
                {"ok": False, "code": exc.code, "detail": exc.detail, "detail_en": exc.detail_en},
                ensure_ascii=False,
            )
        )
    else:
        err_console.print(f"[red]{exc.detail}[/red]\n{exc.detail_en}")
    return typer.Exit(1)


def _emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        for line in lines:
            console.print(line)


@app.command()
@routine("定时备份（cron/systemd，无人值守）/ scheduled backup")
def create(
    to: Target,
    keep: Annotated[int | None, typer.Option(help="Keep only the newest N sets of this node.")] = None,
    kind: Kind = "incr",
    as_json: AsJson = False,
) -> None:
    """Write one encrypted backup set (database, stored files) into the target; on PostgreSQL with
    pgBackRest configured, the database goes into pgBackRest's repository as a full/diff/incr backup."""
    settings = load_settings()
    try:
        path, key = _key(settings, create=True)
        result = backup.create(settings, to, key, key_file=path, keep=keep, kind=kind)
    except BackupError as exc:
        raise _fail(exc, as_json) from None
    database = result["database"]
    _emit(
        {
            "ok": True,
            **{k: result[k] for k in ("set", "path", "snapshot_at", "bytes", "migration", "database")},
        },
        as_json,
        [
            f"备份已完成 / backup written: {result['set']}",
            *(
                [f"pgBackRest {database['type']} 备份 / backup {database['label']}"]
                if database.get("kind") == "pgbackrest"
                else []
            ),
            f"位置 / at: {result['path']}  大小 / bytes: {result['bytes']}",
            f"数据截至 / data as of (UTC): {result['snapshot_at']}",
            f"密钥文件 / key file: {path} (请另行保管 / keep it apart from the backups)",
        ],
    )


@app.command()
def verify(source: Source, set_name: SetName = None, as_json: AsJson = False) -> None:
    """Check a set completely: manifest HMAC-SM3, SM3 of each artifact, every SM4-GCM chunk, the database."""
    settings = load_settings()
    try:
        _path, key = _key(settings, create=False)
        result = backup.verify(source, key, set_name, settings)
    except BackupError as exc:
        raise _fail(exc, as_json) from None
    _emit(
        result, as_json, [f"备份完好 / backup verified: {result['set']} (data as of {result['snapshot_at']})"]
    )


@app.command()
@privileged(ops_rights.RESTORE)
def restore(
    source: Source,
    set_name: SetName = None,
    pg_path: Annotated[
        Path | None,
        typer.Option(
            "--pg-path",
            help="pgBackRest sets: the clean PostgreSQL data directory (default: pg1-path of the configuration).",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Restore a set into this node's database and data directory, which must be clean (pgBackRest: into
    a clean data directory of a stopped cluster; start it afterwards to replay the archived WAL)."""
    settings = load_settings()
    try:
        _path, key = _key(settings, create=False)
        result = backup.restore(settings, source, key, set_name, pg_path=pg_path)
    except BackupError as exc:
        raise _fail(exc, as_json) from None
    _emit(
        result,
        as_json,
        [
            f"已恢复 / restored: {result['set']} in {result['seconds']} s",
            f"数据截至 / data as of (UTC): {result['snapshot_at']}; 迁移版本 / migration {result['migration']}",
            *(
                [
                    f"PostgreSQL 数据目录 / data directory: {result['restored_into']}；"
                    "请启动数据库，它会重放已归档的 WAL / start the cluster: it replays the archived WAL"
                ]
                if "pgbackrest" in result
                else []
            ),
            "如代码版本更新，请运行 zhengwu migrate / run `zhengwu migrate` if the code is newer",
        ],
    )


@app.command("list")
def list_sets(source: Source, as_json: AsJson = False) -> None:
    """The complete sets in a target, newest first."""
    sets = backup.list_sets(source)
    rows = [
        {"set": s.name, "node_id": s.manifest.get("node_id"), "snapshot_at": s.manifest.get("snapshot_at")}
        for s in sets
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("备份 / set", "节点 / node", "数据截至 / data as of (UTC)")
    for row in rows:
        table.add_row(str(row["set"]), str(row["node_id"]), str(row["snapshot_at"]))
    console.print(table)


@app.command()
@routine("持续异地备份服务 / continuous off-site shipping service")
def ship(
    to: Target,
    every: Annotated[float, typer.Option(help="Seconds between backups (the RPO bound).")] = 60.0,
    keep: Annotated[int, typer.Option(help="Sets of this node to keep.")] = 48,
    times: Annotated[int, typer.Option(help="Stop after N sets (0: run until stopped).")] = 0,
) -> None:
    """Ship a backup set to the target every N seconds, keeping the newest sets (continuous shipping)."""
    settings = load_settings()
    done = 0
    while True:
        started = time.monotonic()
        try:
            path, key = _key(settings, create=True)
            result = backup.create(settings, to, key, key_file=path, keep=keep)
            console.print(f"{result['set']} shipped ({result['bytes']} bytes)")
        except BackupError as exc:
            # A full or missing target is reported and tried again at the next tick; the node runs on.
            err_console.print(f"[red]{exc.detail}[/red]\n{exc.detail_en}")
        done += 1
        if times and done >= times:
            return
        time.sleep(max(0.0, every - (time.monotonic() - started)))


@app.command()
@routine("定期恢复演练 / scheduled restore drill")
def drill(
    to: Target,
    kind: Kind = "incr",
    as_json: AsJson = False,
) -> None:
    """Restore drill: back up, write on, restore into a clean place, check nothing before the backup is
    missing, and print RPO and RTO. Exit 1 when data is missing."""
    from zhengwu.main import import_models

    settings = load_settings()
    metadata = import_models()
    try:
        path, key = _key(settings, create=True)
        report = backup.drill(settings, to, key, metadata.tables.values(), key_file=path, kind=kind)
    except BackupError as exc:
        raise _fail(exc, as_json) from None
    _emit(
        asdict(report),
        as_json,
        [
            f"演练{'通过' if report.ok else '失败'} / drill {'passed' if report.ok else 'FAILED'}: {report.set}",
            f"RPO {report.rpo_seconds} s   RTO {report.rto_seconds} s   ({report.tables_checked} tables checked,"
            f" {report.method}, load average {report.load_average})",
            *(
                [
                    f"写入 / rows written {report.rows_written}, 已归档点 / shipped up to row {report.shipped_row},"
                    f" 恢复 / restored {report.rows_restored}, 归档点前缺失 / lost before it {report.lost_before_shipped}"
                ]
                if report.rows_written
                else []
            ),
            *(f"缺失 / missing: {name} × {count}" for name, count in report.missing.items()),
        ],
    )
    if not report.ok:
        raise typer.Exit(1)
