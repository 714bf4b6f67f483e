"""Rules of identity authentication: registration, password login, sessions, claims, audited reads.

Services flush, never commit. Failures that must survive the request's rollback (audit rows, failure
counters, lockouts) raise errors marked ``keep_writes``; the HTTP edge commits those before answering.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.audit.reads import record_read
from zhengwu.identity import passwords, upward
from zhengwu.identity.audit import (
    NO_META,
    RequestMeta,
    lock_audit_chain,
    recent_failures,
    recent_registrations,
    record_auth_event,
    subject_failures,
    unknown_subject_lockout,
)
from zhengwu.identity.context import IdentityContext, IdentityKeys, of
from zhengwu.identity.errors import (
    AccountDisabled,
    AccountExists,
    AccountLocked,
    InvalidCredentials,
    InvalidRegistration,
    LoginRateLimited,
    NotAuthorizedAgent,
    PhoneInUse,
    RegistrationRateLimited,
    ThreeAdminsConflict,
)
from zhengwu.identity.events import UserLoggedOut
from zhengwu.identity.levels import RealNameLevel, session_level
from zhengwu.identity.models import (
    Account,
    AccountKind,
    AccountStatus,
    AgentAuthorization,
    AgentRole,
    LegalEntity,
    StaffBinding,
    UserSession,
)
from zhengwu.identity.normalize import (
    normalize_email,
    normalize_enterprise_name,
    normalize_name,
    normalize_phone,
    password_problem,
)
from zhengwu.identity.passwords import Passwords
from zhengwu.identity.protection import blind_index, cert_key, decrypt_field, encrypt_field
from zhengwu.identity.roles import ROLES, three_admin_roles
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.codes.citizen_id import parse_citizen_id, validate_citizen_id
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.crypto.hashes import sm3
from zhengwu.kernel.db import new_id
from zhengwu.kernel.events import EventBus, publish_on

# Purposes bound into the SM4-GCM AAD of each protected column.
PURPOSE_CITIZEN_ID = "identity_account.citizen_id"
PURPOSE_PHONE = "identity_account.phone"
PURPOSE_TOTP = "identity_account.totp_secret"
PURPOSE_CREDIT_CODE = "identity_legal_entity.credit_code"
PURPOSE_LEGAL_REP = "identity_legal_entity.legal_rep_cert"

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


# --- lookups ---------------------------------------------------------------------------------------


def citizen_index(keys: IdentityKeys, number: str) -> str:
    """Blind index of a normalised (validated, upper-case) identity number."""
    return blind_index(keys, number, kind="cid")


def phone_index(keys: IdentityKeys, phone: str) -> str:
    """Blind index of a normalised mobile number."""
    return blind_index(keys, phone, kind="phone")


def credit_index(keys: IdentityKeys, code: str) -> str:
    """Blind index of a normalised credit code."""
    return blind_index(keys, code, kind="uscc")


def find_account_by_citizen_id(
    db: Session, id_number: str, *, kind: str = AccountKind.NATURAL
) -> Account | None:
    """The account of the person with that identity number (exact match on the blind index), if any."""
    verdict = validate_citizen_id(id_number)
    if not verdict.ok:
        return None
    return db.scalar(
        select(Account).where(
            Account.kind == kind, Account.citizen_id_index == citizen_index(of(db).keys, verdict.value)
        )
    )


def find_account_by_cert_key(db: Session, key: str) -> Account | None:
    """The natural person known to the other tiers by this cert_key (trust transfer), if any."""
    return db.scalar(select(Account).where(Account.kind == AccountKind.NATURAL, Account.cert_key == key))


def find_legal_entity(db: Session, credit_code: str) -> LegalEntity | None:
    """The legal entity with that credit code, if registered."""
    verdict = validate_uscc(credit_code)
    if not verdict.ok:
        return None
    return db.scalar(
        select(LegalEntity).where(LegalEntity.credit_code_index == credit_index(of(db).keys, verdict.value))
    )


def get_account(db: Session, account_id: str) -> Account | None:
    """The account with that id."""
    return db.get(Account, account_id)


# Built once: the login path runs these on every attempt.
_BY_PHONE = (
    select(Account)
    .where(Account.phone_index == bindparam("phone_index"), Account.kind != AccountKind.LEGAL)
    .limit(2)
)


def resolve_identifier(db: Session, identifier: str) -> Account | None:
    """The account a login identifier names: ID number, credit code, mobile, e-mail or login name."""
    text = identifier.strip()
    if not text:
        return None
    verdict = validate_citizen_id(text)
    if verdict.ok:
        return find_account_by_citizen_id(db, verdict.value) or find_account_by_citizen_id(
            db, verdict.value, kind=AccountKind.STAFF
        )
    uscc = validate_uscc(text)
    if uscc.ok:
        entity = find_legal_entity(db, uscc.value)
        if entity is None:
            return None
        return db.scalar(
            select(Account).where(Account.kind == AccountKind.LEGAL, Account.legal_entity_id == entity.id)
        )
    phone = normalize_phone(text)
    if phone is not None:
        rows = db.scalars(_BY_PHONE, {"phone_index": phone_index(of(db).keys, phone)}).all()
        # A phone shared by two imported accounts names nobody: log in with the ID number instead.
        return rows[0] if len(rows) == 1 else None
    email = normalize_email(text)
    if email is not None:
        rows = db.scalars(select(Account).where(Account.email == email).limit(2)).all()
        return rows[0] if len(rows) == 1 else None
    return db.scalar(select(Account).where(Account.login_name == text.lower()))


def login_subject(keys: IdentityKeys, identifier: str) -> str:
    """Keyed hash of what was typed at login (rate limits per identifier without storing it)."""
    return blind_index(keys, identifier.strip().upper(), kind="login")


# --- registration ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field that failed validation (never echoes the value)."""

    field: str
    code: str
    message: str


