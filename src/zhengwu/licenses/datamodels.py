"""Persistence of the licenses' data side: historical imports and the abnormal data queue (异常数据).

Kept apart from ``licenses.models`` (the issued licenses themselves) so that an imported license is an
ordinary license row plus one import record, and a refused row is a queue entry whatever refused it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class LicenseImport(IdMixin, Base):
    """历史证照导入记录 — how one imported license came in: batch, original identifier, warning, file."""

    __tablename__ = "licenses_import"

    license_id: Mapped[str] = mapped_column(ForeignKey("licenses_license.id"), unique=True)
    # SM3 of type, holder index, number and issue date: the same historical row is never stored twice.
    import_key: Mapped[str] = mapped_column(String(64), unique=True)
    batch_id: Mapped[str] = mapped_column(String(32), index=True)
    original_identifier: Mapped[str | None] = mapped_column(String(128))
    identifier_allocated: Mapped[bool] = mapped_column(default=False)
    warning: Mapped[str | None] = mapped_column(String(500))
    source_file: Mapped[str | None] = mapped_column(String(300))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))


class LicenseAbnormal(IdMixin, Base):
    """证照异常数据 — a license row refused by the import or by the upper node, until fixed or dismissed."""

    __tablename__ = "licenses_abnormal"
    __table_args__ = (
        Index("ix_licenses_abnormal_status_at", "status", "received_at"),
        Index("ix_licenses_abnormal_row_key", "row_key", "status"),
    )

    source: Mapped[str] = mapped_column(String(16))  # import | upper
    status: Mapped[str] = mapped_column(
        String(16), default="open"
    )  # open | resubmitted | resolved | dismissed
    error_code: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)  # Chinese, for staff
    type_code: Mapped[str | None] = mapped_column(String(64))
    identifier: Mapped[str | None] = mapped_column(String(128), index=True)
    license_id: Mapped[str | None] = mapped_column(ForeignKey("licenses_license.id"), index=True)
    department_id: Mapped[str | None] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    # Where it came from: the import batch and line, or the feed row's guid; one entry per origin.
    origin: Mapped[str] = mapped_column(String(100), unique=True)
    # A fingerprint of the row that does not depend on the field most likely at fault (the holder code),
    # so that a later successful re-import of the fixed row closes the entry.
    row_key: Mapped[str | None] = mapped_column(String(64))
    # The refused row as received (holder codes inside): SM4-encrypted like every personal field.
    row_enc: Mapped[bytes] = mapped_column(LargeBinary)
    summary: Mapped[dict[str, Any]] = mapped_column(PortableJSON)  # the non-personal columns, for lists
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    resubmitted_license_id: Mapped[str | None] = mapped_column(String(32))
