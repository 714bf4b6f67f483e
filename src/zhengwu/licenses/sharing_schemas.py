"""API shapes of shares, annotated copies and the department services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from zhengwu.kernel.codes.types import LicenseId, TaskCode
from zhengwu.licenses.schemas import HolderCode, LicenseRead, Purpose, VerifyAnswer

CaseNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                              pattern=r"^[0-9A-Za-z\-_]+$")]  # fmt: skip
Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=100)]


class ShareCreate(BaseModel):
    """共享: with whom (a department by credit code, a client id, or anyone with the link), why, until when."""

    model_config = ConfigDict(extra="forbid")

    audience_kind: Literal["department", "client", "anyone"]
    audience: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] = (
        Field(default=None, description="部门统一社会信用代码或接入应用 client_id；anyone 时不填")
    )
    purpose: Purpose = Field(description="共享事由")
    expires_at: AwareDatetime = Field(description="共享截止时间（带时区）")
    grants: list[Literal["face"]] = Field(default_factory=list, max_length=1,
                                          description="face：核验方可看到照面信息；不填只给最小答复")  # fmt: skip

    @model_validator(mode="after")
    def _audience_named(self) -> ShareCreate:
        if (self.audience_kind == "anyone") != (self.audience is None):
            raise ValueError("audience is required for department and client, and empty for anyone")
        return self


class ShareRead(BaseModel):
    """One version of a holder's consent to a verifier (the token is never shown again)."""

    id: str
    license_id: str
    audience_kind: str
    audience_name: str
    purpose: str
    grants: list[str]
    version: int
    status: str
    status_label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    uses: int


class NewShareRead(ShareRead):
    """A new share with its token, link and QR code — shown this once."""

    token: str = Field(description="共享令牌：交给核验方，仅此一次显示")
    url: str = Field(description="核验方打开的链接（令牌在 # 之后，不会发到服务器日志）")
    qr_png: str = Field(description="链接的二维码，data:image/png;base64")


class ShareRevoke(BaseModel):
    """撤销共享 (the reason is optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=300)] = None


class ShareRedeem(BaseModel):
    """核验方出示共享令牌 (in the body, never in a URL)."""

    model_config = ConfigDict(extra="forbid")

    token: Token
    purpose: Purpose | None = Field(default=None, description="用证事由")


class SharedLicense(BaseModel):
    """The face, when the consent grants it."""

    identifier: str
    number: str
    holder_name: str
    face: dict[str, str]
    valid_from: date
    valid_until: date | None
    issued_at: datetime


class ShareTerms(BaseModel):
    """What the holder consented to."""

    purpose: str
    expires_at: datetime
    audience_name: str
    grants: list[str]


class ShareAnswer(VerifyAnswer):
    """A redeemed share: the minimal answer, the consent's terms, and the face if granted."""

    share: ShareTerms
    license: SharedLicense | None


class CopyRequest(BaseModel):
    """加注件: the purpose (制作事由) and until when it serves."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose
    expires_at: AwareDatetime


class ServiceUse(BaseModel):
    """What every department-service call states: 用证事由 and the item or case it serves."""

    model_config = ConfigDict(extra="forbid")

    purpose: Purpose = Field(description="用证事由（必填）")
    item_code: TaskCode | None = Field(default=None, description="关联事项实施编码")
    case_number: CaseNumber | None = Field(default=None, description="办件编号")

    @model_validator(mode="after")
    def _item_or_case(self) -> ServiceUse:
        if self.item_code is None and self.case_number is None:
            raise ValueError("item_code or case_number is required")
        return self


class ServiceQuery(ServiceUse):
    """QueryCertInfo: by identifier."""

    identifier: LicenseId


class ServiceQrQuery(ServiceUse):
    """QueryCertInfoByQrCode: by the content of the license's 2-D code."""

    qr: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2500)] = Field(
        description="证照二维码内容（核验地址或其中的离线数据）"
    )


class ServiceHolderQuery(ServiceUse):
    """QueryCertInfoByHolderCode: a holder's licenses of one type."""

    holder_code: HolderCode
    holder_code_type: Annotated[str | None, Field(pattern=r"^\d{3}$")] = None
    type_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=21, max_length=21)]


class ServiceVerify(ServiceUse):
    """VerifyCertInfo: identifier + holder."""

    identifier: LicenseId
    holder_code: HolderCode


class ServiceCopy(ServiceUse):
    """CertRemark: an annotated copy for the purpose, until ``expires_at``."""

    identifier: LicenseId
    expires_at: AwareDatetime


class TicketRead(BaseModel):
    """A one-time download address (valid once, for a few minutes)."""

    url: str
    expires_at: datetime
    copy_id: str | None = None
    copy_expires_at: datetime | None = None


class ServiceLicenses(BaseModel):
    """Licenses found for a department system."""

    licenses: list[LicenseRead]
