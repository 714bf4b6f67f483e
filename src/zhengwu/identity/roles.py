"""The staff roles this platform grants (工作人员角色), with what each one may do.

Capabilities check the roles they care about (catalog, seals and the OIDC management API keep their own
sets); this is the list an operator may grant, so that a typo on the command line is refused rather than
stored as a role nobody checks. tests/architecture/test_arch_roles.py checks that every role a capability
names is in this list.
"""

from __future__ import annotations

from typing import Final

STAFF_ROLES: Final[dict[str, str]] = {
    "platform_admin": "平台管理员：政务服务管理办公室，管理全部部门的事项、印章和接入应用",
    "admin": "部门管理员：管理本部门的事项、印章和工作人员",
    "dept_admin": "部门事项管理员：管理本部门的事项",
    "identity_admin": "统一身份认证管理员：管理接入应用、签名密钥和对端平台",
    "seal_admin": "印章管理员：制作、挂失、注销本部门印章",
    "seal_user": "用章人：以本部门印章签章",
    "counter": "窗口人员：现场核验身份证原件，将实名等级提升至四级",
}

ADMIN_ROLES: Final = frozenset({"platform_admin", "admin", "dept_admin", "identity_admin", "seal_admin"})


def unknown_roles(roles: list[str]) -> list[str]:
    """The names in ``roles`` that are not staff roles of this platform."""
    return [role for role in roles if role not in STAFF_ROLES]
