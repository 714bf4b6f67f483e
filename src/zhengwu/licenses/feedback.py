"""What the upper node sends down about licenses, and what this node does with it.

* ``licenses.dn_lic_data_error`` (national table ``dn_lic_data_error``): the national e-license system's
  refusal of an ``up_lic_data`` row, with ``error_remark``; each row lands in the abnormal data queue.
* A refusal of one of our ``up_lic_data`` rows in the upper node's receipt, or in the 前置库's
  ``dn_lic_data_error`` table, reaches the same queue through a refusal hook the exchange calls.
* ``licenses.dn_lic_status``: status changes made at the upper node (a license revoked at the national
  system). The national DDL has no such table, so its columns are ours and read tolerantly: the
  identifier from ``certificate_source_id`` (or ``certificate_identifier``), the status from
  ``certificate_status`` (or ``status``) as our words, the national 有效/挂起/注销 or the digits 1/2/3,
  the reason from ``reason`` (or ``error_remark``). Operators name further columns and status words in
  ``ZHENGWU_LICENSES__STATUS_PUSH__*`` (``kernel.config.StatusPushMapping``), tried before the built-in
  ones. Rows naming a license this node does not hold, or a status it knows in neither list, are refused
  with a reason (they stay in the exchange inbox for operators); an unknown status word is also logged
  as a warning, so the mapping can be completed. A change applied to a license this node holds is
  not passed on (``kernel.topics.settled_here``): a lower node holds at most the shared copy of it, which
  the change itself updates (``dn_lic_share``); one for a license of a lower area goes on down.

Both are ``dn_*`` topics: an upper node publishes them into its feed (``kernel.events.emit``), a lower
node applies them through these table hooks when it pulls the feed (``exchange.downward``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.audit.changes import record_change
from zhengwu.kernel.config import Settings, StatusPushMapping
from zhengwu.kernel.events import emit
from zhengwu.kernel.logging import get_logger
from zhengwu.kernel.node import node_in, service_in
from zhengwu.kernel.topics import (
    Declaration,
    RefusalHook,
    RowError,
    TableHook,
    TopicDeclaration,
    settled_here,
)
from zhengwu.licenses import abnormal, lifecycle, service, topics
from zhengwu.licenses.datarepo import DataRepository
from zhengwu.licenses.errors import LicenseError
from zhengwu.licenses.repository import LicenseRepository
from zhengwu.licenses.servicekeys import REPORTED_AREA

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
log = get_logger("zhengwu.licenses.feedback")

_ACTION: Final = {lifecycle.VALID: "resume", lifecycle.SUSPENDED: "suspend", lifecycle.REVOKED: "revoke"}


def declarations(settings: Settings) -> list[Declaration]:
    """The two downward topics and the hooks that apply their rows on the receiving (lower) node."""
    return [
        TopicDeclaration(ERROR_TOPIC, label="电子证照共享异常数据", route_column=topics.ROUTE_COLUMN),
        TableHook(ERROR_TABLE, abnormal.record_upper_errors),
        # Refusals of our up_lic_data rows in a receipt or through the 前置库 land in the same queue.
        RefusalHook(topics.TABLE, abnormal.record_refusals, abnormal.settle_resent),
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


@dataclass(frozen=True, slots=True)
class StatusReading:
    """The built-in columns and words of ``dn_lic_status`` with the operator's mapping in front."""

    identifier_columns: tuple[str, ...]
    status_columns: tuple[str, ...]
    reason_columns: tuple[str, ...]
    words: Mapping[str, str]

    @classmethod
    def of(cls, mapping: StatusPushMapping | None) -> StatusReading:
        """The reading for a node's mapping (None: the built-in one)."""
        m = mapping or StatusPushMapping()

        def cols(extra: Sequence[str], builtin: Sequence[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys([*(c.strip() for c in extra if c.strip()), *builtin]))

        words = {**STATUS_WORDS, **{k.strip().lower(): v for k, v in m.status_values.items()}}
        return cls(cols(m.identifier_columns, IDENTIFIER_COLUMNS), cols(m.status_columns, STATUS_COLUMNS),
                   cols(m.reason_columns, REASON_COLUMNS), words)  # fmt: skip


def _reading(session: Session) -> StatusReading:
    try:
        return StatusReading.of(node_in(session).settings.licenses.status_push)
    except RuntimeError:  # a session opened outside a node (a script's): the built-in reading
        return StatusReading.of(None)


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
    reading = _reading(session)
    for inbound in rows:
        row = inbound.row
        identifier = _first(row, reading.identifier_columns)
        value = _first(row, reading.status_columns)
        target = reading.words.get(value.lower())
        if target is None:
            # The value is the upper system's code, not personal data: operators add it to the mapping.
            log.warning("licenses_status_push_unknown_value", value=value[:40], row_guid=inbound.row_guid,
                        columns=sorted(str(c) for c in row)[:40])  # fmt: skip
            refused[inbound.row_guid] = RowError(
                "unknown_status", f"证照状态“{value[:40]}”无法识别", reading.status_columns[0]
            )
            continue
        lic = repo.by_identifier(identifier) if identifier else None
        if lic is None and topics.for_lower_node(session, row):
            continue  # not ours: taken only to be passed on to the node of its area
        if lic is None:
            refused[inbound.row_guid] = RowError(
                "unknown_license", "本节点没有这个电子证照", reading.identifier_columns[0]
            )
            continue
        # Ours: applied here, not passed on. A license issued here for a lower node's area reaches that
        # node as a shared copy (licenses.dn_lic_share), and the change below sends the copy down too.
        settled_here(session, inbound.row_guid)
        if lic.status == target:
            continue  # already so: a repeated push changes nothing
        reason = f"上级系统：{_first(row, reading.reason_columns) or '未说明原因'}"[:500]
        try:
            service.change_status(session, lic.id, _ACTION[target], reason=reason, actor=UPPER_ACTOR, bus=bus)
        except LicenseError as exc:
            refused[inbound.row_guid] = RowError(exc.instance_code, exc.detail, None)
    return refused


@dataclass(frozen=True, slots=True)
class StatusPush:
    """A status change queued for the lower node: the license, its new status, the area it goes to."""

    identifier: str
    status: str
    reason: str
    area_code: str | None  # None: every lower node (nobody here knows where the license lives)


def _reported_area(session: Session, identifier: str) -> str | None:
    lookup = service_in(session, REPORTED_AREA)  # none outside a node, or without an exchange to ask
    return lookup(session, identifier) if lookup is not None else None


def push_status(
    session: Session,
    identifier: str,
    status: str,
    reason: str,
    *,
    actor: str,
    area_code: str | None = None,
) -> StatusPush:
    """Upper node: send a license's status change down (through the feed) to the lower node whose area
    holds the license's ``certificate_area_code`` — the one given, else that of a license this node
    holds, else the one a lower node reported it with; without any it goes to every lower node.
    The API, the CLI and the staff page come here; the decision is in the audit change log."""
    target = STATUS_WORDS.get(status.strip().lower())
    if target is None:
        raise LicenseError("证照状态应为 valid、suspended 或 revoked", code="licenses.status_word")
    key = identifier.strip()
    why = " ".join(reason.split())
    if not key or len(key) > 128:
        raise LicenseError("请给出证照标识（不超过128个字符）", code="licenses.identifier")
    if not 2 <= len(why) <= 500:
        raise LicenseError(
            "请填写原因（2至500字），下级节点会把它记入证照的状态历史", code="licenses.push_reason"
        )
    held = LicenseRepository(session).by_identifier(key)
    area = (
        area_code or (held.area_code if held is not None else "") or _reported_area(session, key) or ""
    ).strip()
    if area and not (len(area) == 6 and area.isdigit()):
        raise LicenseError("证照所属管辖属地编码应为 6 位数字", code="licenses.area_code")
    payload = {"certificate_source_id": key, "certificate_status": target, "reason": why}
    if area:
        payload[topics.ROUTE_COLUMN] = area
    emit(session, STATUS_TOPIC, payload, key=key)
    record_change(session, actor=actor, action="license.push_status", entity="license", entity_id=key,
                  department_id=held.department_id if held is not None else None,
                  after={"status": target, "reason": why, "area_code": area or None})  # fmt: skip
    return StatusPush(key, target, why, area or None)


class RefusedAlready(LicenseError):
    """This version of a reported row was refused already (a second click, another operator)."""

    status_code = 409
    code = "licenses.refused_already"
    default_detail = "这条数据已经退回过，等待下级节点更正后重新上报"


def refusal_key(sender: str, row_guid: str) -> str:
    """The outbox key of a refusal of one reported row (one refusal per version a lower node sent)."""
    return f"{sender}:{row_guid}"[:128]


def refused_already(session: Session, keys: Sequence[str]) -> set[str]:
    """Which refusal keys were already queued (the staff page marks those rows, a second click is void)."""
    return DataRepository(session).keys_emitted(ERROR_TOPIC, keys)


def refuse_reported(session: Session, row: Mapping[str, Any], *, sender: str, row_guid: str, reason: str,
                    actor: str) -> None:  # fmt: skip
    """Upper node: refuse a license row a lower node reported (its national columns, as received) — a
    ``dn_lic_data_error`` row goes down with the reason, to land in that node's abnormal queue; audited.
    The CLI (``zhengwu licenses refuse``) and the staff page both come here; the same version of a row
    is refused once."""
    why = " ".join(reason.split())
    if not 2 <= len(why) <= 500:
        raise LicenseError("请填写退回原因（2至500字）", code="licenses.refuse_reason",
                           detail_en="a reason of 2 to 500 characters is required")  # fmt: skip
    key = refusal_key(sender, row_guid)
    if refused_already(session, [key]):
        raise RefusedAlready(detail_en="this version of the row was already refused")
    report_error(session, row, why, key=key)
    identifier = str(row.get("certificate_source_id") or "")
    record_change(session, actor=actor, action="license.refuse_reported", entity="license", entity_id=identifier,
                  after={"sender": sender, "reason": why})  # fmt: skip


def report_error(session: Session, row: Mapping[str, Any], remark: str, *, key: str | None = None) -> None:
    """Upper node: send a refused ``up_lic_data`` row back down with the reason (``dn_lic_data_error``)."""
    emit(session, ERROR_TOPIC, {**{k: v for k, v in row.items() if not k.startswith("cd_")
                                   and k not in ("row_guid", "data_source")}, "error_remark": remark[:512]},
         key=key)  # fmt: skip
