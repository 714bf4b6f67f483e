"""PostgreSQL off-site backups through pgBackRest (deploy/pgbackrest): backup, verify, restore, and a
scratch cluster for the restore drill.

pgBackRest keeps the database: a full, differential or incremental backup plus the WAL that PostgreSQL
archives continuously (``archive_timeout`` bounds the recovery point of a quiet node). ``zhengwu backup``
drives it and records in its own SM4-sealed set which pgBackRest backup goes with the node's data
directory, so that one restore brings both back. pgBackRest and pg_ctl run as the cluster's owner through
``ZHENGWU_OPS__PGBACKREST_RUN_AS`` (e.g. ``sudo -u postgres``); the repository passphrase reaches them
through the environment (``PGBACKREST_REPO1_CIPHER_PASS``), never through a file beside the repository.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zhengwu.kernel.config import Settings
from zhengwu.ops.sealing import BackupError

BACKUP_TYPES = ("full", "diff", "incr")


def _failed(what: str, tail: str) -> BackupError:
    return BackupError(
        "backup_tool_failed", f"pgBackRest {what}失败：{tail}", f"pgBackRest {what} failed: {tail}"
    )


@dataclass(frozen=True)
class Backrest:
    """How this node reaches its pgBackRest: the configuration, the stanza and who runs the tools."""

    config: Path
    stanza: str
    run_as: tuple[str, ...]
    pg_bin: Path | None

    @classmethod
    def of(cls, settings: Settings) -> Backrest | None:
        """The node's pgBackRest, or None when the node backs up with pg_dump (or runs SQLite)."""
        ops = settings.ops
        if not ops.pgbackrest_config or not settings.database_url.startswith("postgresql"):
            return None
        if ops.pg_bin_dir:
            pg_bin: Path | None = Path(ops.pg_bin_dir)
        else:
            found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name))
            pg_bin = found[-1] if found else None
        return cls(
            Path(ops.pgbackrest_config),
            ops.pgbackrest_stanza,
            tuple(shlex.split(ops.pgbackrest_run_as)),
            pg_bin,
        )

    # --- running the tools ----------------------------------------------------------------------------

    def _exec(self, args: list[str], what: str, timeout: float = 6 * 3600) -> str:
        try:
            # fixed tool names, paths from the node's settings, no shell
            done = subprocess.run(  # noqa: S603
                [*self.run_as, *args], capture_output=True, text=True, check=False, timeout=timeout
            )
        except FileNotFoundError:
            raise BackupError(
                "backup_tool_missing",
                f"未安装 {args[0]}，无法{what}（Debian：apt-get install pgbackrest）",
                f"{args[0]} is not installed: cannot {what}",
            ) from None
        except subprocess.TimeoutExpired:
            raise _failed(what, f"{timeout:.0f} s 内未完成") from None
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise _failed(what, tail)
        return done.stdout

    def run(self, *args: str, what: str) -> str:
        return self._exec(["pgbackrest", f"--config={self.config}", f"--stanza={self.stanza}", *args], what)

    def pg_ctl(self, *args: str, what: str) -> str:
        if self.pg_bin is None:
            raise BackupError(
                "backup_tool_missing",
                "找不到 PostgreSQL 服务器程序（pg_ctl），请设置 ZHENGWU_OPS__PG_BIN_DIR",
                "PostgreSQL's pg_ctl not found; set ZHENGWU_OPS__PG_BIN_DIR",
            )
        return self._exec([str(self.pg_bin / "pg_ctl"), *args], what, timeout=3600)

    # --- what the repository holds ----------------------------------------------------------------------

    def pg_path(self) -> Path:
        """The cluster's data directory as the configuration names it (``pg1-path`` of the stanza)."""
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(self.config.read_text(encoding="utf-8"))
        except (OSError, configparser.Error) as exc:
            raise BackupError(
                "backup_unsupported",
                f"无法读取 pgBackRest 配置 {self.config}",
                f"cannot read the pgBackRest configuration {self.config}: {exc}",
            ) from None
        for section in (self.stanza, "global"):
            if parser.has_option(section, "pg1-path"):
                return Path(parser.get(section, "pg1-path"))
        raise BackupError(
            "backup_unsupported",
            f"pgBackRest 配置 {self.config} 没有为 {self.stanza} 指定 pg1-path",
            f"the pgBackRest configuration names no pg1-path for stanza {self.stanza}",
        )

    def info(self) -> dict[str, Any]:
        """The stanza's entry of ``pgbackrest info --output=json``."""
        stanzas: list[dict[str, Any]] = json.loads(self.run("info", "--output=json", what="查询备份信息"))
        for stanza in stanzas:
            if stanza.get("name") == self.stanza:
                return stanza
        raise _failed("查询备份信息", f"仓库中没有 {self.stanza}")

    def backup(self, kind: str) -> dict[str, Any]:
        """Take a backup of ``kind`` (full/diff/incr) and return what the manifest records of it."""
        if kind not in BACKUP_TYPES:
            raise BackupError(
                "backup_unsupported",
                f"备份类型应为 {'/'.join(BACKUP_TYPES)}",
                f"backup type must be one of {BACKUP_TYPES}",
            )
        before = {b["label"] for b in self.info().get("backup", [])}
        self.run("backup", f"--type={kind}", what="备份")
        made = [b for b in self.info().get("backup", []) if b["label"] not in before]
        if not made:
            raise _failed("备份", "仓库中没有新的备份")
        entry = made[-1]
        return {
            "stanza": self.stanza,
            "label": entry["label"],
            "type": entry["type"],
            "archive_start": entry["archive"]["start"],
            "archive_stop": entry["archive"]["stop"],
            "lsn_stop": entry.get("lsn", {}).get("stop"),
            "timestamp_stop": entry["timestamp"]["stop"],
            "repo_bytes": entry.get("info", {}).get("repository", {}).get("delta"),
        }

    def stopped_at(self, record: dict[str, Any]) -> datetime:
        return datetime.fromtimestamp(int(record["timestamp_stop"]), UTC)

    def verify(self, record: dict[str, Any]) -> dict[str, Any]:
        """``pgbackrest verify`` (every backup file and WAL segment against its checksum), then the
        backup the set names is still there and the archive reaches the end of it."""
        self.run("verify", what="校验仓库")
        stanza = self.info()
        status = stanza.get("status", {})
        if status.get("code") not in (0, None):
            raise _failed("校验仓库", str(status.get("message")))
        labels = {b["label"]: b for b in stanza.get("backup", [])}
        if record["label"] not in labels:
            raise BackupError(
                "backup_corrupt",
                f"pgBackRest 仓库中已没有备份 {record['label']}（可能已过期清理）",
                f"pgBackRest backup {record['label']} is no longer in the repository (expired?)",
            )
        archive_max = max((a.get("max") or "" for a in stanza.get("archive", [])), default="")
        # WAL segment names sort in timeline/segment order.
        if not archive_max or archive_max[8:] < str(record["archive_stop"])[8:]:
            raise BackupError(
                "backup_corrupt",
                "pgBackRest 仓库中的 WAL 归档不完整，备份无法恢复到一致状态",
                f"archived WAL ends at {archive_max or 'nothing'}, before the backup's {record['archive_stop']}",
            )
        return {"label": record["label"], "archive_max": archive_max, "backups": len(labels)}

    def check(self) -> None:
        """Switch to a new WAL segment and wait until the closed one is in the repository."""
        self.run("check", what="检查归档")

    # --- restore --------------------------------------------------------------------------------------

    def refuse_unless_clean(self, pg_path: Path) -> None:
        """A restore goes into a clean data directory of a cluster that is not running."""
        entries = self._listing(pg_path)
        if "postmaster.pid" in entries:
            raise BackupError(
                "restore_cluster_running",
                f"PostgreSQL 仍在使用 {pg_path}（存在 postmaster.pid）：请先停止数据库并换用干净的数据目录，未做任何改动",
                f"a PostgreSQL cluster runs on {pg_path}: stop it and restore into a clean directory; nothing changed",
            )
        if entries:
            raise BackupError(
                "restore_target_not_empty",
                f"PostgreSQL 数据目录 {pg_path} 不是空的：恢复只写入干净的数据目录，未做任何改动",
                f"PostgreSQL data directory {pg_path} is not empty: a restore only goes into a clean one; nothing changed",
            )

    def _listing(self, path: Path) -> list[str]:
        try:
            return os.listdir(path)
        except FileNotFoundError:
            return []
        except PermissionError:
            # The cluster's owner may read its directory where the node's user cannot.
            return self._exec(["ls", "-A", str(path)], "查看数据目录").split()

    def restore(self, label: str, pg_path: Path, *, archive_off: bool = False) -> None:
        """Restore ``label`` into ``pg_path`` and replay the archived WAL to its end on the next start.

        ``archive_off`` keeps a scratch copy from pushing WAL into the repository it came from."""
        args = ["restore", f"--set={label}", f"--pg1-path={pg_path}", "--delta=n"]
        if archive_off:
            args.append("--archive-mode=off")
        try:
            self.run(*args, what="恢复")
        except BackupError:
            # Nothing half-restored: the directory was empty before.
            self._exec(["find", str(pg_path), "-mindepth", "1", "-delete"], "清理未完成的恢复")
            raise


