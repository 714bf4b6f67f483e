"""What the upper node sends down about licenses, and what this node does with it.

* ``licenses.dn_lic_data_error`` (national table ``dn_lic_data_error``): the national e-license system's
  refusal of an ``up_lic_data`` row, with ``error_remark``; each row lands in the abnormal data queue.
* A refusal of one of our ``up_lic_data`` rows in the upper node's receipt, or in the 前置库's
  ``dn_lic_data_error`` table, reaches the same queue through a refusal hook the exchange calls.
* ``licenses.dn_lic_status``: status changes made at the upper node (a license revoked at the national
  system). The national DDL has no such table, so its columns are ours and read tolerantly: the
  identifier from ``certificate_source_id`` (or ``certificate_identifier``), the status from
  ``certificate_status`` (or ``status``) as our words, the national 有效/挂起/注销 or the digits 1/2/3,
  the reason from ``reason`` (or ``error_remark``). Rows naming a license this node does not hold, or a
  status it does not know, are refused with a reason (they stay in the exchange inbox for operators).

Both are ``dn_*`` topics: an upper node publishes them into its feed (``kernel.events.emit``), a lower
node applies them through these table hooks when it pulls the feed (``exchange.downward``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.kernel.config import Settings
from zhengwu.kernel.events import emit
from zhengwu.kernel.node import node_in
from zhengwu.kernel.topics import Declaration, RefusalHook, RowError, TableHook, TopicDeclaration
from zhengwu.licenses import abnormal, lifecycle, service, topics
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.repository import LicenseRepository

ERROR_TOPIC: Final = "licenses.dn_lic_data_error"
ERROR_TABLE: Final = "dn_lic_data_error"
STATUS_TOPIC: Final = "licenses.dn_lic_status"
STATUS_TABLE: Final = "dn_lic_status"
UPPER_ACTOR: Final = "upper:national"

IDENTIFIER_COLUMNS: Final = ("certificate_source_id", "certificate_identifier", "identifier")
STATUS_COLUMNS: Final = ("certificate_status", "status", "status_code")
REASON_COLUMNS: Final = ("reason", "status_reason", "error_remark", "remark")
#: Status words accepted from the upper node → our status.
STATUS_WORDS: Final = {
    "valid": lifecycle.VALID, "有效": lifecycle.VALID, "1": lifecycle.VALID,
    "suspended": lifecycle.SUSPENDED, "挂起": lifecycle.SUSPENDED, "冻结": lifecycle.SUSPENDED, "2": lifecycle.SUSPENDED,
    "revoked": lifecycle.REVOKED, "注销": lifecycle.REVOKED, "撤销": lifecycle.REVOKED, "吊销": lifecycle.REVOKED,
    "3": lifecycle.REVOKED,
}  # fmt: skip
_ACTION: Final = {lifecycle.VALID: "resume", lifecycle.SUSPENDED: "suspend", lifecycle.REVOKED: "revoke"}


def declarations(settings: Settings) -> list[Declaration]:
    """The two downward topics and the hooks that apply their rows on the receiving (lower) node."""
    return [
        TopicDeclaration(ERROR_TOPIC, label="电子证照共享异常数据", route_column=topics.ROUTE_COLUMN),
        TableHook(ERROR_TABLE, abnormal.record_upper_errors),
        # Refusals of our up_lic_data rows in a receipt or through the 前置库 land in the same queue.
        RefusalHook(topics.TABLE, abnormal.record_refusals),
        # Both go on down to the node of the license's area (exchange.applying routes by the column).
        TopicDeclaration(
            STATUS_TOPIC,
            table=STATUS_TABLE,
            key_column="certificate_source_id",
            label="电子证照状态变更（下发）",
            route_column=topics.ROUTE_COLUMN,
        ),
        TableHook(STATUS_TABLE, apply_status),
    ]


def _first(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    for column in columns:
        value = row.get(column)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _bus(session: Session) -> Any:
    try:
        return node_in(session).bus
    except RuntimeError:  # a session opened outside a node (a script's): nobody to tell
        return None


def apply_status(session: Session, rows: Sequence[Any]) -> Mapping[str, RowError]:
    """Table hook of ``dn_lic_status``: apply each status change to the license it names."""
    refused: dict[str, RowError] = {}
    repo = LicenseRepository(session)
    bus = _bus(session)
    for inbound in rows:
        row = inbound.row
        identifier = _first(row, IDENTIFIER_COLUMNS)
        target = STATUS_WORDS.get(_first(row, STATUS_COLUMNS).lower())
        if target is None:
            refused[inbound.row_guid] = RowError("unknown_status", "证照状态无法识别", STATUS_COLUMNS[0])
            continue
        lic = repo.by_identifier(identifier) if identifier else None
        if lic is None and topics.for_lower_node(session, row):
            continue  # not ours: taken only to be passed on to the node of its area
        if lic is None:
            refused[inbound.row_guid] = RowError(
                "unknown_license", "本节点没有这个电子证照", IDENTIFIER_COLUMNS[0]
            )
            continue
        if lic.status == target:
            continue  # already so: a repeated push changes nothing
        reason = f"上级系统：{_first(row, REASON_COLUMNS) or '未说明原因'}"[:500]
        try:
            service.change_status(session, lic.id, _ACTION[target], reason=reason, actor=UPPER_ACTOR, bus=bus)
        except LicenseError as exc:
            refused[inbound.row_guid] = RowError(exc.instance_code, exc.detail, None)
    return refused


def push_status(
    session: Session, identifier: str, status: str, reason: str, *, area_code: str | None = None
) -> None:
    """Upper node: send a license's status change down (through the feed) to the lower node whose area
    holds the license's ``certificate_area_code`` — the one given, else that of a license this node holds;
    without one it goes to every lower node."""
    target = STATUS_WORDS.get(status.strip().lower())
    if target is None:
        raise LicenseError("证照状态应为 valid、suspended 或 revoked", code="licenses.status_word")
    held = LicenseRepository(session).by_identifier(identifier.strip())
    area = (area_code or (held.area_code if held is not None else "") or "").strip()
    if area and not (len(area) == 6 and area.isdigit()):
        raise LicenseError("证照所属管辖属地编码应为 6 位数字", code="licenses.area_code")
    payload = {
        "certificate_source_id": identifier.strip(),
        "certificate_status": target,
        "reason": reason[:500],
    }
    if area:
        payload[topics.ROUTE_COLUMN] = area
    emit(session, STATUS_TOPIC, payload, key=identifier.strip())


def report_error(session: Session, row: Mapping[str, Any], remark: str) -> None:
    """Upper node: send a refused ``up_lic_data`` row back down with the reason (``dn_lic_data_error``)."""
    emit(session, ERROR_TOPIC, {**{k: v for k, v in row.items() if not k.startswith("cd_")
                                   and k not in ("row_guid", "data_source")}, "error_remark": remark[:512]})  # fmt: skip