def registration_failure(
    db: Session,
    problems: list[FieldProblem],
    meta: RequestMeta,
    what: str = "register",
    error: type[InvalidRegistration] = InvalidRegistration,
) -> InvalidRegistration:
    """Audit a refused submission and build its error (field messages, never the values)."""
    record_auth_event(db, what, success=False, meta=meta, detail={"reasons": [p.code for p in problems]})
    return error(
        "；".join(p.message for p in problems),
        detail_en="registration data failed validation",
        extra={"errors": [{"field": p.field, "code": p.code, "message": p.message} for p in problems]},
    )


def check_registration_rate(db: Session, meta: RequestMeta, what: str) -> None:
    """Refuse (and audit) a registration from an address that registered too often this window.

    Only requests carry an address: imports and staff tools (no ``meta.ip``) are not limited.
    """
    if meta.ip is None:
        return
    ctx = of(db)
    since = utcnow() - ctx.registration_ip_window
    if recent_registrations(db, since=since, ip=meta.ip) >= ctx.registration_ip_limit:
        record_auth_event(db, what, success=False, meta=meta, detail={"reasons": ["rate_limited_ip"]})
        raise RegistrationRateLimited()


def check_password_policy(password: str, problems: list[FieldProblem]) -> None:
    """Append the password-policy problem (等保 8.1.4.1.a complexity), if any."""
    problem = password_problem(password)
    if problem == "length":
        problems.append(FieldProblem("password", "password.length", "密码长度应为8至128位"))
    elif problem == "classes":
        problems.append(
            FieldProblem(
                "password", "password.classes", "密码须包含大写字母、小写字母、数字、符号中的至少三类"
            )
        )


