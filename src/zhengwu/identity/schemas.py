"""Request and response bodies of the identity API (personal data only ever in bodies, never in URLs)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from zhengwu.kernel.codes.types import CitizenId


class _Strict(BaseModel):
    # Strict on citizen input (conventions §12): unknown fields are refused.
    model_config = ConfigDict(extra="forbid")


class NaturalRegistration(_Strict):
    """注册自然人账号."""

    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(min_length=1, max_length=40)
    phone: str = Field(min_length=1, max_length=30)
    password: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=254)


class LegalRegistration(_Strict):
    """注册法人账号 (the logged-in natural person, if any, becomes its administrator)."""

    credit_code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    legal_rep_name: str = Field(min_length=1, max_length=60)
    password: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(default=None, max_length=30)
    corp_type: str = Field(default="1", pattern=r"^[0-9A-Za-z]{1,6}$")


class LoginRequest(_Strict):
    """Password login with any identifier (ID number, credit code, mobile, e-mail, login name)."""

    identifier: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=128)


class CodeRequest(_Strict):
    """A one-time code (TOTP or recovery code)."""

    code: str = Field(min_length=1, max_length=32)


class StepUpRequest(_Strict):
    """Re-authentication: the password, a second-factor code, or both."""

    password: str | None = Field(default=None, max_length=128)
    code: str | None = Field(default=None, max_length=32)


class ForgotRequest(_Strict):
    """Ask for a reset code."""

    identifier: str = Field(min_length=1, max_length=254)


class ResetRequest(_Strict):
    """Set a new password with the code received."""

    identifier: str = Field(min_length=1, max_length=254)
    code: str = Field(min_length=1, max_length=16)
    new_password: str = Field(min_length=1, max_length=128)


class PasswordChange(_Strict):
    """Change one's password."""

    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class ActingForRequest(_Strict):
    """Act for an enterprise (None: as oneself)."""

    legal_entity_id: str | None = Field(default=None, max_length=32)


class AgentRead(BaseModel):
    """One agent in force of an enterprise (for those who manage its agents)."""

    authorization_id: str
    account_id: str
    name: str
    role: str
    role_label: str
    valid_from: datetime
    valid_until: datetime | None


class EnterpriseAgentsRead(BaseModel):
    """An enterprise and its agents in force."""

    legal_entity_id: str
    name: str
    agents: list[AgentRead]


class AgentGrantRequest(_Strict):
    """经办人授权: the registered person (name and identity number, both must match), the role, the term."""

    name: str = Field(min_length=1, max_length=60)
    id_number: CitizenId
    role: str = Field(default="agent", max_length=16, description="agent（经办人）或 admin（管理员）")
    valid_until: date | None = Field(default=None, description="授权截止日期（含当日，北京时间）；不填为长期")


class AgentWithdrawRequest(_Strict):
    """Why an agent's authorisation is withdrawn (optional, kept in the audit record)."""

    reason: str | None = Field(default=None, max_length=200)


class AgentWithdrawn(BaseModel):
    """The withdrawn authorisation."""

    authorization_id: str
    legal_entity_id: str
    account_id: str
    revoked_at: datetime


class AccountRead(BaseModel):
    """An account as its owner sees it (identifiers masked)."""

    id: str
    kind: str
    display_name: str
    real_name_level: int
    citizen_id_masked: str | None
    phone_masked: str | None
    email: str | None
    mfa_enabled: bool
    created_at: datetime


class SessionRead(BaseModel):
    """The current session."""

    id: str
    auth_level: int
    amr: list[str]
    auth_time: datetime
    created_at: datetime
    acting_for: str | None
    mfa_pending: bool


class LoginResult(BaseModel):
    """Outcome of a login step."""

    session: SessionRead
    mfa_required: bool
    account: AccountRead | None = None


class MeRead(BaseModel):
    """Who is logged in: account, session and claims."""

    account: AccountRead
    session: SessionRead
    claims: dict[str, Any]


class EnrolmentRead(BaseModel):
    """TOTP enrolment data (shown once)."""

    secret: str
    otpauth_uri: str


class RecoveryCodes(BaseModel):
    """Recovery codes (shown once)."""

    recovery_codes: list[str]


class AuthEventRead(BaseModel):
    """One entry of the account's own audit trail."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    event_type: str
    success: bool
    session_id: str | None
    client_id: str | None
    ip: str | None
    detail: dict[str, Any]


class PersonalDataReadRead(BaseModel):
    """Who read the person's data: the reader, why, what (never the data itself) and when."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    reader: str
    purpose: str
    what: str


class Accepted(BaseModel):
    """A request accepted without revealing whether the account exists."""

    detail: str


class CounterVerification(_Strict):
    """窗口核验: the clerk saw this person with the original ID card."""

    id_number: CitizenId
    name: str = Field(min_length=1, max_length=60)
    evidence: str = Field(default="居民身份证原件", min_length=1, max_length=100)
    department_id: str | None = Field(default=None, max_length=32, description="the clerk's department")


class CertificateChallenge(BaseModel):
    """A certificate-login challenge: the UKey signs ``message`` (SM2 with SM3, default user ID)."""

    challenge: str
    message: str
    expires_at: datetime


class CertificateAuthentication(_Strict):
    """数字证书认证: the challenge, the signing certificate (base64 DER or PEM), sub-CAs, the signature."""

    challenge: str = Field(min_length=1, max_length=100)
    certificate: str = Field(min_length=1, max_length=16_384)
    chain: list[str] = Field(default_factory=list, max_length=5)
    signature: str = Field(min_length=1, max_length=400, description="base64 of DER or raw r‖s")
