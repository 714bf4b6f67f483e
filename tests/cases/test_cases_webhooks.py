"""Department systems and case webhooks on a real database: fan-out in the transition's transaction,
signed deliveries, retries with back-off, the dead letter and replay, the pull feed, and a department
system acting with its own client-credentials token (idempotent, its own department only)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cases_kit import Casework, login
from seals_kit import assert_envelope
from zhengwu.cases.errors import CaseInvalid
from zhengwu.cases.models import CaseHistory
from zhengwu.cases.retry import Retry
from zhengwu.cases.webhooks import dispatch, service, signing
from zhengwu.cases.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import RetrySettings, Settings

pytestmark = pytest.mark.db


def _system(
    client: Any, session: Session, department_id: str | None, scope: str = "cases.handle"
) -> tuple[str, str]:
    """A department system: (client id, a client-credentials access token)."""
    from zhengwu.identity.oidc import service as oidc_service
    from zhengwu.identity.oidc.schemas import ClientCreate
    from zhengwu.identity.oidc.tokens import access_token
    from zhengwu.identity.servicekeys import OIDC
    from zhengwu.kernel.node import node_of

    runtime = node_of(client.app).services.provide(OIDC)
    data = ClientCreate(
        name="审批系统", grant_types=["client_credentials"], scope=scope, department_id=department_id
    )
    row, _ = oidc_service.create_client(session, runtime.node_keys, data, actor=None)
    session.flush()
    issued = access_token(runtime.key_material(), issuer=runtime.issuer, client_id=row.client_id,
                          subject=row.client_id, audience=runtime.issuer, scope=scope, ttl=600)  # fmt: skip
    return str(row.client_id), issued.value


class Receiver:
    """An in-process receiver: verifies every message, answers the scripted status codes in turn."""

    def __init__(self, secret: str, script: list[int | Exception]) -> None:
        self.secret = secret
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.ids: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        scheme = signing.verify(self.secret, dict(request.headers), body, now=int(time.time()))
        assert scheme == "v1"
        assert signing.verify(
            self.secret, dict(request.headers), body, now=int(time.time()), schemes=("v1sm3",)
        )
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        self.received.append(json.loads(body))
        self.ids.append(request.headers["webhook-id"])
        return httpx.Response(step)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def _apply(client: Any, work: Casework) -> str:
    login(client, work.citizen_token)
    created = client.post("/api/v1/cases", json=work.body())
    assert created.status_code == 201, created.text
    login(client, None)
    return str(created.json()["case_no"])


def _due_now(session: Session) -> None:
    session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
    session.flush()


def test_fan_out_retry_back_off_dead_letter_and_replay(
    client: Any, casework: Casework, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    work = casework
    db = work.session
    system, _ = _system(client, db, work.env.department.id)
    other_dept_system, _ = _system(client, db, None)
    secret = service.register(db, system, "https://approvals.example.gov.cn/hooks", actor="cli").secret
    with pytest.raises(CaseInvalid) as refused:
        service.register(db, other_dept_system, "https://x.example/h", actor="cli")
    assert "未绑定部门" in refused.value.detail
    with pytest.raises(CaseInvalid):
        service.register(db, system, "ftp://approvals.example.gov.cn/hooks", actor="cli")
    db.flush()

    case_no = _apply(client, work)
    events = db.scalars(select(WebhookEvent).where(WebhookEvent.case_no == case_no)).all()
    assert [e.type for e in events] == ["case.submitted"]
    body = json.loads(events[0].body)
    assert body["schema_version"] == "1" and body["data"]["case_no"] == case_no and body["timestamp"]
    rows = db.scalars(select(WebhookDelivery).where(WebhookDelivery.event_seq == events[0].seq)).all()
    assert [(r.client_id, r.status) for r in rows] == [(system, "pending")]

    # The receiver fails once (500), then hangs (a timeout): two attempts, the back-off doubles.
    receiver = Receiver(secret, [500, httpx.ReadTimeout("hung")])
    before = utcnow()
    stats = dispatch.deliver_due(session_factory, client=receiver.client())
    assert (stats.delivered, stats.failed) == (0, 1)
    row = db.get(WebhookDelivery, rows[0].id)
    assert row is not None
    db.refresh(row)
    assert row.attempts == 1 and row.last_status_code == 500 and row.status == "pending"
    assert row.next_attempt_at >= before + dispatch.backoff(1)
    # Not due yet: nothing is sent.
    assert dispatch.deliver_due(session_factory, client=receiver.client()).attempted == 0
    _due_now(db)
    dispatch.deliver_due(session_factory, client=receiver.client())
    db.refresh(row)
    assert row.attempts == 2 and row.last_status_code is None and "ReadTimeout" in (row.last_error or "")
    assert dispatch.backoff(2) == 2 * dispatch.backoff(1)

    # After the last attempt the delivery is dead; replay puts it back and it goes out once more.
    three = Retry.of(RetrySettings(max_attempts=3))
    _due_now(db)
    assert (
        dispatch.deliver_due(session_factory, client=Receiver(secret, [503]).client(), retry=three).dead == 1
    )
    db.refresh(row)
    assert row.status == "dead" and row.attempts == 3
    assert [d.id for d in service.deliveries(db, status="dead")] == [row.id]
    assert service.replay(db, dead=True, actor="cli") == [row.id]
    db.flush()
    good = Receiver(secret, [])
    assert dispatch.deliver_due(session_factory, client=good.client()).delivered == 1
    db.refresh(row)
    assert row.status == "delivered" and row.delivered_at is not None
    assert good.ids == [events[0].msg_id] and good.received[0]["type"] == "case.submitted"
    attempts = db.scalar(
        select(func.count()).select_from(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id)
    )
    assert attempts == 4
    # Replay of one delivered delivery sends the same webhook-id again (receivers deduplicate on it).
    service.replay(db, delivery_id=row.id, actor="cli")
    db.flush()
    again = Receiver(secret, [])
    dispatch.deliver_due(session_factory, client=again.client())
    assert again.ids == [events[0].msg_id]


def test_a_rolled_back_transition_writes_no_event(client: Any, casework: Casework) -> None:
    work = casework
    db = work.session
    system, token = _system(client, db, work.env.department.id)
    service.register(db, system, "https://approvals.example.gov.cn/hooks", actor="cli")
    case_no = _apply(client, work)
    # A refused action (conclude before acceptance) changes nothing and sends nothing.
    refused = client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "deliver"},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert_envelope(refused, 409)
    types = db.scalars(select(WebhookEvent.type).where(WebhookEvent.case_no == case_no)).all()
    assert list(types) == ["case.submitted"]


def test_department_system_acts_idempotently_and_pulls_events(client: Any, casework: Casework) -> None:
    work = casework
    db = work.session
    system, token = _system(client, db, work.env.department.id)
    auth = {"Authorization": f"Bearer {token}"}
    case_no = _apply(client, work)

    feed = client.get("/api/v1/cases/events?after=0", headers=auth)
    assert feed.status_code == 200, feed.text
    mine = [e for e in feed.json()["events"] if e["data"]["case_no"] == case_no]
    assert [e["type"] for e in mine] == ["case.submitted"]
    cursor = feed.json()["next_cursor"]

    listed = client.get("/api/v1/department-systems/cases?status=submitted", headers=auth)
    assert case_no in [c["case_no"] for c in listed.json()["cases"]]
    assert client.get(f"/api/v1/department-systems/cases/{case_no}", headers=auth).status_code == 200

    headers = {**auth, "Idempotency-Key": "accept-1"}
    first = client.post(
        f"/api/v1/cases/{case_no}/actions", json={"action": "accept", "opinion": "受理"}, headers=headers
    )
    assert first.status_code == 200, first.text
    second = client.post(
        f"/api/v1/cases/{case_no}/actions", json={"action": "accept", "opinion": "受理"}, headers=headers
    )
    assert second.status_code == 200 and second.json() == first.json()
    history = db.scalars(select(CaseHistory).where(CaseHistory.action == "accept")).all()
    accepted = [h for h in history if h.actor == f"client:{system}"]
    assert len(accepted) == 1
    # The same key with another body is refused, not a second transition.
    reused = client.post(
        f"/api/v1/cases/{case_no}/actions", json={"action": "reject", "opinion": "x"}, headers=headers
    )
    assert_envelope(reused, 422, "idempotency_key_reused")
    assert second.headers.get("Idempotent-Replayed") == "true"

    later = client.get(f"/api/v1/cases/events?after={cursor}", headers=auth).json()["events"]
    assert [e["type"] for e in later] == ["case.accepted"] and later[0]["data"]["actor"] == f"client:{system}"

    # Another department's system does not see or touch the case; a token without the scope is refused.
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    other = orgs.add_department(db, DepartmentCreate(credit_code=government_credit_code("130000", 778), name="河北省水利厅", division_code="130000"))  # fmt: skip
    _, stranger = _system(client, db, other.id)
    far = {"Authorization": f"Bearer {stranger}"}
    assert_envelope(
        client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "deliver"}, headers=far), 404
    )
    assert_envelope(client.get(f"/api/v1/department-systems/cases/{case_no}", headers=far), 404)
    assert all(
        e["data"]["case_no"] != case_no
        for e in client.get("/api/v1/cases/events", headers=far).json()["events"]
    )
    _, unscoped = _system(client, db, work.env.department.id, scope="licenses.use")
    assert_envelope(client.get("/api/v1/cases/events", headers={"Authorization": f"Bearer {unscoped}"}), 403)
    assert_envelope(client.get("/api/v1/cases/events"), 401)


def test_backoff_is_capped() -> None:
    assert dispatch.backoff(1) == timedelta(seconds=5)
    assert dispatch.backoff(30) == timedelta(hours=1)


def test_the_retry_policy_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHENGWU_CASES__WEBHOOKS__MAX_ATTEMPTS", "3")
    monkeypatch.setenv("ZHENGWU_CASES__WEBHOOKS__BACKOFF_SECONDS", "2")
    monkeypatch.setenv("ZHENGWU_CASES__WEBHOOKS__BACKOFF_CAP_SECONDS", "7")
    monkeypatch.setenv("ZHENGWU_CASES__NOTICES__TIMEOUT_SECONDS", "1.5")
    settings = Settings()
    hooks, notices = Retry.of(settings.cases.webhooks), Retry.of(settings.cases.notices)
    assert [hooks.backoff(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 7]
    assert not hooks.gives_up(2) and hooks.gives_up(3)
    assert notices.timeout == 1.5 and notices.max_attempts == 6


def test_an_endpoint_receives_only_the_event_types_it_subscribed_to(client: Any, casework: Casework) -> None:
    work = casework
    db = work.session
    picky, token = _system(client, db, work.env.department.id)
    everything, _ = _system(client, db, work.env.department.id)
    with pytest.raises(CaseInvalid) as unknown:
        service.register(db, picky, "https://a.example.gov.cn/h", actor="cli", event_types=["case.nothing"])
    assert (
        unknown.value.instance_code == "cases.webhook_event_types" and "case.nothing" in unknown.value.detail
    )
    with pytest.raises(CaseInvalid):
        service.register(db, picky, "https://a.example.gov.cn/h", actor="cli", event_types=[])
    done = service.register(db, picky, "https://a.example.gov.cn/h", actor="cli",
                            event_types=["case.accepted", "case.accepted", "case.concluded"])  # fmt: skip
    assert done.endpoint.event_types == ["case.accepted", "case.concluded"]
    service.register(db, everything, "https://b.example.gov.cn/h", actor="cli")
    db.flush()

    case_no = _apply(client, work)
    accepted = client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "accept", "opinion": "受理"},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert accepted.status_code == 200, accepted.text
    sent = db.execute(
        select(WebhookDelivery.client_id, WebhookEvent.type)
        .join(WebhookEvent, WebhookEvent.seq == WebhookDelivery.event_seq)
        .where(WebhookEvent.case_no == case_no)
    ).all()
    assert sorted(sent) == sorted([(everything, "case.submitted"), (everything, "case.accepted"),
                                   (picky, "case.accepted")])  # fmt: skip
    # The pull feed is not narrowed: it is the department's whole history.
    feed = client.get("/api/v1/cases/events", headers={"Authorization": f"Bearer {token}"}).json()["events"]
    assert [e["type"] for e in feed if e["data"]["case_no"] == case_no] == ["case.submitted", "case.accepted"]
    # Registering again without types subscribes to everything again.
    assert service.register(db, picky, "https://a.example.gov.cn/h", actor="cli").endpoint.event_types is None


def test_departments_asked_for_a_joint_opinion_hear_of_the_case_from_the_ask(
    client: Any, casework: Casework
) -> None:
    """联办: the asked department's system gets the case's events from the ask onward (push and pull),
    reads the case narrowed to its opinion, gives it, and a department not asked hears nothing."""
    from catalog_kit import make_department

    work = casework
    db = work.session
    fire = make_department(db, "130000", "河北省消防救援总队", 71)
    bystander = make_department(db, "130000", "河北省交通运输厅", 72)
    handler, handler_token = _system(client, db, work.env.department.id)
    fire_system, fire_token = _system(client, db, fire.id)
    far_system, far_token = _system(client, db, bystander.id)
    for system in (handler, fire_system, far_system):
        service.register(db, system, f"https://{system}.example.gov.cn/h", actor="cli")
    db.flush()
    case_no = _apply(client, work)
    act = f"/api/v1/cases/{case_no}/actions"
    own = {"Authorization": f"Bearer {handler_token}"}
    fire_auth = {"Authorization": f"Bearer {fire_token}"}
    assert client.get(f"/api/v1/department-systems/cases/{case_no}", headers=fire_auth).status_code == 404
    assert client.post(act, json={"action": "accept"}, headers=own).status_code == 200
    asked = client.post(act, json={"action": "request_opinions", "opinion": "请出具消防意见",
                                   "departments": [fire.credit_code]}, headers=own)  # fmt: skip
    assert asked.status_code == 200, asked.text

    seen = client.get(f"/api/v1/department-systems/cases/{case_no}", headers=fire_auth)
    assert seen.status_code == 200, seen.text
    assert seen.json()["form"] == {} and seen.json()["history"] == []
    assert seen.json()["allowed_actions"] == ["give_opinion"]
    given = client.post(act, json={"action": "give_opinion", "verdict": "agree", "opinion": "符合消防要求",
                                   "department": fire.credit_code}, headers=fire_auth)  # fmt: skip
    assert given.status_code == 200 and given.json()["status"] == "in_process", given.text

    def pushed(system: str) -> list[str]:
        return list(
            db.scalars(
                select(WebhookEvent.type)
                .join(WebhookDelivery, WebhookDelivery.event_seq == WebhookEvent.seq)
                .where(WebhookEvent.case_no == case_no, WebhookDelivery.client_id == system)
                .order_by(WebhookEvent.seq)
            )
        )

    assert pushed(handler) == [
        "case.submitted",
        "case.accepted",
        "case.opinions_requested",
        "case.opinion_given",
    ]
    assert pushed(fire_system) == ["case.opinions_requested", "case.opinion_given"]
    assert pushed(far_system) == []
    feed = client.get("/api/v1/cases/events", headers=fire_auth).json()["events"]
    assert [e["type"] for e in feed if e["data"]["case_no"] == case_no] == pushed(fire_system)
    far = client.get("/api/v1/cases/events", headers={"Authorization": f"Bearer {far_token}"}).json()
    assert all(e["data"]["case_no"] != case_no for e in far["events"])
    assert_envelope(
        client.get(
            f"/api/v1/department-systems/cases/{case_no}", headers={"Authorization": f"Bearer {far_token}"}
        ),
        404,
    )


def test_a_system_concludes_with_a_license_only_with_the_issue_scope(client: Any, casework: Casework) -> None:
    from cases_kit import WORKER_FACE, WORKER_TYPE

    work = casework
    db = work.session
    _, handle_only = _system(client, db, work.env.department.id)
    _, issuer = _system(client, db, work.env.department.id, scope="cases.handle licenses.issue")
    case_no = _apply(client, work)
    plain = {"Authorization": f"Bearer {handle_only}"}
    assert (
        client.post(f"/api/v1/cases/{case_no}/actions", json={"action": "accept"}, headers=plain).status_code
        == 200
    )
    with_license = {
        "action": "conclude", "outcome": "approved", "result_kind": "license", "opinion": "准予许可",
        "license_type_code": work.env.type_code(WORKER_TYPE), "license_face": WORKER_FACE,
    }  # fmt: skip
    refused = client.post(f"/api/v1/cases/{case_no}/actions", json=with_license, headers=plain)
    problem = assert_envelope(refused, 403, "cases.issue_scope_required")
    assert "licenses.issue" in problem["detail"] and "不能以证照结果办结" in problem["detail"]
    assert (
        client.get(f"/api/v1/department-systems/cases/{case_no}", headers=plain).json()["status"]
        == "accepted"
    )
    # Other conclusions need no more than cases.handle; the license one goes through with the scope.
    done = client.post(f"/api/v1/cases/{case_no}/actions", json=with_license,
                       headers={"Authorization": f"Bearer {issuer}"})  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["result"]["license_number"] == WORKER_FACE["certificate_no"]
    other = _apply(client, work)
    assert (
        client.post(f"/api/v1/cases/{other}/actions", json={"action": "accept"}, headers=plain).status_code
        == 200
    )
    refusal = {"action": "conclude", "outcome": "refused", "result_kind": "none", "opinion": "不符合条件"}
    assert client.post(f"/api/v1/cases/{other}/actions", json=refusal, headers=plain).status_code == 200


class _Steered:
    """A transport that answers 200 and, before answering, runs the test's hook for the n-th POST (moving
    the clocks, letting another worker's round run)."""

    def __init__(self, hooks: dict[int, Any] | None = None) -> None:
        self.hooks = hooks or {}
        self.sent: list[str] = []

    def post(self, url: str, body: bytes, headers: Any) -> int:
        self.sent.append(headers["webhook-id"])
        hook = self.hooks.get(len(self.sent))
        if hook is not None:
            hook()
        return 200

    def close(self) -> None:
        pass


