"""The lifecycle of catalog entries as a pure state machine: draft → published → suspended / cancelled."""

from __future__ import annotations

from zhengwu.catalog.errors import InvalidTransition
from zhengwu.catalog.models import Status

STATUS_LABELS = {
    Status.DRAFT: "草稿",
    Status.PUBLISHED: "已发布",
    Status.SUSPENDED: "已暂停",
    Status.CANCELLED: "已取消",
}
_ALLOWED: dict[str, frozenset[str]] = {
    "publish": frozenset({Status.DRAFT, Status.PUBLISHED, Status.SUSPENDED}),
    "suspend": frozenset({Status.PUBLISHED}),
    "cancel": frozenset({Status.DRAFT, Status.PUBLISHED, Status.SUSPENDED}),
    "update": frozenset({Status.DRAFT, Status.PUBLISHED, Status.SUSPENDED}),
    "delete": frozenset({Status.DRAFT}),
}
_RESULT = {"publish": Status.PUBLISHED, "suspend": Status.SUSPENDED, "cancel": Status.CANCELLED}
ACTION_LABELS = {"publish": "发布", "suspend": "暂停", "cancel": "取消", "update": "修改", "delete": "删除"}


def transition(status: str, action: str, *, dirty: bool = True, published_before: bool = False) -> str:
    """The status after ``action``; raises InvalidTransition with a Chinese reason when not allowed."""
    if status not in _ALLOWED.get(action, frozenset()):
        raise InvalidTransition(
            f"事项当前状态为“{STATUS_LABELS.get(status, status)}”，不能{ACTION_LABELS.get(action, action)}",
            detail_en=f"cannot {action} an entry that is {status}",
            extra={"current_status": status, "action": action},
        )
    if action == "publish" and status == Status.PUBLISHED and not dirty:
        raise InvalidTransition(
            "事项没有未发布的修改",
            detail_en="nothing changed since the last publication",
            extra={"current_status": status},
        )
    if action == "delete" and published_before:
        raise InvalidTransition(
            "已发布过的事项不能删除，只能取消", detail_en="a published entry can only be cancelled"
        )
    return _RESULT.get(action, status)
