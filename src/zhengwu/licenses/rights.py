"""Staff rights over electronic licenses (ADR 0010); identity's policy decides who holds them.

Issuing seals the license with the department's own seal, so, as with seals, no administrator issues in
a department's place: only its ``license_issuer`` does. Suspending and revoking are also open to the
department's administrators and the platform administrator (a revocation ordered from above).
"""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, Scope, right
from zhengwu.licenses.errors import LicenseForbidden

#: Issue and renew a department's licenses (sealed with its seal).
ISSUE: Final[Right] = right(
    "licenses.issue", "签发、换发本部门电子证照", {"license_issuer"}, refusal=LicenseForbidden
)

#: Suspend, resume and revoke a department's licenses.
MANAGE: Final[Right] = right(
    "licenses.manage",
    "挂起、恢复、注销本部门电子证照",
    {"license_issuer", "admin", "platform_admin"},
    refusal=LicenseForbidden,
)

#: Grant and revoke department systems' use of license types (用证授权): the platform's decision, so a
#: right of platform reach (the administrators who also manage the systems' registrations).
GRANTS: Final[Right] = right(
    "licenses.grants",
    "授予、撤销部门系统的用证授权",
    {"platform_admin", "identity_admin"},
    scope=Scope.PLATFORM,
    refusal=LicenseForbidden,
)

#: Send a license's status change down to the lower node of its area (licenses.dn_lic_status): an upper
#: node's decision about another node's license, so platform reach, as the exchange's operators have.
PUSH_STATUS: Final[Right] = right(
    "licenses.push_status",
    "向下级节点下发电子证照状态变更",
    {"platform_admin"},
    scope=Scope.PLATFORM,
    refusal=LicenseForbidden,
)
