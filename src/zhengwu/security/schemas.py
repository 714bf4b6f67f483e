"""Response models of the security events API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class NoticeReceiptRead(BaseModel):
    """What one lower node reported about a notice this node issued; times in UTC."""

    node_id: str
    route: str
    status: str
    status_label: str
    note: str | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    received_at: datetime


class NoticeRead(BaseModel):
    """One security notice with its audited trail; times in UTC."""

    id: str
    direction: str
    issuer: str
    to_node: str
    title: str
    body: str
    severity: str
    severity_label: str
    status: str
    status_label: str
    assignee: str | None
    note: str | None
    issued_at: datetime
    received_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    trail: list[dict[str, Any]] = Field(default_factory=list)
    #: For a notice this node issued: the lower nodes that acknowledged or closed it, by node.
    receipts: list[NoticeReceiptRead] = Field(default_factory=list)


class NoticeAssign(BaseModel):
    """Whom to give the notice to (a staff login name)."""

    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=64)


class NoticeClose(BaseModel):
    """What was done about the notice."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
