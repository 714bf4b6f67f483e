"""Staff rights over cases (ADR 0010); identity's policy decides who holds them, department-scoped.

Handling (accept, supplement, special procedure, conclusion, delivery) belongs to the item's department:
its ``case_handler`` staff, and its administrators. Concluding with a license result also needs
``licenses.issue`` in that department, checked by the route: the license is sealed with its seal.
"""

from __future__ import annotations

from typing import Final

from zhengwu.cases.errors import CaseForbidden
from zhengwu.identity.policy import Right, Scope, right

#: See a department's cases (queue and detail).
VIEW: Final[Right] = right(
    "cases.view", "查看本部门办件", {"case_handler", "admin", "platform_admin"}, refusal=CaseForbidden
)

#: Act on a department's cases.
HANDLE: Final[Right] = right(
    "cases.handle", "受理、办理、办结本部门办件", {"case_handler", "admin"}, refusal=CaseForbidden
)

#: Register department systems' webhook endpoints, read the delivery log, replay deliveries.
WEBHOOKS: Final[Right] = right(
    "cases.webhooks", "管理部门业务系统的办件推送", {"platform_admin"}, refusal=CaseForbidden
)

#: Change the working-day calendar every department's deadlines are counted in (``zhengwu calendar import``).
CALENDAR: Final[Right] = right(
    "cases.calendar", "维护办件工作日历", {"platform_admin"}, scope=Scope.PLATFORM, refusal=CaseForbidden
)
