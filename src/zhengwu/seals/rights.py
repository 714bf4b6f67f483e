"""The seal registry's staff rights (ADR 0010); identity's policy decides who holds them.

Signing is a business act of the seal's own department: no administrator, platform-wide or not, signs
in its place (``platform_admin`` makes and suspends seals for every department but signs with none).
"""

from __future__ import annotations

from typing import Final

from zhengwu.identity.policy import Right, right
from zhengwu.seals.errors import SealForbidden

#: Make, suspend, resume and revoke a department's seals.
MANAGE: Final[Right] = right(
    "seals.manage",
    "制作、挂起、恢复、吊销本部门印章",
    {"seal_admin", "admin", "platform_admin"},
    refusal=SealForbidden,
)

#: Sign documents with a department's seals.
USE: Final[Right] = right("seals.use", "以本部门印章签章", {"seal_user", "seal_admin"}, refusal=SealForbidden)

#: See a department's seals in the registry (their public status is public anyway).
VIEW: Final[Right] = right("seals.view", "查看本部门印章", MANAGE.roles | USE.roles, refusal=SealForbidden)
