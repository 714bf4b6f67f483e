"""The ops exchange topic (``kernel.topics``): node statuses reported upward and passed on through every
tier (relayed); each upper node keeps the newest per node (ops.reporting)."""

from __future__ import annotations

from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import Declaration, TableHook, TopicDeclaration
from zhengwu.ops import reporting


def declarations(settings: Settings) -> list[Declaration]:
    """One topic keyed by node and time; any node may have lower nodes reporting to it."""
    del settings
    return [
        TopicDeclaration(
            reporting.TOPIC,
            table=reporting.TABLE,
            key_column="status_key",
            label="节点运行状态 / node status",
            relayed=True,
        ),
        TableHook(reporting.TABLE, reporting.apply_reported_status),
    ]
