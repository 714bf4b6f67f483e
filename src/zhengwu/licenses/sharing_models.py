"""Persistence of what holders and department systems do with licenses: shares (consent records),
annotated copies (加注件) and one-time download tickets. Kept apart from ``licenses.models`` (issuance)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class LicenseShare(IdMixin, Base):
    """证照共享授权 — one version of a holder's consent to show one license to one verifier.

    A new share of the same license with the same verifier is the consent's next version and supersedes
    the previous one; revoking ends it at once. The token is kept only as a keyed digest.
    """

    __tablename__ = "licenses_share"
    # One row per version of the consent: two concurrent shares with one verifier cannot both be version n.
    __table_args__ = (UniqueConstraint("license_id", "audience_kind", "audience", "version"),)

    license_id: Mapped[str] = mapped_column(ForeignKey("licenses_license.id"), index=True)
    granted_by: Mapped[str] = mapped_column(String(32), index=True)  # the holder's (or agent's) account
    audience_kind: Mapped[str] = mapped_column(String(16))  # department / client / anyone
    audience: Mapped[str] = mapped_column(String(64), default="")  # credit code, client id, "" for anyone
    audience_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    grants: Mapped[list[str]] = mapped_column(PortableJSON)  # "face": the face fields are shown
    version: Mapped[int] = mapped_column(Integer)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="granted")  # granted / revoked / superseded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(300))
    superseded_by: Mapped[str | None] = mapped_column(String(32))
    uses: Mapped[int] = mapped_column(Integer, default=0)


class LicenseCopy(IdMixin, Base):
    """加注件 — an annotated, re-sealed copy of a license made for one purpose, valid until a date."""

    __tablename__ = "licenses_copy"

    license_id: Mapped[str] = mapped_column(ForeignKey("licenses_license.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))  # holder:<account> / client:<client id>
    requester_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))  # 制作事由
    annotation: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # 有效期截至时间
    es_id: Mapped[str] = mapped_column(String(64))
    file_sm3: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # 加注件制作时间


class LicenseDownloadTicket(IdMixin, Base):
    """一次性下载地址 — a ticket a department system redeems once, shortly, for a license or copy file."""

    __tablename__ = "licenses_download_ticket"

    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses_license.id"), index=True)
    copy_id: Mapped[str | None] = mapped_column(ForeignKey("licenses_copy.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    client_name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    item_code: Mapped[str | None] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(64))
    grant_id: Mapped[str | None] = mapped_column(String(32))  # the 用证授权 the ticket was made under
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
