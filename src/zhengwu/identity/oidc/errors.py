"""Errors of the OIDC subpackage (management API); protocol endpoints answer RFC 6749 error objects."""

from __future__ import annotations

from zhengwu.kernel.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, UpstreamUnavailable


class ClientNotFound(NotFound):
    """No such client."""

    code = "identity.oidc.client_not_found"
    default_detail = "接入应用不存在"


class InvalidClientConfig(BadRequest):
    """A client registration breaks a rule (grant, redirect URI, scope)."""

    code = "identity.oidc.invalid_client_config"
    default_detail = "接入应用配置无效"


class ConsentNotFound(NotFound):
    """No such consent record."""

    code = "identity.oidc.consent_not_found"
    default_detail = "授权记录不存在"


class FederationNotConfigured(Conflict):
    """No upstream (or downstream) provider is configured or registered."""

    code = "identity.oidc.federation_not_configured"
    default_detail = "尚未配置上级平台身份认证"


class FederationUnavailable(UpstreamUnavailable):
    """The federated provider did not answer or answered wrongly."""

    code = "identity.oidc.federation_unavailable"
    default_detail = "上级平台身份认证服务暂时无法访问，请稍后再试"


class FederationRejected(Forbidden):
    """The federated login could not be accepted (bad state, token or identity)."""

    code = "identity.oidc.federation_rejected"
    default_detail = "跨级登录未通过校验，请重新登录"


class NotIdentityAdmin(Forbidden):
    """Only identity administrators manage clients."""

    code = "identity.oidc.admin_required"
    default_detail = "仅统一身份认证管理员可管理接入应用"


class PersonTokenRejected(Unauthorized):
    """A person's bearer token that is not (or no longer) valid here."""

    code = "identity.oidc.invalid_token"
    default_detail = "访问令牌无效、已过期或已撤销"


class PersonTokenScope(Forbidden):
    """A valid person's token issued for something else (another client's scope)."""

    code = "identity.oidc.insufficient_scope"
    default_detail = "该访问令牌未获准调用此接口"
