"""API shapes of the abnormal license data queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhengwu.kernel.codes.types import DivisionCode
from zhengwu.licenses import abnormal
from zhengwu.licenses.datamodels import LicenseAbnormal


class AbnormalRead(BaseModel):
    """One abnormal data entry in a list (no personal data)."""

    id: str
    source: str = Field(description="import 历史证照导入 / upper 上级系统反馈")
    source_label: str
    status: str = Field(description="open / resubmitted / resolved / dismissed")
    status_label: str
    error_code: str
    reason: str = Field(description="异常原因（中文）")
    type_code: str | None
    identifier: str | None
    license_id: str | None
    department_id: str | None
    summary: dict[str, Any]
    received_at: datetime
    handled_at: datetime | None
    handled_by: str | None
    note: str | None
    resubmitted_license_id: str | None

    @classmethod
    def of(cls, entry: LicenseAbnormal) -> Self:
        """The read shape of an entry."""
        return cls(
            id=entry.id,
            source=entry.source,
            source_label=abnormal.SOURCE_LABELS.get(entry.source, entry.source),
            status=entry.status,
            status_label=abnormal.STATUS_LABELS.get(entry.status, entry.status),
            error_code=entry.error_code,
            reason=entry.reason,
            type_code=entry.type_code,
            identifier=entry.identifier,
            license_id=entry.license_id,
            department_id=entry.department_id,
            summary=dict(entry.summary or {}),
            received_at=entry.received_at,
            handled_at=entry.handled_at,
            handled_by=entry.handled_by,
            note=entry.note,
            resubmitted_license_id=entry.resubmitted_license_id,
        )


class AbnormalDetail(AbnormalRead):
    """An entry with the refused values to correct (holder codes masked)."""

    values: dict[str, Any] = Field(description="被拒绝的数据（持证主体代码已遮蔽）")


class AbnormalResubmit(BaseModel):
    """更正并重新提交: corrected face fields (merged over the refused ones) and/or holder."""

    model_config = ConfigDict(extra="forbid")

    face: dict[str, Any] | None = None
    holder_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None
    ) = None
    holder_code: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=20)] | None
    ) = None
    holder_code_type: Annotated[str, StringConstraints(pattern=r"^\d{3}$")] | None = None


class AbnormalDismiss(BaseModel):
    """忽略: why the entry needs no resubmission."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class StatusPushCreate(BaseModel):
    """A status change for a license a lower node holds (an upper node's decision)."""

    model_config = ConfigDict(extra="forbid")

    identifier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] = (
        Field(description="证照标识（下级节点上报时的 certificate_source_id）")
    )
    status: Literal["valid", "suspended", "revoked"] = Field(description="有效 / 挂起 / 注销")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)] = Field(
        description="原因：下级节点记入证照的状态历史"
    )
    area_code: DivisionCode | None = Field(
        default=None,
        description="证照所属管辖属地（6位行政区划代码）；缺省时取本节点持有的证照或下级上报时的属地",
    )


class StatusPushRead(BaseModel):
    """What was queued: the row goes down the feed to the lower node of ``area_code`` (None: every one)."""

    identifier: str
    status: str
    reason: str
    area_code: str | None
    queued: bool = True
