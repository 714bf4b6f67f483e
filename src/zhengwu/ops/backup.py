"""Off-site backup (异地容灾备份): create, verify, restore, retention and the restore drill.

A backup set is a directory in the target (a mounted off-site store) holding the database snapshot and
the node's data directory (stored files, notifications; the wrapped keys are rows of the database), each
SM4-encrypted (``ops.sealing``), and a manifest with their SM3 digests authenticated by HMAC-SM3. The set
is written under a ``.partial-`` name and renamed when complete, so a target that fills up or goes away
mid-run never holds something that looks like a backup. Plaintext never touches the target: snapshots
are taken into a scratch folder inside the node's own data directory, next to the data they copy.

SQLite is copied through its online backup API (one consistent snapshot while the node runs).
PostgreSQL goes through pgBackRest when the node names its configuration (``ops.pgbackrest``: a
full/diff/incr backup in the pgBackRest repository plus the WAL archived continuously, so the recovery
point is the last archived segment, not the last set); the set then records which pgBackRest backup goes
with the sealed data directory. Without pgBackRest, small nodes use ``pg_dump`` in custom format and
``pg_restore --single-transaction``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine, make_url

import zhengwu
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto.hashes import hmac_sm3, hmac_sm3_verify
from zhengwu.kernel.db import make_engine, new_id
from zhengwu.kernel.logging import get_logger
from zhengwu.ops.models import BackupRun
from zhengwu.ops.pgbackrest import Backrest, scratch_cluster, wait_promoted
from zhengwu.ops.sealing import (
    CHUNK,
    PARALLEL_MIN_CHUNKS,
    ZSTD_LEVEL,
    BackupError,
    BackupKey,
    Sealed,
    open_file,
    parallel_workers,
    seal_file,
)

log = get_logger("zhengwu.backup")

#: /2: each artifact names the compression of its chunks (zstd); /1 sets (uncompressed chunks) are still read.
FORMAT = "zhengwu-backup/2"
_FORMATS = ("zhengwu-backup/1", FORMAT)
MANIFEST = "manifest.json"
MANIFEST_MAC = "manifest.sm3mac"
_PARTIAL = ".partial-"
_SCRATCH = ".backup-scratch-"
_RUNS: Table = BackupRun.__table__  # type: ignore[assignment]


# --- where the node keeps its data ------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The database and data directory of a node (the live one, or a clean one to restore into)."""

    database_url: str
    data_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> Place:
        return cls(settings.database_url, Path(settings.data_dir))

    @property
    def dialect(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    @property
    def sqlite_path(self) -> Path:
        database = make_url(self.database_url).database
        if not database or database == ":memory:":
            raise BackupError(
                "backup_unsupported",
                "内存数据库无法备份",
                "an in-memory database cannot be backed up",
            )
        return Path(database)

    @property
    def libpq_url(self) -> str:
        return make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _skipped(place: Place, extra: Iterable[Path]) -> set[Path]:
    """Paths in the data directory that are not stored files: the live database and what must never go
    into a backup (the backup key, the target itself, scratch folders)."""
    skip = {p.resolve() for p in extra}
    if place.dialect == "sqlite":
        db = place.sqlite_path.resolve()
        skip |= {db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")}
    return skip


# --- manifest ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupSet:
    """A complete backup set in a target."""

    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def created_at(self) -> str:
        return str(self.manifest.get("created_at", ""))


def _read_manifest(path: Path, key: BackupKey | None) -> dict[str, Any]:
    raw = (path / MANIFEST).read_bytes()
    try:
        manifest: dict[str, Any] = json.loads(raw)
    except ValueError:
        raise BackupError(
            "backup_tampered", f"备份 {path.name} 的清单无法读取", f"manifest of {path.name} is unreadable"
        ) from None
    if key is not None:
        if manifest.get("key_id") != key.key_id:
            raise BackupError(
                "backup_wrong_key",
                f"备份 {path.name} 不是用当前密钥创建的（密钥标识不符）",
                f"backup {path.name} was made with another key (key id differs)",
            )
        mac_file = path / MANIFEST_MAC
        mac = bytes.fromhex(mac_file.read_text().strip()) if mac_file.exists() else b""
        if not hmac_sm3_verify(key.mac, raw, mac):
            raise BackupError(
                "backup_tampered",
                f"备份 {path.name} 的清单校验失败，可能被篡改",
                f"manifest of {path.name} fails its HMAC-SM3 check: altered",
            )
    if manifest.get("format") not in _FORMATS:
        raise BackupError(
            "backup_format",
            f"备份 {path.name} 的格式不受支持",
            f"backup {path.name} has an unsupported format {manifest.get('format')!r}",
        )
    return manifest


def list_sets(target: Path, node_id: str | None = None) -> list[BackupSet]:
    """Complete sets in ``target`` (newest first), optionally of one node only; the MAC is not checked."""
    if not target.is_dir():
        return []
    found = []
    for entry in target.iterdir():
        if entry.name.startswith(".") or not (entry / MANIFEST).is_file():
            continue
        try:
            manifest = _read_manifest(entry, None)
        except BackupError:
            continue
        if node_id is None or manifest.get("node_id") == node_id:
            found.append(BackupSet(entry.name, entry, manifest))
    return sorted(found, key=lambda s: (s.created_at, s.name), reverse=True)


def find_set(target: Path, name: str | None) -> BackupSet:
    """The named set, or the newest complete one."""
    if not target.is_dir():
        raise BackupError(
            "backup_target_missing", f"备份位置 {target} 不存在", f"backup target {target} does not exist"
        )
    if name:
        path = target / name
        if not (path / MANIFEST).is_file():
            raise BackupError("backup_not_found", f"找不到备份 {name}", f"no backup set {name} in {target}")
        return BackupSet(name, path, _read_manifest(path, None))
    sets = list_sets(target)
    if not sets:
        raise BackupError(
            "backup_not_found", f"{target} 中没有完整的备份", f"no complete backup set in {target}"
        )
    return sets[0]


# --- create -----------------------------------------------------------------------------------------


@contextmanager
def _scratch(place: Place) -> Iterator[Path]:
    place.data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=place.data_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _snapshot_sqlite(place: Place, out: Path) -> datetime:
    source = sqlite3.connect(f"file:{place.sqlite_path.as_posix()}?mode=ro", uri=True)
    dest = sqlite3.connect(out)
    try:
        # Taken before the copy starts: everything committed by then is in the snapshot (the backup
        # step holds one read transaction), so the time never claims more than the copy holds.
        at = utcnow()
        source.backup(dest)
    finally:
        dest.close()
        source.close()
    return at


def _run_tool(args: list[str], what: str) -> None:
    try:
        # args are fixed tool names with paths and URLs from the node's own settings; no shell
        done = subprocess.run(  # noqa: S603
            args, capture_output=True, text=True, check=False, timeout=6 * 3600
        )
    except FileNotFoundError:
        raise BackupError(
            "backup_tool_missing",
            f"未安装 {args[0]}（PostgreSQL 客户端工具），无法{what}",
            f"{args[0]} (PostgreSQL client tools) is not installed: cannot {what}",
        ) from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise BackupError(
            "backup_tool_failed",
            f"{args[0]} 执行失败：{' '.join(tail)}",
            f"{args[0]} failed: {' '.join(tail)}",
        )


def _snapshot_postgres(place: Place, out: Path) -> datetime:
    at = utcnow()  # pg_dump's snapshot begins after this instant
    _run_tool(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(out), place.libpq_url],
        "备份 PostgreSQL 数据库",
    )
    return at


def _pack_files(place: Place, out: Path, skip: set[Path]) -> list[str]:
    """Tar the data directory except the live database and what ``skip`` names (also below the top level,
    e.g. a key file kept in a sub-folder); returns the top-level names."""
    names: list[str] = []

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if (place.data_dir / info.name).resolve() in skip:
            return None
        return info

    with tarfile.open(out, "w") as tar:
        if place.data_dir.is_dir():
            for entry in sorted(place.data_dir.iterdir()):
                if entry.name.startswith((_SCRATCH, _PARTIAL)) or entry.resolve() in skip:
                    continue
                tar.add(entry, arcname=entry.name, filter=keep)
                names.append(entry.name)
    return names


def _migration(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return str(value) if value is not None else None
    except Exception:
        return None


def _record(engine: Engine, row_id: str | None = None, **values: Any) -> str:
    with engine.begin() as conn:
        if row_id is None:
            row_id = new_id()
            row = {"created_at": utcnow(), "bytes": 0, "detail": {}, "target": "", **values, "id": row_id}
            conn.execute(_RUNS.insert().values(**row))
        else:
            conn.execute(_RUNS.update().where(_RUNS.c.id == row_id).values(**values))
    return row_id


def create(
    settings: Settings,
    target: Path,
    key: BackupKey,
    *,
    key_file: Path | None = None,
    engine: Engine | None = None,
    keep: int | None = None,
    kind: str = "incr",
    compression: str = "zstd",
) -> dict[str, Any]:
    """Write one backup set of the node into ``target``; returns its manifest (with ``set`` and ``path``).

    ``kind`` is the pgBackRest backup type (full/diff/incr; pgBackRest makes the first one full).
    ``compression`` of the chunks: ``zstd``, or ``none`` to measure against (bench/backup.py)."""
    place = Place.of(settings)
    rest = Backrest.of(settings)
    target = target.resolve()
    if key_file is not None and key_file.resolve().is_relative_to(target):
        raise BackupError(
            "backup_key_in_target",
            "备份密钥文件不能放在备份位置内（密钥与备份必须分开存放）",
            "the backup key file must not live inside the backup target",
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(target, exc) from None
    own_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    started = utcnow()
    name = f"{settings.node_id}-{started.strftime('%Y%m%dT%H%M%S%fZ')}"
    partial = target / f"{_PARTIAL}{name}"
    run_id: str | None = None
    try:
        run_id = _record(engine, kind="backup", set_name=name, status="running", target=str(target))
        skip = _skipped(place, [target, *([key_file] if key_file else [])])
        with _scratch(place) as scratch:
            raw_db = scratch / "database"
            database: dict[str, Any] = {"dialect": place.dialect}
            if place.dialect == "sqlite":
                snapshot_at = _snapshot_sqlite(place, raw_db)
                database["kind"] = "sqlite-online-backup"
            elif rest is not None:
                # The database stays in pgBackRest's repository; the set names the backup it pairs with.
                record = rest.backup(kind)
                snapshot_at = rest.stopped_at(record)
                database.update(kind="pgbackrest", **record)
            else:
                snapshot_at = _snapshot_postgres(place, raw_db)
                database["kind"] = "pg_dump-custom"
            # Stored files are written before the rows that name them commit, so packing them after
            # the snapshot finds every file the snapshot refers to.
            raw_files = scratch / "files.tar"
            entries = _pack_files(place, raw_files, skip | {scratch.resolve()})

            try:
                partial.mkdir()
                artifacts = {
                    "files": seal_file(
                        key,
                        raw_files,
                        partial / "files.sm4",
                        _context(name, "files"),
                        workers=cipher_workers(settings, _chunks(raw_files)),
                        compression=compression,
                    ),
                }
                if raw_db.exists():
                    artifacts["database"] = seal_file(
                        key, raw_db, partial / "database.sm4", _context(name, "database"),
                        workers=cipher_workers(settings, _chunks(raw_db)), compression=compression,
                    )  # fmt: skip
            except OSError as exc:
                raise _unavailable(target, exc) from None
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "set": name,
            "node_id": settings.node_id,
            "node_name": settings.node_name,
            "division_code": settings.division_code,
            "tier": str(settings.tier),
            "version": zhengwu.__version__,
            "migration": _migration(engine),
            "created_at": started.isoformat(),
            "snapshot_at": snapshot_at.isoformat(),
            "database": database,
            "files": entries,
            "cipher": (f"zstd level {ZSTD_LEVEL}, then " if compression == "zstd" else "")
            + f"SM4-GCM, {CHUNK >> 20} MiB chunks",
            "digest": "SM3",
            "key_id": key.key_id,
            "artifacts": {k: asdict(v) for k, v in artifacts.items()},
        }
        raw = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
        try:
            (partial / MANIFEST).write_bytes(raw)
            (partial / MANIFEST_MAC).write_text(hmac_sm3(key.mac, raw).hex() + "\n")
            _fsync_dir(partial)
            partial.rename(target / name)
            _fsync_dir(target)
        except OSError as exc:
            raise _unavailable(target, exc) from None
        size = sum(a.cipher_bytes for a in artifacts.values())
        _record(engine, run_id, status="done", snapshot_at=snapshot_at, finished_at=utcnow(), bytes=size)
        log.info("backup_created", set=name, bytes=size)
        if keep:
            prune(target, settings.node_id, keep)
        return {**manifest, "path": str(target / name), "bytes": size}
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if run_id is not None:
            detail = {"code": exc.code} if isinstance(exc, BackupError) else {"error": type(exc).__name__}
            try:
                _record(engine, run_id, status="failed", finished_at=utcnow(), detail=detail)
            except Exception:
                log.warning("backup_record_failed", set=name)
        raise
    finally:
        if own_engine:
            engine.dispose()


def _context(name: str, artifact: str, form: str = FORMAT) -> bytes:
    return f"{form}\0{name}\0{artifact}\0".encode()


def _unavailable(target: Path, exc: OSError) -> BackupError:
    return BackupError(
        "backup_target_unavailable",
        f"备份位置 {target} 不可用或空间不足（{exc.strerror or exc}），本次备份未完成，运行中的节点不受影响",
        f"backup target {target} is unavailable or full ({exc.strerror or exc}); nothing was kept there",
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(target: Path, node_id: str, keep: int) -> list[str]:
    """Keep the newest ``keep`` complete sets of ``node_id``; remove older ones and stale partial sets."""
    removed = []
    for old in list_sets(target, node_id)[max(keep, 1) :]:
        shutil.rmtree(old.path, ignore_errors=True)
        removed.append(old.name)
    cutoff = time.time() - 24 * 3600
    for entry in target.iterdir() if target.is_dir() else []:
        if entry.name.startswith(_PARTIAL) and entry.stat().st_mtime < cutoff:
            shutil.rmtree(entry, ignore_errors=True)
    return removed


# --- verify -----------------------------------------------------------------------------------------


def _artifact(manifest: dict[str, Any], name: str) -> Sealed:
    try:
        return Sealed(**manifest["artifacts"][name])
    except (KeyError, TypeError):
        raise BackupError(
            "backup_tampered", f"备份清单缺少 {name} 条目", f"the manifest lacks the {name} artifact"
        ) from None


def _names(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The sealed artifacts a set must hold: a pgBackRest set keeps its database in the repository."""
    if manifest.get("database", {}).get("kind") == "pgbackrest":
        return ("files",)
    return ("database", "files")


def _check_present(found: BackupSet) -> None:
    """Every artifact is there at its recorded size (the SM3 of each is checked as it is decrypted)."""
    for name in _names(found.manifest):
        sealed = _artifact(found.manifest, name)
        path = found.path / sealed.file
        if not path.is_file() or path.stat().st_size != sealed.cipher_bytes:
            raise BackupError(
                "backup_corrupt",
                f"备份 {found.name} 的 {name} 文件缺失、被截断或被篡改",
                f"the {name} artifact of {found.name} is missing, truncated or extended",
            )


def _chunks(path: Path) -> int:
    return -(-path.stat().st_size // CHUNK)


def cipher_workers(settings: Settings | None, chunks: int) -> int:
    """Worker processes for an artifact of ``chunks`` chunks (``ZHENGWU_OPS__BACKUP_PROCESSES``)."""
    wanted = settings.ops.backup_processes if settings is not None else 1
    if wanted == 1 or chunks < PARALLEL_MIN_CHUNKS:
        return 1
    return wanted or parallel_workers()


def _open_all(found: BackupSet, key: BackupKey, into: Path, settings: Settings | None) -> tuple[Path, Path]:
    paths = {"database": into / "database", "files": into / "files.tar"}
    for name in _names(found.manifest):
        sealed = _artifact(found.manifest, name)
        workers = cipher_workers(settings, sealed.chunks)
        context = _context(found.name, name, found.manifest["format"])
        open_file(key, found.path / sealed.file, paths[name], context, sealed, workers=workers)
    return paths["database"], paths["files"]


def _check_database(found: BackupSet, db: Path, rest: Backrest | None) -> dict[str, Any]:
    """The database of the set is sound; returns what pgBackRest says of its repository, if it holds it."""
    checked: dict[str, Any] = {}
    database = found.manifest["database"]
    if database.get("kind") == "pgbackrest":
        if rest is None:
            raise _no_backrest()
        checked = rest.verify(database)
    elif database["dialect"] == "sqlite":
        conn = sqlite3.connect(f"file:{db.as_posix()}?mode=ro", uri=True)
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError:
            result = ("not a database",)
        finally:
            conn.close()
        if not result or result[0] != "ok":
            raise BackupError(
                "backup_corrupt",
                f"备份 {found.name} 中的数据库未通过完整性检查",
                f"the database in {found.name} fails SQLite's integrity check",
            )
    else:
        _run_tool(["pg_restore", "--list", str(db)], "检查 PostgreSQL 备份")
    with tarfile.open(db.parent / "files.tar") as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts:
                raise BackupError(
                    "backup_tampered",
                    f"备份 {found.name} 的文件包含不安全的路径",
                    f"the files of {found.name} hold an unsafe path {member.name!r}",
                )
    return checked


def _no_backrest() -> BackupError:
    return BackupError(
        "backup_unsupported",
        "该备份的数据库在 pgBackRest 仓库中，请设置 ZHENGWU_OPS__PGBACKREST_CONFIG 指向其配置",
        "this set keeps its database in a pgBackRest repository: set ZHENGWU_OPS__PGBACKREST_CONFIG",
    )


def verify(
    target: Path, key: BackupKey, set_name: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Check a set completely: manifest HMAC, SM3 of every artifact, every chunk's tag, the database
    (for a pgBackRest set: ``pgbackrest verify`` of the repository and the backup it names)."""
    with tempfile.TemporaryDirectory(prefix="zhengwu-verify-") as tmp:
        report, _found, _db, _files = _opened(_authentic(target, key, set_name), key, settings, Path(tmp))
    return report


def _authentic(target: Path, key: BackupKey, set_name: str | None) -> BackupSet:
    """The set, its manifest authenticated under ``key``."""
    found = find_set(target, set_name)
    return BackupSet(found.name, found.path, _read_manifest(found.path, key))


def _opened(
    found: BackupSet, key: BackupKey, settings: Settings | None, into: Path
) -> tuple[dict[str, Any], BackupSet, Path, Path]:
    """Decrypt a set into ``into`` once, checking everything on the way (a restore then uses the very
    bytes that were checked instead of decrypting twice)."""
    manifest = found.manifest
    _check_present(found)
    db, files = _open_all(found, key, into, settings)
    repository = _check_database(found, db, Backrest.of(settings) if settings else None)
    report = {
        **({"pgbackrest": repository} if repository else {}),
        "ok": True,
        "set": found.name,
        "node_id": manifest["node_id"],
        "created_at": manifest["created_at"],
        "snapshot_at": manifest["snapshot_at"],
        "migration": manifest["migration"],
        "bytes": sum(_artifact(manifest, n).cipher_bytes for n in _names(manifest)),
    }
    return report, found, db, files


# --- restore ----------------------------------------------------------------------------------------


def _refuse_if_not_clean(place: Place, entries: Iterable[str], *, database: bool = True) -> None:
    if not database:
        pass
    elif place.dialect == "sqlite":
        path = place.sqlite_path
        if path.exists() and path.stat().st_size > 0:
            conn = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
            try:
                tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            finally:
                conn.close()
            if tables:
                raise _not_clean(f"数据库 {path}")
    else:
        engine = create_engine(place.database_url)
        try:
            names = [
                t
                for schema in inspect(engine).get_schema_names()
                if schema not in ("information_schema", "pg_catalog", "pg_toast")
                for t in inspect(engine).get_table_names(schema=schema)
            ]
        finally:
            engine.dispose()
        if names:
            raise _not_clean("PostgreSQL 数据库")
    for entry in entries:
        existing = place.data_dir / entry
        if existing.exists() and (existing.is_file() or any(existing.iterdir())):
            raise _not_clean(f"数据目录中的 {existing}")


def _place_files(unpacked: Path, data_dir: Path, entries: Iterable[str]) -> None:
    for entry in entries:
        if (unpacked / entry).exists():
            shutil.rmtree(data_dir / entry, ignore_errors=True)
            (unpacked / entry).rename(data_dir / entry)


def _not_clean(what: str) -> BackupError:
    return BackupError(
        "restore_target_not_empty",
        f"{what} 不是空的：恢复只写入干净的数据库和数据目录，未做任何改动",
        f"{what} is not empty: a restore only goes into a clean database and data directory; nothing was changed",
    )


def restore(
    settings: Settings,
    target: Path,
    key: BackupKey,
    set_name: str | None = None,
    *,
    pg_path: Path | None = None,
) -> dict[str, Any]:
    """Restore a set into the (clean) database and data directory that ``settings`` name.

    A pgBackRest set is restored into the cluster's data directory (``pg_path``, default the one its
    configuration names), which must be empty and not running; PostgreSQL replays the archived WAL to
    its end when it is next started."""
    place = Place.of(settings)
    found = _authentic(target, key, set_name)
    manifest = found.manifest
    if manifest["database"]["dialect"] != place.dialect:
        raise BackupError(
            "restore_wrong_database",
            f"该备份来自 {manifest['database']['dialect']} 数据库，不能恢复到 {place.dialect}",
            f"the backup holds a {manifest['database']['dialect']} database, the node runs {place.dialect}",
        )
    entries = [str(e) for e in manifest.get("files", [])]
    database = manifest["database"]
    rest = Backrest.of(settings)
    if database.get("kind") == "pgbackrest":
        if rest is None:
            raise _no_backrest()
        pg_path = pg_path or rest.pg_path()
        rest.refuse_unless_clean(pg_path)
        _refuse_if_not_clean(Place(place.database_url, place.data_dir), entries, database=False)
    else:
        _refuse_if_not_clean(place, entries)
    started = time.monotonic()
    place.data_dir.mkdir(parents=True, exist_ok=True)
    with _scratch(place) as scratch:
        report, found, db, files = _opened(found, key, settings, scratch)
        unpacked = scratch / "files"
        with tarfile.open(files) as tar:
            tar.extractall(unpacked, filter="data")
        if database.get("kind") == "pgbackrest":
            assert rest is not None and pg_path is not None
            rest.restore(database["label"], pg_path)
            _place_files(unpacked, place.data_dir, entries)
        elif place.dialect == "sqlite":
            # Into place last and by rename: a failure before leaves no database at all, never half of one.
            path = place.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            _place_files(unpacked, place.data_dir, entries)
            staged = path.with_name(path.name + ".restoring")
            shutil.move(db, staged)
            os.replace(staged, path)
        else:
            _run_tool(
                [
                    "pg_restore",
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-owner",
                    "--no-privileges",
                    "--dbname",
                    place.libpq_url,
                    str(db),
                ],
                "恢复 PostgreSQL 数据库",
            )
            _place_files(unpacked, place.data_dir, entries)
    log.info("backup_restored", set=found.name)
    return {
        **report,
        "restored_into": (
            place.database_url
            if place.dialect == "sqlite"
            else str(pg_path)
            if database.get("kind") == "pgbackrest"
            else "postgresql"
        ),
        "seconds": round(time.monotonic() - started, 3),
    }


# --- restore drill ----------------------------------------------------------------------------------


@dataclass
class DrillReport:
    ok: bool
    set: str
    snapshot_at: str
    rpo_seconds: float
    rto_seconds: float
    marker_before_restored: bool
    marker_after_absent: bool
    tables_checked: int
    missing: dict[str, int]
    method: str = ""
    # pgBackRest: rows written during the drill, the last one committed before the shipped WAL point,
    # how many came back, and which of those before the shipped point did not.
    rows_written: int = 0
    shipped_row: int = 0
    rows_restored: int = 0
    lost_before_shipped: int = 0
    load_average: float = 0.0


def _missing(expected: dict[str, int], have: dict[str, int]) -> dict[str, int]:
    return {
        name: expected[name] - have.get(name, 0) for name in expected if have.get(name, 0) < expected[name]
    }


def _recorded(engine: Engine, report: DrillReport) -> DrillReport:
    _record(
        engine,
        kind="drill",
        set_name=report.set,
        status="done" if report.ok else "failed",
        finished_at=utcnow(),
        detail=asdict(report),
    )
    return report


def _count_before(engine: Engine, table: Table, cutoff: datetime) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table).where(table.c.created_at <= cutoff)).scalar()
            or 0
        )


@contextmanager
def _clean_place(place: Place) -> Iterator[Place]:
    """A clean database and data directory of the same kind as ``place`` (dropped afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="zhengwu-drill-"))
    try:
        if place.dialect == "sqlite":
            yield Place(f"sqlite:///{(folder / 'zhengwu.db').as_posix()}", folder / "data")
            return
        url = make_url(place.database_url)
        scratch = f"{url.database}_drill_{new_id()[:8]}"
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{scratch}"'))
            try:
                yield Place(url.set(database=scratch).render_as_string(hide_password=False), folder / "data")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        finally:
            admin.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def drill(
    settings: Settings,
    target: Path,
    key: BackupKey,
    tables: Iterable[Table],
    *,
    key_file: Path | None = None,
    grace: timedelta = timedelta(seconds=5),
    kind: str = "incr",
) -> DrillReport:
    """Back up, keep writing, lose the node, restore into a clean place, and measure RPO and RTO.

    Fails (``ok`` false) when a marker written before the backup, or any row of ``tables`` created before
    the snapshot (less ``grace`` for transactions still open at that instant), is missing after the restore.
    """
    rest = Backrest.of(settings)
    if rest is not None:
        return _drill_pgbackrest(
            settings, rest, target, key, tables, key_file=key_file, grace=grace, kind=kind
        )
    place = Place.of(settings)
    engine = make_engine(settings.database_url)
    try:
        drill_id = new_id()[:12]
        _record(engine, kind="drill_marker", set_name=f"drill-{drill_id}-before", status="marker")
        manifest = create(settings, target, key, key_file=key_file, engine=engine)
        _record(engine, kind="drill_marker", set_name=f"drill-{drill_id}-after", status="marker")
        lost_at = utcnow()  # the node is "lost" here
        snapshot_at = datetime.fromisoformat(manifest["snapshot_at"])
        cutoff = snapshot_at - grace
        counted = [t for t in tables if "created_at" in t.c]
        expected = {t.name: _count_before(engine, t, cutoff) for t in counted}
        started = time.monotonic()
        with _clean_place(place) as clean:
            restore(
                settings.model_copy(update={"database_url": clean.database_url, "data_dir": clean.data_dir}),
                target,
                key,
                manifest["set"],
            )
            restored = make_engine(clean.database_url)
            try:
                with restored.connect() as conn:
                    markers = set(
                        conn.execute(
                            select(_RUNS.c.set_name).where(_RUNS.c.set_name.like(f"drill-{drill_id}-%"))
                        ).scalars()
                    )
                rto = time.monotonic() - started  # the restored database answers: the node can start
                have = {t.name: _count_before(restored, t, cutoff) for t in counted}
            finally:
                restored.dispose()
        missing = _missing(expected, have)
        report = DrillReport(
            ok=f"drill-{drill_id}-before" in markers and not missing,
            set=manifest["set"],
            snapshot_at=manifest["snapshot_at"],
            rpo_seconds=round((lost_at - snapshot_at).total_seconds(), 3),
            rto_seconds=round(rto, 3),
            marker_before_restored=f"drill-{drill_id}-before" in markers,
            marker_after_absent=f"drill-{drill_id}-after" not in markers,
            tables_checked=len(counted),
            missing=missing,
            method=str(manifest["database"]["kind"]),
            load_average=round(os.getloadavg()[0], 2),
        )
        return _recorded(engine, report)
    finally:
        engine.dispose()


def _drill_pgbackrest(
    settings: Settings,
    rest: Backrest,
    target: Path,
    key: BackupKey,
    tables: Iterable[Table],
    *,
    key_file: Path | None,
    grace: timedelta,
    kind: str,
) -> DrillReport:
    """The drill on pgBackRest: rows are written all along; a backup; more rows that only the WAL holds;
    the WAL segment switched and archived (the shipped point); more rows; the node is lost. The backup is
    restored into a clean scratch directory and started there, replaying the archive; every row committed
    before the shipped point must be back. RPO is the age of the newest row that came back when the node
    was lost; RTO the time from the start of the restore to the copy answering, out of recovery."""
    engine = make_engine(settings.database_url)
    drill_id = new_id()[:12]
    committed: list[tuple[int, datetime]] = []
    stop = threading.Event()
    failure: list[BaseException] = []

    def write() -> None:
        seq = 0
        try:
            while not stop.is_set():
                seq += 1
                _record(engine, kind="drill_marker", set_name=f"drill-{drill_id}-{seq:07d}", status="marker")
                committed.append((seq, utcnow()))
                stop.wait(0.05)
        except BaseException as exc:  # reported by the drill, not lost in the thread
            failure.append(exc)

    try:
        writer = threading.Thread(target=write, name="drill-writer", daemon=True)
        writer.start()
        try:
            time.sleep(0.5)
            manifest = create(settings, target, key, key_file=key_file, engine=engine, kind=kind)
            time.sleep(1.0)  # rows the backup does not hold: only the archived WAL carries them
            shipped = committed[-1][0] if committed else 0
            rest.check()  # pg_switch_wal, and wait until the closed segment is in the repository
            time.sleep(0.5)  # rows in the open segment: lost with the node
        finally:
            stop.set()
            writer.join()
        if failure:
            raise failure[0]
        lost_at = utcnow()
        written = committed[-1][0] if committed else 0
        times = dict(committed)
        snapshot_at = datetime.fromisoformat(manifest["snapshot_at"])
        cutoff = snapshot_at - grace
        counted = [t for t in tables if "created_at" in t.c]
        expected = {t.name: _count_before(engine, t, cutoff) for t in counted}
        started = time.monotonic()
        with scratch_cluster(rest, manifest["database"]["label"]) as (scratch, _restored_in):
            restored = make_engine(scratch.url(settings.database_url))
            try:

                def in_recovery() -> bool:
                    with restored.connect() as conn:
                        return bool(conn.execute(text("SELECT pg_is_in_recovery()")).scalar())

                wait_promoted(in_recovery)
                rto = time.monotonic() - started
                with restored.connect() as conn:
                    names = conn.execute(
                        select(_RUNS.c.set_name).where(_RUNS.c.set_name.like(f"drill-{drill_id}-%"))
                    ).scalars()
                    back = {int(n.rsplit("-", 1)[1]) for n in names}
                have = {t.name: _count_before(restored, t, cutoff) for t in counted}
            finally:
                restored.dispose()
        missing = _missing(expected, have)
        lost_before = sum(1 for seq in range(1, shipped + 1) if seq not in back)
        newest = max(back, default=0)
        rpo = (
            (lost_at - times[newest]).total_seconds()
            if newest in times
            else (lost_at - snapshot_at).total_seconds()
        )
        report = DrillReport(
            ok=bool(back) and lost_before == 0 and not missing,
            set=manifest["set"],
            snapshot_at=manifest["snapshot_at"],
            rpo_seconds=round(rpo, 3),
            rto_seconds=round(rto, 3),
            marker_before_restored=1 in back,
            marker_after_absent=newest < written,
            tables_checked=len(counted),
            missing=missing,
            method=f"pgbackrest-{manifest['database']['type']}",
            rows_written=written,
            shipped_row=shipped,
            rows_restored=len(back),
            lost_before_shipped=lost_before,
            load_average=round(os.getloadavg()[0], 2),
        )
        return _recorded(engine, report)
    finally:
        engine.dispose()
