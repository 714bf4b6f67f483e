"""Off-site recovery of a PostgreSQL node with the real pgBackRest and the configuration in
deploy/pgbackrest: continuous WAL archiving into an encrypted repository, a full backup, a change made
after it, loss of the data directory, and a restore into a clean one that holds the change too.

The test runs its own PostgreSQL cluster (initdb as the ``postgres`` user, on a free port), so it needs
root, Debian's PostgreSQL server binaries and pgBackRest: it skips without them and fails instead under
``ZHENGWU_CI=1`` (``.ci/run`` runs as root and installs pgbackrest).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from clikit import run_in
from zhengwu.kernel.config import Settings
from zhengwu.main import import_models
from zhengwu.ops import backup
from zhengwu.ops.pgbackrest import Backrest
from zhengwu.ops.sealing import load_key
from zhengwu.seed import government_credit_code

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
PASSPHRASE = "test-only-offsite-passphrase-7d3f"

pytestmark = pytest.mark.slow


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "zhengwu_pgbackrest_render", ROOT / "deploy/pgbackrest/render.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


render = _render_module()


def _missing() -> str | None:
    reason = render.missing()
    if reason:
        return reason
    if not PG_BIN or not (PG_BIN[-1] / "initdb").exists():
        return "the PostgreSQL server binaries are missing (apt-get install postgresql)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "running a private PostgreSQL cluster as the postgres user needs root and runuser"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user"
    return None


def _as_postgres(*args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", "env", *(f"{k}={v}" for k, v in (env or {}).items()), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{args[0]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A private PostgreSQL cluster whose WAL pgBackRest archives."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = _free_port()
        self.socket = base / "sock"
        self.data = base / "data"
        self.repo = base / "offsite-repo"
        self.conf = render.render(
            base / "conf",
            stanza="zhengwu",
            pg_path=self.data,
            repo_path=self.repo,
            pg_port=self.port,
            pg_socket=str(self.socket),
            encrypt=True,
        )
        # The passphrase lives in the environment of PostgreSQL (its archiver) and of pgBackRest only.
        self.env = {"PGBACKREST_REPO1_CIPHER_PASS": PASSPHRASE}
        for folder in (self.socket, self.repo, base / "conf" / "spool", base / "conf" / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", "-R", "postgres:postgres", str(base)], check=True)

    def initdb(self) -> None:
        _as_postgres(str(PG_BIN[-1] / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                     "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")  # fmt: skip
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket}'\ninclude '{self.conf.archive_conf}'\n"
            )

    def start(self) -> None:
        _as_postgres(str(PG_BIN[-1] / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "postgres.log"),
                     "-w", "-t", "120", "start", env=self.env)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        _as_postgres(str(PG_BIN[-1] / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def backrest(self, *args: str) -> str:
        return _as_postgres(
            "pgbackrest", f"--config={self.conf.config}", "--stanza=zhengwu", *args, env=self.env
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/zhengwu"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("ZHENGWU_CI") == "1":
            pytest.fail(f"ZHENGWU_CI=1 but {reason}")
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="zw-pgbackrest-", dir="/tmp"))
    base.chmod(0o755)  # the postgres user walks into it
    made = Cluster(base)
    try:
        yield made
    finally:
        made.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


def _zhengwu(
    url: str, data_dir: Path, *args: str, extra: dict[str, str] | None = None, ok: bool = True
) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHENGWU_")}
    env.update(
        {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(data_dir), "ZHENGWU_LOG_LEVEL": "WARNING"}
    )
    env.update(extra or {})
    # In this process with the node's environment (an interpreter start per command cost seconds each);
    # pgBackRest, pg_ctl and the scratch cluster are still the real programs the commands drive.
    done = run_in(env, *args)
    assert (done.returncode == 0) is ok, (
        f"zhengwu {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done.stdout


def _departments(url: str, data_dir: Path) -> set[str]:
    lines = _zhengwu(url, data_dir, "departments", "list", "--json").splitlines()
    return {json.loads(line)["credit_code"] for line in lines if line.strip().startswith("{")}


def test_a_change_after_the_last_full_backup_survives_losing_the_data_directory(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.initdb()
    cluster.start()
    _as_postgres(str(PG_BIN[-1] / "createdb"), "-h", str(cluster.socket), "-p", str(cluster.port), "zhengwu")
    cluster.backrest("stanza-create")
    cluster.backrest("check")  # archive_command works: a WAL segment reached the repository
    node_dir = tmp_path / "node"
    _zhengwu(cluster.url, node_dir, "migrate")
    before = government_credit_code("130000", 71)
    _zhengwu(cluster.url, node_dir, "departments", "add", "--credit-code", before, "--name", "河北省备份演练局",
             "--division", "130000")  # fmt: skip
    cluster.backrest("backup", "--type=full")
    after = government_credit_code("130000", 72)
    _zhengwu(cluster.url, node_dir, "departments", "add", "--credit-code", after, "--name", "河北省恢复演练局",
             "--division", "130000")  # fmt: skip
    # Written after the full backup: only the archived WAL holds it. `check` switches the WAL segment
    # and waits until it is in the repository — the shipped point the restore must reach.
    cluster.backrest("check")

    info: list[dict[str, Any]] = json.loads(cluster.backrest("info", "--output=json"))
    [stanza] = info
    assert stanza["status"]["message"] == "ok"
    assert [b["type"] for b in stanza["backup"]] == ["full"]
    assert stanza["cipher"] == "aes-256-cbc"
    # The repository is encrypted: no file of it holds the department's name in clear.
    assert not any(
        "河北省恢复演练局".encode() in p.read_bytes() for p in cluster.repo.rglob("*") if p.is_file()
    )

    # pgBackRest refuses to restore over a running cluster (delta restores over a stopped one are allowed).
    over = subprocess.run(["runuser", "-u", "postgres", "--", "env", f"PGBACKREST_REPO1_CIPHER_PASS={PASSPHRASE}",
                           "pgbackrest", f"--config={cluster.conf.config}", "--stanza=zhengwu", "restore"],
                          capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    assert over.returncode != 0
    # Disaster: the node's database server and its data directory are gone.
    cluster.stop("immediate")
    shutil.rmtree(cluster.data)
    started = time.monotonic()
    cluster.data.mkdir(mode=0o700)
    subprocess.run(["chown", "postgres:postgres", str(cluster.data)], check=True)
    cluster.backrest("restore")  # into the clean data directory, replaying the archive to its end
    cluster.start()
    recovered = _departments(cluster.url, node_dir)
    rto = time.monotonic() - started
    assert {before, after} <= recovered  # RPO: nothing written before the last archived WAL is lost
    print(f"pgBackRest restore drill: RTO {rto:.1f} s (restore, recovery and start of the cluster)")


def _last_json(out: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    return found


def test_zhengwu_backup_drives_pgbackrest_create_verify_drill_and_restore(
    cluster: Cluster, tmp_path: Path
) -> None:
    """``zhengwu backup`` on a node whose PostgreSQL pgBackRest archives: the set pairs a pgBackRest backup
    with the sealed data directory, verify checks the repository, the drill restores into a clean scratch
    cluster and finds every row written before the shipped WAL point, and a restore into a clean data
    directory (refused while the cluster runs) brings back rows written after the backup too."""
    cluster.initdb()
    cluster.start()
    _as_postgres(str(PG_BIN[-1] / "createdb"), "-h", str(cluster.socket), "-p", str(cluster.port), "zhengwu")
    cluster.backrest("stanza-create")
    node_dir = tmp_path / "node"
    extra = {
        "ZHENGWU_OPS__PGBACKREST_CONFIG": str(cluster.conf.config),
        "ZHENGWU_OPS__PGBACKREST_RUN_AS": "runuser -u postgres --",
        "ZHENGWU_OPS__PG_BIN_DIR": str(PG_BIN[-1]),
        "ZHENGWU_BACKUP_KEY_FILE": str(tmp_path / "keys" / "backup.key"),
        **cluster.env,
    }
    offsite = tmp_path / "offsite"
    _zhengwu(cluster.url, node_dir, "migrate")
    before = government_credit_code("130000", 81)
    _zhengwu(cluster.url, node_dir, "departments", "add", "--credit-code", before, "--name", "河北省全量备份局",
             "--division", "130000")  # fmt: skip
    (node_dir / "files" / "ab").mkdir(parents=True)
    (node_dir / "files" / "ab" / "stored").write_bytes(b"stored file \xe4\xb8\xad")

    made = _last_json(_zhengwu(cluster.url, node_dir, "backup", "create", "--to", str(offsite), "--type", "full",
                               "--json", extra=extra))  # fmt: skip
    assert made["database"]["kind"] == "pgbackrest" and made["database"]["type"] == "full"
    assert not (Path(made["path"]) / "database.sm4").exists()  # the database is in the repository
    assert b"stored file" not in (Path(made["path"]) / "files.sm4").read_bytes()
    after = government_credit_code("130000", 82)
    _zhengwu(cluster.url, node_dir, "departments", "add", "--credit-code", after, "--name", "河北省增量恢复局",
             "--division", "130000")  # fmt: skip

    checked = _last_json(_zhengwu(cluster.url, node_dir, "backup", "verify", "--from", str(offsite), "--json",
                                  extra=extra))  # fmt: skip
    assert checked["ok"] and checked["pgbackrest"]["label"] == made["database"]["label"]

    drilled = _last_json(_zhengwu(cluster.url, node_dir, "backup", "drill", "--to", str(offsite), "--json",
                                  extra=extra))  # fmt: skip
    assert drilled["ok"] and drilled["method"] == "pgbackrest-incr"
    assert drilled["lost_before_shipped"] == 0 and drilled["rows_restored"] >= drilled["shipped_row"] > 0
    assert drilled["marker_before_restored"] and not drilled["missing"]
    print(f"pgBackRest drill: RPO {drilled['rpo_seconds']} s, RTO {drilled['rto_seconds']} s, rows written "
          f"{drilled['rows_written']}, shipped up to {drilled['shipped_row']}, restored {drilled['rows_restored']}, "
          f"load average {drilled['load_average']}")  # fmt: skip

    clean_node = tmp_path / "clean-node"
    refused = _last_json(_zhengwu(cluster.url, clean_node, "backup", "restore", "--from", str(offsite), "--json",
                                  extra=extra, ok=False))  # fmt: skip
    assert refused["code"] == "restore_cluster_running"
    cluster.stop("immediate")
    shutil.rmtree(cluster.data)
    cluster.data.mkdir(mode=0o700)
    (cluster.data / "leftover").write_text("x")
    subprocess.run(["chown", "-R", "postgres:postgres", str(cluster.data)], check=True)
    refused = _last_json(_zhengwu(cluster.url, clean_node, "backup", "restore", "--from", str(offsite), "--json",
                                  extra=extra, ok=False))  # fmt: skip
    assert refused["code"] == "restore_target_not_empty"
    (cluster.data / "leftover").unlink()
    restored = _last_json(_zhengwu(cluster.url, clean_node, "backup", "restore", "--from", str(offsite), "--json",
                                   extra=extra))  # fmt: skip
    assert restored["restored_into"] == str(cluster.data)
    assert (clean_node / "files" / "ab" / "stored").read_bytes() == b"stored file \xe4\xb8\xad"
    cluster.start()
    assert {before, after} <= _departments(cluster.url, clean_node)


def test_the_pgbackrest_drill_fails_when_the_archived_wal_is_not_replayed(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drill can fail: a restore that stops where the backup became consistent (the WAL archived
    after it not replayed) loses rows written before the shipped point, and the drill says so."""
    cluster.initdb()
    cluster.start()
    _as_postgres(str(PG_BIN[-1] / "createdb"), "-h", str(cluster.socket), "-p", str(cluster.port), "zhengwu")
    cluster.backrest("stanza-create")
    node_dir = tmp_path / "node"
    _zhengwu(cluster.url, node_dir, "migrate")
    monkeypatch.setenv("PGBACKREST_REPO1_CIPHER_PASS", PASSPHRASE)
    settings = Settings(
        database_url=cluster.url,
        data_dir=node_dir,
        ops={"pgbackrest_config": str(cluster.conf.config), "pgbackrest_run_as": "runuser -u postgres --",
             "pg_bin_dir": str(PG_BIN[-1])},
    )  # fmt: skip

    def only_the_backup(self: Backrest, label: str, pg_path: Path, *, archive_off: bool = False) -> None:
        self.run("restore", f"--set={label}", f"--pg1-path={pg_path}", "--type=immediate",
                 "--target-action=promote", "--archive-mode=off", what="恢复")  # fmt: skip

    monkeypatch.setattr(Backrest, "restore", only_the_backup)
    key = load_key(tmp_path / "keys" / "backup.key", create=True)
    report = backup.drill(settings, tmp_path / "offsite", key, import_models().tables.values(), kind="full")
    assert not report.ok
    assert report.lost_before_shipped > 0 and report.rows_restored < report.shipped_row