def register_natural_person(
    db: Session,
    *,
    name: str,
    id_number: str,
    phone: str,
    password: str | None,
    email: str | None = None,
    cert_type: str = "111",
    real_name_level: RealNameLevel = RealNameLevel.SELF_DECLARED,
    source: str = "register",
    meta: RequestMeta = NO_META,
    limit_rate: bool = True,
) -> Account:
    """Register a natural person (level 2 unless a verification raised it); emits up_uc_province_user.

    ``limit_rate=False`` for accounts made from another node's signed assertion (trust transfer): the
    person logged in there, nobody filled in a form here.
    """
    if limit_rate:
        check_registration_rate(db, meta, "register")
    problems: list[FieldProblem] = []
    clean_name = normalize_name(name)
    if clean_name is None:
        problems.append(FieldProblem("name", "name.invalid", "姓名应为2至50个汉字或字母"))
    verdict = validate_citizen_id(id_number)
    if not verdict.ok:
        problems.append(FieldProblem("id_number", verdict.code, f"身份证号码有误：{verdict.reason_zh}"))
    clean_phone = normalize_phone(phone)
    if clean_phone is None:
        problems.append(FieldProblem("phone", "phone.invalid", "手机号码应为11位中国大陆手机号"))
    clean_email = None
    if email:
        clean_email = normalize_email(email)
        if clean_email is None:
            problems.append(FieldProblem("email", "email.invalid", "电子邮箱格式不正确"))
    if password is not None:
        check_password_policy(password, problems)
    if problems:
        raise registration_failure(db, problems, meta)
    assert clean_name is not None and clean_phone is not None
    number = verdict.value
    ctx = of(db)
    index = citizen_index(ctx.keys, number)
    if db.scalar(
        select(Account.id).where(Account.kind == AccountKind.NATURAL, Account.citizen_id_index == index)
    ):
        record_auth_event(db, "register", success=False, meta=meta, detail={"reasons": ["account_exists"]})
        raise AccountExists()
    p_index = phone_index(ctx.keys, clean_phone)
    if db.scalar(select(Account.id).where(Account.phone_index == p_index).limit(1)):
        raise registration_failure(
            db, [FieldProblem("phone", "phone.taken", "该手机号已被其他账号使用")], meta, error=PhoneInUse
        )
    info = parse_citizen_id(number)
    now = utcnow()
    account = Account(
        kind=AccountKind.NATURAL,
        display_name=clean_name,
        real_name_level=int(real_name_level),
        cert_type=cert_type,
        citizen_id_enc=encrypt_field(ctx.keys, number, purpose=PURPOSE_CITIZEN_ID),
        citizen_id_index=index,
        cert_key=cert_key(ctx.keys, number, cert_type=cert_type),
        phone_enc=encrypt_field(ctx.keys, clean_phone, purpose=PURPOSE_PHONE),
        phone_index=p_index,
        email=clean_email,
        password_hash=ctx.passwords.hash(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        source=source,
        created_at=now,
        updated_at=now,
    )
    db.add(account)
    db.flush()
    upward.emit_province_user(
        db,
        account,
        region=ctx.division_code,
        sex=info.sex,
        birthday=info.birth_date.strftime("%Y%m%d"),
        phone=clean_phone,
    )
    record_auth_event(
        db, "register", success=True, account_id=account.id, meta=meta, detail={"kind": "natural"}
    )
    return account


def register_legal_person(
    db: Session,
    *,
    credit_code: str,
    name: str,
    legal_rep_name: str,
    password: str | None,
    phone: str | None = None,
    agent: Account | None = None,
    corp_type: str = "1",
    legal_rep_id_number: str | None = None,
    source: str = "register",
    meta: RequestMeta = NO_META,
) -> Account:
    """Register a legal entity and its 法人账号; ``agent`` (a natural person) becomes its administrator."""
    check_registration_rate(db, meta, "register_legal")
    problems: list[FieldProblem] = []
    verdict = validate_uscc(credit_code)
    if not verdict.ok:
        problems.append(
            FieldProblem("credit_code", verdict.code, f"统一社会信用代码有误：{verdict.reason_zh}")
        )
    clean_name = normalize_enterprise_name(name)
    if clean_name is None:
        problems.append(FieldProblem("name", "name.invalid", "单位名称应为2至200个字符"))
    rep_name = normalize_name(legal_rep_name)
    if rep_name is None:
        problems.append(FieldProblem("legal_rep_name", "name.invalid", "法定代表人姓名应为2至50个汉字或字母"))
    rep_number = None
    if legal_rep_id_number:
        rep_verdict = validate_citizen_id(legal_rep_id_number)
        if not rep_verdict.ok:
            problems.append(
                FieldProblem(
                    "legal_rep_id_number",
                    rep_verdict.code,
                    f"法定代表人身份证号码有误：{rep_verdict.reason_zh}",
                )
            )
        rep_number = rep_verdict.value
    clean_phone = None
    if phone:
        clean_phone = normalize_phone(phone)
        if clean_phone is None:
            problems.append(FieldProblem("phone", "phone.invalid", "手机号码应为11位中国大陆手机号"))
    if password is not None:
        check_password_policy(password, problems)
    if agent is not None and agent.kind != AccountKind.NATURAL:
        problems.append(FieldProblem("agent", "agent.kind", "经办人必须是自然人账号"))
    if problems:
        raise registration_failure(db, problems, meta, "register_legal")
    assert clean_name is not None and rep_name is not None
    code = verdict.value
    ctx = of(db)
    index = credit_index(ctx.keys, code)
    if db.scalar(select(LegalEntity.id).where(LegalEntity.credit_code_index == index)):
        record_auth_event(
            db, "register_legal", success=False, meta=meta, detail={"reasons": ["account_exists"]}
        )
        raise AccountExists("该统一社会信用代码已注册，请直接登录")
    now = utcnow()
    entity = LegalEntity(
        credit_code_enc=encrypt_field(ctx.keys, code, purpose=PURPOSE_CREDIT_CODE),
        credit_code_index=index,
        certificate_key=cert_key(ctx.keys, code, cert_type="001"),
        name=clean_name,
        corp_type=corp_type,
        legal_rep_name=rep_name,
        legal_rep_cert_enc=encrypt_field(ctx.keys, rep_number, purpose=PURPOSE_LEGAL_REP)
        if rep_number
        else None,
        legal_rep_cert_index=citizen_index(ctx.keys, rep_number) if rep_number else None,
        real_name_level=int(RealNameLevel.SELF_DECLARED),
        created_at=now,
    )
    db.add(entity)
    db.flush()
    account = Account(
        kind=AccountKind.LEGAL,
        display_name=clean_name,
        real_name_level=int(RealNameLevel.SELF_DECLARED),
        cert_type="001",
        legal_entity_id=entity.id,
        phone_enc=encrypt_field(ctx.keys, clean_phone, purpose=PURPOSE_PHONE) if clean_phone else None,
        phone_index=phone_index(ctx.keys, clean_phone) if clean_phone else None,
        password_hash=ctx.passwords.hash(password) if password is not None else None,
        password_changed_at=now if password is not None else None,
        source=source,
        created_at=now,
        updated_at=now,
    )
    db.add(account)
    db.flush()
    upward.emit_corporator_identity(db, entity)
    record_auth_event(
        db,
        "register_legal",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"legal_entity_id": entity.id},
    )
    if agent is not None:
        grant_agent(db, entity=entity, agent=agent, role=AgentRole.ADMIN, granted_by=agent.id, meta=meta)
    return account


def grant_agent(
    db: Session,
    *,
    entity: LegalEntity,
    agent: Account,
    role: str = AgentRole.AGENT,
    valid_until: datetime | None = None,
    granted_by: str | None = None,
    channel: str = "web",
    meta: RequestMeta = NO_META,
) -> AgentAuthorization:
    """Authorise a natural person to act for a legal entity (emits up_uc_corporator_account)."""
    if agent.kind != AccountKind.NATURAL:
        raise NotAuthorizedAgent("经办人必须是自然人账号")
    existing = db.scalar(
        select(AgentAuthorization).where(
            AgentAuthorization.account_id == agent.id, AgentAuthorization.legal_entity_id == entity.id
        )
    )
    now = utcnow()
    if existing is not None:
        existing.role = role
        existing.valid_from = now
        existing.valid_until = valid_until
        existing.revoked_at = None
        existing.granted_by = granted_by
        authorization, operation = existing, "U"
    else:
        authorization = AgentAuthorization(
            account_id=agent.id,
            legal_entity_id=entity.id,
            role=role,
            valid_from=now,
            valid_until=valid_until,
            granted_by=granted_by,
            created_at=now,
        )
        db.add(authorization)
        operation = "I"
    db.flush()
    upward.emit_corporator_account(
        db, authorization, entity=entity, agent=agent, channel=channel, operation=operation
    )
    record_auth_event(
        db,
        "agent_granted",
        success=True,
        account_id=agent.id,
        meta=meta,
        detail={"legal_entity_id": entity.id, "role": role, "granted_by": granted_by},
    )
    return authorization


