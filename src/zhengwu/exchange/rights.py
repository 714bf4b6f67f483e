"""The exchange's staff rights (ADR 0010); machine callers keep their client-credentials scopes."""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, Scope, right

#: Operate the node's exchange: status, abnormal feedback, resend (the same as ``exchange:admin`` clients).
OPERATE: Final[Right] = right(
    "exchange.operate", "运维数据交换（状态、异常反馈、重新上报）", {"platform_admin"}, scope=Scope.PLATFORM
)
