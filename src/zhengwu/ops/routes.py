"""Health and metrics endpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

import zhengwu
from zhengwu.identity.policy import StaffPrincipal, guard
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import OutboxRecord, OutboxStatus
from zhengwu.kernel.node import CurrentNode, ServiceKey
from zhengwu.kernel.session import DbSession
from zhengwu.ops import metrics as capability_metrics
from zhengwu.ops import probe as journey
from zhengwu.ops import reporting, rights, walarchive
from zhengwu.ops.models import BackupRun

router = APIRouter(tags=["ops 运维"])


def _migration_revision(session: DbSession) -> str | None:
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        session.rollback()
        return None


def _outbox_lag(session: DbSession) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(OutboxRecord.topic, func.count(), func.min(OutboxRecord.created_at))
        .where(OutboxRecord.status == OutboxStatus.PENDING)
        .group_by(OutboxRecord.topic)
    ).all()
    now = utcnow()
    result: dict[str, dict[str, Any]] = {}
    for topic, count, oldest in rows:
        lag = (now - oldest).total_seconds() if oldest is not None else 0.0
        result[topic] = {"pending": count, "lag_seconds": round(lag, 3)}
    return result


@router.get("/_status", summary="Node health (健康状态)")
def status(response: Response, session: DbSession, node: CurrentNode) -> dict[str, Any]:
    """Version, commit, migration revision, tier, division, node id, uptime and dependency health."""
    settings = node.settings
    db_ok = True
    try:
        session.execute(text("SELECT 1"))
        outbox = _outbox_lag(session)
        last_backup = _last_backup(session)
        last_probe = _last_probe(session)
    except SQLAlchemyError:
        db_ok = False
        outbox = {}
        last_backup = None
        last_probe = None
    revision = _migration_revision(session) if db_ok else None
    dialect = session.get_bind().dialect.name
    # The connection goes back to the pool before the probes, which take their own: /_status skips the
    # admission gate, so a burst of calls each holding one connection while waiting for a second would
    # empty the pool and stall the node until the pool's timeout.
    session.close()
    probes: dict[str, Any] = {}
    for name, probe in node.health_probes.items():
        try:
            probes[name] = probe()
        except Exception as exc:  # a broken probe is reported, not raised
            probes[name] = {"ok": False, "error": type(exc).__name__}
    probes_ok = all(p.get("ok", True) is not False for p in probes.values())
    # 503 only when the node cannot serve at all (no database); a failing dependency degrades.
    if not db_ok:
        response.status_code = 503
    return {
        "status": "ok" if db_ok and probes_ok else ("degraded" if db_ok else "down"),
        "version": zhengwu.__version__,
        "git_commit": node.git_commit,
        "migration_revision": revision,
        "tier": settings.tier.value,
        "division_code": settings.division_code,
        "node_id": settings.node_id,
        "node_name": settings.node_name,
        "public_url": settings.public_url,
        "upstream_url": settings.upstream_url,
        "uptime_seconds": round(time.monotonic() - node.started_at, 3),
        "dependencies": {
            "database": {"ok": db_ok, "dialect": dialect},
            "outbox": outbox,
            **probes,
        },
        "backup": last_backup,
        "probe": last_probe,
    }


def _last_probe(session: DbSession) -> dict[str, Any] | None:
    """The newest synthetic journey (ops.probe): pass or fail, when, and each step's time."""
    row = journey.latest(session)
    if row is None:
        return None
    return {
        "ok": row.ok,
        "started_at": row.started_at.isoformat(),
        "seconds": row.seconds,
        "steps": {s["name"]: {"ok": s["ok"], "seconds": s["seconds"]} for s in row.steps},
    }


def _last_backup(session: DbSession) -> dict[str, Any] | None:
    """The newest finished backup and its age: how much a disaster now would lose at most (RPO)."""
    row = session.execute(
        select(BackupRun.set_name, BackupRun.snapshot_at)
        .where(BackupRun.kind == "backup", BackupRun.status == "done")
        .order_by(BackupRun.snapshot_at.desc())
        .limit(1)
    ).first()
    if row is None or row.snapshot_at is None:
        return None
    age = (utcnow() - row.snapshot_at).total_seconds()
    return {"set": row.set_name, "snapshot_at": row.snapshot_at.isoformat(), "age_seconds": round(age, 1)}


@dataclass(frozen=True)
class ScrapeGauges:
    """Gauges refreshed from the database on every scrape (deploy/prometheus/rules alert on them)."""

    pending: Gauge
    oldest: Gauge
    dead: Gauge
    backup_age: Gauge
    info: Gauge


#: The node-level gauges, refreshed on every scrape.
SCRAPE_GAUGES: ServiceKey[ScrapeGauges] = ServiceKey("ops.scrape_gauges")


def install_metrics(registry: CollectorRegistry) -> ScrapeGauges:
    """Register node-level gauges refreshed on every scrape."""
    return ScrapeGauges(
        pending=Gauge(
            "zhengwu_outbox_pending", "Outbox rows waiting for delivery", ["topic"], registry=registry
        ),
        oldest=Gauge(
            "zhengwu_outbox_oldest_seconds",
            "Age of the oldest undelivered outbox row (exchange lag toward the upper node)",
            ["topic"],
            registry=registry,
        ),
        dead=Gauge(
            "zhengwu_outbox_dead", "Outbox rows given up after their retries", ["topic"], registry=registry
        ),
        backup_age=Gauge(
            "zhengwu_backup_age_seconds",
            "Seconds since the snapshot of the newest finished backup (-1: none yet)",
            registry=registry,
        ),
        info=Gauge(
            "zhengwu_node_info",
            "The node's identity (value 1)",
            ["node_id", "tier", "version"],
            registry=registry,
        ),
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(session: DbSession, node: CurrentNode) -> Response:
    """Prometheus text exposition of this node's metrics."""
    gauges = node.services.provide(SCRAPE_GAUGES)
    gauges.pending.clear()
    gauges.oldest.clear()
    for topic, info in _outbox_lag(session).items():
        gauges.pending.labels(topic).set(info["pending"])
        gauges.oldest.labels(topic).set(info["lag_seconds"])
    gauges.dead.clear()
    dead = session.execute(
        select(OutboxRecord.topic, func.count())
        .where(OutboxRecord.status == OutboxStatus.DEAD)
        .group_by(OutboxRecord.topic)
    ).all()
    for topic, count in dead:
        gauges.dead.labels(topic).set(count)
    last = _last_backup(session)
    gauges.backup_age.set(last["age_seconds"] if last else -1)
    settings = node.settings
    gauges.info.clear()
    gauges.info.labels(settings.node_id, settings.tier.value, zhengwu.__version__).set(1)
    capability_metrics.refresh(session, node)
    walarchive.refresh(session, node.services.provide(walarchive.GAUGES))
    return Response(generate_latest(node.metrics), media_type=CONTENT_TYPE_LATEST)


api_router = APIRouter(prefix="/api/v1/ops", tags=["ops 运维"])
Operator = Annotated[StaffPrincipal, Depends(guard(rights.READ))]


@api_router.get("/nodes", summary="下级节点运行状态")
def get_nodes(session: DbSession, node: CurrentNode, _staff: Operator) -> list[dict[str, Any]]:
    """The newest status each lower node reported (health, version, migration, exchange lag, dead
    letters, backup age); ``stale`` when a node stopped reporting for three intervals."""
    return reporting.nodes(session, node.settings)
