"""API shapes of the seal registry and the node PKI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhengwu.kernel.codes.types import USCC

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class SealCreate(BaseModel):
    """制作印章: the department (credit code in the body, never in a URL), name, optional picture."""

    model_config = ConfigDict(extra="forbid")

    department_credit_code: USCC
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    seal_type: int = Field(default=1, ge=1, le=99, description="印章类型：1 单位印章")
    valid_years: int = Field(default=5, ge=1, le=20)
    picture_base64: str | None = Field(default=None, max_length=1_500_000, description="PNG 或 SVG，Base64")


class StatusChange(BaseModel):
    """挂起 / 恢复 / 吊销 with a reason (conventions §14)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class SealRead(BaseModel):
    """A registered seal as staff see it."""

    model_config = ConfigDict(from_attributes=True)

    es_id: str
    name: str
    seal_type: int
    department_id: str
    department_name: str
    status: str
    status_label: str
    status_reason: str | None
    status_changed_at: datetime
    valid_start: datetime
    valid_end: datetime
    picture_type: str
    certificate_serial: str
    certificate_fingerprint: str
    certificate_status: str
    created_at: datetime


class SealStatusRead(BaseModel):
    """印章状态查询 — public answer: what a relying party needs, nothing personal."""

    es_id: str
    name: str
    department_name: str
    status: str
    status_label: str
    status_changed_at: datetime
    valid_start: datetime
    valid_end: datetime
    certificate_status: str
    checked_at: datetime


class TrustAnchorRead(BaseModel):
    """An external root trusted by this node."""

    model_config = ConfigDict(from_attributes=True)

    fingerprint: str
    subject: str
    purposes: list[str]
    crl_url: str | None
    has_crl: bool
    not_after: datetime
    added_by: str
    added_at: datetime
