"""Errors of the portal's notices, columns and style, each with its status, stable code and Chinese message."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class PortalError(DomainError):
    """Base of every error raised on purpose by the portal's publishing."""

    status_code = 422
    code = "portal.invalid"
    default_detail = "发布内容不完整或格式不对"


class PortalForbidden(PortalError):
    """The staff member may not publish on the portal."""

    status_code = 403
    code = "portal.forbidden"
    default_detail = "仅平台管理员可发布门户通知公告和栏目"


class NoticeNotFound(PortalError):
    """No notice or column has this id on this node."""

    status_code = 404
    code = "portal.notice_not_found"
    default_detail = "没有该通知公告或栏目"


class NotOurs(PortalError):
    """A notice that came down from an upper node is changed there, not here."""

    status_code = 409
    code = "portal.not_ours"
    default_detail = "该内容由上级平台发布，只能由上级平台修改或撤回"


class StyleNotOffered(PortalError):
    """No upper node has offered a style to adopt."""

    status_code = 404
    code = "portal.style_not_offered"
    default_detail = "上级平台尚未下发页面样式"


class AppNotFound(PortalError):
    """No app has this id on this node, or it was withdrawn."""

    status_code = 404
    code = "portal.app_not_found"
    default_detail = "没有该应用或应用已下架"


class AppsForbidden(PortalError):
    """The staff member may not register apps."""

    status_code = 403
    code = "portal.apps_forbidden"
    default_detail = "仅平台管理员和统一身份认证管理员可登记接入应用"


class NotShowable(PortalError):
    """Only a valid license is shown by its 2-D code (扫码亮证)."""

    status_code = 409
    code = "portal.not_showable"
    default_detail = "只有有效的证照可以出示二维码"


class AppSuspended(PortalError):
    """The app's OIDC client is suspended or revoked at identity: its login would fail there."""

    status_code = 409
    code = "portal.app_suspended"
    default_detail = "该应用目前无法登录，请稍后再试，或通过本平台在线办理"
