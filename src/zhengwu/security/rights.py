"""Staff rights over security events (ADR 0010); identity's policy decides who holds them.

Only the security administrator (安全管理员, one of the 三员) reads security events: not the platform
administrator, whose own actions they may be about.
"""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, Scope, right
from zhengwu.security.errors import SecurityForbidden

#: Read the node's security events.
READ: Final[Right] = right(
    "security.read", "查看本节点安全事件", {"security_admin"}, scope=Scope.PLATFORM, refusal=SecurityForbidden
)

#: Handle the national security notices received: assign, acknowledge, close.
HANDLE_NOTICES: Final[Right] = right(
    "security.notices",
    "处理国家安全通报",
    {"security_admin"},
    scope=Scope.PLATFORM,
    refusal=SecurityForbidden,
)

#: Read the audit change log (the audit administrator, the third of the 三员: audit and nothing else).
AUDIT_READ: Final[Right] = right(
    "security.audit_read",
    "查阅审计变更日志",
    {"audit_admin"},
    scope=Scope.PLATFORM,
    refusal=SecurityForbidden,
)

#: Sign a new anti-tamper manifest of the installed files (``zhengwu security integrity --seal``): what
#: the periodic check then trusts, so the security administrator's act.
INTEGRITY: Final[Right] = right(
    "security.integrity",
    "签署防篡改清单",
    {"security_admin"},
    scope=Scope.PLATFORM,
    refusal=SecurityForbidden,
)
