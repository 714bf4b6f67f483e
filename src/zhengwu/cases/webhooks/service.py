"""Fan-out of case events to the department systems, the delivery log, replay and the pull feed.

The subscriber runs inside the transaction of the transition that published the event: the event row
and one delivery row per subscribed endpoint of the item's department are written with it, so an event is
never lost and never sent for a transition that rolled back. ``dispatch.deliver_due`` sends them later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.cases.errors import CaseInvalid, CaseNotFound
from zhengwu.cases.events import CaseEvaluated, CaseEvent, CaseSubmitted, CaseTransitioned
from zhengwu.cases.models import Case, CaseOpinion
from zhengwu.cases.webhooks import signing
from zhengwu.cases.webhooks.models import (
    WebhookAttempt,
    WebhookAudience,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from zhengwu.identity.context import of
from zhengwu.identity.oidc.models import OidcClient
from zhengwu.identity.protection import decrypt_field, encrypt_field
from zhengwu.kernel.clock import utcnow

SCHEMA_VERSION: Final = "1"
SECRET_PURPOSE: Final = "cases.webhook_secret"  # noqa: S105 - an AAD label, not a secret

#: Webhook event type of each transition action (the applicant's ``supplement`` is the resubmission).
EVENT_TYPES: Final = {
    "accept": "case.accepted",
    "reject": "case.rejected",
    "request_supplement": "case.supplement_requested",
    "supplement": "case.resubmitted",
    "accept_step": "case.step_accepted",
    "complete_step": "case.step_completed",
    "add_step": "case.step_added",
    "request_opinions": "case.opinions_requested",
    "give_opinion": "case.opinion_given",
    "start_special": "case.special_started",
    "end_special": "case.special_ended",
    "conclude": "case.concluded",
    "deliver": "case.delivered",
    "withdraw": "case.withdrawn",
}
#: Every event type an endpoint can subscribe to.
EVENT_KINDS: Final = ("case.submitted", *EVENT_TYPES.values(), "case.evaluated")


def event_type(event: CaseEvent) -> str:
    """The ``type`` of the webhook body for a case event."""
    if isinstance(event, CaseSubmitted):
        return "case.submitted"
    if isinstance(event, CaseEvaluated):
        return "case.evaluated"
    if isinstance(event, CaseTransitioned):
        return EVENT_TYPES.get(event.action, f"case.{event.action}")
    return "case.changed"


def _data(event: CaseEvent) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_no": event.case_no,
        "task_code": event.task_code,
        "status": event.status,
        "actor": event.actor,
    }
    if isinstance(event, CaseTransitioned):
        data["action"] = event.action
        data["from_status"] = event.from_status
    if isinstance(event, CaseEvaluated):
        data["satisfaction"] = event.satisfaction
    return data


def record_event(session: Session, event: CaseEvent) -> WebhookEvent:
    """Write the event and a delivery to every active endpoint of the case's department (same transaction)."""
    now = utcnow()
    kind = event_type(event)
    body = {
        "type": kind,
        "schema_version": SCHEMA_VERSION,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": _data(event),
    }
    row = WebhookEvent(
        msg_id=f"msg_{uuid.uuid4().hex}",
        type=kind,
        department_id=event.department_id,
        case_no=event.case_no,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        created_at=now,
    )
    session.add(row)
    session.flush()
    # 联办: the departments asked for an opinion on the case hear of it too, from the ask onward.
    asked = set(asked_departments(session, event.case_no)) - {event.department_id}
    for department_id in sorted(asked):
        session.add(WebhookAudience(event_seq=row.seq, department_id=department_id))
    audience = {event.department_id, *asked}
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.department_id.in_(audience), WebhookEndpoint.active.is_(True)
        )
    )
    for endpoint in endpoints:
        if endpoint.event_types is None or kind in endpoint.event_types:
            session.add(WebhookDelivery(event_seq=row.seq, client_id=endpoint.client_id, next_attempt_at=now))
    return row


def asked_departments(session: Session, case_no: str) -> list[str]:
    """The departments asked for a 联办 opinion on the case, in any round (ids)."""
    return list(
        session.scalars(
            select(CaseOpinion.department_id)
            .join(Case, Case.id == CaseOpinion.case_id)
            .where(Case.case_no == case_no)
            .distinct()
        )
    )


def _subscription(event_types: Sequence[str] | None) -> list[str] | None:
    """The checked list of event types (``None``: all of them)."""
    if event_types is None:
        return None
    wanted = list(dict.fromkeys(event_types))
    unknown = [t for t in wanted if t not in EVENT_KINDS]
    if unknown or not wanted:
        raise CaseInvalid(
            f"未知的事件类型：{'、'.join(unknown)}" if unknown else "请至少订阅一种事件",
            code="cases.webhook_event_types",
            detail_en=f"event types are some of {', '.join(EVENT_KINDS)}",
            extra={"known": list(EVENT_KINDS)},
        )
    return wanted


def subscriber(session: Session, event: CaseEvent) -> None:
    """The bus handler (wired in ``cases.wiring.subscribe``)."""
    if event.case_no:
        record_event(session, event)


@dataclass(frozen=True, slots=True)
class Registered:
    """An endpoint and its secret (shown once)."""

    endpoint: WebhookEndpoint
    secret: str


