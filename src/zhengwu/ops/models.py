"""Persistence of operations: the node's record of its backups and restore drills."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class BackupRun(IdMixin, Base):
    """One backup set written (or tried), or one drill marker.

    The row of a backup is committed as ``running`` before the database snapshot is taken, so every
    backup carries the record of itself: a restored node knows which set it came from.
    """

    __tablename__ = "ops_backup_run"

    kind: Mapped[str] = mapped_column(String(16))  # backup / drill_marker / drill
    set_name: Mapped[str] = mapped_column(String(120), index=True)
    target: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(16))  # running / done / failed / marker
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=0)
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)


class NodeStatus(IdMixin, Base):
    """The latest status a node below reported (one row per node): what the upper node shows of it.

    ``sender`` is the node the status describes — the direct lower node, or the node deeper down whose
    status a middle node passed on — and ``route`` the way it came (``origin/…/direct lower node``)."""

    __tablename__ = "ops_node_status"

    sender: Mapped[str] = mapped_column(String(63), unique=True)
    route: Mapped[str | None] = mapped_column(String(255))
    node_name: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(16), default="")
    division_code: Mapped[str] = mapped_column(String(6), default="")
    version: Mapped[str] = mapped_column(String(40), default="")
    migration: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16), default="")
    outbox_pending: Mapped[int] = mapped_column(Integer, default=0)
    lag_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    dead_letters: Mapped[int] = mapped_column(Integer, default=0)
    backup_age_seconds: Mapped[float | None] = mapped_column(Float)
    # PostgreSQL nodes archiving their WAL (ops.walarchive); None: no archive (SQLite, archive_mode off).
    wal_archive_lag_seconds: Mapped[float | None] = mapped_column(Float)
    wal_archive_failing: Mapped[bool | None] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reports: Mapped[int] = mapped_column(Integer, default=1)


class WorkerBeat(IdMixin, Base):
    """A worker process's heartbeat (one row per worker): the servers read it to say whether a worker runs.

    Written by the worker itself at most once a minute, never on a request."""

    __tablename__ = "ops_worker_beat"

    worker: Mapped[str] = mapped_column(String(120), unique=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    loops: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=0)


class ProbeRun(IdMixin, Base):
    """One run of the synthetic journey probe (ops.probe), kept a week."""

    __tablename__ = "ops_probe_run"

    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    url: Mapped[str] = mapped_column(String(500))
    ok: Mapped[bool] = mapped_column(Boolean)
    seconds: Mapped[float] = mapped_column(Float)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