def agent_authorizations(db: Session, account_id: str) -> list[tuple[AgentAuthorization, LegalEntity]]:
    """The enterprises a person may currently act for, with their authorisations."""
    now = utcnow()
    rows = db.execute(
        select(AgentAuthorization, LegalEntity)
        .join(LegalEntity, LegalEntity.id == AgentAuthorization.legal_entity_id)
        .where(AgentAuthorization.account_id == account_id)
        .order_by(LegalEntity.name)
    ).all()
    return [(a, e) for a, e in rows if a.active_at(now)]


def ensure_three_admins_apart(roles: list[str]) -> None:
    """Refuse a set of roles (all of one account's bindings) holding two of the 三员 (等保 level 3)."""
    held = three_admin_roles(roles)
    if len(held) > 1:
        names = "、".join(ROLES[r].label.split("：", 1)[0] for r in held)
        raise ThreeAdminsConflict(
            f"同一账号不得兼任{names}（三员分离）：请由不同人员担任",
            detail_en=f"one staff account may not hold {' and '.join(held)} (separation of the three administrators)",
            extra={"roles": held},
        )


def accounts_holding_two_administrators(db: Session) -> list[str]:
    """Ids of staff accounts whose bindings together hold two of the 三员 roles (for ``security report``:
    accounts granted before the rule existed are only refused when their roles next change)."""
    held: dict[str, list[str]] = {}
    for account_id, roles in db.execute(select(StaffBinding.account_id, StaffBinding.roles)).all():
        held.setdefault(account_id, []).extend(roles or ())
    return sorted(a for a, roles in held.items() if len(three_admin_roles(roles)) > 1)


def register_staff(
    db: Session,
    *,
    name: str,
    login_name: str,
    password: str,
    department_id: str,
    roles: list[str],
    phone: str | None = None,
    id_number: str | None = None,
    real_name_level: RealNameLevel = RealNameLevel.REGISTRY_MATCHED,
    source: str = "staff",
    initial_password: bool = False,
    meta: RequestMeta = NO_META,
) -> Account:
    """Create a staff account bound to a department with roles.

    ``initial_password``: an administrator chose it; staff routes refuse the account until the person
    has changed it (等保: no shared knowledge of a working password).
    """
    problems: list[FieldProblem] = []
    clean_name = normalize_name(name)
    if clean_name is None:
        problems.append(FieldProblem("name", "name.invalid", "姓名应为2至50个汉字或字母"))
    login = login_name.strip().lower()
    if not (3 <= len(login) <= 64 and login.isascii() and all(c.isalnum() or c in "._-" for c in login)):
        problems.append(
            FieldProblem("login_name", "login_name.invalid", "登录名应为3至64位字母、数字或 . _ -")
        )
    number = None
    if id_number:
        verdict = validate_citizen_id(id_number)
        if not verdict.ok:
            problems.append(FieldProblem("id_number", verdict.code, f"身份证号码有误：{verdict.reason_zh}"))
        number = verdict.value
    clean_phone = normalize_phone(phone) if phone else None
    if phone and clean_phone is None:
        problems.append(FieldProblem("phone", "phone.invalid", "手机号码应为11位中国大陆手机号"))
    check_password_policy(password, problems)
    if problems:
        raise registration_failure(db, problems, meta, "register_staff")
    ensure_three_admins_apart(roles)
    assert clean_name is not None
    if db.scalar(select(Account.id).where(Account.login_name == login)):
        raise AccountExists("该登录名已被使用")
    now = utcnow()
    ctx = of(db)
    account = Account(
        kind=AccountKind.STAFF,
        display_name=clean_name,
        real_name_level=int(real_name_level),
        login_name=login,
        cert_type="111" if number else None,
        citizen_id_enc=encrypt_field(ctx.keys, number, purpose=PURPOSE_CITIZEN_ID) if number else None,
        citizen_id_index=citizen_index(ctx.keys, number) if number else None,
        cert_key=cert_key(ctx.keys, number) if number else None,
        phone_enc=encrypt_field(ctx.keys, clean_phone, purpose=PURPOSE_PHONE) if clean_phone else None,
        phone_index=phone_index(ctx.keys, clean_phone) if clean_phone else None,
        password_hash=ctx.passwords.hash(password),
        password_changed_at=now,
        password_initial=initial_password,
        source=source,
        created_at=now,
        updated_at=now,
    )
    db.add(account)
    db.flush()
    db.add(
        StaffBinding(
            account_id=account.id, department_id=department_id, roles=sorted(set(roles)), created_at=now
        )
    )
    db.flush()
    record_auth_event(
        db,
        "register_staff",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"department_id": department_id},
    )
    actor = f"account:{source.removeprefix('admin:')}" if source.startswith("admin:") else source
    record_change(db, actor=actor, action="staff.create", entity="identity.staff", entity_id=account.id,
                  department_id=department_id, after={"login_name": login, "roles": sorted(set(roles))})  # fmt: skip
    return account


