"""WAL archiving of a PostgreSQL node (pgBackRest's ``archive-push``): how far behind it is.

With continuous archiving the recovery point is the last archived WAL segment, so an archiver that fails
(the off-site repository full or gone, a wrong passphrase) or falls behind silently widens the RPO while
every backup still looks fine. PostgreSQL counts it in ``pg_stat_archiver``: the last segment archived and
when, the last failure and when, and counts of both. This module reads that view, plus how many whole
segments were written since the last one archived, for ``/_status``, ``/metrics`` and the status the node
reports upward. SQLite nodes have no WAL archive (their backups are whole copies): nothing is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.node import Node, ServiceKey

_QUERY = text(
    "SELECT current_setting('archive_mode') AS archive_mode, a.archived_count, a.last_archived_wal, "
    "a.last_archived_time, a.failed_count, a.last_failed_wal, a.last_failed_time, pg_is_in_recovery() AS standby, "
    "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size') AS segment_bytes, "
    "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS current_wal, "
    # The byte position: pg_walfile_name names the previous segment when the position is at a boundary.
    "CASE WHEN pg_is_in_recovery() THEN NULL ELSE (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint END "
    "AS current_lsn "
    "FROM pg_stat_archiver a"
)


def segment_number(wal: str | None, segment_bytes: int) -> int | None:
    """The position of a WAL file (``TTTTTTTTXXXXXXXXYYYYYYYY``: timeline, log, segment) across timelines
    ignored; None for anything else (``.history``, ``.partial``, ``.backup`` names)."""
    if wal is None or len(wal) != 24 or any(c not in "0123456789ABCDEF" for c in wal):
        return None
    log, seg = int(wal[8:16], 16), int(wal[16:24], 16)
    return log * (0x1_0000_0000 // segment_bytes) + seg


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def state(session: Session) -> dict[str, Any] | None:
    """The WAL archiver of this node's PostgreSQL (None on other databases).

    ``ok`` is False while archiving is on and failing (the last failure newer than the last success);
    ``pending_segments`` counts whole segments written since the last archived one (None on a standby,
    or before the first); ``age_seconds`` is the time since the last segment was archived, and
    ``lag_seconds`` the same while segments wait (0 when none does: a quiet node is not behind) — an upper
    bound of how much a loss now would take with it beyond the archive.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    try:
        row = session.execute(_QUERY).mappings().one()
    except SQLAlchemyError as exc:
        session.rollback()
        return {"ok": False, "error": type(exc).__name__}
    mode = str(row["archive_mode"])
    archived_at, failed_at = row["last_archived_time"], row["last_failed_time"]
    failing = failed_at is not None and (archived_at is None or failed_at > archived_at)
    segment_bytes = int(row["segment_bytes"] or 16 * 1024 * 1024)
    last = segment_number(row["last_archived_wal"], segment_bytes)
    position = row["current_lsn"]
    current = int(position) // segment_bytes if position is not None else None
    pending = max(current - last - 1, 0) if current is not None and last is not None else None
    enabled = mode != "off"
    age = round((utcnow() - archived_at).total_seconds(), 1) if archived_at is not None else None
    return {
        "ok": not (enabled and failing),
        "archive_mode": mode,
        "standby": bool(row["standby"]),
        "archived_count": int(row["archived_count"] or 0),
        "failed_count": int(row["failed_count"] or 0),
        "failing": bool(enabled and failing),
        "last_archived_wal": row["last_archived_wal"],
        "last_archived_at": _iso(archived_at),
        "age_seconds": age,
        "lag_seconds": (age or 0.0) if pending else 0.0,
        "last_failed_wal": row["last_failed_wal"],
        "last_failed_at": _iso(failed_at),
        "current_wal": row["current_wal"],
        "pending_segments": pending,
    }


def probe(node: Node) -> Callable[[], dict[str, Any]]:
    """/_status section ``wal_archive`` of a PostgreSQL node (its own short session)."""

    def check() -> dict[str, Any]:
        try:
            with node.session_factory() as db:
                found = state(db)
        except SQLAlchemyError as exc:
            return {"ok": False, "error": type(exc).__name__}
        return found if found is not None else {"ok": True}

    return check


@dataclass(frozen=True)
class ArchiveGauges:
    """The archiver's numbers, read at every scrape (deploy/prometheus/rules alert on them)."""

    enabled: Gauge
    failing: Gauge
    failures: Gauge
    age: Gauge
    lag: Gauge
    pending: Gauge


GAUGES: ServiceKey[ArchiveGauges] = ServiceKey("ops.wal_archive_gauges")


def install_gauges(registry: CollectorRegistry) -> ArchiveGauges:
    """Register the gauges (on a SQLite node they say: no archive)."""

    def gauge(name: str, doc: str) -> Gauge:
        return Gauge(f"zhengwu_wal_archive_{name}", doc, registry=registry)

    return ArchiveGauges(
        enabled=gauge("enabled", "Whether PostgreSQL archives its WAL (archive_mode not off): 1 or 0"),
        failing=gauge("failing", "1 while the last WAL archive attempt failed after the last success"),
        failures=gauge("failures", "WAL segments PostgreSQL failed to archive since its statistics reset"),
        age=gauge("age_seconds", "Seconds since the last WAL segment was archived (-1: none yet)"),
        lag=gauge(
            "lag_seconds", "Seconds since the last archived segment while whole segments wait (else 0)"
        ),
        pending=gauge("pending_segments", "Whole WAL segments written but not archived yet (-1: unknown)"),
    )


def refresh(session: Session, gauges: ArchiveGauges) -> None:
    """Set the gauges from the scrape's session."""
    found = state(session) or {}
    gauges.enabled.set(0 if found.get("archive_mode", "off") == "off" else 1)
    gauges.failing.set(1 if found.get("failing") or "error" in found else 0)
    gauges.failures.set(found.get("failed_count") or 0)
    age, pending = found.get("age_seconds"), found.get("pending_segments")
    gauges.age.set(-1 if age is None else age)
    gauges.lag.set(found.get("lag_seconds") or 0.0)
    gauges.pending.set(-1 if pending is None else pending)
