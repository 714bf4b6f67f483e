"""API shapes of the exchange: verification queries and answers, feedback, status."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    purpose: str | None = Field(default=None, max_length=200, description="用途（用于审计）")


class PersonQuery(_Query):
    """人口核验：姓名 + 公民身份号码."""

    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(min_length=15, max_length=18)


class LegalPersonQuery(_Query):
    """法人核验：统一社会信用代码 + 名称 + 法定代表人."""

    credit_code: str = Field(min_length=18, max_length=18)
    name: str = Field(min_length=1, max_length=100)
    legal_representative: str = Field(min_length=1, max_length=100)


class LicenseQuery(_Query):
    """证照核验：电子证照标识 + 持证主体（名称或代码）."""

    identifier: str = Field(min_length=20, max_length=128)
    holder: str = Field(min_length=1, max_length=100)


class VerifyAnswer(BaseModel):
    """Match / no-match plus the minimum fields; the query's personal data is never echoed."""

    match: bool
    status: str | None = None
    entity_type: str | None = None
    license_type: str | None = None
    query_id: str


class FeedbackRead(BaseModel):
    """One abnormal-feedback entry (a row the upper node refused)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    source: str
    topic: str | None
    table_name: str
    row_guid: str
    business_key: str | None
    cd_batch: str | None
    error_code: str
    reason: str
    status: str
    received_at: datetime
    resent_message_id: str | None


class ResendResult(BaseModel):
    """What a resend did."""

    resent: int = 0
    resolved: int = 0
    skipped: int = 0
    requeued: int = 0
