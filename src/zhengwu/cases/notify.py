"""Telling the applicant (the identity notifier, SMS to the account's verified phone) when their case is
submitted, accepted or not, sent back for a supplement, or concluded.

The case events' subscriber (``cases.wiring.subscribe``) only queues a ``cases_notice`` row in the
transition's transaction; the worker sends it after the commit (``deliver_notices``), with retries under
``ZHENGWU_CASES__NOTICES__*``. So a slow or failing gateway never holds the transition's transaction or
undoes it, and a rolled-back transition tells nobody anything.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.cases import machine
from zhengwu.cases.events import CaseEvent
from zhengwu.cases.models import CaseNotice
from zhengwu.cases.repository import CaseRepository
from zhengwu.cases.retry import Retry
from zhengwu.identity.context import of
from zhengwu.identity.models import Account
from zhengwu.identity.notifier import Message, Notifier
from zhengwu.identity.protection import decrypt_field
from zhengwu.identity.service import PURPOSE_PHONE
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import NoticeRetrySettings
from zhengwu.kernel.db import new_ordered_id
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_in

log = get_logger("zhengwu.cases")

#: Which statuses the applicant hears about, and the words (no personal data, no internal codes).
TOLD: Final = {
    machine.SUBMITTED: "您申办的“{task}”已提交，办件编号{no}。",
    machine.ACCEPTED: "您申办的“{task}”（办件编号{no}）已受理。",
    machine.NOT_ACCEPTED: "您申办的“{task}”（办件编号{no}）不予受理，请登录查看原因。",
    machine.SUPPLEMENT: "您申办的“{task}”（办件编号{no}）需要补正材料，请登录查看并补正。",
    machine.CONCLUDED: "您申办的“{task}”（办件编号{no}）已办结，请登录查看结果并评价。",
}
SUBJECT: Final = "办件进度"
DEFAULT_RETRY: Final = Retry.of(NoticeRetrySettings())
#: A claimed notice is not due again before this (another worker leaves it alone meanwhile).
LEASE: Final = timedelta(seconds=120)


def queue_notice(session: Session, event: CaseEvent) -> CaseNotice | None:
    """Queue the notice for ``event`` if its status is one the applicant hears about (in the caller's
    transaction); None when there is nothing to tell or nobody to tell it to."""
    text = TOLD.get(event.status)
    # The applicant's own resubmission and other departments' opinions are no news to the applicant.
    if text is None or getattr(event, "action", None) in ("supplement", "give_opinion"):
        return None
    case = CaseRepository(session).by_id(event.case_id)
    account = session.get(Account, case.applicant_account_id) if case is not None else None
    if case is None or account is None or account.phone_enc is None:
        return None
    notice = CaseNotice(
        id=new_ordered_id(),  # oldest first within a second: the time columns hold whole seconds
        case_id=case.id,
        account_id=account.id,
        channel="sms",
        subject=SUBJECT,
        body=text.format(task=case.task_name[:40], no=case.case_no),
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(notice)
    return notice


@dataclass
class NoticeStats:
    """What one round did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    dropped: int = 0  # the account has no phone any more

    @property
    def attempted(self) -> int:
        """Notices taken up this round."""
        return self.sent + self.failed + self.dead + self.dropped


