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


class UnknownNode(SecurityError):
    """A notice names a node that has not joined this node's exchange (or was revoked)."""

    status_code = 422
    code = "security.unknown_node"
    default_detail = "该节点未接入本节点的数据交换（或已被吊销），无法下发通报"


class NoticeNotFound(SecurityError):
    """No notice has this id on this node."""

    status_code = 404
    code = "security.notice_not_found"
    default_detail = "没有该安全通报"


class NoticeStateConflict(SecurityError):
    """The step does not fit the notice's current state (closed already, acknowledged before assignment…)."""

    status_code = 409
    code = "security.notice_state"
    default_detail = "安全通报当前状态不允许此操作"
