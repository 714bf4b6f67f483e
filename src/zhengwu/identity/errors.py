"""Errors of identity authentication (Chinese messages for citizens, stable codes for machines)."""

from __future__ import annotations

from typing import ClassVar

from zhengwu.kernel.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UpstreamUnavailable,
    ValidationFailed,
)


class KeepsAudit:
    """Marker: the failure's audit rows and counters were written and must be committed anyway."""

    keep_writes: ClassVar[bool] = True


class InvalidCredentials(KeepsAudit, Unauthorized):
    """Unknown account or wrong password (deliberately indistinguishable)."""

    code = "identity.invalid_credentials"
    default_detail = "账号或密码错误"


class AccountLocked(KeepsAudit, Unauthorized):
    """Too many failures: the account is locked for a while."""

    status_code = 423
    code = "identity.account_locked"
    default_detail = "登录失败次数过多，账号已临时锁定，请稍后再试或重置密码"


class AccountDisabled(KeepsAudit, Forbidden):
    """The account is disabled."""

    code = "identity.account_disabled"
    default_detail = "账号已停用，请联系平台客服"


class LoginRateLimited(KeepsAudit, TooManyRequests):
    """Too many failed attempts from this address or for this identifier."""

    code = "identity.rate_limited"
    default_detail = "登录尝试过于频繁，请稍后再试"


class RegistrationRateLimited(KeepsAudit, TooManyRequests):
    """Too many registrations from this address."""

    code = "identity.registration_rate_limited"
    default_detail = "注册过于频繁，请稍后再试"


class MfaRequired(Unauthorized):
    """The password was right; the second factor is still due."""

    code = "identity.mfa_required"
    default_detail = "请输入动态验证码完成登录"


class InvalidOtp(KeepsAudit, Unauthorized):
    """Wrong, expired or replayed one-time code or recovery code."""

    code = "identity.invalid_otp"
    default_detail = "动态验证码错误或已使用"


class NotAuthenticated(Unauthorized):
    """No valid session."""

    code = "identity.not_authenticated"
    default_detail = "请先登录"


class SessionExpired(KeepsAudit, Unauthorized):
    """The session timed out (idle or absolute) or was ended."""

    code = "identity.session_expired"
    default_detail = "登录已超时，请重新登录"


class PasswordChangeRequired(Forbidden):
    """A staff account still has the initial password an administrator set."""

    code = "identity.password_change_required"
    default_detail = "请先修改管理员设置的初始密码"


class StepUpRequired(Unauthorized):
    """The action needs a higher real-name level or a fresher authentication."""

    code = "identity.step_up_required"
    default_detail = "该操作需要更高等级的身份认证，请再次验证身份"


class InsufficientLevel(Forbidden):
    """The account's real-name level is below what the action demands."""

    code = "identity.insufficient_level"
    default_detail = "您的实名认证等级不足，无法办理此事项"


class InvalidRegistration(KeepsAudit, ValidationFailed):
    """A registration field failed validation."""

    code = "identity.invalid_registration"
    default_detail = "注册信息有误"


class AccountExists(KeepsAudit, Conflict):
    """The person or enterprise already has an account."""

    code = "identity.account_exists"
    default_detail = "该证件号码已注册，请直接登录或找回密码"


class PhoneInUse(InvalidRegistration):
    """The mobile number is already bound to another account."""


class AccountNotFound(NotFound):
    """No such account."""

    code = "identity.account_not_found"
    default_detail = "账号不存在"


class CsrfFailed(KeepsAudit, Forbidden):
    """The form's CSRF token is missing or wrong."""

    code = "identity.csrf_failed"
    default_detail = "页面已过期或请求来源无效，请刷新页面后重试"


class InvalidResetCode(KeepsAudit, Unauthorized):
    """The password-reset code is wrong, used or expired."""

    code = "identity.invalid_reset_code"
    default_detail = "验证码错误或已过期"


class WeakPassword(ValidationFailed):
    """The new password does not meet the policy."""

    code = "identity.weak_password"
    default_detail = "密码至少8位，且须包含大写字母、小写字母、数字、符号中的至少三类"


