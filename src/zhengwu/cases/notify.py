"""Telling the applicant (the identity notifier, SMS to the account's verified phone) when their case is
submitted, accepted or not, sent back for a supplement, or concluded. Subscribed to the case events in
``cases.wiring.subscribe``; a failed delivery is logged and never undoes the transition (the case's
status, which the applicant sees online, is the truth)."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from zhengwu.cases import machine
from zhengwu.cases.events import CaseEvent
from zhengwu.cases.repository import CaseRepository
from zhengwu.identity.context import of
from zhengwu.identity.models import Account
from zhengwu.identity.notifier import DeliveryFailed, Message, Notifier
from zhengwu.identity.protection import decrypt_field
from zhengwu.identity.service import PURPOSE_PHONE
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.cases")

#: Which statuses the applicant hears about, and the words (no personal data, no internal codes).
TOLD: Final = {
    machine.SUBMITTED: "您申办的“{task}”已提交，办件编号{no}。",
    machine.ACCEPTED: "您申办的“{task}”（办件编号{no}）已受理。",
    machine.NOT_ACCEPTED: "您申办的“{task}”（办件编号{no}）不予受理，请登录查看原因。",
    machine.SUPPLEMENT: "您申办的“{task}”（办件编号{no}）需要补正材料，请登录查看并补正。",
    machine.CONCLUDED: "您申办的“{task}”（办件编号{no}）已办结，请登录查看结果并评价。",
}


def tell_applicant(notifier: Notifier, session: Session, event: CaseEvent) -> bool:
    """Send the notice for ``event`` if its status is one the applicant hears about; whether it was sent."""
    text = TOLD.get(event.status)
    # The applicant's own resubmission and other departments' opinions are no news to the applicant.
    if text is None or getattr(event, "action", None) in ("supplement", "give_opinion"):
        return False
    case = CaseRepository(session).by_id(event.case_id)
    account = session.get(Account, case.applicant_account_id) if case is not None else None
    if case is None or account is None or account.phone_enc is None:
        return False
    phone = decrypt_field(of(session).keys, account.phone_enc, purpose=PURPOSE_PHONE)
    body = text.format(task=case.task_name[:40], no=case.case_no)
    try:
        notifier.send(Message(channel="sms", to=phone, subject="办件进度", body=body))
    except DeliveryFailed:
        log.warning("case_notice_failed", case_id=case.id, status=event.status)
        return False
    return True
