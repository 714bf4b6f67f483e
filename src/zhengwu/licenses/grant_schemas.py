"""API shapes of the per-client grants (用证授权)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from zhengwu.licenses import grants
from zhengwu.licenses.grant_models import LicenseClientGrant

Operation = Literal["query", "download", "verify"]


class GrantCreate(BaseModel):
    """授予: a department system (client id), one license type, the operations, the purpose and the window."""

    model_config = ConfigDict(extra="forbid")

    client_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    type_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=21, max_length=21)] = Field(
        description="证照类型代码"
    )
    operations: list[Operation] = Field(
        min_length=1, max_length=3, description="query 查询 / download 下载 / verify 核验"
    )
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="授权用途"
    )
    valid_from: AwareDatetime | None = Field(default=None, description="生效时间，带时区（缺省：立即）")
    valid_until: AwareDatetime | None = Field(
        default=None, description="截止时间，带时区（缺省：撤销前一直有效）"
    )


class GrantRevoke(BaseModel):
    """撤销: why."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class GrantRead(BaseModel):
    """A grant as staff read it."""

    id: str
    client_id: str
    client_name: str
    department_id: str
    type_code: str
    operations: list[str]
    purpose: str
    valid_from: datetime
    valid_until: datetime | None
    status: str = Field(description="active 有效 / pending 未生效 / expired 已过期 / revoked 已撤销")
    status_label: str
    granted_by: str
    granted_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_reason: str | None

    @classmethod
    def of(cls, grant: LicenseClientGrant) -> GrantRead:
        """The shape of a stored grant."""
        status = grants.status_of(grant)
        return cls(
            id=grant.id, client_id=grant.client_id, client_name=grant.client_name,
            department_id=grant.department_id, type_code=grant.type_code, operations=list(grant.operations),
            purpose=grant.purpose, valid_from=grant.valid_from, valid_until=grant.valid_until, status=status,
            status_label=grants.STATUS_LABELS[status], granted_by=grant.granted_by, granted_at=grant.granted_at,
            revoked_at=grant.revoked_at, revoked_by=grant.revoked_by, revoked_reason=grant.revoked_reason,
        )  # fmt: skip
