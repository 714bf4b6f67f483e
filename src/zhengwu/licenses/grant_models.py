"""Persistence of the per-client grants (用证授权): which department system may use which license type,
for which operations and purpose, from when until when, and who granted or revoked it. Kept apart from
the holders' shares (``sharing_models``): a grant is the platform's decision, a share the holder's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class LicenseClientGrant(IdMixin, Base):
    """用证授权 — a department system (an OIDC client bound to a department) may query, download or verify
    licenses of one type for a stated purpose within a validity window. Revoked rows are kept (the usage
    log names the grant each use went through)."""

    __tablename__ = "licenses_client_grant"
    __table_args__ = (Index("ix_licenses_client_grant_client_type", "client_id", "type_code"),)

    client_id: Mapped[str] = mapped_column(String(64))
    client_name: Mapped[str] = mapped_column(String(200))  # the department · system, as staff chose it
    department_id: Mapped[str] = mapped_column(String(32))  # the client's department when granted
    type_code: Mapped[str] = mapped_column(String(21))
    operations: Mapped[list[str]] = mapped_column(PortableJSON)  # query / download / verify
    purpose: Mapped[str] = mapped_column(String(200))  # 授权用途
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: until revoked
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoked_reason: Mapped[str | None] = mapped_column(String(300))
