"""The catalog's staff rights (ADR 0010); identity's policy decides who holds them."""

from __future__ import annotations

from typing import Final

from zhengwu.catalog.errors import NotYourDepartment
from zhengwu.identity.policy import Right, Scope, right

#: 实施清单: a department's implementation items (claim, edit, publish, suspend, cancel, history). Holders
#: also read the basic catalog and the synonyms they build on.
ITEMS: Final[Right] = right(
    "catalog.items",
    "管理本部门的实施清单事项",
    {"dept_admin", "admin", "platform_admin"},
    refusal=NotYourDepartment,
)

#: 基本目录: the basic catalog, search synonyms, the validation report and file imports — the platform's.
PLATFORM: Final[Right] = right(
    "catalog.platform", "管理基本目录、同义词和事项导入", {"platform_admin"}, scope=Scope.PLATFORM
)
