"""The audit's exchange topic (``kernel.topics``): signed chain heads reported upward and passed on through
every tier, kept by each node above so that a rebuilt chain below is caught against heads it can no
longer change (ADR 0011)."""

from __future__ import annotations

from zhengwu.audit import heads
from zhengwu.kernel.config import Settings
from zhengwu.kernel.topics import Declaration, TableHook, TopicDeclaration


def declarations(settings: Settings) -> list[Declaration]:
    """One topic keyed by chain and sequence; the receiving node stores each head once."""
    del settings  # the same on every tier: any node may have a lower node reporting to it
    return [
        TopicDeclaration(
            heads.TOPIC,
            table=heads.TABLE,
            key_column="head_key",
            label="审计链头 / audit chain heads",
            relayed=True,  # the national node keeps every node's heads, out of reach of all below it
        ),
        TableHook(heads.TABLE, heads.apply_reported_heads),
    ]
