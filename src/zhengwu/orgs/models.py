"""Persistence of departments and implementing bodies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, UTCDateTime


class Department(IdMixin, Base):
    """部门 / 实施主体 — a government body identified by its unified social credit code."""

    __tablename__ = "orgs_department"

    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str | None] = mapped_column(String(100))
    division_code: Mapped[str] = mapped_column(String(6), index=True)
    # 行使层级 of the body: 1 国家 2 省 3 市 4 县 5 乡镇 6 村 (standards §1.3)
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("orgs_department.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
