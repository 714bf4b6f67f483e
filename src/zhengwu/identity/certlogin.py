"""数字证书登录: login and step-up (二次认证) with a digital certificate — real-name level 5 (standards §4.2).

The private key stays in the person's UKey. The platform issues a challenge; the UKey middleware signs
:func:`message` with SM2 (SM3 with the default user ID 1234567812345678, GM/T 0009); the platform checks

1. the challenge: its keyed MAC, its expiry, and that it is answered only once;
2. the signature, with the certificate's key;
3. the certificate: chain, validity and revocation now, through the node PKI's
   :class:`~zhengwu.pki.login_trust.LoginCertificateTrust` (``zhengwu pki trust add CA.pem --for login``);
4. whom the certificate names: a citizen ID number (GM/T 0015 IdentifyCode 1.2.156.10260.4.1.1, the older
   1.2.86.11.7.1, or the subject serialNumber) or a unified social credit code (1.2.156.10260.4.1.4 / .3,
   1.2.86.11.7.4, serialNumber, organizationIdentifier, OU). CAs encode these differently (a bare string,
   the IdentifyCode CHOICE, a prefix), so every 18-character window is tried and only one that passes
   the check digit (and, for ID numbers, birth date and area) counts.

A certificate proves real-name level 5 once: the account is raised to it, and the session has ``amr``
``hwk`` (proof of a hardware-held key, RFC 8176), the only method whose ceiling is level 5.
"""

from __future__ import annotations

import base64
import hmac
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy import delete
from sqlalchemy.orm import Session

from zhengwu.identity import service
from zhengwu.identity.audit import NO_META, RequestMeta, record_auth_event
from zhengwu.identity.context import IdentityKeys, of
from zhengwu.identity.errors import (
    AccountDisabled,
    CertificateAccountNotFound,
    CertificateLoginFailed,
    CertificateLoginUnavailable,
)
from zhengwu.identity.levels import RealNameLevel
from zhengwu.identity.models import Account, AccountKind, AccountStatus, LoginChallengeUse, UserSession
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes.citizen_id import validate_citizen_id
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.codes.verdict import Verdict
from zhengwu.kernel.crypto.hashes import hmac_sm3, sm3
from zhengwu.kernel.db import dialect_insert
from zhengwu.kernel.pki import Certificate, PkiError, load_certificate
from zhengwu.pki.login_trust import LoginCertificateTrust

CHALLENGE_SECONDS = 120
METHOD = "hwk"  # RFC 8176: proof of possession of a hardware-secured key (the UKey)

PERSON_EXTENSIONS = ("1.2.156.10260.4.1.1", "1.2.86.11.7.1")  # 个人身份标识码 (GM/T 0015; RSA-era CAs)
ENTERPRISE_EXTENSIONS = ("1.2.156.10260.4.1.4", "1.2.156.10260.4.1.3", "1.2.86.11.7.4")  # 信用代码 / 注册号


@dataclass(frozen=True, slots=True)
class CertificateSubject:
    """Whom a certificate names."""

    kind: str  # AccountKind.NATURAL or AccountKind.LEGAL
    number: str  # a valid citizen ID number or credit code
    name: str | None
    fingerprint: str


# --- challenges --------------------------------------------------------------------------------------


def _challenge_key(keys: IdentityKeys) -> bytes:
    return hmac_sm3(keys.token_key, b"zhengwu/identity/certificate-login-challenge/v1")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_challenge(keys: IdentityKeys, now: float | None = None) -> tuple[str, datetime]:
    """A challenge (random, expiry, keyed MAC; nothing stored) and when it expires."""
    expires = int(now if now is not None else time.time()) + CHALLENGE_SECONDS
    body = os.urandom(16) + expires.to_bytes(8, "big")
    mac = hmac_sm3(_challenge_key(keys), body)[:16]
    return _b64(body + mac), datetime.fromtimestamp(expires, UTC)


def message(issuer: str, challenge: str) -> bytes:
    """What the UKey signs: bound to this node, so a signature made for another site is useless here."""
    return f"zhengwu-certificate-login\n{issuer}\n{challenge}".encode()


