"""TOTP second factor (RFC 6238, pyotp) with one-time recovery codes."""

from __future__ import annotations

import secrets

import pyotp
from sqlalchemy import update
from sqlalchemy.orm import Session

from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.context import IdentityKeys, of
from zhengwu.identity.errors import AccountLocked, InvalidOtp, MfaRequired
from zhengwu.identity.models import Account, UserSession
from zhengwu.identity.protection import decrypt_field, encrypt_field, token_mac
from zhengwu.identity.service import PURPOSE_TOTP, rotate_session_token, step_up
from zhengwu.kernel.clock import utcnow

ISSUER = "河北政务服务"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed from paper
_STEP = 30


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=_STEP)


def begin_enrolment(db: Session, account: Account) -> tuple[str, str]:
    """Start TOTP enrolment: store a new (unconfirmed) secret; returns (secret, otpauth URI)."""
    secret = pyotp.random_base32(32)
    account.totp_secret_enc = encrypt_field(of(db).keys, secret, purpose=PURPOSE_TOTP)
    account.totp_enabled_at = None
    account.totp_last_step = None
    db.flush()
    # The label is the account id, never the person's name or number (the URI may end up in a QR log).
    uri = _totp(secret).provisioning_uri(name=account.id[:12], issuer_name=ISSUER)
    return secret, uri


def _new_recovery_codes() -> list[str]:
    return ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)]


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").upper()


def _check_totp(keys: IdentityKeys, account: Account, code: str) -> bool:
    if account.totp_secret_enc is None:
        return False
    digits = "".join(code.split())
    if not (len(digits) == 6 and digits.isdigit()):
        return False
    totp = _totp(decrypt_field(keys, account.totp_secret_enc, purpose=PURPOSE_TOTP))
    now_step = int(utcnow().timestamp()) // _STEP
    # One step of clock drift either way; a step already used is refused (replay protection).
    for step in (now_step - 1, now_step, now_step + 1):
        if account.totp_last_step is not None and step <= account.totp_last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), digits):
            account.totp_last_step = step
            return True
    return False


def confirm_enrolment(db: Session, account: Account, code: str, *, meta: RequestMeta = NO_META) -> list[str]:
    """Confirm enrolment with a first code; returns recovery codes (shown once, stored only as keyed hashes)."""
    if account.totp_secret_enc is None or not _check_totp(of(db).keys, account, code):
        record_auth_event(db, "mfa_enrol", success=False, account_id=account.id, meta=meta)
        db.flush()
        raise InvalidOtp()
    codes = _new_recovery_codes()
    keys = of(db).keys
    account.recovery_code_hashes = [token_mac(keys, c, purpose="recovery") for c in codes]
    account.totp_enabled_at = utcnow()
    db.flush()
    record_auth_event(db, "mfa_enrol", success=True, account_id=account.id, meta=meta)
    return codes


def disable_mfa(
    db: Session,
    account: Account,
    *,
    meta: RequestMeta = NO_META,
    actor: str | None = None,
    reason: str | None = None,
) -> None:
    """Remove the second factor: by its owner (callers demand the factor itself, fresh) or, with ``actor``
    and ``reason``, by a platform administrator (``mfa_reset`` in the audit trail)."""
    account.totp_secret_enc = None
    account.totp_enabled_at = None
    account.totp_last_step = None
    account.recovery_code_hashes = None
    # Sessions keep no proof of a factor the account no longer has: staff actions wait for a new one.
    db.execute(
        update(UserSession)
        .where(UserSession.account_id == account.id, UserSession.ended_at.is_(None))
        .values(second_factor_at=None)
        .execution_options(synchronize_session="fetch")
    )
    db.flush()
    if actor is None:
        record_auth_event(db, "mfa_disabled", success=True, account_id=account.id, meta=meta)
    else:
        detail = {"admin": actor, "reason": (reason or "")[:200]}
        record_auth_event(db, "mfa_reset", success=True, account_id=account.id, meta=meta, detail=detail)


def verify_second_factor(db: Session, account: Account, code: str, *, meta: RequestMeta = NO_META) -> str:
    """Check a TOTP or recovery code; returns the amr it proves (``otp``) or raises InvalidOtp (audited)."""
    if not account.totp_enabled:
        raise MfaRequired("该账号未开启动态验证码")
    if account.locked_until is not None and account.locked_until > utcnow():
        record_auth_event(
            db, "mfa", success=False, account_id=account.id, meta=meta, detail={"reason": "locked"}
        )
        raise AccountLocked()
    if _check_totp(of(db).keys, account, code):
        db.flush()
        record_auth_event(
            db, "mfa", success=True, account_id=account.id, meta=meta, detail={"method": "totp"}
        )
        return "otp"
    digest = token_mac(of(db).keys, _normalise_code(code), purpose="recovery")
    remaining = list(account.recovery_code_hashes or [])
    if digest in remaining:
        remaining.remove(digest)
        account.recovery_code_hashes = remaining
        db.flush()
        record_auth_event(
            db,
            "mfa",
            success=True,
            account_id=account.id,
            meta=meta,
            detail={"method": "recovery", "left": len(remaining)},
        )
        return "otp"
    record_auth_event(db, "mfa", success=False, account_id=account.id, meta=meta)
    # Six digits are guessable at scale: second-factor failures count towards the same lockout.
    ctx = of(db)
    account.failed_logins = (account.failed_logins or 0) + 1
    account.last_failed_at = utcnow()
    if account.failed_logins >= ctx.lockout_threshold:
        account.locked_until = utcnow() + ctx.lockout_duration
        account.failed_logins = 0
        record_auth_event(
            db, "lockout", success=True, account_id=account.id, meta=meta, detail={"during": "mfa"}
        )
        db.flush()
        raise AccountLocked()
    db.flush()
    raise InvalidOtp()


def complete_login(
    db: Session, user_session: UserSession, account: Account, code: str, *, meta: RequestMeta = NO_META
) -> UserSession:
    """Finish a login waiting for its second factor: the session becomes usable with a new token."""
    method = verify_second_factor(db, account, code, meta=meta)
    user_session.mfa_pending = False
    step_up(db, user_session, account, amr=["pwd", method, "mfa"], meta=meta)
    rotate_session_token(db, user_session)
    return user_session
