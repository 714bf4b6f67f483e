"""Persistence of electronic licenses: types, issued licenses, their status history, serial counters, usage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


class LicenseType(IdMixin, Base):
    """证照类型 — what a kind of license looks like: code, definer, holders, face fields, validity, trust level."""

    __tablename__ = "licenses_type"

    code: Mapped[str] = mapped_column(String(21), unique=True)  # 定义机构代码 (USCC) + 3 digits
    name: Mapped[str] = mapped_column(String(200))
    definer_code: Mapped[str] = mapped_column(String(18))
    definer_name: Mapped[str] = mapped_column(String(200))
    issuing_levels: Mapped[list[str]] = mapped_column(PortableJSON)  # province / city / county
    holder_kind: Mapped[str] = mapped_column(String(16))  # person / enterprise / both
    holder_code_types: Mapped[list[str]] = mapped_column(PortableJSON)  # 111, 001, 414, ...
    fields: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON)  # the 照面 schema (licenses.face)
    number_field: Mapped[str | None] = mapped_column(String(64))  # the face field printed as 证照编号
    validity_years: Mapped[int | None] = mapped_column(Integer)  # None: 长期有效
    trust_level: Mapped[str] = mapped_column(String(1))  # A-D (108号文)
    annotation: Mapped[str] = mapped_column(String(500))  # 加注 text
    # license / proof / approval / appraisal (licenses.kinds): other results go the same way as licenses.
    result_kind: Mapped[str] = mapped_column(String(16), default="license", server_default="license")
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class License(IdMixin, Base):
    """电子证照 — one version of an issued license, its GB/T 36903 metadata, sealed file and status."""

    __tablename__ = "licenses_license"
    __table_args__ = (Index("ix_licenses_license_holder", "holder_index", "status"),)

    identifier: Mapped[str] = mapped_column(String(128), unique=True)  # GB/T 36904
    type_id: Mapped[str] = mapped_column(ForeignKey("licenses_type.id"), index=True)
    type_code: Mapped[str] = mapped_column(String(21))
    type_name: Mapped[str] = mapped_column(String(200))
    number: Mapped[str] = mapped_column(String(128))  # 证照编号
    serial: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_code: Mapped[str] = mapped_column(String(18))
    area_code: Mapped[str] = mapped_column(String(6))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_code_type: Mapped[str] = mapped_column(String(3))
    # The holder's ID number or credit code: encrypted at rest, found by its keyed index (identity's).
    holder_code_enc: Mapped[bytes] = mapped_column(LargeBinary)
    holder_index: Mapped[str] = mapped_column(String(64))
    face: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[date] = mapped_column(Date())
    valid_until: Mapped[date | None] = mapped_column(Date())
    trust_level: Mapped[str] = mapped_column(String(1))
    es_id: Mapped[str] = mapped_column(String(64))  # the seal that sealed the file
    file_sm3: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_changed_by: Mapped[str] = mapped_column(String(100))
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("licenses_license.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    # issued (sealed here) or imported (historical data, licenses.importer), like DigiLocker's issued/uploaded.
    source: Mapped[str] = mapped_column(String(16), default="issued", server_default="issued")


class LicenseStatusEvent(IdMixin, Base):
    """证照状态变更 — every status a license had, with reason and actor (conventions §14)."""

    __tablename__ = "licenses_status_event"

    license_id: Mapped[str] = mapped_column(ForeignKey("licenses_license.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LicenseSerial(Base):
    """流水号计数器 — the last serial given per (type, issuer, year); bumped inside the issuing transaction."""

    __tablename__ = "licenses_serial"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))


class LicenseUsage(IdMixin, Base):
    """用证记录 — one query, download or verification of a license: who, why, what, and the answer."""

    __tablename__ = "licenses_usage"
    __table_args__ = (Index("ix_licenses_usage_license_at", "license_id", "at"),)

    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    caller: Mapped[str] = mapped_column(String(100))
    caller_name: Mapped[str | None] = mapped_column(String(200))  # what the holder reads: 某某局业务系统
    purpose: Mapped[str | None] = mapped_column(String(200))  # 用证事由
    operation: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(32))
    license_id: Mapped[str | None] = mapped_column(ForeignKey("licenses_license.id"))
    type_code: Mapped[str | None] = mapped_column(String(21))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    trace_id: Mapped[str | None] = mapped_column(String(64))
    item_code: Mapped[str | None] = mapped_column(String(64))  # 关联事项（实施编码）
    case_number: Mapped[str | None] = mapped_column(String(64))  # 办件编号
    grant_id: Mapped[str | None] = mapped_column(String(32))  # the 用证授权 a department system used
