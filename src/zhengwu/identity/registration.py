"""Registration answered uniformly: the answer never tells whether an ID number, credit code or phone is taken.

A well-formed registration is always "accepted" (ADR 0014). A new account is created and can log in at
once; when the ID number (or credit code) already has an account, or the mobile number is bound to
another one, nothing is created and whoever holds the existing account's phone (or that mobile number)
is told by the notifier, so only its owner learns it. Malformed fields are still refused field by field:
that depends on the input alone, not on who is registered. Both paths spend one password hash.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity import service
from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.errors import AccountExists, PhoneInUse
from zhengwu.identity.models import Account, AccountKind
from zhengwu.identity.normalize import normalize_phone
from zhengwu.identity.notifier import DeliveryFailed, Message, Notifier
from zhengwu.identity.protection import decrypt_field
from zhengwu.kernel.codes import validate_citizen_id, validate_uscc
from zhengwu.kernel.logging import get_logger

log = get_logger("zhengwu.identity.registration")

ACCEPTED: Final = (
    "注册申请已受理。如该证件号码此前未注册，现在即可用证件号码或手机号码和密码登录；"
    "如已注册，账号持有人将收到短信提醒，请直接登录或通过“找回密码”重置密码。"
)
ACCEPTED_LEGAL: Final = (
    "注册申请已受理。如该统一社会信用代码此前未注册，现在即可用统一社会信用代码和密码登录；"
    "如已注册，账号预留的手机号将收到短信提醒，请直接登录或找回密码。"
)
_ID_TAKEN: Final = (
    "有人使用您的身份证号码申请注册政务服务账号。您已有账号，未创建新账号；如忘记密码，可通过“找回密码”重置。"
    "如非本人操作，请留意账号安全。"
)
_PHONE_TAKEN: Final = (
    "有人使用本手机号码申请注册政务服务账号。本号码已绑定其他账号，未创建新账号；"
    "如需用本号码注册，请先登录原账号更换手机号码。如非本人操作，请忽略。"
)
_CREDIT_TAKEN: Final = (
    "有人使用贵单位的统一社会信用代码申请注册法人账号。贵单位已有账号，未创建新账号；"
    "如忘记密码，可通过“找回密码”重置。"
)


def _tell(
    db: Session, notifier: Notifier, to: str | None, body: str, account_id: str | None, meta: RequestMeta
) -> None:
    """Send the notice; a failure is audited and logged but never changes the answer."""
    delivered = False
    if to:
        try:
            notifier.send(Message(channel="sms", to=to, subject="注册提醒", body=body))
            delivered = True
        except DeliveryFailed:
            log.warning("registration_notice_failed", account_id=account_id)
    record_auth_event(
        db, "registration_notice", success=delivered, account_id=account_id, meta=meta,
        detail={"channel": "sms" if to else None},
    )  # fmt: skip


def _phone_of(db: Session, account: Account | None) -> str | None:
    if account is None or account.phone_enc is None:
        return None
    return decrypt_field(of(db).keys, account.phone_enc, purpose=service.PURPOSE_PHONE)


def register_natural(
    db: Session,
    notifier: Notifier,
    *,
    name: str,
    id_number: str,
    phone: str,
    password: str,
    email: str | None = None,
    meta: RequestMeta = NO_META,
) -> Account | None:
    """Register a natural person; None (after telling the owner) when the ID number or phone is taken."""
    try:
        return service.register_natural_person(
            db, name=name, id_number=id_number, phone=phone, password=password, email=email, meta=meta
        )
    except AccountExists:
        of(db).passwords.burn_time(password)  # as long as the hash of a new account
        owner = service.find_account_by_citizen_id(db, validate_citizen_id(id_number).value)
        _tell(db, notifier, _phone_of(db, owner), _ID_TAKEN, owner.id if owner else None, meta)
    except PhoneInUse:
        of(db).passwords.burn_time(password)
        _tell(db, notifier, normalize_phone(phone), _PHONE_TAKEN, None, meta)
    return None


def register_legal(
    db: Session,
    notifier: Notifier,
    *,
    credit_code: str,
    name: str,
    legal_rep_name: str,
    password: str,
    phone: str | None = None,
    corp_type: str = "1",
    agent: Account | None = None,
    meta: RequestMeta = NO_META,
) -> Account | None:
    """Register an enterprise's account; None (after telling the account's phone) when it exists."""
    try:
        return service.register_legal_person(
            db,
            credit_code=credit_code,
            name=name,
            legal_rep_name=legal_rep_name,
            password=password,
            phone=phone,
            corp_type=corp_type,
            agent=agent,
            meta=meta,
        )
    except AccountExists:
        of(db).passwords.burn_time(password)
        entity = service.find_legal_entity(db, validate_uscc(credit_code).value)
        owner = (
            db.scalar(
                select(Account).where(Account.kind == AccountKind.LEGAL, Account.legal_entity_id == entity.id)
            )
            if entity is not None
            else None
        )
        _tell(db, notifier, _phone_of(db, owner), _CREDIT_TAKEN, owner.id if owner else None, meta)
    return None
