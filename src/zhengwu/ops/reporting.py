"""Node status reported upward (运维监测上报): each node's health, version, exchange lag and backup age
reaches the upper node through the exchange. The topic is declared relayed (ops.topics): a middle node
passes its lower nodes' statuses on with their origin, so the national node sees every node of the
federation — county, city, province — and which of its direct lower nodes each came through.

What the national operations system expects is not published (standards §9 marks it uncertain): the row
is our own (``ops_node_status``), small and self-describing, and the upper node keeps the latest per
sender. A node that stops reporting shows as 失联 once its last report is older than three intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import zhengwu
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import OutboxRecord, OutboxStatus, emit
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import ReceivedRow, RowError
from zhengwu.ops import walarchive
from zhengwu.ops.models import BackupRun, NodeStatus

TOPIC: Final = "ops.node_status"
TABLE: Final = "ops_node_status"


def snapshot(session: Session, settings: Settings) -> dict[str, Any]:
    """This node's status as it goes upward."""
    now = utcnow()
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxRecord.created_at)).where(
            OutboxRecord.status == OutboxStatus.PENDING
        )
    ).one()
    dead = session.scalar(select(func.count()).where(OutboxRecord.status == OutboxStatus.DEAD)) or 0
    backup_at = session.scalar(
        select(func.max(BackupRun.snapshot_at)).where(BackupRun.kind == "backup", BackupRun.status == "done")
    )
    try:
        migration = session.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""
    except SQLAlchemyError:
        migration = ""
    archive = walarchive.state(session)
    archiving = archive is not None and archive.get("archive_mode", "off") != "off"
    return {
        "node_id": settings.node_id,
        "node_name": settings.node_name,
        "tier": settings.tier.value,
        "division_code": settings.division_code,
        "version": zhengwu.__version__,
        "migration": str(migration),
        # A WAL archive that fails widens the recovery point unseen: the node is degraded, not down.
        "status": "degraded" if archive and archiving and archive.get("failing") else "ok",
        "outbox_pending": int(pending or 0),
        "lag_seconds": round((now - oldest).total_seconds(), 3) if oldest is not None else 0.0,
        "dead_letters": int(dead),
        "backup_age_seconds": round((now - backup_at).total_seconds(), 1) if backup_at is not None else None,
        "wal_archive_lag_seconds": archive.get("lag_seconds") if archive is not None and archiving else None,
        "wal_archive_failing": bool(archive.get("failing")) if archive and archiving else None,
        "reported_at": now.isoformat(timespec="microseconds"),
        "status_key": f"{settings.node_id}:{now.isoformat(timespec='microseconds')}",
    }


def report(session: Session, settings: Settings) -> dict[str, Any]:
    """Queue this node's status for the upper node (in the caller's transaction)."""
    row = snapshot(session, settings)
    emit(session, TOPIC, row, key=row["status_key"])
    return row


def due(session: Session, minutes: int) -> bool:
    """Whether the last status report was queued ``minutes`` ago or more (or never)."""
    newest = session.scalar(select(func.max(OutboxRecord.created_at)).where(OutboxRecord.topic == TOPIC))
    return newest is None or (utcnow() - newest).total_seconds() >= minutes * 60


def report_if_due(factory: sessionmaker[Session], settings: Settings) -> bool:
    """Queue a status report when one is due and this node reports upward (the worker's housekeeping)."""
    # The 前置库 holds the national tables only; our status row travels over the HTTP exchange.
    if not settings.upstream_url or settings.ops.status_minutes == 0 or settings.exchange.transport != "http":
        return False
    with unit_of_work(factory) as session:
        if not due(session, settings.ops.status_minutes):
            return False
        report(session, settings)
    return True


def _number(value: Any) -> float | None:
    # Tolerant of what another version sends (conventions §12): a missing or odd value is no value.
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def apply_reported_status(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
    """Keep the newest status of each node (the origin the exchange checked, not what the row claims);
    an older report arriving late changes nothing."""
    for inbound in rows:
        data = inbound.row
        try:
            reported_at = datetime.fromisoformat(str(data["reported_at"]))
        except (KeyError, ValueError):
            continue  # a status without its time says nothing usable; the next one will
        backup_age = data.get("backup_age_seconds")
        values = {
            "sender": (inbound.origin or inbound.sender)[:63],
            "route": (inbound.route or inbound.sender)[:255],
            "node_name": str(data.get("node_name", ""))[:200],
            "tier": str(data.get("tier", ""))[:16],
            "division_code": str(data.get("division_code", ""))[:6],
            "version": str(data.get("version", ""))[:40],
            "migration": str(data.get("migration", ""))[:40],
            "status": str(data.get("status", ""))[:16],
            "outbox_pending": int(data.get("outbox_pending") or 0),
            "lag_seconds": float(data.get("lag_seconds") or 0.0),
            "dead_letters": int(data.get("dead_letters") or 0),
            "backup_age_seconds": float(backup_age) if backup_age is not None else None,
            "wal_archive_lag_seconds": _number(data.get("wal_archive_lag_seconds")),
            "wal_archive_failing": (
                bool(data["wal_archive_failing"]) if data.get("wal_archive_failing") is not None else None
            ),
            "reported_at": reported_at,
            "received_at": utcnow(),
        }
        table = NodeStatus.__table__
        insert = dialect_insert(session, NodeStatus).values(id=new_id(), reports=1, **values)
        newer = {k: v for k, v in values.items() if k != "sender"}
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["sender"],
                set_={**newer, "reports": table.c.reports + 1},
                where=table.c.reported_at < insert.excluded.reported_at,
            )
        )
    return {}


def nodes(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every node that reported, directly or passed on, with 失联 (stale) when its last report is older
    than three intervals; ``via`` is the direct lower node a passed-on status came through (None when
    the node reports to us itself)."""
    interval = max(settings.ops.status_minutes, 1)
    stale_after = timedelta(minutes=3 * interval)
    now = utcnow()
    shown = []
    for row in session.scalars(select(NodeStatus).order_by(NodeStatus.division_code, NodeStatus.sender)):
        age = now - row.reported_at
        route = row.route or row.sender
        hops = route.split("/")
        shown.append(
            {
                "node_id": row.sender,
                "route": route,
                "via": hops[-1] if len(hops) > 1 else None,
                "node_name": row.node_name,
                "tier": row.tier,
                "division_code": row.division_code,
                "version": row.version,
                "migration": row.migration,
                "status": "stale" if age > stale_after else row.status,
                "outbox_pending": row.outbox_pending,
                "lag_seconds": row.lag_seconds,
                "dead_letters": row.dead_letters,
                "backup_age_seconds": row.backup_age_seconds,
                "wal_archive_lag_seconds": row.wal_archive_lag_seconds,
                "wal_archive_failing": row.wal_archive_failing,
                "reported_at": row.reported_at.isoformat(),
                "report_age_seconds": round(age.total_seconds(), 1),
                "reports": row.reports,
            }
        )
    return shown
