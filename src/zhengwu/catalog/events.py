"""Outbox records of the catalog (kernel.events.emit, same transaction): the upward ``up_task_*`` rows,
and on the national node the downward ``dn_task_directory`` rows of its basic catalog.

Topics: ``catalog.up_task_directory``, ``catalog.up_task_{general|public}_{basic|extend|material|
fee_project|questions}``; payloads use the national column names; key = 基本编码 or 实施编码; operation
I for a first publication, U for a later one or a state change (暂停 2 / 取消 3 travel as task_state),
D for child rows that a new version dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import national
from zhengwu.catalog.bulk import insert_rows
from zhengwu.catalog.models import new_row_ids, table_of
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.config import Tier
from zhengwu.kernel.events import OutboxRecord, OutboxStatus, emit
from zhengwu.kernel.logging import current_trace_id
from zhengwu.kernel.node import node_in

DIRECTORY_TOPIC = national.topic("", "directory")
#: The national node's basic catalog goes down to every province (and on to their cities).
DOWNWARD_DIRECTORY_TOPIC = "catalog.dn_task_directory"


def emit_directory(
    session: Session, snapshot: Mapping[str, Any], *, first: bool, upward: bool = True
) -> None:
    """Queue the up_task_directory row of a basic catalog entry (on the national node also the
    dn_task_directory row its lower nodes apply). ``upward=False``: the change came down from the upper
    node, which knows it already — reporting it back would echo it up as this node's own."""
    payload = national.directory_payload(snapshot)
    operation = "I" if first else "U"
    if upward:
        emit(session, DIRECTORY_TOPIC, payload, key=snapshot["catalog_code"], operation=operation)
    if _on_national_node(session):
        emit(session, DOWNWARD_DIRECTORY_TOPIC, payload, key=snapshot["catalog_code"], operation=operation)


def _on_national_node(session: Session) -> bool:
    try:
        return node_in(session).settings.tier is Tier.NATIONAL
    except RuntimeError:  # a session opened outside a node (a script's): no lower nodes to think of
        return False


Message = tuple[str, str, str, dict[str, Any]]  # topic, key, operation, payload


def version_messages(previous: Mapping[str, Any] | None, snapshot: Mapping[str, Any]) -> list[Message]:
    """The upward rows of a published version: basic and extend, plus the changed child rows."""
    family = ct.table_family(snapshot["task_type"])
    key = snapshot["task_code"]
    operation = "I" if previous is None else "U"
    messages: list[Message] = [
        (national.topic(family, "basic"), key, operation, national.basic_payload(snapshot)),
        (national.topic(family, "extend"), key, operation, national.extend_payload(snapshot)),
    ]
    for list_key, table in national.CHILD_TABLES.items():
        for op, row in national.child_changes(previous, snapshot, list_key):
            messages.append(
                (national.topic(family, table), key, op, national.child_payload(snapshot, list_key, row))
            )
    return messages


def emit_task_version(
    session: Session, previous: Mapping[str, Any] | None, snapshot: Mapping[str, Any]
) -> int:
    """Queue the rows of a published version (one outbox record each); returns how many."""
    messages = version_messages(previous, snapshot)
    for topic, key, operation, payload in messages:
        emit(session, topic, payload, key=key, operation=operation)
    return len(messages)


def outbox_rows(messages: Iterable[Message], now: datetime, trace_id: str | None) -> list[dict[str, Any]]:
    """kernel_outbox rows for messages, with the same fields ``kernel.events.emit`` fills in."""
    messages = list(messages)
    ids = new_row_ids(len(messages))
    return [
        {
            "message_id": message_id,
            "topic": topic,
            "key": key,
            "operation": operation,
            "payload": payload,
            "trace_id": trace_id,
            "status": OutboxStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }
        for message_id, (topic, key, operation, payload) in zip(ids, messages, strict=True)
    ]


def emit_many(session: Session, messages: Iterable[Message]) -> int:
    """Queue many outbox records with one executemany (bulk paths; kernel.events has no bulk emit)."""
    rows = outbox_rows(messages, utcnow(), current_trace_id())
    insert_rows(session.connection(), table_of(OutboxRecord), rows)
    return len(rows)


def emit_task_state(session: Session, snapshot: Mapping[str, Any]) -> None:
    """Queue the basic row again after a state change (暂停, 取消)."""
    family = ct.table_family(snapshot["task_type"])
    emit(
        session,
        national.topic(family, "basic"),
        national.basic_payload(snapshot),
        key=snapshot["task_code"],
        operation="U",
    )
