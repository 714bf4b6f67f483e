"""The applicant's personal data as handling staff see it: masked, and revealed only on request.

A reveal goes through identity's read audit for the account's ID number (``reveal_citizen_id``: an
``pii_read`` authentication event, and a read the person can list in “谁查看了我的信息”) and leaves a
``case.reveal`` change on the case, so the case's own trail says who looked and why.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.cases import topics
from zhengwu.cases.models import Case
from zhengwu.identity import service as identity
from zhengwu.identity.audit import NO_META, RequestMeta
from zhengwu.identity.context import of
from zhengwu.identity.protection import decrypt_field, mask_id, mask_phone

#: The form field the applicant's contact phone is typed in (the portal's application form).
PHONE_FIELD: Final = "phone"


def _number(session: Session, case: Case) -> str | None:
    if case.applicant_code_enc is None:
        return None
    return decrypt_field(of(session).keys, case.applicant_code_enc, purpose=topics.APPLICANT_PURPOSE)


def masked(session: Session, case: Case) -> dict[str, str | None]:
    """The applicant's ID number and contact phone, masked (what a staff page shows by default)."""
    number = _number(session, case)
    phone = str((case.form or {}).get(PHONE_FIELD) or "")
    return {"id_number": mask_id(number) if number else None, "phone": mask_phone(phone) if phone else None}


def reveal(
    session: Session, case: Case, *, reader: str, purpose: str, meta: RequestMeta = NO_META
) -> dict[str, str | None]:
    """The applicant's ID number and contact phone in clear, the read recorded (identity's read audit
    for the account's number, a ``case.reveal`` change on the case)."""
    account = identity.get_account(session, case.applicant_account_id)
    # For an enterprise the filing account is the agent: the applicant's number is the credit code.
    if case.applicant_entity_id is None and account is not None and account.citizen_id_enc is not None:
        number: str | None = identity.reveal_citizen_id(
            session, account, reader=reader, purpose=purpose, meta=meta
        )
    else:
        number = _number(session, case)
    phone = str((case.form or {}).get(PHONE_FIELD) or "") or None
    record_change(session, actor=reader, action="case.reveal", entity="cases.case", entity_id=case.case_no or case.id,
                  department_id=case.department_id,
                  after={"fields": [f for f, v in (("id_number", number), ("phone", phone)) if v],
                         "purpose": purpose[:200]})  # fmt: skip
    return {"id_number": number, "phone": phone}
