"""Operations rights (ADR 0010); identity's policy decides who holds them."""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, Scope, right

#: See the statuses the lower nodes report (health, version, exchange lag, backup age).
READ: Final[Right] = right("ops.read", "查看下级节点的运行状态", {"platform_admin"}, scope=Scope.PLATFORM)

#: The node's own ops page (/ops): request rate and latency, exchange lag, backups, cases, logins.
MONITOR: Final[Right] = right("ops.monitor", "查看本节点运行监控", {"platform_admin"}, scope=Scope.PLATFORM)

#: Restore the node's data from a backup set (``zhengwu backup restore``): a system administrator's act.
RESTORE: Final[Right] = right("ops.restore", "从备份恢复本节点数据", {"platform_admin"}, scope=Scope.PLATFORM)
