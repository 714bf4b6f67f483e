"""Errors of the security capability, each with its status, stable code and Chinese message."""

from __future__ import annotations

from zhengwu.kernel.errors import DomainError


class SecurityError(DomainError):
    """Base of every error raised on purpose by zhengwu.security."""

    status_code = 400
    code = "security.error"
    default_detail = "安全事件处理失败"


class SecurityForbidden(SecurityError):
    """The staff member does not hold the security administrator's right."""

    status_code = 403
    code = "security.forbidden"
    default_detail = "仅安全管理员可查看安全事件"


class AuditLogUnreadable(SecurityError):
    """The WAF audit log named cannot be opened."""

    status_code = 422
    code = "security.audit_log_unreadable"
    default_detail = "无法读取 WAF 审计日志文件"