def staff_bindings(db: Session, account_id: str) -> list[StaffBinding]:
    """The departments (with roles) a staff account belongs to."""
    return list(db.scalars(select(StaffBinding).where(StaffBinding.account_id == account_id)))


def set_real_name_level(
    db: Session,
    account: Account,
    level: RealNameLevel,
    *,
    actor: str,
    evidence: str,
    meta: RequestMeta = NO_META,
) -> Account:
    """Record a verification that raised (or lowered) an account's real-name level; audited and sent upward."""
    old = account.real_name_level
    account.real_name_level = int(level)
    account.updated_at = utcnow()
    db.flush()
    record_auth_event(
        db,
        "real_name_level",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"from": old, "to": int(level), "actor": actor, "evidence": evidence},
    )
    ctx = of(db)
    if account.kind == AccountKind.NATURAL and account.citizen_id_enc is not None:
        info = parse_citizen_id(decrypt_field(ctx.keys, account.citizen_id_enc, purpose=PURPOSE_CITIZEN_ID))
        upward.emit_province_user(
            db,
            account,
            region=ctx.division_code,
            sex=info.sex,
            birthday=info.birth_date.strftime("%Y%m%d"),
            phone=None,
            operation="U",
        )
    return account


# --- password login --------------------------------------------------------------------------------


@dataclass(slots=True)
class PasswordCheck:
    """What the read-only half of a password login found (no database writes yet)."""

    subject: str
    outcome: str  # ok | unknown_account | locked | bad_password | disabled | rate_limited_ip | rate_limited_subject
    account: Account | None = None
    new_hash: str | None = None  # argon2id re-hash of a legacy or weaker hash, computed before any lock
    rehashed_from: str | None = None
    # An identifier naming no account: its failures since its last (unknown-subject) lock ended.
    unknown_failures: int = 0


def _verify_account_password(hashing: Passwords, account: Account, password: str) -> tuple[bool, bool]:
    """(matches, must re-hash)."""
    if account.password_hash:
        ok = hashing.verify(account.password_hash, password)
        return ok, ok and hashing.needs_rehash(account.password_hash)
    if account.legacy_scheme and account.legacy_hash:
        return passwords.verify_legacy(
            account.legacy_scheme, account.legacy_hash, account.legacy_params or {}, password
        ), True
    hashing.burn_time(password)
    return False, False


def check_password(
    db: Session, identifier: str, password: str, *, meta: RequestMeta = NO_META
) -> PasswordCheck:
    """Read-only half of a login: rate limits, account lookup, argon2id (or legacy) verification.

    Nothing is written, so the caller may end the read transaction before :func:`record_password_check`
    (SQLite cannot upgrade a read snapshot that another writer overtook during the slow hash).
    """
    ctx = of(db)
    subject = login_subject(ctx.keys, identifier)
    from_ip, for_subject = recent_failures(
        db, since=utcnow() - ctx.ip_failure_window, ip=meta.ip, subject_index=subject
    )
    if from_ip >= ctx.ip_failure_limit:
        return PasswordCheck(subject, "rate_limited_ip")
    # Unknown identifiers have no account to lock: limit them by the hash of what was typed.
    if for_subject >= 2 * ctx.lockout_threshold:
        return PasswordCheck(subject, "rate_limited_subject")
    account = resolve_identifier(db, identifier)
    if account is None:
        ctx.passwords.burn_time(password)
        return _unknown_subject(db, subject)
    if account.locked_until is not None and account.locked_until > utcnow():
        ctx.passwords.burn_time(password)  # as slow as any other answer: the lock must not show by timing
        return PasswordCheck(subject, "locked", account)
    ok, rehash = _verify_account_password(ctx.passwords, account, password)
    if not ok:
        return PasswordCheck(subject, "bad_password", account)
    if account.status != AccountStatus.ACTIVE:
        return PasswordCheck(subject, "disabled", account)
    if rehash:
        return PasswordCheck(
            subject,
            "ok",
            account,
            ctx.passwords.hash(password),
            account.legacy_scheme or "argon2id-params",
        )
    return PasswordCheck(subject, "ok", account)


def _unknown_subject(db: Session, subject: str) -> PasswordCheck:
    """An identifier naming no account is locked exactly as an account would be (uniform answers).

    After ``lockout_threshold`` failures it answers "locked" for ``lockout_duration``, then counts
    afresh, so that a run of attempts reads the same whether or not the account exists (ADR 0014).
    """
    ctx = of(db)
    locked_at = unknown_subject_lockout(db, subject)
    if locked_at is not None and utcnow() < locked_at + ctx.lockout_duration:
        return PasswordCheck(subject, "locked")
    since = locked_at + ctx.lockout_duration if locked_at is not None else _EPOCH
    return PasswordCheck(
        subject, "unknown_account", unknown_failures=subject_failures(db, since=since, subject_index=subject)
    )


