"""How the usage log (用证记录) names a caller to the holder: a department system by its department and
name, never an internal id."""

from __future__ import annotations

from typing import Final

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
