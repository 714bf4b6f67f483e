"""Notices to the applicant go through the outbox: the transition's transaction only queues them, the
worker's round sends them after the commit, retries a failing or hanging gateway under the configured
policy, and gives up (dead) after the last attempt — the case never notices."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select, update

from cases_kit import Casework, login
from seals_kit import assert_envelope
from zhengwu.cases.models import Case, CaseNotice
from zhengwu.cases.notify import deliver_notices
from zhengwu.cases.retry import Retry
from zhengwu.identity.notifier import DeliveryFailed, Message
from zhengwu.identity.servicekeys import NOTIFIER
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import RetrySettings
from zhengwu.kernel.node import node_of
from zhengwu.seed.synthetic import nth_phone

API = "/api/v1/cases"


class Gateway:
    """A notifier that fails ("fail") or hangs until released ("hang") on every message whose body holds
    ``words``, and sends the others."""

    def __init__(self, step: str, words: str = "已提交") -> None:
        self.step, self.words = step, words
        self.sent: list[Message] = []
        self.calls = 0
        self.release = threading.Event()

    def send(self, message: Message) -> str:
        self.calls += 1
        step = self.step if self.words in message.body else "ok"
        if step == "fail":
            raise DeliveryFailed("gateway down")
        if step == "hang":
            self.release.wait(10)
            raise DeliveryFailed("gateway gave up")
        self.sent.append(message)
        return str(len(self.sent))


def _notices(session: Any, case_no: str) -> list[CaseNotice]:
    case = session.scalars(select(Case).where(Case.case_no == case_no)).one()
    session.expire_all()
    return list(session.scalars(select(CaseNotice).where(CaseNotice.case_id == case.id)))


def _due_now(session: Any) -> None:
    session.execute(update(CaseNotice).where(CaseNotice.status == "pending").values(next_attempt_at=utcnow()))
    session.commit()


def test_a_failing_gateway_never_touches_the_transition(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    node = node_of(client.app)
    gateway = Gateway("fail")
    node.services.replace(NOTIFIER, gateway)
    login(client, work.citizen_token)
    made = client.post(API, json=work.body())
    assert made.status_code == 201, made.text
    case_no = made.json()["case_no"]
    # The request sent nothing; the notice waits, with the phone number nowhere in its row.
    assert gateway.calls == 0
    (queued,) = _notices(db, case_no)
    assert queued.status == "pending" and case_no in queued.body and queued.account_id == work.citizen.id
    db.commit()

    retry = Retry.of(RetrySettings(max_attempts=2, backoff_seconds=60, timeout_seconds=2))
    before = utcnow()
    stats = deliver_notices(node.session_factory, retry=retry)
    assert (stats.sent, stats.failed, stats.dead) == (0, 1, 0)
    (row,) = _notices(db, case_no)
    assert row.status == "pending" and row.attempts == 1 and "gateway down" in (row.last_error or "")
    assert row.next_attempt_at >= before + retry.backoff(1)
    assert deliver_notices(node.session_factory, retry=retry).attempted == 0  # not due yet
    # Handling goes on meanwhile: the staff's acceptance commits and queues its own notice.
    login(client, work.handler_token)
    accepted = client.post(f"{API}/{case_no}/actions", json={"action": "accept"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    _due_now(db)
    stats = deliver_notices(node.session_factory, retry=retry)
    assert (stats.sent, stats.dead) == (1, 1)  # the submission notice's second failure was its last
    statuses = sorted((n.status, n.attempts) for n in _notices(db, case_no))
    assert statuses == [("dead", 2), ("sent", 1)]
    assert gateway.sent[0].to == nth_phone(4242)  # read from the account at sending time
    assert "已受理" in gateway.sent[0].body and gateway.sent[0].subject == "办件进度"


def test_a_hanging_gateway_costs_one_timeout_and_is_retried(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    node = node_of(client.app)
    gateway = Gateway("hang")
    node.services.replace(NOTIFIER, gateway)
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    db.commit()
    try:
        retry = Retry.of(RetrySettings(max_attempts=3, backoff_seconds=1, timeout_seconds=0.2))
        stats = deliver_notices(node.session_factory, retry=retry)
        assert stats.failed == 1
        (row,) = _notices(db, case_no)
        assert row.status == "pending" and "发送超时" in (row.last_error or "")
    finally:
        gateway.release.set()
    gateway.step = "ok"
    _due_now(db)
    assert deliver_notices(node.session_factory, retry=retry).sent == 1
    assert [n.status for n in _notices(db, case_no)] == ["sent"]


def test_a_refused_action_queues_no_notice(client: Any, casework: Casework) -> None:
    work, db = casework, casework.session
    login(client, work.citizen_token)
    case_no = client.post(API, json=work.body()).json()["case_no"]
    login(client, work.handler_token)
    assert_envelope(client.post(f"{API}/{case_no}/actions", json={"action": "deliver"}), 409)
    assert len(_notices(db, case_no)) == 1  # the submission's only
