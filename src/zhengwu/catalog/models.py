"""Persistence of the item catalog: basic catalog, implementation lists with their guide, versions, search.

Columns carry the national column names of the 前置库 tables (standards §1.4–1.5) so that the API,
imports, exports and the upward exchange share one vocabulary. The full-text structures of the search
(SQLite FTS5 tables, PostgreSQL GIN indexes) are created by the migration only and are not mapped here.
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import Base, IdMixin, PortableJSON, UTCDateTime


def new_row_id() -> str:
    """A time-ordered UUID (RFC 9562 version 7) as 32 hex characters, for rows written in bulk.

    Same shape as ``kernel.db.new_id``; the millisecond prefix makes bulk inserts append to the primary
    key index instead of touching a random page per row (a million-row import depends on it).
    """
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return raw.hex()


def table_of(model: type[Base]) -> Table:
    """The Core table of a model (bulk paths insert with Core executemany, not the ORM)."""
    return cast(Table, model.__table__)


def new_row_ids(count: int) -> list[str]:
    """``count`` time-ordered ids at once (one clock read, one call for randomness)."""
    prefix = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    noise = os.urandom(10 * count)
    ids = []
    for i in range(count):
        raw = bytearray(prefix + noise[10 * i : 10 * i + 10])
        raw[6] = (raw[6] & 0x0F) | 0x70
        raw[8] = (raw[8] & 0x3F) | 0x80
        ids.append(raw.hex())
    return ids


class Status:
    """Lifecycle states of catalog entries; the national 事项状态 follows from them."""

    DRAFT = "draft"
    PUBLISHED = "published"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


# 事项状态 (standards §1.3): a draft is not yet in use; it is reported as 1 once published.
TASK_STATE_OF = {Status.DRAFT: "1", Status.PUBLISHED: "1", Status.SUSPENDED: "2", Status.CANCELLED: "3"}


class BasicItem(IdMixin, Base):
    """基本目录事项 — one entry of the basic catalog (up_task_directory), identified by its 基本编码."""

    __tablename__ = "catalog_basic_item"

    catalog_code: Mapped[str] = mapped_column(String(12), unique=True)
    local_catalog_code: Mapped[str | None] = mapped_column(String(50))
    task_name: Mapped[str] = mapped_column(String(1000))
    task_type: Mapped[str] = mapped_column(String(2))
    use_level: Mapped[str] = mapped_column(String(11))
    by_law: Mapped[str] = mapped_column(Text)
    plan_effective_date: Mapped[date | None] = mapped_column(Date)
    plan_cancel_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT)
    # Number of the latest published version (0: never published).
    task_version: Mapped[int] = mapped_column(Integer, default=0)
    # True when the working copy differs from the latest published version.
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class TaskItem(IdMixin, Base):
    """实施清单事项 — an implementation item with its whole service guide (办事指南).

    The 实施编码 is derived from the implementing body's credit code, the level and the 基本编码.
    """

    __tablename__ = "catalog_task"
    __table_args__ = (
        Index("ix_catalog_task_catalog_code_use_level", "catalog_code", "use_level"),
        Index("ix_catalog_task_dept_code_status", "dept_code", "status"),
    )

    task_code: Mapped[str] = mapped_column(String(36), unique=True)
    basic_item_id: Mapped[str] = mapped_column(ForeignKey("catalog_basic_item.id"))
    department_id: Mapped[str] = mapped_column(ForeignKey("orgs_department.id"), index=True)
    division_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT)
    task_version: Mapped[int] = mapped_column(Integer, default=0)
    dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))

    # up_task_general_basic / up_task_public_basic
    local_task_code: Mapped[str | None] = mapped_column(String(50))
    catalog_code: Mapped[str] = mapped_column(String(12))
    local_catalog_code: Mapped[str | None] = mapped_column(String(50))
    task_name: Mapped[str] = mapped_column(String(1000))
    task_type: Mapped[str] = mapped_column(String(2))
    dept_name: Mapped[str] = mapped_column(String(200))
    dept_code: Mapped[str] = mapped_column(String(18))
    dept_type: Mapped[str | None] = mapped_column(String(1))
    entrust_name: Mapped[str | None] = mapped_column(String(200))
    use_level: Mapped[str] = mapped_column(String(1))
    power_source: Mapped[str | None] = mapped_column(String(1))
    by_law: Mapped[str | None] = mapped_column(Text)
    accept_condition: Mapped[str | None] = mapped_column(Text)
    anticipate_day: Mapped[int | None] = mapped_column(Integer)
    anticipate_type: Mapped[str | None] = mapped_column(String(1))
    anticipate_explain: Mapped[str | None] = mapped_column(Text)
    promise_day: Mapped[int | None] = mapped_column(Integer)
    promise_type: Mapped[str | None] = mapped_column(String(1))
    promise_explain: Mapped[str | None] = mapped_column(Text)
    handle_flow: Mapped[str | None] = mapped_column(Text)
    handle_type: Mapped[str | None] = mapped_column(String(20))
    transact_addr: Mapped[str | None] = mapped_column(Text)
    transact_time: Mapped[str | None] = mapped_column(Text)
    is_fee: Mapped[str | None] = mapped_column(String(1))
    fee_basis: Mapped[str | None] = mapped_column(Text)
    server_type: Mapped[str | None] = mapped_column(String(32))
    project_type: Mapped[str | None] = mapped_column(String(1))
    limit_scene_num: Mapped[int | None] = mapped_column(Integer)
    link_way: Mapped[str | None] = mapped_column(Text)
    supervise_way: Mapped[str | None] = mapped_column(Text)
    special_procedure: Mapped[str | None] = mapped_column(Text)
    link_addr: Mapped[str | None] = mapped_column(String(500))
    mobile_terminal_url: Mapped[str | None] = mapped_column(String(500))
    is_single_login: Mapped[str | None] = mapped_column(String(1))
    app_is_single_login: Mapped[str | None] = mapped_column(String(1))
    plan_effective_date: Mapped[date | None] = mapped_column(Date)
    plan_cancel_date: Mapped[date | None] = mapped_column(Date)

    # up_task_general_extend / up_task_public_extend
    is_entry_center: Mapped[str | None] = mapped_column(String(1))
    handle_area: Mapped[str | None] = mapped_column(String(2))  # code of codetables.HANDLE_AREAS
    other_dept: Mapped[str | None] = mapped_column(String(500))
    service_type: Mapped[str | None] = mapped_column(String(500))
    limit_explain: Mapped[str | None] = mapped_column(Text)
    result_type: Mapped[str | None] = mapped_column(String(2))
    result_name: Mapped[str | None] = mapped_column(String(500))
    result_guid: Mapped[str | None] = mapped_column(String(64))
    is_schedule: Mapped[str | None] = mapped_column(String(1))
    is_pay_online: Mapped[str | None] = mapped_column(String(1))
    is_express: Mapped[str | None] = mapped_column(String(1))
    is_service_terminals: Mapped[str | None] = mapped_column(String(1))
    user_topic_type: Mapped[str | None] = mapped_column(String(200))
    corp_topic_type: Mapped[str | None] = mapped_column(String(200))
    is_online: Mapped[str | None] = mapped_column(String(1))
    online_handle_depth: Mapped[str | None] = mapped_column(String(20))
    online_handle_url: Mapped[str | None] = mapped_column(String(500))
    limit_scene_explain: Mapped[str | None] = mapped_column(Text)
    town_code: Mapped[str | None] = mapped_column(String(18))
    town_name: Mapped[str | None] = mapped_column(String(100))
    village_code: Mapped[str | None] = mapped_column(String(18))
    village_name: Mapped[str | None] = mapped_column(String(100))
    extend_field: Mapped[str | None] = mapped_column(String(2000))

    # What signing in for this item demands (codetables.ACCESS_FIELDS); not national columns.
    auth_level: Mapped[int | None] = mapped_column(Integer)
    auth_max_age: Mapped[int | None] = mapped_column(Integer)

    materials: Mapped[list[Material]] = relationship(
        order_by="Material.order_num", cascade="all, delete-orphan", lazy="selectin"
    )
    fee_projects: Mapped[list[FeeProject]] = relationship(
        order_by="FeeProject.order_num", cascade="all, delete-orphan", lazy="selectin"
    )
    questions: Mapped[list[Question]] = relationship(
        order_by="Question.order_num", cascade="all, delete-orphan", lazy="selectin"
    )
    handle_items: Mapped[list[HandleItem]] = relationship(
        order_by="HandleItem.order_num", cascade="all, delete-orphan", lazy="selectin"
    )


class Material(IdMixin, Base):
    """申请材料 — one material of a guide (*_material); its id is the national row_guid."""

    __tablename__ = "catalog_material"

    task_id: Mapped[str] = mapped_column(ForeignKey("catalog_task.id", ondelete="CASCADE"), index=True)
    order_num: Mapped[int] = mapped_column(Integer, default=1)
    material_name: Mapped[str] = mapped_column(String(500))
    is_need: Mapped[str] = mapped_column(String(1), default="1")
    material_format: Mapped[str | None] = mapped_column(String(1))
    material_type: Mapped[str | None] = mapped_column(String(1))
    page_format: Mapped[str | None] = mapped_column(String(20))
    page_num: Mapped[int | None] = mapped_column(Integer)
    source_type: Mapped[str | None] = mapped_column(String(2))
    source_explain: Mapped[str | None] = mapped_column(String(500))
    # Blank form and sample: sm3 digests of files in the node's FileStore.
    form_guid: Mapped[str | None] = mapped_column(String(64))
    example_guid: Mapped[str | None] = mapped_column(String(64))
    fill_explain: Mapped[str | None] = mapped_column(Text)
    accept_stand: Mapped[str | None] = mapped_column(Text)
    by_law: Mapped[str | None] = mapped_column(Text)
    remark: Mapped[str | None] = mapped_column(Text)
    license_type_code: Mapped[str | None] = mapped_column(String(64))


class FeeProject(IdMixin, Base):
    """收费项目 — one fee of a guide (*_fee_project)."""

    __tablename__ = "catalog_fee_project"

    task_id: Mapped[str] = mapped_column(ForeignKey("catalog_task.id", ondelete="CASCADE"), index=True)
    order_num: Mapped[int] = mapped_column(Integer, default=1)
    fee_name: Mapped[str] = mapped_column(String(500))
    fee_stand: Mapped[str | None] = mapped_column(Text)
    by_law: Mapped[str | None] = mapped_column(Text)
    is_desc: Mapped[str | None] = mapped_column(String(1))
    desc_explain: Mapped[str | None] = mapped_column(Text)
    remark: Mapped[str | None] = mapped_column(Text)


class Question(IdMixin, Base):
    """常见问题 — one question and answer of a guide (*_questions)."""

    __tablename__ = "catalog_question"

    task_id: Mapped[str] = mapped_column(ForeignKey("catalog_task.id", ondelete="CASCADE"), index=True)
    order_num: Mapped[int] = mapped_column(Integer, default=1)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)


class HandleItem(IdMixin, Base):
    """业务办理项 — a concrete handling scenario of an implementation item (新设、变更、注销 …)."""

    __tablename__ = "catalog_handle_item"

    task_id: Mapped[str] = mapped_column(ForeignKey("catalog_task.id", ondelete="CASCADE"), index=True)
    order_num: Mapped[int] = mapped_column(Integer, default=1)
    task_handle_item: Mapped[str] = mapped_column(String(50), unique=True)
    handle_item_name: Mapped[str] = mapped_column(String(500))
    remark: Mapped[str | None] = mapped_column(Text)


class NationalGuidePart(IdMixin, Base):
    """国家部门事项指南 — one part (basic, extend, a material, fee or question) of the guide of a national
    body's implementation item, pushed down by the upper node (``dn_task_*``). No department of this node
    owns such an item, so its guide is kept here by 实施编码, and the local items of the same 基本编码 show
    it as the national guide they implement (``catalog.service.national_guide``)."""

    __tablename__ = "catalog_national_guide"
    __table_args__ = (UniqueConstraint("task_code", "part", "part_key"),)

    task_code: Mapped[str] = mapped_column(String(36))
    catalog_code: Mapped[str] = mapped_column(String(12), index=True)
    # basic | extend | material | fee_project | questions
    part: Mapped[str] = mapped_column(String(16))
    # What names the part within the item: "" for basic and extend, a digest of the material's, fee's or
    # question's title for the others (the national rows carry no stable id of their own).
    part_key: Mapped[str] = mapped_column(String(64))
    order_num: Mapped[int] = mapped_column(Integer, default=1)
    content: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class Version(IdMixin, Base):
    """事项版本 — an immutable snapshot of a catalog entry taken when it was published."""

    __tablename__ = "catalog_version"
    __table_args__ = (UniqueConstraint("kind", "code", "version"),)

    # "directory" (基本目录, code = 基本编码) or "task" (实施清单, code = 实施编码)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(128))


class History(IdMixin, Base):
    """事项变更记录 — one lifecycle action (create, update, publish, suspend, cancel) with actor and reason."""

    __tablename__ = "catalog_history"
    __table_args__ = (Index("ix_catalog_history_kind_code_at", "kind", "code", "at"),)

    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Synonym(IdMixin, Base):
    """同义词 — a search term and the canonical wording it stands for (社保 → 社会保险)."""

    __tablename__ = "catalog_synonym"

    term: Mapped[str] = mapped_column(String(50), unique=True)
    canonical: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SearchName(Base):
    """检索名称 — one distinct item name of the public search with its tokens (the full-text document)."""

    __tablename__ = "catalog_search_name"

    # Integer key: the rowid of the SQLite FTS5 tables that index this table (external content).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name_key: Mapped[str] = mapped_column(String(1000), unique=True)
    task_name: Mapped[str] = mapped_column(String(1000))
    themes: Mapped[str] = mapped_column(Text, default="")
    tokens: Mapped[str] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # 事项类型 codes seen among the name's items (``01^07``): a type filter skips other names at once.
    task_types: Mapped[str] = mapped_column(String(64), default="", server_default="")


class SearchDept(Base):
    """检索部门 — a department with published items, so that department words in queries become filters."""

    __tablename__ = "catalog_search_dept"

    dept_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    dept_name: Mapped[str] = mapped_column(String(200))
    item_count: Mapped[int] = mapped_column(Integer, default=0)


class SearchEntry(Base):
    """检索条目 — one published implementation item in the public search, with its filter values."""

    __tablename__ = "catalog_search_entry"
    __table_args__ = (
        # Paging order (division, code) first, then every filter column: counts with filters never
        # leave the index (a covering index; SQLite has no INCLUDE clause).
        Index(
            "ix_catalog_search_entry_name_filters",
            "name_id",
            "division_code",
            "task_code",
            "task_type",
            "level",
            "object_mask",
            "depth_mask",
        ),
        Index("ix_catalog_search_entry_dept_name", "dept_code", "name_id"),
        # The departments of one division (the search page's department filter, grouped.departments_in)
        # without reading the entries: 100–290 ms per county on 1,000,000 items became 2 ms.
        Index("ix_catalog_search_entry_division_dept", "division_code", "dept_name", "dept_code"),
    )

    task_id: Mapped[str] = mapped_column(ForeignKey("catalog_task.id", ondelete="CASCADE"), primary_key=True)
    task_code: Mapped[str] = mapped_column(String(36), unique=True)
    name_id: Mapped[int] = mapped_column(ForeignKey("catalog_search_name.id"))
    catalog_code: Mapped[str] = mapped_column(String(12))
    dept_code: Mapped[str] = mapped_column(String(18))
    dept_name: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str] = mapped_column(String(6))
    task_type: Mapped[str] = mapped_column(String(2))
    level: Mapped[int] = mapped_column(Integer)
    # Bit 0 个人 (自然人), bit 1 法人 (every organisation type).
    object_mask: Mapped[int] = mapped_column(Integer, default=0)
    # Bit n set when 网上办理深度 n (1-8) is supported.
    depth_mask: Mapped[int] = mapped_column(Integer, default=0)


class ImportJob(IdMixin, Base):
    """导入任务 — a catalog file uploaded over HTTP and imported in the background (conventions §10)."""

    __tablename__ = "catalog_import_job"

    status: Mapped[str] = mapped_column(
        String(16), default="queued", index=True
    )  # queued|running|done|failed|interrupted
    actor: Mapped[str] = mapped_column(String(64))
    # The process that queued and runs the job (host:pid:nonce); it refreshes heartbeat_at meanwhile.
    owner: Mapped[str | None] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    publish: Mapped[bool] = mapped_column(Boolean, default=False)
    file_path: Mapped[str] = mapped_column(String(500))
    progress: Mapped[int] = mapped_column(Integer, default=0)  # bytes (JSON lines) or rows (XLSX) done
    summary: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    rejects: Mapped[list[Any] | None] = mapped_column(PortableJSON)  # the first refused rows
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