# --- the drill's scratch cluster ------------------------------------------------------------------------


@dataclass(frozen=True)
class Scratch:
    """A restored copy of the cluster running on a private socket."""

    data: Path
    socket_dir: Path
    port: int

    def url(self, live_url: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(live_url).set(host=None, port=None)
        return url.update_query_dict({"host": str(self.socket_dir), "port": str(self.port)}).render_as_string(
            hide_password=False
        )


def _major(name: str) -> int:
    return int(name) if name.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def scratch_cluster(rest: Backrest, label: str) -> Iterator[tuple[Scratch, float]]:
    """Restore ``label`` into a clean scratch directory and start it (archiving off, no TCP) until it
    has replayed the archive and opened for writes; yields it and the seconds that took (the RTO)."""
    owner = rest.pg_path()
    base = Path(tempfile.mkdtemp(prefix="zhengwu-pgdrill-"))
    data, sock = base / "data", base / "sock"
    data.mkdir(mode=0o700)
    sock.mkdir()
    if os.geteuid() == 0:
        stat = owner.stat() if owner.exists() else base.stat()
        for path in (base, data, sock):
            os.chown(path, stat.st_uid, stat.st_gid)
    base.chmod(0o755)
    port = _free_port()
    started = time.monotonic()
    running = False
    try:
        rest.restore(label, data, archive_off=True)
        _complete_config(data, owner)
        rest.pg_ctl(
            "-D", str(data), "-l", str(base / "postgres.log"), "-w", "-t", "3600",
            "-o", f"-p {port} -c listen_addresses= -k {sock} -c archive_mode=off",
            "start", what="启动演练集群",
        )  # fmt: skip
        running = True
        scratch = Scratch(data, sock, port)
        yield scratch, time.monotonic() - started
    finally:
        if running:
            with suppress(BackupError):
                rest.pg_ctl("-D", str(data), "-m", "immediate", "-w", "stop", what="停止演练集群")
        try:
            shutil.rmtree(base)
        except OSError:
            rest._exec(["rm", "-rf", str(base)], "清理演练目录")


def _complete_config(data: Path, live: Path) -> None:
    """Debian keeps postgresql.conf and pg_hba.conf in /etc, outside the data directory pgBackRest
    copies: give the scratch copy minimal ones (local connections of its owner only)."""
    try:
        present = set(os.listdir(data))
    except PermissionError:
        return  # the owner's own layout; pg_ctl says what is missing
    stat = live.stat() if live.exists() else data.stat()
    for name, body in (
        ("postgresql.conf", "# written by zhengwu backup drill: a scratch restore\n"),
        ("pg_hba.conf", "local all all trust\n"),
    ):
        if name not in present:
            (data / name).write_text(body, encoding="utf-8")
            if os.geteuid() == 0:
                os.chown(data / name, stat.st_uid, stat.st_gid)


def wait_promoted(connect: Any, timeout: float = 3600) -> None:
    """Wait until the restored cluster has left recovery (a hot standby answers before it is done)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if connect() is False:
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise BackupError(
                "backup_tool_failed", "演练集群未完成恢复", "the scratch cluster never left recovery"
            )
        time.sleep(0.2)
