"""Password reset through a verified channel: a short-lived code sent by the notifier."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.context import of
from zhengwu.identity.errors import InvalidResetCode, NotificationFailed
from zhengwu.identity.models import Account, PasswordReset
from zhengwu.identity.notifier import DeliveryFailed, Message, Notifier
from zhengwu.identity.protection import decrypt_field, token_mac
from zhengwu.identity.service import (
    PURPOSE_PHONE,
    FieldProblem,
    change_password,
    check_password_policy,
    login_subject,
    registration_failure,
    resolve_identifier,
)
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.events import EventBus

CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
# At most this many codes per account per hour (an SMS bomb is also an attack).
MAX_CODES_PER_HOUR = 5


def _code_hash(db: Session, reset_id: str, code: str) -> str:
    return token_mac(of(db).keys, f"{reset_id}:{code}", purpose="reset")


def request_reset(
    db: Session, identifier: str, *, notifier: Notifier, meta: RequestMeta = NO_META
) -> PasswordReset | None:
    """Send a 6-digit code to the account's verified phone (or e-mail); None when nothing could be sent.

    The caller answers the same way whether or not the account exists (no account enumeration).
    """
    account = resolve_identifier(db, identifier)
    subject = login_subject(of(db).keys, identifier)
    if account is None:
        record_auth_event(
            db,
            "reset_request",
            success=False,
            subject_index=subject,
            meta=meta,
            detail={"reason": "unknown_account"},
        )
        return None
    now = utcnow()
    recent = db.scalars(
        select(PasswordReset.id).where(
            PasswordReset.account_id == account.id, PasswordReset.created_at >= now - timedelta(hours=1)
        )
    ).all()
    if len(recent) >= MAX_CODES_PER_HOUR:
        record_auth_event(
            db,
            "reset_request",
            success=False,
            account_id=account.id,
            meta=meta,
            detail={"reason": "too_many"},
        )
        return None
    if account.phone_enc is not None:
        channel, to = "sms", decrypt_field(of(db).keys, account.phone_enc, purpose=PURPOSE_PHONE)
    elif account.email:
        channel, to = "email", account.email
    else:
        record_auth_event(
            db,
            "reset_request",
            success=False,
            account_id=account.id,
            meta=meta,
            detail={"reason": "no_channel"},
        )
        return None
    code = f"{secrets.randbelow(1_000_000):06d}"
    reset = PasswordReset(
        account_id=account.id, code_hash="", channel=channel, expires_at=now + CODE_TTL, created_at=now
    )
    db.add(reset)
    db.flush()
    reset.code_hash = _code_hash(db, reset.id, code)
    body = f"您正在重置河北政务服务账号密码，验证码 {code}，{int(CODE_TTL.total_seconds() // 60)}分钟内有效。如非本人操作请忽略。"
    try:
        notifier.send(Message(channel=channel, to=to, subject="密码重置验证码", body=body))
    except DeliveryFailed as exc:
        db.delete(reset)
        record_auth_event(
            db,
            "reset_request",
            success=False,
            account_id=account.id,
            meta=meta,
            detail={"reason": "delivery_failed"},
        )
        db.flush()
        raise NotificationFailed() from exc
    record_auth_event(
        db, "reset_request", success=True, account_id=account.id, meta=meta, detail={"channel": channel}
    )
    db.flush()
    return reset


def confirm_reset(
    db: Session,
    identifier: str,
    code: str,
    new_password: str,
    *,
    bus: EventBus | None = None,
    meta: RequestMeta = NO_META,
) -> Account:
    """Set a new password with a valid code; ends every session of the account."""
    problems: list[FieldProblem] = []
    check_password_policy(new_password, problems)
    if problems:
        raise registration_failure(db, problems, meta, "reset_confirm")
    account = resolve_identifier(db, identifier)
    if account is None:
        record_auth_event(
            db,
            "reset_confirm",
            success=False,
            subject_index=login_subject(of(db).keys, identifier),
            meta=meta,
            detail={"reason": "unknown_account"},
        )
        raise InvalidResetCode()
    now = utcnow()
    reset = db.scalars(
        select(PasswordReset)
        .where(
            PasswordReset.account_id == account.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .order_by(PasswordReset.created_at.desc())
        .limit(1)
    ).first()
    digits = "".join(code.split())
    if reset is None or reset.attempts >= MAX_ATTEMPTS:
        record_auth_event(
            db,
            "reset_confirm",
            success=False,
            account_id=account.id,
            meta=meta,
            detail={"reason": "no_valid_code"},
        )
        raise InvalidResetCode()
    if not secrets.compare_digest(reset.code_hash, _code_hash(db, reset.id, digits)):
        reset.attempts += 1
        record_auth_event(
            db,
            "reset_confirm",
            success=False,
            account_id=account.id,
            meta=meta,
            detail={"reason": "bad_code", "attempts": reset.attempts},
        )
        db.flush()
        raise InvalidResetCode()
    reset.used_at = now
    record_auth_event(
        db, "reset_confirm", success=True, account_id=account.id, meta=meta, detail={"channel": reset.channel}
    )
    change_password(db, account, new_password, bus=bus, meta=meta)
    return account
