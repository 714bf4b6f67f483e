"""A security row the upper node cannot store is refused by its row id, as the receipt answers per row:
an incomplete reported event or national notice goes back as abnormal feedback instead of vanishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zhengwu.kernel.config import Settings
from zhengwu.security import notices, upward


@dataclass(frozen=True)
class Row:
    """What the exchange hands a table hook (kernel.topics.ReceivedRow)."""

    row: dict[str, Any]
    row_guid: str = "guid-0001"
    business_key: str = "business-key-0001"
    sender: str = "sjz"
    operation: str = "I"
    order: int = 1
    origin: str = "sjz"
    route: str = "sjz"
    extra: dict[str, Any] = field(default_factory=dict)


def test_an_incomplete_reported_event_is_refused_by_its_row_id() -> None:
    # Nothing is written for a refused row, so no session is touched.
    refused = upward.apply_events(None, [Row({"event_id": "e1"})])  # type: ignore[arg-type]
    assert set(refused) == {"guid-0001"}
    assert refused["guid-0001"].code == "security_event_incomplete"


def test_an_incomplete_notice_for_this_node_is_refused_by_its_row_id() -> None:
    apply = notices.applier(Settings(node_id="hebei"))
    refused = apply(None, [Row({"to_node": "hebei", "title": "通报"})])  # type: ignore[arg-type]
    assert set(refused) == {"guid-0001"}
    assert refused["guid-0001"].code == "security_notice_incomplete"
