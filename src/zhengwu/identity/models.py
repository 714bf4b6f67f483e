"""Persistence of accounts, legal entities, agent authorisations, staff bindings, sessions and auth events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class AccountKind:
    """Kinds of account."""

    NATURAL = "natural"  # 自然人
    LEGAL = "legal"  # 法人 (the enterprise's own account; people act for it as agents)
    STAFF = "staff"  # 工作人员


class AccountStatus:
    """Account states."""

    ACTIVE = "active"
    DISABLED = "disabled"


class Account(IdMixin, Base):
    """账号 — one natural person, legal person or staff member who can log in."""

    __tablename__ = "identity_account"
    __table_args__ = (
        # One account per natural person (and one staff account per person): exact match on the blind index.
        UniqueConstraint("kind", "citizen_id_index"),
        Index("ix_identity_account_phone_index", "phone_index"),
    )

    kind: Mapped[str] = mapped_column(String(8))
    display_name: Mapped[str] = mapped_column(String(200))
    real_name_level: Mapped[int] = mapped_column(Integer, default=2)
    login_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    # GA/T 2000.156 document type (111 居民身份证).
    cert_type: Mapped[str | None] = mapped_column(String(6))
    citizen_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    citizen_id_index: Mapped[str | None] = mapped_column(String(64))
    # 证件散列码 (federation-keyed), what the upward records and the other tiers know the person by.
    cert_key: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_index: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    legal_entity_id: Mapped[str | None] = mapped_column(ForeignKey("identity_legal_entity.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set by an administrator (staff API): the person must choose their own before acting as staff.
    password_initial: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A legacy system's hash kept until the first successful login re-hashes it with argon2id.
    legacy_scheme: Mapped[str | None] = mapped_column(String(32))
    legacy_hash: Mapped[str | None] = mapped_column(Text)
    legacy_params: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.ACTIVE)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_code_hashes: Mapped[list[str] | None] = mapped_column(PortableJSON)
    source: Mapped[str] = mapped_column(String(64), default="register")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def totp_enabled(self) -> bool:
        """True when a confirmed second factor is on the account."""
        return self.totp_enabled_at is not None and self.totp_secret_enc is not None


class LegalEntity(IdMixin, Base):
    """法人 — an enterprise, social organisation or public institution known by its credit code."""

    __tablename__ = "identity_legal_entity"

    # Credit codes of companies are public, but those of 个体工商户 identify a person: protect all alike.
    credit_code_enc: Mapped[bytes] = mapped_column(LargeBinary)
    credit_code_index: Mapped[str] = mapped_column(String(64), unique=True)
    # certificate_key of up_uc_corporator_identity (federation-keyed).
    certificate_key: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    corp_type: Mapped[str] = mapped_column(String(6), default="1")
    legal_rep_name: Mapped[str] = mapped_column(String(100))
    legal_rep_cert_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    legal_rep_cert_index: Mapped[str | None] = mapped_column(String(64), index=True)
    real_name_level: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgentRole:
    """What an agent may do for a legal entity."""

    ADMIN = "admin"  # 管理员: manages the entity's agents
    AGENT = "agent"  # 经办人
    LEGAL_REP = "legal_rep"  # 法定代表人


class AgentAuthorization(IdMixin, Base):
    """经办授权 — a natural person acts for a legal entity with a role during a validity period."""

    __tablename__ = "identity_agent_authorization"
    __table_args__ = (UniqueConstraint("account_id", "legal_entity_id"),)

    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"), index=True)
    legal_entity_id: Mapped[str] = mapped_column(ForeignKey("identity_legal_entity.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=AgentRole.AGENT)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    granted_by: Mapped[str | None] = mapped_column(String(32))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def active_at(self, when: datetime) -> bool:
        """True when the authorisation is in force at ``when``."""
        if self.revoked_at is not None and self.revoked_at <= when:
            return False
        if self.valid_from > when:
            return False
        return self.valid_until is None or when < self.valid_until


class StaffBinding(IdMixin, Base):
    """A staff account's membership of a department with roles (等保: least privilege per subject)."""

    __tablename__ = "identity_staff_binding"
    __table_args__ = (UniqueConstraint("account_id", "department_id"),)

    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"), index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserSession(IdMixin, Base):
    """登录会话 — a browser session; the cookie carries a token whose SM3 digest is stored here."""

    __tablename__ = "identity_session"
    # ``token`` below is a plain attribute: the cookie value, set only on the object start_session returns.
    __allow_unmapped__ = True

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    auth_level: Mapped[int] = mapped_column(Integer)
    amr: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    # When this session last passed a second factor of the node itself (TOTP or certificate): staff
    # actions demand one within a window (identity.policy); ``auth_time`` also moves on a password step-up.
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Waiting for the second factor: not a usable session yet.
    mfa_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    acting_for: Mapped[str | None] = mapped_column(ForeignKey("identity_legal_entity.id"))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))

    token: str | None = None

    @property
    def active(self) -> bool:
        """Not ended (timeouts are checked by the service against the clock)."""
        return self.ended_at is None


class PasswordReset(IdMixin, Base):
    """A password-reset code sent through a verified channel; only its keyed hash is stored."""

    __tablename__ = "identity_password_reset"

    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthEvent(Base):
    """认证审计 — one authentication event, hash-chained with SM3 so that tampering is detectable."""

    __tablename__ = "identity_auth_event"
    __table_args__ = (
        Index("ix_identity_auth_event_account_occurred", "account_id", "occurred_at"),
        # Rate limits count recent failures per address and per identifier: success leads, so that the
        # many successful logins behind one NAT address are never scanned.
        Index("ix_identity_auth_event_ip_failures", "ip", "success", "occurred_at"),
        Index("ix_identity_auth_event_subject_failures", "subject_index", "success", "occurred_at"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_type: Mapped[str] = mapped_column(String(32))
    success: Mapped[bool] = mapped_column(Boolean)
    account_id: Mapped[str | None] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(64))
    # Keyed hash of the identifier typed at login: failures are counted per identifier without storing it.
    subject_index: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    trace_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LoginChallengeUse(Base):
    """数字证书登录挑战 — a certificate-login challenge that was answered (each answers only once).

    Challenges are issued without storage (keyed MAC and expiry); the row is written when one is used, so
    a replayed signature meets the primary key. Rows past their expiry are only history (the worker may
    delete them).
    """

    __tablename__ = "identity_login_challenge_use"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OperatorSession(IdMixin, Base):
    """特权命令会话 — after one second-factor check, an operator's later privileged commands (sudo's timestamp).

    The operator's terminal keeps a random secret in a file only its OS user can read; only its SM3 digest
    is stored. A session is bound to the staff account, the OS user, the host and the terminal it was opened
    on, and to the account's roles at that moment (``rights_digest``): another terminal, a changed role, a
    disabled or locked account or a reset second factor end it.
    """

    __tablename__ = "identity_operator_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("identity_account.id"), index=True)
    os_user: Mapped[str] = mapped_column(String(40))
    host: Mapped[str] = mapped_column(String(255))
    terminal: Mapped[str] = mapped_column(String(255))
    rights_digest: Mapped[str] = mapped_column(String(64))
    # The second factor the session stands for: a factor reset or re-enrolled since ends it.
    factor_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    uses: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