def register(
    session: Session, client_id: str, url: str, *, actor: str, event_types: Sequence[str] | None = None
) -> Registered:
    """Register (or re-register with a new secret) the endpoint of a department system, for the events
    of ``event_types`` (``None``: every type, including types added later)."""
    from zhengwu.kernel.node import node_in

    subscribed = _subscription(event_types)

    # Plain http only off production (a local receiver in development and tests).
    schemes = ("https://",) if node_in(session).settings.production else ("https://", "http://")
    if not url.startswith(schemes):
        raise CaseInvalid(
            "推送地址须为 https 地址",
            code="cases.webhook_url",
            detail_en=f"url must start with {' or '.join(schemes)}",
        )
    client = session.scalar(select(OidcClient).where(OidcClient.client_id == client_id))
    if client is None or client.status != "active":
        raise CaseNotFound("未找到该接入应用", detail_en="no active client with this client_id")
    if client.department_id is None:
        raise CaseInvalid(
            "该接入应用未绑定部门，不能接收办件推送",
            code="cases.webhook_department",
            detail_en="the client has no department",
        )
    secret = signing.new_secret()
    enc = encrypt_field(of(session).keys, secret, purpose=SECRET_PURPOSE)
    endpoint = session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.client_id == client_id))
    before = None
    if endpoint is None:
        endpoint = WebhookEndpoint(client_id=client_id, department_id=client.department_id, url=url)
        session.add(endpoint)
    else:
        before = {"url": endpoint.url, "active": endpoint.active, "event_types": endpoint.event_types}
    endpoint.url = url
    endpoint.event_types = subscribed
    endpoint.department_id = client.department_id
    endpoint.secret_enc = enc
    endpoint.active = True
    endpoint.created_by = actor[:64]
    session.flush()
    record_change(session, actor=actor, action="case_webhook.register", entity="cases.webhook_endpoint",
                  entity_id=client_id, department_id=client.department_id, before=before,
                  after={"url": url, "active": True, "event_types": subscribed, "secret": "issued"})  # fmt: skip
    return Registered(endpoint, secret)


def secret_of(session: Session, endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret, decrypted for signing."""
    return decrypt_field(of(session).keys, endpoint.secret_enc, purpose=SECRET_PURPOSE)


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A row of the delivery log."""

    id: str
    client_id: str
    msg_id: str
    type: str
    case_no: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """Plain values (times in ISO 8601)."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def deliveries(
    session: Session, *, status: str | None = None, client_id: str | None = None, limit: int = 100
) -> list[DeliveryView]:
    """The delivery log, newest first."""
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
        .order_by(WebhookDelivery.created_at.desc(), WebhookEvent.seq.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if client_id is not None:
        query = query.where(WebhookDelivery.client_id == client_id)
    return [
        DeliveryView(
            id=d.id,
            client_id=d.client_id,
            msg_id=e.msg_id,
            type=e.type,
            case_no=e.case_no,
            status=d.status,
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            delivered_at=d.delivered_at,
        )
        for d, e in session.execute(query)
    ]


def attempts_of(session: Session, delivery_id: str) -> Sequence[WebhookAttempt]:
    """Every attempt of one delivery, oldest first."""
    return session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.at)
    ).all()


def replay(session: Session, *, delivery_id: str | None = None, dead: bool = False, actor: str) -> list[str]:
    """Put one delivery (any status) or every dead one back in the queue; returns their ids.

    The replay sends the same ``webhook-id`` and body, so a receiver that keeps the ids it has seen
    recognises a duplicate."""
    if delivery_id is None and not dead:
        raise CaseInvalid(
            "请指明投递编号或 --dead", code="cases.webhook_replay", detail_en="delivery id or dead"
        )
    query = select(WebhookDelivery)
    if delivery_id is not None:
        query = query.where(WebhookDelivery.id == delivery_id)
    else:
        query = query.where(WebhookDelivery.status == "dead")
    rows = list(session.scalars(query.with_for_update()))
    if delivery_id is not None and not rows:
        raise CaseNotFound("未找到该投递记录", detail_en="no delivery with this id")
    now = utcnow()
    for row in rows:
        before = row.status
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = now
        record_change(session, actor=actor, action="case_webhook.replay", entity="cases.webhook_delivery",
                      entity_id=row.id, before={"status": before}, after={"status": "pending"})  # fmt: skip
    return [r.id for r in rows]


def endpoint_of(session: Session, client_id: str) -> WebhookEndpoint | None:
    """The endpoint a client registered, if any."""
    return session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.client_id == client_id))


def pull(session: Session, department_id: str, *, after: int, limit: int) -> list[WebhookEvent]:
    """The events of a department after the cursor (the pull alternative to push), oldest first: those of
    its own items' cases, and those of other departments' cases from when it was asked for a 联办 opinion
    (what push sends it). Two indexed reads merged, rather than one OR the planner cannot index."""
    own = session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.department_id == department_id, WebhookEvent.seq > after)
        .order_by(WebhookEvent.seq)
        .limit(limit)
    )
    asked = session.scalars(
        select(WebhookEvent)
        .join(WebhookAudience, WebhookAudience.event_seq == WebhookEvent.seq)
        .where(WebhookAudience.department_id == department_id, WebhookAudience.event_seq > after)
        .order_by(WebhookAudience.event_seq)
        .limit(limit)
    )
    merged = {e.seq: e for e in [*own, *asked]}
    return [merged[seq] for seq in sorted(merged)][:limit]


def counts(session: Session) -> dict[str, int]:
    """Deliveries per status."""
    rows = session.execute(select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status))
    return {status: int(n) for status, n in rows}
