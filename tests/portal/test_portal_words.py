"""The words a person reads instead of codes: usage outcomes and what was read of their data."""

from __future__ import annotations

from zhengwu.licenses.usage import result_label
from zhengwu.portal.privacypages import _what, _why


def test_usage_outcomes_in_words() -> None:
    assert result_label("valid") == "证照有效"
    assert result_label("share_revoked") == "被拒绝：您已撤销共享"
    assert result_label("revoked") == "证照已注销" and result_label("superseded") == "证照已换发"
    assert result_label("suspended") == "证照已挂起"
    assert result_label("something_new") == "已记录", "an unknown code is never shown"


def test_what_was_read_in_words() -> None:
    assert _what("account.citizen_id") == "身份证号码"
    assert (
        _what("userinfo:name,phone_number,phone_number_verified,real_name_level")
        == "姓名、手机号码、实名等级"
    )
    assert _what("userinfo:name,new_claim,other_claim") == "姓名、其他账号信息", (
        "unknown claims once, in words"
    )
    assert _what("userinfo:sub") == "账号信息"
    assert _what("something.else") == "个人信息"
    assert _why("userinfo for 社保查询应用") == "您登录该应用时，按您的授权提供"
    assert _why("核对参保") == "核对参保" and _why("") == "未说明"
