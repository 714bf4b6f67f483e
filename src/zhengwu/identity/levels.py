"""Real-name (trust) levels: an ordered scale following provincial practice (standards §4.2)."""

from __future__ import annotations

from enum import IntEnum


class RealNameLevel(IntEnum):
    """实名等级 2..5; a higher value is stronger, so levels compare with ``<``/``>=``."""

    SELF_DECLARED = 2  # 二级: format checks only
    REGISTRY_MATCHED = 3  # 三级: name + number matched against 人口库 / 法人库
    REAL_PERSON = 4  # 四级: face against the 公安 photo, or the person seen at a counter (窗口核验)
    CERTIFICATE = 5  # 五级: digital certificate (数字证书登录)

    @property
    def label_zh(self) -> str:
        """The level as the citizen sees it."""
        return {
            2: "二级（自主注册）",
            3: "三级（实名核验）",
            4: "四级（实人认证/窗口核验）",
            5: "五级（数字证书）",
        }[int(self)]


# The level a session reaches is the lower of the account's real-name level and what its methods
# prove (amr values of RFC 8176): a password alone never proves more than a registry-matched identity;
# a second, cryptographic factor (等保 8.1.4.1.d) is needed for level 4; a certificate for level 5.
def session_level(account_level: int, amr: list[str]) -> RealNameLevel:
    """The level a session reaches with these methods: min(account level, ceiling of the methods)."""
    methods = set(amr)
    if "sc" in methods or "hwk" in methods:
        ceiling = RealNameLevel.CERTIFICATE
    elif "otp" in methods or "face" in methods:
        ceiling = RealNameLevel.REAL_PERSON
    elif methods:
        ceiling = RealNameLevel.REGISTRY_MATCHED
    else:
        ceiling = RealNameLevel.SELF_DECLARED
    return RealNameLevel(max(RealNameLevel.SELF_DECLARED, min(int(account_level), int(ceiling))))
