"""Response models of the security events API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class SecurityEventRead(BaseModel):
    """One security event (or flood summary) as the security administrator reads it; times in UTC."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    event_type: str
    type_label: str
    severity: str
    severity_label: str
    source: str
    peer: str | None
    occurred_at: datetime
    last_at: datetime
    count: int
    summary: str
    detail: dict[str, Any]
    origin: str | None = None  # the lower node that reported it; None: seen on this node
