"""The staff roles this platform grants (工作人员角色): what each means and how far it reaches.

A role is held in one department (an ``identity_staff_binding`` row). Its *reach* says which departments
that binding covers:

* ``department`` — the bound department only;
* ``subtree`` — the bound department and its sub-departments (``orgs_department.parent_id``, any depth);
* ``platform`` — every department and the node's own objects (basic catalog, OIDC clients, the exchange).

Roles do not say what may be done: capabilities declare *rights* (``<capability>/rights.py``) naming the
roles that grant them, and ``identity.policy`` decides (ADR 0010). This is the list an operator may grant,
so that a typo on the command line is refused rather than stored as a role nobody checks;
tests/architecture/test_arch_roles.py checks that every right names roles from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Reach(StrEnum):
    """How far a role held in one department reaches."""

    DEPARTMENT = "department"
    SUBTREE = "subtree"
    PLATFORM = "platform"


@dataclass(frozen=True, slots=True)
class Role:
    """A grantable staff role."""

    name: str
    label: str
    reach: Reach


ROLES: Final[dict[str, Role]] = {
    role.name: role
    for role in (
        Role(
            "platform_admin",
            "平台管理员：管理全部部门的事项、印章、工作人员、接入应用和数据交换",
            Reach.PLATFORM,
        ),
        Role("admin", "部门管理员：管理本部门及下级部门的事项、印章和工作人员", Reach.SUBTREE),
        Role("dept_admin", "部门事项管理员：管理本部门的事项", Reach.DEPARTMENT),
        Role("identity_admin", "统一身份认证管理员：管理接入应用、签名密钥和对端平台", Reach.PLATFORM),
        Role("seal_admin", "印章管理员：制作、挂失、注销本部门印章", Reach.DEPARTMENT),
        Role("seal_user", "用章人：以本部门印章签章", Reach.DEPARTMENT),
        Role("license_issuer", "证照签发员：以本部门印章签发、换发、挂起、注销电子证照", Reach.DEPARTMENT),
        Role("case_handler", "办件人员：受理、办理、办结本部门事项的办件", Reach.DEPARTMENT),
        Role("counter", "窗口人员：现场核验身份证原件，将实名等级提升至四级", Reach.DEPARTMENT),
        Role("security_admin", "安全管理员：查看和处置本节点安全事件（三员之一）", Reach.PLATFORM),
        Role("audit_admin", "审计管理员：查阅审计日志和审计链校验结果（三员之一）", Reach.PLATFORM),
    )
}

#: 三员 (等保 level 3): system, security and audit administrator. No staff account holds two of them.
THREE_ADMINS: Final[tuple[str, ...]] = ("platform_admin", "security_admin", "audit_admin")

#: Role name → label (what ``zhengwu users add-staff`` and the staff API accept).
STAFF_ROLES: Final[dict[str, str]] = {name: role.label for name, role in ROLES.items()}


def reach_of(role: str) -> Reach | None:
    """How far ``role`` reaches (None for a name that is not a staff role)."""
    found = ROLES.get(role)
    return found.reach if found is not None else None


def unknown_roles(roles: list[str]) -> list[str]:
    """The names in ``roles`` that are not staff roles of this platform."""
    return [role for role in roles if role not in ROLES]


def three_admin_roles(roles: list[str]) -> list[str]:
    """The 三员 roles among ``roles`` (more than one is a conflict), in their fixed order."""
    held = set(roles)
    return [role for role in THREE_ADMINS if role in held]
