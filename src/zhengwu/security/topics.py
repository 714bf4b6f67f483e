"""The security exchange topics (``kernel.topics``): severe events and the posture summary reported
upward and passed on through every tier (relayed); each upper node stores events with their origin and
keeps the newest posture per node."""

from __future__ import annotations

from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import Declaration, TableHook, TopicDeclaration
from zhengwu.security import notices, upward


def declarations(settings: Settings) -> list[Declaration]:
    """Our own topics (no national table): events and posture up, notices down."""
    return [
        TopicDeclaration(
            upward.EVENT_TOPIC,
            table=upward.EVENT_TABLE,
            key_column="report_key",
            label="安全事件上报 / security event",
            relayed=True,
        ),
        TableHook(upward.EVENT_TABLE, upward.apply_events),
        TopicDeclaration(
            upward.POSTURE_TOPIC,
            table=upward.POSTURE_TABLE,
            key_column="posture_key",
            label="安全态势上报 / security posture",
            relayed=True,
        ),
        TableHook(upward.POSTURE_TABLE, upward.apply_posture),
        # Notices come down the feed (a dn_ table of our own; the national centre's shape is unpublished).
        TopicDeclaration(
            notices.TOPIC,
            table=notices.TABLE,
            key_column="notice_key",
            label="安全通报 / security notice",
            route_column=notices.ROUTE_COLUMN,
        ),
        TableHook(notices.TABLE, notices.applier(settings)),
        # ...and their acknowledgement and closing go back up to the issuer, through every tier between
        # (relayed: a notice to all reaches the county, whose receipt passes the city and the province).
        TopicDeclaration(
            notices.RECEIPT_TOPIC,
            table=notices.RECEIPT_TABLE,
            key_column="receipt_key",
            label="安全通报回执 / security notice receipt",
            relayed=True,
        ),
        TableHook(notices.RECEIPT_TABLE, notices.apply_receipts),
    ]
