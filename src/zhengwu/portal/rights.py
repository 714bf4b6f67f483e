"""Staff rights over the portal's content (ADR 0010); identity's policy decides who holds them."""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, Scope, right
from zhengwu.portal.errors import AppsForbidden, PortalForbidden

#: Publish, change and withdraw notices and columns; offer the header style to lower nodes, adopt an
#: offered one. The node's own pages: the platform administrator.
PUBLISH: Final[Right] = right(
    "portal.publish",
    "发布门户通知公告、栏目和页面样式",
    {"platform_admin"},
    scope=Scope.PLATFORM,
    refusal=PortalForbidden,
)

#: Register, change and take down the department H5 apps of the mobile front end (接入应用): the
#: platform administrator, and the identity administrator who registers their OIDC clients.
APPS: Final[Right] = right(
    "portal.apps",
    "登记和管理移动端接入应用",
    {"platform_admin", "identity_admin"},
    scope=Scope.PLATFORM,
    refusal=AppsForbidden,
)
