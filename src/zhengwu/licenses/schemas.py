"""API shapes of electronic licenses."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhengwu.kernel.codes.types import USCC, LicenseId
from zhengwu.licenses import usage
from zhengwu.licenses.models import License, LicenseUsage

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
HolderCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=20)]


class FaceFieldRead(BaseModel):
    """One face field of a type."""

    name: str
    label: str
    type: str
    required: bool
    pattern: str | None = None
    enum: list[str] = []
    max_length: int


class LicenseTypeRead(BaseModel):
    """A license type (public)."""

    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="证照类型代码（定义机构统一社会信用代码+3位）")
    name: str
    definer_code: str
    definer_name: str
    issuing_levels: list[str]
    holder_kind: str
    holder_code_types: list[str]
    fields: list[FaceFieldRead]
    number_field: str | None
    validity_years: int | None = Field(description="有效期年数；空为长期有效")
    trust_level: str = Field(description="可信等级 A–D")
    annotation: str = Field(description="加注文字")
    result_kind: str = Field(
        default="license", description="结果类型：license 证照、proof 证明、approval 批文、appraisal 鉴定报告"
    )


class LicenseIssue(BaseModel):
    """签发证照: type, issuing department, holder (in the body, never in a URL) and the face data."""

    model_config = ConfigDict(extra="forbid")

    type_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=21, max_length=21)]
    department_credit_code: USCC
    holder_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    holder_code: HolderCode
    holder_code_type: Annotated[str | None, Field(pattern=r"^\d{3}$")] = None
    face: dict[str, Any] = Field(max_length=100)
    valid_from: date | None = None
    valid_until: date | None = None


class LicenseRenew(BaseModel):
    """换发: a reason, and the new face data when it changed."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason
    face: dict[str, Any] | None = Field(default=None, max_length=100)
    valid_until: date | None = None


class StatusChange(BaseModel):
    """挂起 / 恢复 / 注销 with a reason (conventions §14)."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class LicenseRead(BaseModel):
    """A license as its holder or issuer sees it (the holder's code is not repeated)."""

    id: str
    identifier: str
    type_code: str
    type_name: str
    number: str
    version: int
    issuer_name: str
    holder_name: str
    holder_code_type: str
    face: dict[str, str]
    issued_at: datetime
    valid_from: date
    valid_until: date | None
    trust_level: str
    status: str
    status_label: str
    status_reason: str | None
    supersedes_id: str | None
    file_sm3: str
    metadata: dict[str, Any] = Field(description="GB/T 36903 元数据")


class VerifyRequest(BaseModel):
    """核验: an identifier with the holder's code, or the content of the license's 2-D code."""

    model_config = ConfigDict(extra="forbid")

    identifier: LicenseId | None = None
    holder_code: HolderCode | None = None
    qr: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=10, max_length=2500)] = None
    purpose: Purpose | None = Field(default=None, description="用证事由")


class QrLookup(BaseModel):
    """按二维码查询: the content of a license's 2-D code (the verification address, or its payload)."""

    model_config = ConfigDict(extra="forbid")

    qr: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2500)]
    purpose: Purpose | None = Field(default=None, description="用证事由")


class QrPublicFace(BaseModel):
    """What the 2-D code itself shows: nothing beyond what the paper's reader sees."""

    identifier: str
    type_name: str
    issuer_name: str
    holder_name_masked: str = Field(description="持证主体名称（部分隐去）")
    issued_on: str | None
    valid_until: str | None = Field(description="有效期至（空：长期有效）")


class VerifyAnswer(BaseModel):
    """Valid or not, with the minimum: status, type and issuer (never the holder)."""

    valid: bool
    status: str | None
    status_label: str | None
    type_code: str | None
    type_name: str | None
    issuer_name: str | None
    reason: str
    seal_verdict: str | None = None
    annotated_copy: dict[str, Any] | None = Field(
        default=None, description="加注件：原证照标识、制作事由、有效期"
    )


class UsageRead(BaseModel):
    """One use of the holder's license (用证记录)."""

    at: datetime
    caller: str = Field(description="使用方：部门及其业务系统名称、公众核验、持证人本人等（不含内部编号）")
    purpose: str | None
    operation: str
    operation_label: str
    result: str
    item_code: str | None = Field(default=None, description="关联事项实施编码")
    case_number: str | None = Field(default=None, description="办件编号")
    license_id: str | None
    identifier: str
    type_name: str
    grant_id: str | None = Field(default=None, description="部门系统此次使用所依据的用证授权（编号）")
    grant_purpose: str | None = Field(default=None, description="该用证授权的授权用途")

    @classmethod
    def of(cls, row: LicenseUsage, lic: License, grant_purposes: Mapping[str, str]) -> UsageRead:
        """One record as the holder and staff read it (the grant's purpose from ``grant_purposes``)."""
        return cls(
            at=row.at,
            caller=usage.who(row),
            purpose=row.purpose,
            operation=row.operation,
            operation_label=usage.operation_label(row.operation),
            result=row.result,
            item_code=row.item_code,
            case_number=row.case_number,
            license_id=row.license_id,
            identifier=lic.identifier,
            type_name=lic.type_name,
            grant_id=row.grant_id,
            grant_purpose=grant_purposes.get(row.grant_id) if row.grant_id else None,
        )


class QrAnswer(VerifyAnswer):
    """The verification answer, with the code's public face when its signature holds."""

    face: QrPublicFace | None = None