def _open_challenge(keys: IdentityKeys, challenge: str) -> datetime | None:
    """The expiry of a genuine, unexpired challenge, else None."""
    try:
        raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != 40:
        return None
    body, mac = raw[:24], raw[24:]
    if not hmac.compare_digest(mac, hmac_sm3(_challenge_key(keys), body)[:16]):
        return None
    expires = datetime.fromtimestamp(int.from_bytes(body[16:], "big"), UTC)
    return expires if expires > utcnow() else None


# --- whom a certificate names ---------------------------------------------------------------------------


def _windows(text: str) -> list[str]:
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in text)
    return [cleaned[i : i + 18] for i in range(len(cleaned) - 17) if " " not in cleaned[i : i + 18]]


def _first_valid(validate: Callable[[str], Verdict], *texts: str | None) -> str | None:
    for text in texts:
        for window in _windows(text or ""):
            verdict = validate(window)
            if verdict.ok:
                return verdict.value
    return None


def _citizen_id(*texts: str | None) -> str | None:
    return _first_valid(validate_citizen_id, *texts)


def _credit_code(*texts: str | None) -> str | None:
    return _first_valid(validate_uscc, *texts)


def certificate_subject(cert: Certificate) -> CertificateSubject | None:
    """The person or enterprise a certificate names, or None when it names neither recognisably."""
    ext = {oid: cert.other_extensions[oid].decode("latin-1") for oid in cert.other_extensions}
    subject = cert.subject
    name = subject.common_name
    number = _citizen_id(*(ext.get(oid) for oid in PERSON_EXTENSIONS))
    if number is not None:
        return CertificateSubject(AccountKind.NATURAL, number, name, cert.fingerprint)
    code = _credit_code(*(ext.get(oid) for oid in ENTERPRISE_EXTENSIONS))
    if code is not None:
        return CertificateSubject(AccountKind.LEGAL, code, subject.get("O") or name, cert.fingerprint)
    serial = subject.get("SERIALNUMBER")
    number = _citizen_id(serial)
    if number is not None:
        return CertificateSubject(AccountKind.NATURAL, number, name, cert.fingerprint)
    code = _credit_code(serial, subject.get("ORGANIZATIONIDENTIFIER"), subject.get("OU"), name)
    if code is not None:
        return CertificateSubject(AccountKind.LEGAL, code, subject.get("O") or name, cert.fingerprint)
    number = _citizen_id(name)
    if number is not None:
        return CertificateSubject(AccountKind.NATURAL, number, None, cert.fingerprint)
    return None


# --- authentication ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateProof:
    """What a client sends: the answered challenge, its certificate (and sub-CAs) and the signature."""

    challenge: str
    certificate: bytes
    chain: tuple[bytes, ...]
    signature: bytes


def _refuse(
    db: Session, what: str, reason: str, detail_zh: str, *, meta: RequestMeta, **extra: str
) -> NoReturn:
    record_auth_event(
        db, what, success=False, meta=meta, detail={"method": "certificate", "reason": reason, **extra}
    )
    raise CertificateLoginFailed(detail_zh, detail_en=f"certificate authentication refused: {reason}")


def _use_challenge(db: Session, challenge: str, expires: datetime) -> bool:
    """Record the challenge as answered; False when it already was (a replay). One statement, no
    savepoint: the primary key decides, also between two requests racing with the same answer."""
    values = {"digest": sm3(challenge.encode()).hex(), "used_at": utcnow(), "expires_at": expires}
    statement = dialect_insert(db, LoginChallengeUse).values(**values).on_conflict_do_nothing()
    # RETURNING rather than rowcount, which psycopg reports as -1 here.
    return db.execute(statement.returning(LoginChallengeUse.digest)).first() is not None