def record_password_check(db: Session, check: PasswordCheck, *, meta: RequestMeta = NO_META) -> Account:
    """Write half of a login: lock the audit chain first, then counters, lockout, re-hash and audit.

    Raises the login's error (marked ``keep_writes``) on failure; returns the account on success.
    """
    lock_audit_chain(db)
    subject = check.subject
    account = check.account
    if account is not None and account not in db:
        # The read transaction was ended: carry the loaded row over without reading it again.
        account = db.merge(account, load=False)
    if check.outcome in ("rate_limited_ip", "rate_limited_subject"):
        record_auth_event(
            db, "login", success=False, subject_index=subject, meta=meta, detail={"reason": check.outcome}
        )
        raise LoginRateLimited()
    if account is None:
        record_auth_event(
            db, "login", success=False, subject_index=subject, meta=meta,
            detail={"reason": "unknown_account" if check.outcome == "unknown_account" else "locked_unknown"},
        )  # fmt: skip
        if check.outcome == "locked":
            raise AccountLocked()
        if check.unknown_failures + 1 >= of(db).lockout_threshold:
            record_auth_event(
                db, "lockout", success=True, subject_index=subject, meta=meta, detail={"unknown": True}
            )
            raise AccountLocked()
        raise InvalidCredentials()
    if check.outcome in ("locked", "disabled"):
        record_auth_event(
            db, "login", success=False, account_id=account.id, subject_index=subject, meta=meta,
            detail={"reason": check.outcome},
        )  # fmt: skip
        raise AccountLocked() if check.outcome == "locked" else AccountDisabled()
    now = utcnow()
    if check.outcome == "bad_password":
        ctx = of(db)
        # Atomic increment: concurrent failures must all count.
        failures = int(
            db.execute(
                update(Account)
                .where(Account.id == account.id)
                .values(failed_logins=Account.failed_logins + 1, last_failed_at=now)
                .returning(Account.failed_logins),
                execution_options={"synchronize_session": False},
            ).scalar_one()
        )
        record_auth_event(
            db, "login", success=False, account_id=account.id, subject_index=subject, meta=meta,
            detail={"reason": "bad_password", "failures": failures},
        )  # fmt: skip
        if failures >= ctx.lockout_threshold:
            until = now + ctx.lockout_duration
            db.execute(
                update(Account).where(Account.id == account.id).values(locked_until=until, failed_logins=0),
                execution_options={"synchronize_session": False},
            )
            record_auth_event(
                db, "lockout", success=True, account_id=account.id, meta=meta,
                detail={"until": until.isoformat(), "minutes": int(ctx.lockout_duration.total_seconds() // 60)},
            )  # fmt: skip
            db.flush()
            db.expire(account, ["failed_logins", "locked_until", "last_failed_at"])
            raise AccountLocked()
        db.flush()
        db.expire(account, ["failed_logins", "last_failed_at"])
        raise InvalidCredentials()
    if account.failed_logins or account.locked_until is not None:
        account.failed_logins = 0
        account.locked_until = None
    if check.new_hash is not None:
        account.password_hash = check.new_hash
        account.password_changed_at = now
        account.legacy_scheme = account.legacy_hash = None
        account.legacy_params = None
        record_auth_event(
            db, "password_rehashed", success=True, account_id=account.id, meta=meta,
            detail={"from": check.rehashed_from},
        )  # fmt: skip
    record_auth_event(
        db, "login", success=True, account_id=account.id, subject_index=subject, meta=meta,
        detail={"method": "pwd", "mfa_pending": account.totp_enabled},
    )  # fmt: skip
    return account


def authenticate_password(
    db: Session, identifier: str, password: str, *, meta: RequestMeta = NO_META
) -> Account:
    """Check a password login (argon2id; legacy hashes re-hashed on success); lockout, rate limits, audit."""
    return record_password_check(db, check_password(db, identifier, password, meta=meta), meta=meta)


def verify_current_password(
    db: Session, account: Account, password: str, *, meta: RequestMeta = NO_META
) -> None:
    """Re-check the password of a logged-in account (step-up, password change); failures count."""
    ctx = of(db)
    ok, _ = _verify_account_password(ctx.passwords, account, password)
    if ok:
        return
    now = utcnow()
    account.failed_logins = (account.failed_logins or 0) + 1
    account.last_failed_at = now
    record_auth_event(
        db, "reauth", success=False, account_id=account.id, meta=meta, detail={"reason": "bad_password"}
    )
    if account.failed_logins >= ctx.lockout_threshold:
        account.locked_until = now + ctx.lockout_duration
        account.failed_logins = 0
        record_auth_event(
            db, "lockout", success=True, account_id=account.id, meta=meta, detail={"during": "reauth"}
        )
        db.flush()
        raise AccountLocked()
    db.flush()
    raise InvalidCredentials("密码错误")


def change_password(
    db: Session,
    account: Account,
    new_password: str,
    *,
    bus: EventBus | None = None,
    keep_session_id: str | None = None,
    meta: RequestMeta = NO_META,
) -> None:
    """Set a new password and end every other session of the account."""
    problems: list[FieldProblem] = []
    check_password_policy(new_password, problems)
    if problems:
        raise registration_failure(db, problems, meta, "password_change")
    account.password_hash = of(db).passwords.hash(new_password)
    account.password_changed_at = utcnow()
    account.password_initial = False
    account.legacy_scheme = account.legacy_hash = None
    account.legacy_params = None
    account.failed_logins = 0
    account.locked_until = None
    db.flush()
    record_auth_event(db, "password_change", success=True, account_id=account.id, meta=meta)
    end_all_sessions(
        db, account.id, "password_changed", bus=bus, except_session_id=keep_session_id, meta=meta
    )


# --- sessions --------------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    """What the session table stores for a cookie token."""
    return sm3(token.encode()).hex()


#: Methods that prove a second factor of this node: a TOTP or recovery code (``otp``), a certificate on a
#: UKey with its PIN (``hwk``). Methods a federated provider reports (``fed``) do not count here.
SECOND_FACTORS: Final = frozenset({"otp", "hwk"})


def passes_second_factor(amr: list[str]) -> bool:
    """True when an authentication with these methods passed a second factor of this node."""
    return bool(SECOND_FACTORS & set(amr)) and "fed" not in amr


def start_session(
    db: Session,
    account: Account,
    *,
    auth_level: int | None = None,
    amr: list[str],
    acting_for: str | None = None,
    mfa_pending: bool = False,
    meta: RequestMeta = NO_META,
) -> UserSession:
    """Open a session; the returned object's ``token`` (not stored) goes into the cookie."""
    level = auth_level if auth_level is not None else int(session_level(account.real_name_level, amr))
    if account.kind == AccountKind.LEGAL and acting_for is None:
        acting_for = account.legal_entity_id
    token = secrets.token_urlsafe(32)
    now = utcnow()
    user_session = UserSession(
        # Assigned here rather than at flush: the audit row needs it and the insert can wait for the commit.
        id=new_id(),
        token_hash=token_digest(token),
        account_id=account.id,
        created_at=now,
        last_seen_at=now,
        auth_time=now,
        auth_level=level,
        amr=sorted(set(amr)),
        mfa_pending=mfa_pending,
        acting_for=acting_for,
        second_factor_at=now if passes_second_factor(amr) and not mfa_pending else None,
    )
    db.add(user_session)
    user_session.token = token
    record_auth_event(
        db,
        "session_start",
        success=True,
        account_id=account.id,
        session_id=user_session.id,
        meta=meta,
        detail={"auth_level": level, "amr": user_session.amr, "mfa_pending": mfa_pending},
    )
    return user_session


def rotate_session_token(db: Session, user_session: UserSession) -> str:
    """Give a session a new cookie token (after the second factor or a step-up: no session fixation)."""
    token = secrets.token_urlsafe(32)
    user_session.token_hash = token_digest(token)
    user_session.token = token
    db.flush()
    return token


def session_expiry(
    ctx: IdentityContext, user_session: UserSession, now: datetime | None = None
) -> str | None:
    """Why the session is no longer valid (ended, idle_timeout, absolute_timeout), or None."""
    if user_session.ended_at is not None:
        return user_session.end_reason or "ended"
    now = now or utcnow()
    if now - user_session.created_at >= ctx.absolute_timeout:
        return "absolute_timeout"
    if now - user_session.last_seen_at >= ctx.idle_timeout:
        return "idle_timeout"
    return None


def session_by_token(db: Session, token: str) -> UserSession | None:
    """The session a cookie token names (ended or not), if any."""
    if not token or len(token) > 128:
        return None
    return db.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))


