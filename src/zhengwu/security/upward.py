"""Security events and the posture summary reported upward (安全事件与态势上报).

A lower node queues each event of ``security.upward_min_severity`` or higher in the transaction that
stores it (a subscriber of ``SecurityEventRecorded``); the worker relays it like any outbox row, so it
reaches the upper node on the relay's next round. Every ``security.posture_minutes`` the worker also
queues a posture summary. Both travel over the HTTP exchange only: the 前置库 holds national tables.
Both topics are declared relayed (security.topics): a middle node passes its lower nodes' events and
summaries on with their origin, so a city's event reaches the national node once, with the city as
its origin, on the province's next relay round.

The national security centre's format is not published (standards §8 marks it uncertain). Everything
that decides what goes on the wire is in this module — the row shapes (``event_payload``,
``posture``) and the severity scale (``WIRE_SEVERITY``) — so a published format changes one file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import zhengwu
from zhengwu.exchange.models import ExchangeCredential
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Settings
from zhengwu.kernel.db import dialect_insert, new_id
from zhengwu.kernel.events import Handler, OutboxRecord, emit
from zhengwu.kernel.session import unit_of_work
from zhengwu.kernel.topics import ReceivedRow, RowError
from zhengwu.pki.models import PkiCertificate
from zhengwu.security.events import SecurityEventRecorded
from zhengwu.security.models import SecurityEvent, SecurityPosture
from zhengwu.security.severity import Severity

EVENT_TOPIC: Final = "security.event"
EVENT_TABLE: Final = "security_event_report"
POSTURE_TOPIC: Final = "security.posture"
POSTURE_TABLE: Final = "security_posture"

#: Our five levels on the wire: 1 (提示) to 5 (严重), with the name beside it for a reader.
WIRE_SEVERITY: Final[dict[Severity, int]] = {s: s.rank + 1 for s in Severity}
FROM_WIRE: Final[dict[int, Severity]] = {v: k for k, v in WIRE_SEVERITY.items()}

#: Events counted in the posture summary: those of the last day (events have no open/closed state).
POSTURE_WINDOW: Final = timedelta(hours=24)
#: Certificates expiring within this many days are listed by name in the summary.
EXPIRY_HORIZON_DAYS: Final = 30
#: Event types that record the outcome of ``zhengwu audit verify``.
VERIFY_TYPES: Final = ("audit.chain_verified", "audit.chain_broken")


def event_payload(event: SecurityEvent, settings: Settings) -> dict[str, Any]:
    """One event as it goes upward."""
    severity = Severity(event.severity)
    return {
        "report_key": f"{settings.node_id}:{event.id}",
        "origin": settings.node_id,
        "origin_name": settings.node_name,
        "division_code": settings.division_code,
        "event_id": event.id,
        "event_type": event.event_type,
        "severity": WIRE_SEVERITY[severity],
        "severity_name": severity.value,
        "source": event.source,
        "peer": event.peer,
        "occurred_at": event.occurred_at.isoformat(),
        "last_at": event.last_at.isoformat(),
        "count": event.count,
        "summary": event.summary,
        "detail": event.detail,
    }


def reports_upward(settings: Settings) -> bool:
    """Whether this node reports security rows to an upper node (HTTP transport only)."""
    return bool(settings.upstream_url) and settings.exchange.transport == "http"


def queue_event(session: Session, settings: Settings, event: SecurityEvent) -> bool:
    """Queue ``event`` for the upper node when it is severe enough (in the caller's transaction)."""
    floor = Severity(settings.security.upward_min_severity)
    if not reports_upward(settings) or Severity(event.severity).rank < floor.rank:
        return False
    row = event_payload(event, settings)
    emit(session, EVENT_TOPIC, row, key=row["report_key"])
    return True


def subscriber(settings: Settings) -> Handler[SecurityEventRecorded]:
    """The bus handler that queues severe events as they are stored."""

    def handle(session: Session, recorded: SecurityEventRecorded) -> None:
        event = session.get(SecurityEvent, recorded.event_id)
        if event is not None:
            queue_event(session, settings, event)

    return handle


def _certificates(session: Session) -> dict[str, Any]:
    now = utcnow()
    horizon = now + timedelta(days=EXPIRY_HORIZON_DAYS)
    valid = session.scalars(
        select(PkiCertificate).where(PkiCertificate.status == "valid", PkiCertificate.not_after > now)
    ).all()
    expired = session.scalar(
        select(func.count()).where(PkiCertificate.status == "valid", PkiCertificate.not_after <= now)
    )
    soon = [
        {"profile": c.profile, "subject": c.subject[:200], "not_after": c.not_after.isoformat()}
        for c in sorted(valid, key=lambda c: c.not_after)
        if c.not_after <= horizon
    ]
    uplink = session.scalar(
        select(func.min(ExchangeCredential.not_after)).where(
            ExchangeCredential.purpose == "uplink", ExchangeCredential.status == "active"
        )
    )
    return {
        "valid": len(valid),
        "expired": int(expired or 0),
        "next_expiry": min((c.not_after for c in valid), default=None),
        "expiring_soon": soon,
        "uplink_not_after": uplink.isoformat() if uplink is not None else None,
    }


def _audit_state(session: Session) -> dict[str, Any]:
    last = session.scalars(
        select(SecurityEvent)
        .where(SecurityEvent.event_type.in_(VERIFY_TYPES), SecurityEvent.origin.is_(None))
        .order_by(SecurityEvent.occurred_at.desc(), SecurityEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return {"state": "unverified", "checked_at": None}
    state = "intact" if last.event_type == "audit.chain_verified" else "broken"
    return {"state": state, "checked_at": last.occurred_at.isoformat(), "detail": last.detail}


def posture(session: Session, settings: Settings) -> dict[str, Any]:
    """This node's security posture as it goes upward."""
    now = utcnow()
    counts = dict(
        session.execute(
            select(SecurityEvent.severity, func.sum(SecurityEvent.count))
            .where(SecurityEvent.occurred_at >= now - POSTURE_WINDOW, SecurityEvent.origin.is_(None))
            .group_by(SecurityEvent.severity)
        ).all()
    )
    try:
        migration = session.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""
    except SQLAlchemyError:
        migration = ""
    certificates = _certificates(session)
    next_expiry = certificates.pop("next_expiry")
    return {
        "posture_key": f"{settings.node_id}:{now.isoformat(timespec='microseconds')}",
        "origin": settings.node_id,
        "origin_name": settings.node_name,
        "version": zhengwu.__version__,
        "migration": str(migration),
        "events_24h": {s.value: int(counts.get(s.value) or 0) for s in Severity},
        "certificates": {
            **certificates,
            "next_expiry": next_expiry.isoformat() if next_expiry is not None else None,
        },
        "audit_chain": _audit_state(session),
        "reported_at": now.isoformat(timespec="microseconds"),
    }


def report_posture(session: Session, settings: Settings) -> dict[str, Any]:
    """Queue this node's posture for the upper node (in the caller's transaction)."""
    row = posture(session, settings)
    emit(session, POSTURE_TOPIC, row, key=row["posture_key"])
    return row


def posture_due(session: Session, minutes: int) -> bool:
    """Whether the last posture summary was queued ``minutes`` ago or more (or never)."""
    newest = session.scalar(
        select(func.max(OutboxRecord.created_at)).where(OutboxRecord.topic == POSTURE_TOPIC)
    )
    return newest is None or (utcnow() - newest).total_seconds() >= minutes * 60


def report_posture_if_due(factory: sessionmaker[Session], settings: Settings) -> bool:
    """Queue a posture summary when one is due (the worker's housekeeping)."""
    if not reports_upward(settings) or settings.security.posture_minutes == 0:
        return False
    with unit_of_work(factory) as session:
        if not posture_due(session, settings.security.posture_minutes):
            return False
        report_posture(session, settings)
    return True


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _severity(data: Mapping[str, Any]) -> Severity:
    name = str(data.get("severity_name") or "")
    if name in {s.value for s in Severity}:
        return Severity(name)
    return FROM_WIRE.get(int(data.get("severity") or 0), Severity.MEDIUM)


def apply_events(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
    """Store reported events with their origin; an event delivered twice is stored once."""
    errors: dict[str, RowError] = {}
    for inbound in rows:
        data = inbound.row
        try:
            occurred = _time(data["occurred_at"])
            last = _time(data.get("last_at") or data["occurred_at"])
            event_id = str(data["event_id"])
            severity = _severity(data)
        except (KeyError, TypeError, ValueError):
            errors[inbound.row_guid] = RowError("security_event_incomplete", "上报的安全事件缺少时间或编号")
            continue
        # The event's first reporter stays its origin when a province passes a city's event on: the
        # origin the exchange checked against the route, not the one the row claims.
        origin = (inbound.origin or str(data.get("origin") or "") or inbound.sender)[:63]
        detail = data.get("detail")
        values = {
            "id": new_id(),
            "event_type": str(data.get("event_type", ""))[:64],
            "severity": severity.value,
            "source": str(data.get("source", ""))[:64],
            "peer": str(data["peer"])[:64] if data.get("peer") else None,
            "occurred_at": occurred,
            "last_at": last,
            "count": max(1, int(data.get("count") or 1)),
            "summary": str(data.get("summary", ""))[:500],
            "detail": {
                **(detail if isinstance(detail, dict) else {}),
                "reported_by": inbound.sender,
                "route": inbound.route or inbound.sender,
            },
            "source_key": f"up:{origin}:{event_id}"[:128],
            "recorded_at": utcnow(),
            "origin": origin,
        }
        insert = dialect_insert(session, SecurityEvent).values(**values)
        session.execute(insert.on_conflict_do_nothing(index_elements=["source_key"]))
    return errors


def apply_posture(session: Session, rows: Sequence[ReceivedRow]) -> Mapping[str, RowError]:
    """Keep the newest posture of each node (its origin, as the exchange checked it); a late older one
    changes nothing."""
    for inbound in rows:
        data = inbound.row
        try:
            reported_at = _time(data["reported_at"])
        except (KeyError, ValueError):
            continue  # a summary without its time says nothing usable; the next one will
        summary = {k: v for k, v in data.items() if k not in ("posture_key", "reported_at")}
        values = {
            "node_name": str(data.get("origin_name", ""))[:200],
            "version": str(data.get("version", ""))[:40],
            "summary": summary,
            "route": (inbound.route or inbound.sender)[:255],
            "reported_at": reported_at,
            "received_at": utcnow(),
        }
        table = SecurityPosture.__table__
        insert = dialect_insert(session, SecurityPosture).values(
            id=new_id(), sender=(inbound.origin or inbound.sender)[:63], reports=1, **values
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["sender"],
                set_={**values, "reports": table.c.reports + 1},
                where=table.c.reported_at < insert.excluded.reported_at,
            )
        )
    return {}


def postures(session: Session) -> list[dict[str, Any]]:
    """The newest posture summary of every node below, directly or passed on (``via``: the direct lower
    node a passed-on summary came through)."""
    return [
        {
            "node_id": row.sender,
            "route": row.route or row.sender,
            "via": (row.route or row.sender).split("/")[-1] if "/" in (row.route or "") else None,
            "node_name": row.node_name,
            "version": row.version,
            "reported_at": row.reported_at.isoformat(),
            "reports": row.reports,
            **{k: v for k, v in row.summary.items() if k not in ("origin", "origin_name", "version")},
        }
        for row in session.scalars(select(SecurityPosture).order_by(SecurityPosture.sender))
    ]