def verify_proof(
    db: Session,
    proof: CertificateProof,
    *,
    issuer: str,
    trust: LoginCertificateTrust,
    what: str,
    meta: RequestMeta = NO_META,
) -> CertificateSubject:
    """Steps 1–4 of the module docstring; every refusal is audited and raises (marked keep-writes)."""
    expires = _open_challenge(of(db).keys, proof.challenge)
    if expires is None:
        _refuse(db, what, "challenge_invalid", "登录挑战无效或已过期，请重新发起证书认证", meta=meta)
    if not _use_challenge(db, proof.challenge, expires):
        _refuse(db, what, "challenge_reused", "登录挑战已使用，请重新发起证书认证", meta=meta)
    try:
        cert = load_certificate(proof.certificate)
    except PkiError:
        _refuse(db, what, "certificate_malformed", "证书格式不正确", meta=meta)
    fingerprint = cert.fingerprint[:16]
    if not cert.is_sm2 or not cert.public_key.verify(proof.signature, message(issuer, proof.challenge)):
        _refuse(db, what, "signature_invalid", "证书签名验证失败", meta=meta, certificate=fingerprint)
    verdict = trust(db, proof.certificate, proof.chain, at=utcnow())
    if verdict.reason == "not_configured":
        raise CertificateLoginUnavailable()
    if not verdict.ok:
        _refuse(
            db,
            what,
            f"chain_{verdict.reason}",
            verdict.message_zh or "证书不受信任",
            meta=meta,
            certificate=fingerprint,
        )
    if cert.key_usage is not None and "digital_signature" not in cert.key_usage:
        _refuse(db, what, "key_usage", "该证书不能用于身份认证", meta=meta, certificate=fingerprint)
    subject = certificate_subject(cert)
    if subject is None:
        _refuse(
            db,
            what,
            "no_identity",
            "证书中没有可识别的身份证号码或统一社会信用代码",
            meta=meta,
            certificate=fingerprint,
        )
    return subject


def account_of(db: Session, subject: CertificateSubject) -> Account | None:
    """The account a certificate subject names: by ID number a natural person (else staff), by credit
    code the enterprise — the login identifier rules, with the number the certificate vouches for."""
    return service.resolve_identifier(db, subject.number)


def _raise_level(db: Session, account: Account, subject: CertificateSubject, *, meta: RequestMeta) -> None:
    if account.real_name_level < RealNameLevel.CERTIFICATE:
        service.set_real_name_level(
            db,
            account,
            RealNameLevel.CERTIFICATE,
            actor="certificate",
            evidence=f"certificate:{subject.fingerprint[:16]}",
            meta=meta,
        )


def login(
    db: Session,
    proof: CertificateProof,
    *,
    issuer: str,
    trust: LoginCertificateTrust,
    meta: RequestMeta = NO_META,
) -> tuple[Account, UserSession]:
    """Log in with a certificate: a level-5 session (no second step: the UKey and its PIN are two)."""
    subject = verify_proof(db, proof, issuer=issuer, trust=trust, what="login", meta=meta)
    account = account_of(db, subject)
    if account is None:
        record_auth_event(
            db,
            "login",
            success=False,
            meta=meta,
            detail={
                "method": "certificate",
                "reason": "unknown_account",
                "certificate": subject.fingerprint[:16],
            },
        )
        raise CertificateAccountNotFound()
    if account.status != AccountStatus.ACTIVE:
        record_auth_event(
            db, "login", success=False, account_id=account.id, meta=meta, detail={"reason": "disabled"}
        )
        raise AccountDisabled()
    _raise_level(db, account, subject, meta=meta)
    record_auth_event(
        db,
        "login",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"method": "certificate", "certificate": subject.fingerprint[:16]},
    )
    return account, service.start_session(db, account, amr=[METHOD], meta=meta)


def step_up(
    db: Session,
    user_session: UserSession,
    account: Account,
    proof: CertificateProof,
    *,
    issuer: str,
    trust: LoginCertificateTrust,
    meta: RequestMeta = NO_META,
) -> UserSession:
    """二次认证 with the certificate of the person (or enterprise) already logged in: level 5 now."""
    subject = verify_proof(db, proof, issuer=issuer, trust=trust, what="step_up", meta=meta)
    named = account_of(db, subject)
    if named is None or named.id != account.id:
        _refuse(
            db,
            "step_up",
            "other_subject",
            "该证书不属于当前登录用户",
            meta=meta,
            certificate=subject.fingerprint[:16],
        )
    _raise_level(db, account, subject, meta=meta)
    return service.step_up(db, user_session, account, amr=[METHOD], meta=meta)


def forget_answered_challenges(db: Session, *, now: datetime | None = None) -> int:
    """Delete records of challenges past their expiry (a replay of those fails on the expiry anyway)."""
    cutoff = now or utcnow()
    result = db.execute(delete(LoginChallengeUse).where(LoginChallengeUse.expires_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