def _claim(factory: sessionmaker[Session], limit: int) -> tuple[Notifier | None, dict[str, Message], int]:
    """Lease the due notices and resolve their phone numbers; the notifier, the messages by notice id and
    how many were dropped (no phone any more)."""
    now = utcnow()
    messages: dict[str, Message] = {}
    dropped = 0
    with factory() as db:
        rows = list(
            db.scalars(
                select(CaseNotice)
                .where(CaseNotice.status == "pending", CaseNotice.next_attempt_at <= now)
                .order_by(CaseNotice.next_attempt_at, CaseNotice.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return None, {}, 0
        from zhengwu.identity.servicekeys import NOTIFIER

        node = node_in(db)
        keys = of(db).keys
        for row in rows:
            account = db.get(Account, row.account_id)
            if account is None or account.phone_enc is None:
                row.status, row.last_error = "dropped", "账户未绑定手机号"
                dropped += 1
                continue
            row.next_attempt_at = now + LEASE
            phone = decrypt_field(keys, account.phone_enc, purpose=PURPOSE_PHONE)
            messages[row.id] = Message(channel=row.channel, to=phone, subject=row.subject, body=row.body)
        db.commit()
        return node.services.provide(NOTIFIER), messages, dropped


def _send_in_order(
    notifier: Notifier, items: list[tuple[str, Message]], outcomes: dict[str, str | None]
) -> None:
    """Send one destination's notices one after another, oldest first: a person hears of acceptance before
    conclusion. A failed one is retried after its back-off and does not hold back the later ones."""
    for notice_id, message in items:
        try:
            notifier.send(message)
        except Exception as exc:  # a gateway's failure of any kind is retried, never lost
            outcomes[notice_id] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        outcomes[notice_id] = None


def _send_all(notifier: Notifier, messages: dict[str, Message], timeout: float) -> dict[str, str | None]:
    """Each attempted notice's error (None: sent). Destinations are served side by side, each in order. A
    send that outlasts ``timeout`` counts as failed; its thread is left to finish on its own so one hung
    gateway call never holds the round."""
    groups: dict[str, list[tuple[str, Message]]] = {}
    for notice_id, message in messages.items():
        groups.setdefault(f"{message.channel}:{message.to}", []).append((notice_id, message))
    outcomes: dict[str, str | None] = {}
    pool = ThreadPoolExecutor(max_workers=min(4, len(groups)), thread_name_prefix="case-notice")
    try:
        futures = [
            (items, pool.submit(_send_in_order, notifier, items, outcomes)) for items in groups.values()
        ]
        deadline = time.monotonic() + timeout
        for items, future in futures:
            with contextlib.suppress(FutureTimeout):  # judged per notice below
                future.result(timeout=max(0.0, deadline - time.monotonic()) + timeout * (len(items) - 1))
            for notice_id, _message in items:
                if notice_id in outcomes:
                    continue
                outcomes[notice_id] = f"发送超时（{timeout:g}秒）"
                break  # the hung one; the ones after it were never tried and wait for the next round
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return dict(outcomes)


def deliver_notices(
    factory: sessionmaker[Session],
    *,
    retry: Retry = DEFAULT_RETRY,
    limit: int = 100,
    notifier: Notifier | None = None,
) -> NoticeStats:
    """One worker round: send up to ``limit`` due notices outside any transaction, then record each
    outcome (sent; failed and due again after the back-off; dead after the last attempt)."""
    node_notifier, messages, dropped = _claim(factory, limit)
    stats = NoticeStats(dropped=dropped)
    if not messages:
        return stats
    sender = notifier or node_notifier
    if sender is None:  # pragma: no cover - _claim names the node's notifier whenever it found work
        raise RuntimeError("no notifier")
    outcomes = _send_all(sender, messages, retry.timeout)
    now = utcnow()
    with factory() as db:
        for row in db.scalars(select(CaseNotice).where(CaseNotice.id.in_(list(outcomes)))):
            error = outcomes[row.id]
            row.attempts += 1
            row.last_error = error
            if error is None:
                row.status, row.sent_at = "sent", now
                stats.sent += 1
            elif retry.gives_up(row.attempts):
                row.status = "dead"
                stats.dead += 1
                log.warning("case_notice_dead", notice_id=row.id, attempts=row.attempts)
            else:
                row.next_attempt_at = now + retry.backoff(row.attempts)
                stats.failed += 1
                log.info("case_notice_failed", notice_id=row.id, attempts=row.attempts)
        db.commit()
    return stats
