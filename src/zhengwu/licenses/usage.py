"""How the usage log (用证记录) names a caller to the holder: a department system by its department and
name, never an internal id."""

from __future__ import annotations

from typing import Final

from zhengwu.licenses import lifecycle
from zhengwu.licenses.models import LicenseUsage

_KINDS: Final = {
    "public": "公众核验",
    "holder": "持证人本人",
    "cli": "节点运维人员",
    "client": "部门业务系统",
    "account": "工作人员",
    "share": "共享链接持有人",
}
OPERATIONS: Final = {
    "verify_id": "核验（标识+持证主体）",
    "verify_qr": "核验（二维码）",
    "verify_file": "核验（文件）",
    "verify_copy": "核验加注件",
    "holder_view": "查看",
    "holder_download": "下载",
    "holder_preview": "预览",
    "holder_copy": "制作加注件",
    "share_redeem": "使用共享",
    "service_query": "查询（标识）",
    "service_query_holder": "查询（持证主体）",
    "service_verify": "核验（部门系统）",
    "download_url": "获取下载地址",
    "download": "下载",
    "download_copy": "下载加注件",
    "copy": "制作加注件",
}


def who(row: LicenseUsage) -> str:
    """The caller as the holder reads it."""
    if row.caller_name:
        return row.caller_name
    return _KINDS.get(row.caller.split(":", 1)[0], "其他")


def operation_label(operation: str) -> str:
    """The operation in plain Chinese."""
    return OPERATIONS.get(operation, operation)


_RESULTS: Final = {
    "ok": "完成",
    "valid": "证照有效",
    "made": "已制作",
    "no_match": "证照与持证主体不符",
    "not_found": "没有找到证照",
    "not_registered": "不是本平台登记的证照文件",
    "bad_signature": "二维码无效",
    "denied": "被拒绝：无权使用这类证照",
    "refused": "被拒绝",
    "share_audience": "被拒绝：不是您指定的核验方",
    "share_not_found": "被拒绝：共享不存在",
    "share_revoked": "被拒绝：您已撤销共享",
    "share_superseded": "被拒绝：共享已被新的授权取代",
    "share_expired": "被拒绝：共享已过期",
    "ticket_used": "被拒绝：下载地址已使用",
    "ticket_expired": "被拒绝：下载地址已过期",
}


def result_label(result: str) -> str:
    """The outcome in plain Chinese (a license status as its name; never a code)."""
    if result in _RESULTS:
        return _RESULTS[result]
    named = lifecycle.label(result)
    if named == result:
        return "已记录"
    return f"证照{named}" if named.startswith(("已", "有")) else f"证照已{named}"
