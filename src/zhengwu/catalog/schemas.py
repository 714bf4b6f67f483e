"""Request and response shapes of the catalog API, in the national column names (``up_task_*``).

Scalar elements accept text or numbers (spreadsheets and department systems send both); the service
normalises them by the code tables and reports field-level reasons. Unknown fields are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from zhengwu.catalog import codetables as ct
from zhengwu.kernel.codes.types import USCC, CatalogCode

Scalar = str | int | float | bool | None
_IN = ConfigDict(extra="forbid", str_strip_whitespace=True)
_OUT = ConfigDict(from_attributes=True)


def _scalar_fields(names: tuple[str, ...], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {n: (Scalar, Field(default=None, description=ct.label(n))) for n in names if n not in skip}


class MaterialIn(BaseModel):
    """申请材料 (*_material)."""

    model_config = _IN
    material_name: str = Field(min_length=1, max_length=500, description="材料名称")
    is_need: Scalar = Field(default=None, description="材料必要性：1 必要 2 非必要 3 容缺后补")
    material_format: Scalar = Field(default=None, description="材料形式：1 纸质 2 电子 3 纸质+电子")
    material_type: Scalar = Field(default=None, description="材料类型：1 原件 2 复印件 3 原件和复印件")
    page_format: Scalar = Field(default=None, description="纸质材料规格")
    page_num: Scalar = Field(default=None, description="材料份数")
    source_type: Scalar = Field(default=None, description="来源渠道：10 申请人自备 20 政府部门核发 99 其他")
    source_explain: Scalar = Field(default=None, description="来源渠道说明")
    form_guid: Scalar = Field(default=None, description="空白表格（文件 SM3 摘要）")
    example_guid: Scalar = Field(default=None, description="示例样表（文件 SM3 摘要）")
    fill_explain: Scalar = Field(default=None, description="填报须知")
    accept_stand: Scalar = Field(default=None, description="受理标准")
    by_law: Scalar = Field(default=None, description="要求提供材料的依据")
    remark: Scalar = Field(default=None, description="备注")
    license_type_code: Scalar = Field(default=None, description="可替代的电子证照类型代码（GB/T 36904）")


class FeeProjectIn(BaseModel):
    """收费项目 (*_fee_project)."""

    model_config = _IN
    fee_name: str = Field(min_length=1, max_length=500, description="收费项目名称")
    fee_stand: Scalar = Field(default=None, description="收费标准")
    by_law: Scalar = Field(default=None, description="收费依据")
    is_desc: Scalar = Field(default=None, description="是否允许减免：1 是 0 否")
    desc_explain: Scalar = Field(default=None, description="允许减免依据")
    remark: Scalar = Field(default=None, description="备注")


class QuestionIn(BaseModel):
    """常见问题 (*_questions)."""

    model_config = _IN
    question: str = Field(min_length=1, max_length=20000, description="问题")
    answer: str = Field(min_length=1, max_length=20000, description="解答")


class HandleItemIn(BaseModel):
    """业务办理项 (its 33-character code is derived: 实施编码 + 2-digit sequence)."""

    model_config = _IN
    handle_item_name: str = Field(min_length=1, max_length=500, description="业务办理项名称")
    remark: Scalar = Field(default=None, description="备注")


_CHILDREN: dict[str, Any] = {
    "materials": (list[MaterialIn] | None, Field(default=None, description="申请材料")),
    "fee_projects": (list[FeeProjectIn] | None, Field(default=None, description="收费项目")),
    "questions": (list[QuestionIn] | None, Field(default=None, description="常见问题")),
    "handle_items": (list[HandleItemIn] | None, Field(default=None, description="业务办理项")),
}
_GUIDE = frozenset(
    {"task_code", "task_state", "task_version", "dept_name", "catalog_code", "dept_code", "use_level"}
)

TaskCreate = create_model(
    "TaskCreate",
    __config__=_IN,
    __doc__="认领基本目录事项，新建实施清单（草稿）。实施编码由实施主体编码、行使层级和基本编码派生。",
    dept_code=(USCC, Field(description="实施主体编码（统一社会信用代码）")),
    catalog_code=(CatalogCode, Field(description="基本编码")),
    use_level=(Scalar, Field(default=None, description="行使层级 1–6（省略时取实施主体所在区划的层级）")),
    task_code=(Scalar, Field(default=None, description="实施编码（可省略；若填写必须等于派生结果）")),
    **_scalar_fields(ct.GUIDE_FIELDS, _GUIDE | {"task_guid"}),
    **_CHILDREN,
)

TaskUpdate = create_model(
    "TaskUpdate",
    __config__=_IN,
    __doc__="修改实施清单要素（只改所给字段；列表整体替换）。",
    **_scalar_fields(ct.GUIDE_FIELDS, _GUIDE | {"task_guid"}),
    **_CHILDREN,
)


class MaterialRead(BaseModel):
    """A material of a published guide."""

    row_guid: str
    order_num: int
    material_name: str
    is_need: str | None = None
    material_format: str | None = None
    material_type: str | None = None
    page_format: str | None = None
    page_num: int | None = None
    source_type: str | None = None
    source_explain: str | None = None
    form_guid: str | None = None
    example_guid: str | None = None
    fill_explain: str | None = None
    accept_stand: str | None = None
    by_law: str | None = None
    remark: str | None = None
    license_type_code: str | None = None
    license_type_name: str | None = Field(
        default=None, description="可替代的电子证照类型名称（本节点定义的）"
    )


class FeeProjectRead(BaseModel):
    """A fee of a published guide."""

    row_guid: str
    order_num: int
    fee_name: str
    fee_stand: str | None = None
    by_law: str | None = None
    is_desc: str | None = None
    desc_explain: str | None = None
    remark: str | None = None


class QuestionRead(BaseModel):
    """A question of a published guide."""

    row_guid: str
    order_num: int
    question: str
    answer: str


class HandleItemRead(BaseModel):
    """A business handling item."""

    row_guid: str
    order_num: int
    task_handle_item: str
    handle_item_name: str
    remark: str | None = None


class NationalGuideRead(BaseModel):
    """The guide of a national body's item of the same 基本编码, pushed down from above (national columns
    as pushed; catalog.service.national_guide)."""

    task_code: str
    basic: dict[str, Any] | None = None
    extend: dict[str, Any] | None = None
    materials: list[dict[str, Any]] = Field(default_factory=list)
    fee_projects: list[dict[str, Any]] = Field(default_factory=list)
    questions: list[dict[str, Any]] = Field(default_factory=list)


_READ_INT = {"anticipate_day", "promise_day", "limit_scene_num", "task_version", *ct.ACCESS_FIELDS}
_GUIDE_FIELDS: dict[str, Any] = {
    n: ((int | None) if n in _READ_INT else (str | None), Field(default=None, description=ct.label(n)))
    for n in ct.GUIDE_FIELDS
}
_GUIDE_FIELDS.update(
    handle_area=(str | None, Field(default=None, description="通办范围（代码，见 handle_area_name）")),
    handle_area_name=(str | None, Field(default=None, description="通办范围名称，如 全省通办")),
    division_code=(str | None, Field(default=None, description="实施主体所在行政区划代码")),
    materials=(list[MaterialRead], Field(default_factory=list, description="申请材料")),
    fee_projects=(list[FeeProjectRead], Field(default_factory=list, description="收费项目")),
    questions=(list[QuestionRead], Field(default_factory=list, description="常见问题")),
    handle_items=(list[HandleItemRead], Field(default_factory=list, description="业务办理项")),
    national_guide=(
        list[NationalGuideRead],
        Field(default_factory=list, description="国家部门同一基本编码事项的办事指南（上级下发）"),
    ),
)
GuideRead = create_model(
    "GuideRead",
    __doc__="办事指南：实施清单的全部要素，字段名即国家前置库 up_task_* 表的列名。",
    **_GUIDE_FIELDS,
)


class TaskSummary(BaseModel):
    """An implementation item in staff lists."""

    model_config = _OUT
    task_code: str
    task_name: str
    catalog_code: str
    task_type: str
    use_level: str
    dept_code: str
    dept_name: str
    division_code: str
    status: str = Field(description="draft 草稿 / published 已发布 / suspended 已暂停 / cancelled 已取消")
    task_version: int = Field(description="最新发布的版本号（0：从未发布）")
    dirty: bool = Field(description="有未发布的修改")
    updated_at: datetime


class StaffTaskRead(BaseModel):
    """The working copy of an implementation item (staff view)."""

    status: str
    dirty: bool
    task_version: int
    guide: dict[str, Any] = Field(description="工作副本的全部要素（国家列名）")


DirectoryCreate = create_model(
    "DirectoryCreate",
    __config__=_IN,
    __doc__="新增基本目录事项（草稿）。",
    catalog_code=(CatalogCode, Field(description="基本编码（12位）")),
    task_name=(str, Field(min_length=1, max_length=1000, description="事项名称")),
    task_type=(Scalar, Field(description="事项类型 01–10 / 20")),
    use_level=(Scalar | list[str], Field(description="行使层级，多个用 ^ 连接，如 2^3^4")),
    by_law=(str, Field(min_length=1, max_length=20000, description="设定依据")),
    local_catalog_code=(Scalar, Field(default=None, description="地方基本编码")),
    plan_effective_date=(Scalar, Field(default=None, description="计划生效日期")),
    plan_cancel_date=(Scalar, Field(default=None, description="计划取消日期")),
)

DirectoryUpdate = create_model(
    "DirectoryUpdate",
    __config__=_IN,
    __doc__="修改基本目录事项（基本编码不能修改）。",
    task_name=(Scalar, Field(default=None, description="事项名称")),
    task_type=(Scalar, Field(default=None, description="事项类型")),
    use_level=(Scalar | list[str], Field(default=None, description="行使层级")),
    by_law=(Scalar, Field(default=None, description="设定依据")),
    local_catalog_code=(Scalar, Field(default=None, description="地方基本编码")),
    plan_effective_date=(Scalar, Field(default=None, description="计划生效日期")),
    plan_cancel_date=(Scalar, Field(default=None, description="计划取消日期")),
)


class DirectoryRead(BaseModel):
    """A basic catalog entry (up_task_directory columns plus lifecycle)."""

    model_config = _OUT
    catalog_code: str
    local_catalog_code: str | None
    task_name: str
    task_type: str
    use_level: str
    by_law: str
    plan_effective_date: Any = None
    plan_cancel_date: Any = None
    status: str
    task_version: int
    dirty: bool
    updated_at: datetime


class StateChange(BaseModel):
    """Reason for suspending or cancelling."""

    model_config = _IN
    reason: str = Field(min_length=2, max_length=1000, description="原因")


class HistoryEntry(BaseModel):
    """One lifecycle action."""

    model_config = _OUT
    action: str
    from_status: str | None
    to_status: str
    version: int
    actor: str | None
    reason: str | None
    at: datetime


class VersionMeta(BaseModel):
    """One published version (without its snapshot)."""

    model_config = _OUT
    version: int
    published_at: datetime
    published_by: str | None


class HistoryRead(BaseModel):
    """Lifecycle actions and versions of an entry."""

    code: str
    actions: list[HistoryEntry]
    versions: list[VersionMeta]


class VersionRead(BaseModel):
    """One immutable version with its snapshot."""

    version: int
    published_at: datetime
    published_by: str | None
    snapshot: dict[str, Any]


class Change(BaseModel):
    """One difference between two versions."""

    field: str
    label: str
    old: Any
    new: Any


class DiffRead(BaseModel):
    """Differences between two versions."""

    code: str
    from_version: int
    to_version: int
    changes: list[Change]


class SearchItem(BaseModel):
    """One search hit."""

    task_code: str
    task_name: str
    catalog_code: str
    task_type: str
    task_type_name: str
    use_level: str
    dept_code: str
    dept_name: str
    division_code: str
    match: str = Field(
        description="exact 名称完全相同 / prefix 名称以查询开头 / token 分词匹配 / substring 包含 / filter 仅筛选"
    )


class SearchPage(BaseModel):
    """A page of search hits (total in ``X-Total-Count``)."""

    query: str
    total: int
    implied: dict[str, Any] = Field(description="从查询词推断出的筛选条件（地区、部门）")
    items: list[SearchItem]


class SynonymIn(BaseModel):
    """A synonym: a word people type and the catalog's wording."""

    model_config = _IN
    term: str = Field(min_length=1, max_length=50, description="同义词，如 社保")
    canonical: str = Field(min_length=1, max_length=100, description="规范用语，如 社会保险")


class SynonymRead(BaseModel):
    """A synonym."""

    model_config = _OUT
    term: str
    canonical: str


class IssueRead(BaseModel):
    """One finding of the cross-tier validation."""

    kind: str
    catalog_code: str
    task_code: str
    field: str
    label: str
    reason: str
    other_task_code: str | None = None
    value: Any = None
    other_value: Any = None
