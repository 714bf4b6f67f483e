#!/usr/bin/env python3
"""Render the pgBackRest configuration of a zhengwu node's PostgreSQL, and the archiving settings that
PostgreSQL needs, into a directory.

Standard library only: operators run it on the database host, the tests import it.

    python3 deploy/pgbackrest/render.py --out /etc/pgbackrest --stanza zhengwu \
        --pg-path /var/lib/postgresql/15/main --repo-path /mnt/offsite/pgbackrest --encrypt
    # then: cp /etc/pgbackrest/postgresql-archive.conf /etc/postgresql/15/main/conf.d/ && restart,
    #       sudo -u postgres pgbackrest --stanza=zhengwu stanza-create && ... check && ... backup --type=full

The output directory holds ``pgbackrest.conf`` and ``postgresql-archive.conf``. With ``--encrypt`` the
repository is encrypted (pgBackRest offers AES-256-CBC only) with a passphrase that pgBackRest reads
from ``PGBACKREST_REPO1_CIPHER_PASS`` — kept apart from the repository, never in these files.
"""

from __future__ import annotations

import argparse
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PGBACKREST = "pgbackrest"


@dataclass(frozen=True)
class Rendered:
    """Paths of one rendered configuration."""

    root: Path
    config: Path
    archive_conf: Path
    stanza: str


def missing() -> str | None:
    """Why pgBackRest cannot run on this machine, or None when it can."""
    if shutil.which(PGBACKREST) is None:
        return "pgBackRest is not installed (Debian: apt-get install pgbackrest)"
    return None


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise ValueError(f"unrendered placeholders: {leftover}")
    return text


def render(
    out: Path,
    *,
    stanza: str,
    pg_path: Path,
    repo_path: Path,
    pg_port: int = 5432,
    pg_socket: str = "/var/run/postgresql",
    retention_full: int = 2,
    archive_timeout: int = 60,
    encrypt: bool = False,
    spool_path: Path | None = None,
    log_path: Path | None = None,
) -> Rendered:
    """Write ``pgbackrest.conf`` and ``postgresql-archive.conf`` into ``out``."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", stanza):
        raise ValueError("the stanza name takes letters, digits, '-' and '_'")
    out.mkdir(parents=True, exist_ok=True)
    config = out / "pgbackrest.conf"
    cipher = (
        "# Encrypted: the passphrase comes from PGBACKREST_REPO1_CIPHER_PASS, never from this file.\n"
        "repo1-cipher-type=aes-256-cbc"
        if encrypt
        else "# Not encrypted: use --encrypt unless the repository's storage is encrypted itself."
    )
    values = {
        "STANZA": stanza,
        "PG_PATH": str(pg_path),
        "PG_PORT": str(pg_port),
        "PG_SOCKET": pg_socket,
        "REPO_PATH": str(repo_path),
        "RETENTION_FULL": str(retention_full),
        "CIPHER": cipher,
        "SPOOL_PATH": str(spool_path or out / "spool"),
        "LOG_PATH": str(log_path or out / "log"),
        "CONFIG": str(config),
        "ARCHIVE_TIMEOUT": str(archive_timeout),
    }
    config.write_text(
        _fill((HERE / "pgbackrest.conf.in").read_text(encoding="utf-8"), values), encoding="utf-8"
    )
    archive_conf = out / "postgresql-archive.conf"
    archive_conf.write_text(
        _fill((HERE / "postgresql-archive.conf.in").read_text(encoding="utf-8"), values), encoding="utf-8"
    )
    return Rendered(out, config, archive_conf, stanza)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--stanza", default="zhengwu")
    parser.add_argument("--pg-path", type=Path, required=True, help="PostgreSQL's data directory")
    parser.add_argument("--repo-path", type=Path, required=True, help="the repository (off-site mount)")
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-socket", default="/var/run/postgresql")
    parser.add_argument("--retention-full", type=int, default=2)
    parser.add_argument("--archive-timeout", type=int, default=60, help="seconds (worst-case RPO when quiet)")
    parser.add_argument("--encrypt", action="store_true", help="AES-256-CBC, passphrase from the environment")
    args = parser.parse_args()
    rendered = render(
        args.out,
        stanza=args.stanza,
        pg_path=args.pg_path,
        repo_path=args.repo_path,
        pg_port=args.pg_port,
        pg_socket=args.pg_socket,
        retention_full=args.retention_full,
        archive_timeout=args.archive_timeout,
        encrypt=args.encrypt,
    )
    print(f"wrote {rendered.config} and {rendered.archive_conf}")


if __name__ == "__main__":
    main()
