"""deploy/pgbackrest on a private PostgreSQL cluster: WAL archiving into a pgBackRest repository, a full
backup, rows written after it, the cluster lost, a restore into a clean data directory that replays the
archive — every row written before the last archived WAL is back — and a restore into a directory that is
not empty refused.

Needs the Debian packages `postgresql` (initdb, pg_ctl) and `pgbackrest`, and a `postgres` system user
when the suite runs as root (PostgreSQL refuses to run as root); skipped otherwise.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodekit import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "pgbackrest"
pytestmark = pytest.mark.e2e


def _bin(name: str) -> str:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed (Debian package postgresql)")
    return found


class Cluster:
    """A private PostgreSQL cluster and its pgBackRest configuration, run as the postgres user."""

    def __init__(self, root: Path) -> None:
        if shutil.which("pgbackrest") is None:
            pytest.skip("pgbackrest not installed (Debian package pgbackrest)")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root without a postgres user")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.root = root
        self.port = free_port()
        self.config = root / "pgbackrest.conf"
        # The shipped configuration, with this test's paths (and no async archiving: no spool to set up).
        shipped = (DEPLOY / "pgbackrest.conf").read_text()
        shipped = re.sub(r"(?m)^repo1-path=.*$", f"repo1-path={root / 'repo'}", shipped)
        shipped = re.sub(r"(?m)^pg1-path=.*$", f"pg1-path={root / 'data'}", shipped)
        shipped = re.sub(r"(?m)^(archive-async|spool-path)=.*\n", "", shipped)
        shipped = re.sub(r"(?m)^compress-type=.*$", "compress-type=gz", shipped)
        shipped += f"pg1-port={self.port}\npg1-socket-path={root}\n"
        shipped = shipped.replace(
            "[global]\n", f"[global]\nlock-path={root / 'lock'}\nlog-path={root / 'log'}\n", 1
        )
        self.config.write_text(shipped)
        for folder in ("repo", "lock", "log"):
            (root / folder).mkdir()
        if self.as_user:
            shutil.chown(root, "postgres")
            for path in root.rglob("*"):
                shutil.chown(path, "postgres")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, check=False, timeout=300
        )
        if check:
            assert done.returncode == 0, f"{' '.join(args)}: {done.stdout[-1500:]} {done.stderr[-1500:]}"
        return done

    def pgbackrest(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("pgbackrest", f"--config={self.config}", "--stanza=zhengwu", *args, check=check)

    def initdb(self, data: Path) -> None:
        self.run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
        archive = f"pgbackrest --config={self.config} --stanza=zhengwu archive-push %p"
        settings = (
            (DEPLOY / "postgresql.zhengwu.conf")
            .read_text()
            .replace(
                "archive_command = 'pgbackrest --stanza=zhengwu archive-push %p'",
                f"archive_command = '{archive}'",
            )
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
            conf.write(
                f"\nport = {self.port}\nunix_socket_directories = '{self.root}'\nlisten_addresses = ''\n"
            )

    def start(self, data: Path) -> None:
        self.run(_bin("pg_ctl"), "-D", str(data), "-l", str(self.root / "postgres.log"), "-w", "start")

    def stop(self, data: Path, mode: str = "fast") -> None:
        self.run(_bin("pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str) -> str:
        done = self.run(_bin("psql"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                        "-d", "postgres", "-At", "-c", statement)  # fmt: skip
        return done.stdout.strip()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp_path: its parents are private to root, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="zw-pgbackrest-"))
    try:
        made = Cluster(root)
        yield made
        for data in (root / "data", root / "restored"):
            if (data / "postmaster.pid").exists():
                made.stop(data, "immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_restore_into_a_clean_directory_replays_the_archive(cluster: Cluster) -> None:
    data, restored = cluster.root / "data", cluster.root / "restored"
    cluster.initdb(data)
    cluster.start(data)
    cluster.pgbackrest("stanza-create")
    cluster.pgbackrest("check")  # archiving works end to end
    cluster.sql(
        "CREATE TABLE cases_case_probe (n integer); INSERT INTO cases_case_probe SELECT generate_series(1, 100)"
    )
    cluster.pgbackrest("backup", "--type=full")
    cluster.sql("INSERT INTO cases_case_probe SELECT generate_series(101, 150)")
    cluster.pgbackrest("check")  # switches WAL and waits until the segment holding rows 101–150 is archived
    info = cluster.pgbackrest("info").stdout
    assert "full backup" in info and "status: ok" in info
    cluster.stop(data, "immediate")  # the disaster: the cluster is gone as it was
    shutil.rmtree(data)

    restored.mkdir()
    if cluster.as_user:
        shutil.chown(restored, "postgres")
    cluster.pgbackrest("restore", f"--pg1-path={restored}")
    cluster.start(restored)
    assert cluster.sql("SELECT count(*), max(n) FROM cases_case_probe") == "150|150"
    cluster.stop(restored)

    refused = cluster.pgbackrest("restore", f"--pg1-path={restored}", check=False)
    assert refused.returncode != 0  # never over a data directory that holds a cluster
    assert cluster.run("test", "-f", str(restored / "PG_VERSION"), check=False).returncode == 0