def touch_session(user_session: UserSession, now: datetime | None = None) -> None:
    """Record activity (at most once a minute, to spare the database a write per request)."""
    now = now or utcnow()
    if (now - user_session.last_seen_at).total_seconds() >= 60:
        user_session.last_seen_at = now


def _publish_logout(db: Session, bus: EventBus | None, user_session: UserSession) -> None:
    event = UserLoggedOut(
        session_id=user_session.id, account_id=user_session.account_id, reason=user_session.end_reason
    )
    publish_on(bus, db, event)


def end_session(
    db: Session, session_id: str, reason: str, *, bus: EventBus | None = None, meta: RequestMeta = NO_META
) -> UserSession | None:
    """End one session (logout, timeout, admin action); publishes UserLoggedOut on ``bus``."""
    user_session = db.get(UserSession, session_id)
    if user_session is None or user_session.ended_at is not None:
        return user_session
    user_session.ended_at = utcnow()
    user_session.end_reason = reason[:32]
    db.flush()
    record_auth_event(
        db,
        "logout",
        success=True,
        account_id=user_session.account_id,
        session_id=user_session.id,
        meta=meta,
        detail={"reason": user_session.end_reason},
    )
    _publish_logout(db, bus, user_session)
    return user_session


def end_all_sessions(
    db: Session,
    account_id: str,
    reason: str,
    *,
    bus: EventBus | None = None,
    except_session_id: str | None = None,
    meta: RequestMeta = NO_META,
) -> int:
    """End every open session of an account (password change or reset, lockout by an administrator)."""
    query = select(UserSession.id).where(UserSession.account_id == account_id, UserSession.ended_at.is_(None))
    if except_session_id is not None:
        query = query.where(UserSession.id != except_session_id)
    ids = list(db.scalars(query))
    for session_id in ids:
        end_session(db, session_id, reason, bus=bus, meta=meta)
    return len(ids)


def end_expired_sessions(db: Session, *, bus: EventBus | None = None, limit: int = 1000) -> int:
    """Close sessions whose idle or absolute timeout passed (a periodic job)."""
    ctx = of(db)
    now = utcnow()
    rows = db.scalars(
        select(UserSession)
        .where(
            UserSession.ended_at.is_(None),
            (UserSession.last_seen_at <= now - ctx.idle_timeout)
            | (UserSession.created_at <= now - ctx.absolute_timeout),
        )
        .limit(limit)
    ).all()
    for row in rows:
        reason = session_expiry(ctx, row, now) or "idle_timeout"
        end_session(db, row.id, reason, bus=bus)
    return len(rows)


