"""Identity's own staff rights (ADR 0010): staff management, counter verification, second factors, clients."""

from __future__ import annotations

from typing import Final

from zhengwu.identity.oidc.errors import NotIdentityAdmin
from zhengwu.identity.policy import Right, Scope, right

#: 工作人员管理: create staff, change their roles, disable them — in the departments reached.
STAFF_MANAGE: Final[Right] = right("identity.staff", "管理工作人员", {"admin", "platform_admin"})

#: Remove another staff member's second factor (a lost phone): platform administrators, audited.
FACTOR_RESET: Final[Right] = right(
    "identity.factor_reset", "重置工作人员的动态验证码", {"platform_admin"}, scope=Scope.PLATFORM
)

#: 窗口核验: record that a person was seen with the original ID card (level 4) — a business act of the
#: clerk's own department, which no administrator does in the clerk's place.
COUNTER_VERIFY: Final[Right] = right("identity.counter", "窗口核验", {"counter"})

#: 接入应用管理: the node's OIDC clients, their secrets and logout deliveries.
CLIENTS_MANAGE: Final[Right] = right(
    "identity.clients",
    "管理接入应用",
    {"identity_admin", "platform_admin"},
    scope=Scope.PLATFORM,
    refusal=NotIdentityAdmin,
)

#: The node's certificate authority (``zhengwu pki``): exchange certificates issued, certificates revoked,
#: trust anchors added or removed. Declared here because pki sits below the policy's layer.
PKI_MANAGE: Final[Right] = right(
    "identity.pki", "管理本节点的证书签发、吊销和信任锚", {"platform_admin"}, scope=Scope.PLATFORM
)