def test_the_rendered_configuration_names_every_place_and_keeps_the_passphrase_out(tmp_path: Path) -> None:
    rendered = render.render(tmp_path / "conf", stanza="hebei-province", pg_path=Path("/var/lib/postgresql/15/main"),
                             repo_path=Path("/mnt/offsite/pgbackrest"), encrypt=True)  # fmt: skip
    config = rendered.config.read_text(encoding="utf-8")
    assert "[hebei-province]" in config and "repo1-path=/mnt/offsite/pgbackrest" in config
    assert "repo1-cipher-type=aes-256-cbc" in config and "repo1-cipher-pass" not in config
    archive = rendered.archive_conf.read_text(encoding="utf-8")
    assert f"--config={rendered.config}" in archive and "--stanza=hebei-province archive-push %p" in archive
    assert "@" not in config + archive
    with pytest.raises(ValueError):
        render.render(tmp_path / "bad", stanza="a b", pg_path=Path("/x"), repo_path=Path("/y"))


def test_the_archive_lag_and_a_failing_archive_are_reported(cluster: Cluster, tmp_path: Path) -> None:
    """pg_stat_archiver as the node reads it (ops.walarchive): archiving through pgBackRest works, then the
    repository becomes unreachable and the archive fails — /_status degrades, the gauges and the status
    reported upward say so."""
    from sqlalchemy import text

    from zhengwu.commands.node import open_node
    from zhengwu.ops import reporting, walarchive

    cluster.initdb()
    cluster.start()
    _as_postgres(str(PG_BIN[-1] / "createdb"), "-h", str(cluster.socket), "-p", str(cluster.port), "zhengwu")
    cluster.backrest("stanza-create")
    _zhengwu(cluster.url, tmp_path / "node", "migrate")
    cluster.backrest("check")  # one segment switched and archived
    settings = Settings(database_url=cluster.url, data_dir=tmp_path / "node")
    with open_node(settings) as node:
        # `check` returns once the segment is in the repository; the archiver counts it in
        # pg_stat_archiver a moment later (seen in CI as archived_count 0), so ask until it has.
        deadline = time.monotonic() + 60
        while True:
            with node.session_factory() as session:
                working = walarchive.state(session)
            if (working and working["archived_count"] >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert working is not None and working["archive_mode"] == "on", working
        assert working["archived_count"] >= 1 and working["failing"] is False and working["ok"] is True
        assert working["age_seconds"] is not None and working["age_seconds"] < 300
        assert node.health_probes["wal_archive"]()["ok"] is True

        # The off-site repository goes away: PostgreSQL's archive_command now fails.
        cluster.repo.chmod(0o000)
        try:
            deadline = time.monotonic() + 90
            failing: dict[str, Any] | None = None
            while time.monotonic() < deadline:
                with node.session_factory() as session, session.begin():
                    session.execute(text("CREATE TABLE IF NOT EXISTS walfill (n int)"))
                    session.execute(text("INSERT INTO walfill SELECT generate_series(1, 20000)"))
                with node.session_factory() as session, session.begin():
                    session.execute(text("SELECT pg_switch_wal()"))
                time.sleep(2)
                with node.session_factory() as session:
                    failing = walarchive.state(session)
                if failing and failing["failing"]:
                    break
            assert failing is not None and failing["failing"] is True, failing
            assert failing["ok"] is False and failing["failed_count"] >= 1
            assert failing["pending_segments"] is not None and failing["pending_segments"] >= 1
            assert node.health_probes["wal_archive"]()["failing"] is True
            gauges = walarchive.install_gauges(type(node.metrics)())
            with node.session_factory() as session:
                walarchive.refresh(session, gauges)
                status = reporting.snapshot(session, settings)
            assert gauges.failing._value.get() == 1.0 and gauges.pending._value.get() >= 1
            assert status["status"] == "degraded" and status["wal_archive_failing"] is True
        finally:
            cluster.repo.chmod(0o750)