def step_up(
    db: Session, user_session: UserSession, account: Account, *, amr: list[str], meta: RequestMeta = NO_META
) -> UserSession:
    """Record a fresh authentication in an existing session (二次认证); level never drops."""
    methods = sorted(set(user_session.amr) | set(amr))
    new_level = int(session_level(account.real_name_level, methods))
    user_session.amr = methods
    user_session.auth_level = max(user_session.auth_level, new_level)
    user_session.auth_time = utcnow()
    if passes_second_factor(amr):
        user_session.second_factor_at = user_session.auth_time
    db.flush()
    record_auth_event(
        db,
        "step_up",
        success=True,
        account_id=account.id,
        session_id=user_session.id,
        meta=meta,
        detail={"amr": methods, "auth_level": user_session.auth_level},
    )
    return user_session


def set_acting_for(
    db: Session, user_session: UserSession, legal_entity_id: str | None, *, meta: RequestMeta = NO_META
) -> UserSession:
    """Switch the enterprise a natural person acts for in this session (None: act as oneself)."""
    if legal_entity_id is not None:
        valid = {e.id for _, e in agent_authorizations(db, user_session.account_id)}
        if legal_entity_id not in valid:
            record_auth_event(
                db,
                "acting_for",
                success=False,
                account_id=user_session.account_id,
                session_id=user_session.id,
                meta=meta,
                detail={"legal_entity_id": legal_entity_id},
            )
            raise NotAuthorizedAgent()
    user_session.acting_for = legal_entity_id
    db.flush()
    record_auth_event(
        db,
        "acting_for",
        success=True,
        account_id=user_session.account_id,
        session_id=user_session.id,
        meta=meta,
        detail={"legal_entity_id": legal_entity_id},
    )
    return user_session


# --- claims and audited reads ------------------------------------------------------------------------


def legal_entity_credit_code(keys: IdentityKeys, entity: LegalEntity) -> str:
    """The entity's credit code (an enterprise identifier, released in claims)."""
    return decrypt_field(keys, entity.credit_code_enc, purpose=PURPOSE_CREDIT_CODE)


def account_claims(db: Session, account: Account, *, session: UserSession | None = None) -> dict[str, Any]:
    """Claims about an account: name, real-name level, kind, and the enterprise acted for (no ID number)."""
    claims: dict[str, Any] = {
        "name": account.display_name,
        "real_name_level": account.real_name_level,
        "kind": account.kind,
        "email": account.email,
    }
    entity_id = session.acting_for if session is not None else None
    if account.kind == AccountKind.LEGAL:
        entity_id = account.legal_entity_id
    if entity_id is not None:
        entity = db.get(LegalEntity, entity_id)
        if entity is not None:
            role = AgentRole.LEGAL_REP if account.kind == AccountKind.LEGAL else None
            if role is None:
                auth = db.scalar(
                    select(AgentAuthorization).where(
                        AgentAuthorization.account_id == account.id,
                        AgentAuthorization.legal_entity_id == entity.id,
                    )
                )
                role = auth.role if auth is not None else None
            claims["acting_for"] = {
                "id": entity.id,
                "name": entity.name,
                "credit_code": legal_entity_credit_code(of(db).keys, entity),
                "corp_type": entity.corp_type,
                "role": role,
            }
    if session is not None:
        claims["auth_level"] = session.auth_level
        claims["auth_time"] = int(session.auth_time.timestamp())
        claims["amr"] = list(session.amr)
    return claims


def _reveal(
    db: Session,
    account: Account,
    field: str,
    sealed: bytes,
    purpose_key: str,
    reader: str,
    purpose: str,
    meta: RequestMeta,
) -> str:
    value = decrypt_field(of(db).keys, sealed, purpose=purpose_key)
    if reader != "owner":
        # The person can list who read it (GET /api/v1/identity/me/reads); their own reads are not listed.
        record_read(db, account.id, reader, purpose, f"account.{field}")
    record_auth_event(
        db,
        "pii_read",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"field": field, "reader": reader[:64], "purpose": purpose[:200]},
    )
    return value


def reveal_citizen_id(
    db: Session, account: Account, *, reader: str, purpose: str, meta: RequestMeta = NO_META
) -> str:
    """Decrypt an account's identity number, recording who read it and why (conventions §3)."""
    if account.citizen_id_enc is None:
        raise ValueError("account has no identity number")
    return _reveal(
        db, account, "citizen_id", account.citizen_id_enc, PURPOSE_CITIZEN_ID, reader, purpose, meta
    )


def reveal_phone(
    db: Session, account: Account, *, reader: str, purpose: str, meta: RequestMeta = NO_META
) -> str | None:
    """Decrypt an account's mobile number with the same read audit."""
    if account.phone_enc is None:
        return None
    return _reveal(db, account, "phone", account.phone_enc, PURPOSE_PHONE, reader, purpose, meta)


def disable_account(
    db: Session,
    account: Account,
    *,
    actor: str,
    reason: str,
    bus: EventBus | None = None,
    meta: RequestMeta = NO_META,
) -> None:
    """Disable an account (soft, with actor and reason) and end its sessions."""
    account.status = AccountStatus.DISABLED
    account.updated_at = utcnow()
    db.flush()
    record_auth_event(
        db,
        "account_disabled",
        success=True,
        account_id=account.id,
        meta=meta,
        detail={"actor": actor, "reason": reason},
    )
    end_all_sessions(db, account.id, "account_disabled", bus=bus, meta=meta)