class NotAuthorizedAgent(Forbidden):
    """The person holds no valid authorisation for that enterprise."""

    code = "identity.not_authorized_agent"
    default_detail = "您没有该企业的有效经办授权"


class NotificationFailed(KeepsAudit, TooManyRequests):
    """The notifier could not deliver (never reported as success)."""

    status_code = 503
    code = "identity.notification_failed"
    default_detail = "验证码发送失败，请稍后再试"


class UnsupportedMediaType(DomainError):
    """The API was sent something other than JSON."""

    status_code = 415
    code = "identity.unsupported_media_type"
    default_detail = "请求内容类型必须为 application/json"


class RealNameMismatch(KeepsAudit, ValidationFailed):
    """The registry did not confirm the account's name and identity number (or credit code)."""

    code = "identity.real_name_mismatch"
    default_detail = "实名核验未通过：姓名与身份证号码（或单位信息）与登记信息不一致，请核对后到窗口办理"


class RealNameUnavailable(KeepsAudit, UpstreamUnavailable):
    """The verification service could not be asked (not wired, not joined, upstream down, rate-limited)."""

    code = "identity.real_name_unavailable"
    default_detail = "实名核验服务暂时不可用，请稍后再试"


class RealNameNotApplicable(Conflict):
    """Only natural and legal person accounts are verified against the registries."""

    code = "identity.real_name_not_applicable"
    default_detail = "该类账号不适用实名核验"


class CertificateLoginFailed(KeepsAudit, Unauthorized):
    """A certificate login or step-up was refused (challenge, signature, chain, revocation or identity)."""

    code = "identity.certificate_refused"
    default_detail = "数字证书认证未通过"


class CertificateLoginUnavailable(UpstreamUnavailable):
    """No certificate authority is trusted for login on this node."""

    code = "identity.certificate_login_unavailable"
    default_detail = "本平台尚未开通数字证书登录"


class CertificateAccountNotFound(KeepsAudit, NotFound):
    """The certificate is valid but names nobody registered here."""

    code = "identity.certificate_account_not_found"
    default_detail = "该数字证书对应的用户尚未注册，请先注册后再使用证书登录"


class UnregisteredPerson(KeepsAudit, NotFound):
    """A staff action names an ID number nobody registered (the refusal stays in the audit trail)."""

    code = "identity.unregistered_person"
    default_detail = "该身份证号码尚未注册"


class PermissionDenied(Forbidden):
    """The staff-rights policy refused the action (no such right, or not over that department)."""

    code = "identity.permission_denied"
    default_detail = "无权执行此操作"


class ThreeAdminsConflict(Conflict):
    """A staff account would hold two of the 三员 roles (system, security, audit administrator)."""

    code = "identity.three_admins"
    default_detail = "系统管理员、安全管理员、审计管理员（三员）须由不同人员担任，同一账号不得兼任"


class AgentsNotManaged(Forbidden):
    """The person may not manage that enterprise's agents."""

    code = "identity.agents_not_managed"
    default_detail = "只有企业法人账号或该企业的管理员才能管理经办人"


class AgentAuthorizationNotFound(NotFound):
    """No authorisation in force with that id for that enterprise."""

    code = "identity.agent_authorization_not_found"
    default_detail = "经办授权不存在或已经撤销"


class AgentPersonNotFound(NotFound):
    """No real-name natural person with that name and identity number (one answer for both, so the
    form tells nothing of who is registered)."""

    code = "identity.agent_person_not_found"
    default_detail = "未找到姓名与身份证号码相符的实名用户，请核对；经办人须先在本平台注册"


class AgentGrantInvalid(ValidationFailed):
    """An agent's authorisation that breaks a rule (its role, its end date, granting oneself)."""

    code = "identity.agent_grant_invalid"


class MachineUnauthenticated(Unauthorized):
    """A machine caller presented no valid client-credentials access token of this node's provider."""

    code = "identity.machine_unauthenticated"
    default_detail = "请使用客户端凭证访问令牌调用"


class MachineDenied(Forbidden):
    """A machine caller's token lacks the scope the route demands (or its client no department)."""

    code = "identity.machine_denied"
    default_detail = "调用方缺少所需的授权范围"