def _attempts_of(db: Session, ids: list[str]) -> dict[str, int]:
    rows = db.execute(
        select(WebhookAttempt.delivery_id, func.count())
        .where(WebhookAttempt.delivery_id.in_(ids))
        .group_by(WebhookAttempt.delivery_id)
    ).all()
    return {str(k): int(n) for k, n in rows}


def test_a_round_renews_its_lease_and_a_round_that_lost_it_neither_sends_nor_records(
    client: Any, casework: Casework, session_factory: sessionmaker[Session]
) -> None:
    from zhengwu.kernel.clock import set_clock

    work = casework
    db = work.session
    system, _ = _system(client, db, work.env.department.id)
    service.register(db, system, "https://approvals.example.gov.cn/hooks", actor="cli")
    db.flush()
    for _ in range(3):
        _apply(client, work)
    ids = [d.id for d in db.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at))]
    assert len(ids) == 3
    _due_now(db)

    # Both clocks are the test's: the wall clock (lease ends, due times) and the round's monotonic one.
    base = utcnow()
    moved = [0.0]
    set_clock(lambda: base + timedelta(seconds=moved[0]))
    clock = lambda: moved[0]  # noqa: E731

    def later(seconds: float) -> None:
        moved[0] += seconds

    try:
        # 1. Every send takes 40 s: before its second and third send the round renews the lease of the
        #    rows it has not sent, so another worker 80 s in (past the first lease's 60 s) finds nothing due.
        other = _Steered()
        rival: list[dispatch.DispatchStats] = []
        slow = _Steered(
            {
                1: lambda: later(40),
                2: lambda: (later(40), rival.append(dispatch.deliver_due(session_factory, transport=other))),
                3: lambda: later(40),
            }
        )
        stats = dispatch.deliver_due(session_factory, transport=slow, parallel=1, clock=clock)
        assert stats.delivered == 3 and rival[0].attempted == 0 and other.sent == []
        assert len(set(slow.sent)) == 3
        assert _attempts_of(db, ids) == dict.fromkeys(ids, 1)
        rows = db.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))).all()
        for row in rows:
            db.refresh(row)
        assert {(r.status, r.lease) for r in rows} == {("delivered", None)}

        # 2. The round stalls 61 s in its first send (its lease runs out) and another worker takes all
        #    three over and delivers them. The stale round then sends nothing more and records nothing:
        #    only the send already on the wire went twice (receivers drop a webhook-id seen before).
        for delivery_id in ids:
            service.replay(db, delivery_id=delivery_id, actor="cli")
        db.flush()
        _due_now(db)
        takeover = _Steered()
        taken: list[dispatch.DispatchStats] = []
        stalled = _Steered(
            {1: lambda: (later(61), taken.append(dispatch.deliver_due(session_factory, transport=takeover)))}
        )
        stale = dispatch.deliver_due(session_factory, transport=stalled, parallel=1, clock=clock)
        assert taken[0].delivered == 3 and len(set(takeover.sent)) == 3
        assert len(stalled.sent) == 1 and stale.attempted == 0
        assert _attempts_of(db, ids) == dict.fromkeys(ids, 2)  # the first round's and the takeover's
        for row in rows:
            db.refresh(row)
        # (a replay starts the count afresh: one attempt, the takeover's)
        assert {(r.status, r.attempts, r.lease) for r in rows} == {("delivered", 1, None)}
    finally:
        set_clock(None)
