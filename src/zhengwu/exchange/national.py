"""The national exchange tables (国家政务服务平台 前置库 ``up_*`` / ``dn_*``) as data: columns, keys, checks.

Every table, column, type, length and NULL rule of the public national DDL (its per-table exports and
``task_init.sql``, standards §2.1, §3, §4.1, §5.3), kept equal to it by
tests/exchange/test_exchange_national_ddl.py, which reads ``../shared/national-ddl`` in place. Where
the two sources disagree a column has a narrower send rule and a wider accept rule
(docs/national-tables.md). Business keys and feedback tables are ours. Every row exchanged over HTTP
carries the control columns ``row_guid, cd_batch, cd_operation, cd_time, data_source`` (standards
§3.1); datetimes travel as Beijing ``yyyyMMddHHmmss`` (conventions §13).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Literal

from zhengwu.kernel.clock import BEIJING
from zhengwu.kernel.topics import RowError

Kind = Literal["str", "int", "datetime"]

COMPACT_RE: Final = re.compile(r"^\d{14}$")
OPERATIONS: Final = frozenset({"I", "U", "D"})


_SAME: Final = -1


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a national table.

    The two national DDL sources disagree on some columns (docs/national-tables.md): ``kind``,
    ``length`` and ``required`` are the narrower rule we send within; ``accept_*`` the wider rule we
    accept (``accept_length`` None: longtext). ``aliases`` are older names of the column, accepted
    on receipt and read as this column.
    """

    name: str
    kind: Kind
    length: int | None = None
    required: bool = False
    comment: str = ""
    accept_kind: Kind | None = None
    accept_length: int | None = _SAME
    accept_required: bool | None = None
    aliases: tuple[str, ...] = ()
    # (kind, length, required) of each rule, precomputed for the per-row checks.
    send_rule: tuple[Kind, int | None, bool] = field(init=False, repr=False, compare=False)
    accept_rule: tuple[Kind, int | None, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.accept_length == _SAME:
            object.__setattr__(self, "accept_length", self.length if self.kind == "str" else None)
        if self.accept_required is None:
            object.__setattr__(self, "accept_required", self.required)
        if self.accept_kind is None:
            object.__setattr__(self, "accept_kind", self.kind)
        object.__setattr__(self, "send_rule", (self.kind, self.length, self.required))
        accept: tuple[Kind, int | None, bool] = (
            self.accept_kind or self.kind, self.accept_length, bool(self.accept_required)
        )  # fmt: skip
        object.__setattr__(self, "accept_rule", accept)

    @property
    def widened(self) -> bool:
        """True when the accept rule is wider than the send rule."""
        return (self.accept_kind, self.accept_length, self.accept_required) != (
            self.kind,
            self.length if self.kind == "str" else None,
            self.required,
        )


@dataclass(frozen=True, slots=True)
class NationalTable:
    """A national exchange table: business columns, the business key, and where its errors come back.

    ``controls`` are the control columns the national DDL gives the table (the abnormal-feedback and
    condition tables lack some, the user and license tables lack ``row_guid``); over the signed HTTP
    exchange every row carries all of them regardless, as the envelope of the row.
    """

    name: str
    comment: str
    key_column: str | None
    columns: tuple[Column, ...]
    feedback_table: str | None = None
    controls: tuple[str, ...] = ("row_guid", "cd_batch", "cd_operation", "cd_time", "data_source")
    by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)
    # Older column names accepted on receipt → the column they are read as.
    aliases: Mapping[str, str] = field(init=False, repr=False, compare=False)
    # Precomputed for the hot path (accept rules): (name, length, required) of text columns, names of the others.
    plan: tuple[
        tuple[tuple[str, int | None, bool], ...], tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]
    ] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        every = (*self.columns, *CONTROL_COLUMNS)
        object.__setattr__(self, "by_name", {c.name: c for c in every})
        object.__setattr__(self, "aliases", {a: c.name for c in self.columns for a in c.aliases})
        object.__setattr__(
            self,
            "plan",
            (
                tuple(
                    (c.name, c.accept_length, bool(c.accept_required))
                    for c in every
                    if c.accept_kind == "str"
                ),
                tuple((c.name, bool(c.accept_required)) for c in every if c.accept_kind == "datetime"),
                tuple((c.name, bool(c.accept_required)) for c in every if c.accept_kind == "int"),
            ),
        )

    @property
    def ddl_columns(self) -> tuple[Column, ...]:
        """The columns of the national DDL table: business columns and the control columns it has."""
        return (*self.columns, *(c for c in CONTROL_COLUMNS if c.name in self.controls))

    def fast_clean(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The row as stored when it is certainly valid (the common case), else None — then the
        slow checks say why. Control columns included; unknown columns dropped."""
        if self.aliases and any(name in row for name in self.aliases):
            return None  # an older column name: the slow path reads it as the current one
        texts, times, ints = self.plan
        get = row.get
        for name, length, required in texts:
            value = get(name)
            if value is None:
                if required:
                    return None
            elif (
                type(value) is not str
                or (length is not None and len(value) > length)
                or (required and (not value or value.isspace()))
            ):
                return None
        for name, required in times:
            value = get(name)
            if value is None:
                if required:
                    return None
            elif type(value) is not str or not compact_ok(value):
                return None
        for name, required in ints:
            value = get(name)
            if value is None:
                if required:
                    return None
            elif type(value) is not int:
                return None
        if row.get("cd_operation") not in OPERATIONS:
            return None
        known = self.by_name
        if all(key in known for key in row):
            return dict(row)
        return {k: v for k, v in row.items() if k in known}


def _s(
    name: str,
    length: int,
    required: bool = False,
    comment: str = "",
    *,
    accept_length: int | None = _SAME,
    accept_required: bool | None = None,
    aliases: tuple[str, ...] = (),
) -> Column:
    return Column(name, "str", length, required, comment, None, accept_length, accept_required, aliases)


def _i(
    name: str, required: bool = False, comment: str = "", *, accept_required: bool | None = None
) -> Column:
    return Column(name, "int", None, required, comment, None, _SAME, accept_required)


def _d(
    name: str,
    required: bool = False,
    comment: str = "",
    *,
    accept_kind: Kind | None = None,
    accept_length: int | None = _SAME,
    accept_required: bool | None = None,
    aliases: tuple[str, ...] = (),
) -> Column:
    return Column(
        name, "datetime", None, required, comment, accept_kind, accept_length, accept_required, aliases
    )


# Standards §3.1: the exchange control columns of every up_/dn_ row.
CONTROL_COLUMNS: Final = (
    _s("row_guid", 50, True, "记录唯一标识"),
    _s("cd_batch", 32, True, "批次号"),
    _s("cd_operation", 2, True, "同步类型"),
    _d("cd_time", True, "同步时间"),
    _s("data_source", 3, True, "数据来源"),
)
CONTROL_NAMES: Final = frozenset(c.name for c in CONTROL_COLUMNS)

# The exchanged columns of every table of the national DDL (bookkeeping columns id, tenant_id,
# create_*/update_*, version left out; control columns in CONTROL_COLUMNS), alphabetical as there.
# Generated from ../shared/national-ddl and kept equal to it by tests/exchange/test_exchange_national_ddl.py.
_ABNORMAL = (
    _s("err_type", 100, True, "异常类型"),
    _s("remark", 1000, False, "备注"),
    _s("table_cd_batch", 32, True, "批次号"),
    _s("table_cd_source", 10, True, "数据来源"),
    _d("table_cd_time", True, "上传日期"),
    _s("table_name", 50, True, "数据表中文名"),
    _s("table_row_guid", 50, True, "数据表主键"),
    _s("table_sql_name", 50, True, "数据表英文名"),
    _d("table_update_time", True, "进入汇聚区日期"),
)
_DN_AUDIT_ITEM_CONDITION = (
    _s("area_code", 20, True, "区划"),
    _s("bs", 2, True, "区分标识"),
    _s("condition_desc", 500, False, "情形描述"),
    _s("condition_name", 50, True, "情形名称"),
    _i("order_num", True, "情形排序"),
    _s("task_guid", 50, True, "事项唯一标识"),
)
_DN_AUDIT_MATERIAL_CONDITION = (
    _s("area_code", 20, True, "区划"),
    _s("bs", 2, True, "区分标识"),
    _s("condition_desc", 500, False, "情形描述"),
    _s("condition_guid", 50, True, "情形唯一标识"),
    _s("material_guid", 50, True, "材料唯一标识"),
)
_LIC_ERROR = (
    _s("certificate_area_code", 32, True, "证照所属管辖属地编码"),
    _s("certificate_holder", 256, True, "持证主体", accept_length=None),
    _s("certificate_holder_code", 256, True, "持证主体代码", accept_length=None),
    _s("certificate_holder_type", 2000, False, "持证主体代码类型"),
    _s("certificate_name", 512, True, "证照名称"),
    _s("certificate_number", 128, True, "证照编码"),
    _s("certificate_source_id", 128, True, "电子证照源标识"),
    _s("certificate_type", 256, True, "证照类型名称"),
    _s("certificate_type_code", 64, True, "证照类型代码"),
    _s("error_remark", 512, True, "异常说明"),
    _s("issue_date", 32, True, "证照颁发日期"),
    _s("issue_dept", 256, True, "证照颁发机构", accept_length=None),
    _s("issue_dept_code", 32, True, "证照颁发机构代码", accept_length=None),
)
_CHECK_BASIC = (
    _i("anticipate_day", True, "法定办结时限", accept_required=False),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位", accept_required=False),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期"),
    _s("power_source", 2, True, "权力来源"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 11, True, "行使层级"),
)
_QUESTIONS = (
    _s("answer", 256, True, "答案", accept_length=None),
    _i("order_num", True, "排序"),
    _s("question", 1000, True, "问题"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
)
_DIRECTORY = (
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 11, True, "行使层级"),
)
_GENERAL_BASIC = (
    _s("accept_condition", 256, True, "受理条件", accept_length=None),
    _i("anticipate_day", True, "法定办结时限"),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位"),
    _s("app_is_single_login", 2, True, "移动端是否对接单点登录"),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("fee_basis", 256, False, "收费依据", accept_length=None),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("handle_type", 5, False, "办理形式"),
    _s("is_fee", 2, True, "是否收费"),
    _s("is_single_login", 2, True, "计算机端是否对接单点登录"),
    _i("limit_scene_num", True, "到办事现场次数"),
    _s("link_addr", 256, False, "计算机端在线办理跳转地址", accept_length=None),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _s("mobile_terminal_url", 500, False, "移动端办理地址", accept_length=None),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期"),
    _s("power_source", 2, True, "权力来源"),
    _s("project_type", 2, True, "办件类型"),
    _i("promise_day", True, "承诺办结时限"),
    _s("promise_explain", 256, True, "承诺办结时限说明", accept_length=None, accept_required=False),
    _i("promise_type", True, "承诺办结时限单位"),
    _s("server_type", 32, True, "服务对象"),
    _s("special_procedure", 500, True, "特别程序"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("transact_addr", 500, True, "办理地点"),
    _s("transact_time", 500, True, "办理时间"),
    _s("use_level", 11, True, "行使层级"),
)
_GENERAL_EXTEND = (
    _s("corp_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("corp_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("extend_field", 2000, False, "扩展字段"),
    _s("handle_area", 2, False, "通办范围"),
    _s("is_entry_center", 2, True, "是否进驻政务大厅"),
    _s("is_express", 2, True, "是否支持物流快递"),
    _s("is_online", 2, True, "是否网办"),
    _s("is_pay_online", 2, True, "是否支持网上支付"),
    _s("is_schedule", 2, False, "是否支持预约办理"),
    _s("is_service_terminals", 2, False, "是否支持终端办理"),
    _s("limit_explain", 256, False, "数量限制", accept_length=None),
    _s("limit_scene_explain", 1000, False, "办理现场办理原因说明"),
    _s("online_handle_depth", 20, False, "网上办理深度"),
    _s("online_handle_url", 256, False, "网办地址", accept_length=None),
    _s("other_dept", 200, False, "联办机构"),
    _s("result_guid", 256, False, "审批结果样本"),
    _s("result_name", 200, False, "审批结果名称"),
    _s("result_type", 30, True, "审批结果类型"),
    _s("service_type", 200, False, "中介服务", accept_length=500),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("town_code", 18, False, "乡镇街道代码"),
    _s("town_name", 200, False, "乡镇街道名称"),
    _s("user_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("user_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("village_code", 18, False, "村居社区代码"),
    _s("village_name", 200, False, "村居社区名称"),
)
_FEE_PROJECT = (
    _s("by_law", 256, False, "收费依据", accept_length=None),
    _s("desc_explain", 256, False, "允许减免依据", accept_length=None),
    _s("fee_name", 200, True, "收费项目名称"),
    _s("fee_stand", 256, True, "收费标准", accept_length=None),
    _s("is_desc", 2, False, "是否允许减免"),
    _i("order_num", True, "排序"),
    _s("remark", 1000, False, "备注"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
)
_MATERIAL = (
    _s("accept_stand", 256, False, "受理标准", accept_length=None),
    _s("by_law", 256, False, "要求提供材料的依据", accept_length=None),
    _s("example_guid", 256, False, "示例样表"),
    _s("fill_explain", 500, False, "填报须知"),
    _s("form_guid", 256, False, "空白表格"),
    _s("is_need", 2, True, "材料必要性", accept_required=False),
    _s("material_format", 2, False, "材料形式"),
    _s("material_name", 200, True, "材料名称"),
    _s("material_type", 2, False, "材料类型"),
    _i("order_num", True, "排序"),
    _s("page_format", 200, False, "纸质材料规格"),
    _i("page_num", False, "纸质材料份数"),
    _s("remark", 256, False, "备注", accept_length=None),
    _s("source_explain", 500, False, "来源渠道说明"),
    _s("source_type", 2, False, "来源渠道"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
)
_HANDLE_BASIC = (
    _i("anticipate_day", True, "法定办结时限", accept_required=False),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位", accept_required=False),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("collect_type", 2, False, "征收种类"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("is_permit_reduce", 2, False, "是否涉及征收费减免的审批"),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期"),
    _s("power_source", 2, True, "权力来源"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 11, True, "行使层级"),
)
_PUBLIC_BASIC = (
    _s("accept_condition", 256, True, "受理条件", accept_length=None),
    _i("anticipate_day", True, "法定办结时限", accept_required=False),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位", accept_required=False),
    _s("app_is_single_login", 2, True, "移动端是否对接单点登录"),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("fee_basis", 256, False, "收费依据", accept_length=None),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("handle_type", 5, False, "办理形式"),
    _s("is_fee", 2, True, "是否收费"),
    _s("is_single_login", 2, True, "计算机端是否对接单点登录"),
    _i("limit_scene_num", True, "到办事现场次数"),
    _s("link_addr", 256, False, "计算机端在线办理跳转地址", accept_length=None),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _s("mobile_terminal_url", 500, False, "移动端办理地址", accept_length=None),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期"),
    _s("project_type", 2, True, "办件类型"),
    _i("promise_day", True, "承诺办结时限", accept_required=False),
    _s("promise_explain", 256, True, "承诺办结时限说明", accept_length=None, accept_required=False),
    _i("promise_type", True, "承诺办结时限单位", accept_required=False),
    _s("server_type", 32, True, "服务对象"),
    _s("special_procedure", 500, True, "特别程序"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("transact_addr", 500, True, "办理地点"),
    _s("transact_time", 500, True, "办理时间"),
    _s("use_level", 11, True, "行使层级"),
)
_DN_PUBLIC_EXTEND = (
    _s("corp_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("corp_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("extend_field", 2000, False, "扩展字段"),
    _s("handle_area", 2, False, "通办范围"),
    _s("is_entry_center", 2, True, "是否进驻政务大厅"),
    _s("is_express", 2, True, "是否支持物流快递"),
    _s("is_online", 2, True, "是否网办"),
    _s("is_pay_online", 2, True, "是否支持网上支付"),
    _s("is_schedule", 2, False, "是否支持预约办理"),
    _s("is_service_terminals", 2, False, "是否支持终端办理"),
    _s("limit_scene_explain", 1000, False, "办理现场办理原因说明"),
    _s("online_handle_depth", 20, False, "网上办理深度"),
    _s("online_handle_url", 256, False, "网办地址", accept_length=None),
    _s("other_dept", 200, False, "联办机构"),
    _s("result_guid", 256, False, "审批结果样本"),
    _s("result_name", 200, False, "审批结果名称"),
    _s("result_type", 30, True, "审批结果类型"),
    _s("service_type", 200, False, "中介服务", accept_length=500),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("town_code", 18, False, "乡镇街道代码"),
    _s("town_name", 200, False, "乡镇街道名称"),
    _s("user_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("user_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("village_code", 18, False, "村居社区代码"),
    _s("village_name", 200, False, "村居社区名称"),
)
_DN_PUNISH_BASIC = (
    _i("anticipate_day", True, "法定办结时限", accept_required=False),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位", accept_required=False),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_data", False, "计划生效日期"),
    _s("power_source", 2, True, "权力来源"),
    _s("punishment_method", 3000, True, "处罚的行为、种类、幅度"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 2, True, "行使层级"),
)
_PUNISH_QUESTIONS = (
    _s("answer", 256, True, "答案", accept_length=None),
    _i("order_num", True, "排序"),
    _s("question", 1000, True, "问题"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 50, True, "事项唯一标识"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
)
_LICENSE = (
    _s("certificate_area_code", 32, True, "证照所属管辖属地编码"),
    _s("certificate_holder", 256, True, "持证主体", accept_length=None),
    _s("certificate_holder_code", 256, True, "持证主体代码", accept_length=None),
    _s("certificate_holder_type", 2000, False, "持证主体代码类型"),
    _s("certificate_name", 512, True, "证照名称"),
    _s("certificate_number", 128, True, "证照编码"),
    _s("certificate_source_id", 128, True, "电子证照源标识"),
    _s("certificate_type", 256, True, "证照类型名称"),
    _s("certificate_type_code", 64, True, "证照类型代码"),
    _s("issue_date", 32, True, "证照颁发日期"),
    _s("issue_dept", 256, True, "证照颁发机构", accept_length=None),
    _s("issue_dept_code", 32, True, "证照颁发机构代码", accept_length=None),
)
_UP_PRO_ACCEPT = (
    _d("accept_date", True, "受理时间"),
    _s("accept_doc_no", 50, False, "受理文书编号"),
    _s("address", 1000, False, "通讯地址"),
    _d("apply_date", True, "申请时间"),
    _s("apply_type", 2, True, "申请类型"),
    _s("applyer_name", 100, True, "申请人名称"),
    _s("applyer_page_code", 500, True, "申请人证件号码"),
    _s("applyer_page_type", 70, True, "申请人证件类型"),
    _s("applyer_type", 2, True, "申请人类型"),
    _s("catalog_code", 12, True, "基本编码"),
    _s("contact_code", 50, False, "联系人/代理人证件号码"),
    _s("contact_mobile", 11, False, "联系人手机号码"),
    _s("contact_name", 100, False, "联系人/代理人姓名"),
    _s("contact_type", 6, False, "联系人/代理人证件类型"),
    _s("handle_user_name", 100, False, "受理人员"),
    _s("legal", 100, False, "法定代表人"),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, False, "地方实施编码"),
    _s("org_code", 18, True, "受理部门编码", accept_length=64),
    _s("org_name", 100, True, "受理部门"),
    _s("project_name", 1000, False, "办理摘要"),
    _s("project_no", 50, True, "办件编号"),
    _s("project_type", 2, True, "办理类型"),
    _d("promise_date", False, "承诺办结时间"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _i("task_version", True, "事项版本"),
    _s("zip_code", 6, False, "邮编"),
)
_UP_PRO_MATERIAL = (
    _s("get_num", 5, False, "收取数量", aliases=("get_name",)),
    _s("get_type", 2, True, "收取方式", accept_required=False),
    _s("material_attach_name", 200, False, "附件名称"),
    _s("material_name", 200, True, "材料名称"),
    _s("project_no", 50, True, "办件编号"),
    _s("remark", 1000, False, "备注"),
)
_UP_PRO_PROCESS = (
    _d("event_end_time", True, "环节结束时间"),
    _s("event_name", 2, True, "业务动作"),
    _d("event_start_time", True, "环节开始时间"),
    _s("handle_explain", 2000, True, "办理意见"),
    _s("handle_user_name", 100, True, "受理人员"),
    _s("process_name", 1000, True, "办理环节名称"),
    _s("project_no", 50, True, "办件编号"),
    _s("remark", 256, False, "备注", accept_length=None),
)
_UP_PRO_RESULT = (
    _s("handle_user_name", 100, False, "受理人员"),
    _s("is_delivery_results", 2, True, "是否快递递送结果"),
    _s("project_no", 50, True, "办件编号"),
    _s("remark", 256, False, "备注", accept_length=1000),
    _s("result_cetr_name", 256, False, "结果证照名称", accept_length=None),
    _s("result_cetr_no", 2000, False, "结果证照编号"),
    _d("result_date", True, "办结时间"),
    _s("result_explain", 2000, False, "办件结果描述"),
    _s("result_type", 2, True, "办结结果"),
    _s("satisfaction", 2, False, "满意度"),
)
_UP_PRO_SPECIAL_PROCEDURE = (
    _s("applyer_user_name", 100, False, "申请人"),
    _d("end_time", True, "特别程序结束时间"),
    _s("handle_user", 100, False, "办理人"),
    _s("project_no", 50, True, "办件编号"),
    _s("remark", 256, False, "备注", accept_length=1000),
    _s("result", 2000, False, "特别程序结果"),
    _s("special_explain", 2000, False, "特别程序办理意见"),
    _s("special_name", 1000, True, "特别程序种类名称"),
    _s("special_reason", 2000, True, "特别程序启动理由或依据"),
    _d("special_time", True, "特别程序开始时间"),
    _s("special_type", 2, True, "特别程序种类"),
)
_UP_PUBLIC_EXTEND = (
    _s("corp_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("corp_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("extend_field", 2000, False, "扩展字段"),
    _s("handle_area", 2, False, "通办范围"),
    _s("is_entry_center", 2, True, "是否进驻政务大厅"),
    _s("is_express", 2, True, "是否支持物流快递"),
    _s("is_online", 2, True, "是否网办"),
    _s("is_pay_online", 2, True, "是否支持网上支付"),
    _s("is_schedule", 2, False, "是否支持预约办理"),
    _s("is_service_terminals", 2, False, "是否支持终端办理"),
    _s("limit_scene_explain", 1000, False, "办理现场办理原因说明"),
    _s("online_handle_depth", 20, False, "网上办理深度"),
    _s("online_handle_url", 256, False, "网办地址", accept_length=None),
    _s("other_dept", 200, False, "联办机构"),
    _s("result_guid", 256, False, "审批结果样本"),
    _s("result_name", 200, False, "审批结果名称"),
    _s("result_type", 2, True, "审批结果类型", accept_length=30),
    _s("service_type", 200, False, "中介服务", accept_length=500),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 36, True, "事项唯一标识", accept_length=50),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("town_code", 18, False, "乡镇街道代码"),
    _s("town_name", 200, False, "乡镇街道名称"),
    _s("user_character_topic_type", 100, False, "面向自然人地方特色主题分类"),
    _s("user_topic_type", 40, False, "面向自然人事项主题分类"),
    _s("village_code", 18, False, "村居社区代码"),
    _s("village_name", 200, False, "村居社区名称"),
)
_UP_PUNISH_BASIC = (
    _i("anticipate_day", True, "法定办结时限", accept_required=False),
    _s("anticipate_explain", 256, False, "法定办结时限说明", accept_length=None),
    _s("anticipate_type", 2, True, "法定办结时限单位", accept_required=False),
    _s("by_law", 256, True, "设定依据", accept_length=None),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, False, "委托部门"),
    _s("handle_flow", 256, True, "办理流程", accept_length=None),
    _s("link_way", 256, True, "咨询方式", accept_length=None),
    _s("local_catalog_code", 50, False, "地方基本编码"),
    _s("local_task_code", 50, True, "地方实施编码", accept_required=False),
    _d("plan_cancel_date", False, "计划取消日期"),
    _d("plan_effective_date", False, "计划生效日期", aliases=("plan_effective_data",)),
    _s("power_source", 2, True, "权力来源"),
    _s("punishment_method", 3000, True, "处罚的行为、种类、幅度"),
    _s("supervise_way", 256, True, "监督投诉方式", accept_length=None),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, False, "业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 2, True, "行使层级"),
)
_UP_UC_CORPORATOR_ACCOUNT = (
    _s("acct_type", 64, True, "账号类型"),
    _s("agent_cert", 64, False, "经办人证件号码"),
    _s("agent_cert_begin_date", 12, False, "证件有效期起始日期"),
    _s("agent_cert_end_date", 12, False, "证件有效期到期日期"),
    _s("agent_cert_key", 64, False, "经办人证件散列值"),
    _s("agent_cert_type", 12, False, "经办人证件类型"),
    _s("agent_channel", 6, True, "账号来源代码"),
    _s("agent_eff_date", 8, False, "有效起始日期"),
    _s("agent_exp_date", 8, False, "有效结束日期"),
    _s("agent_mobile", 64, False, "手机号"),
    _s("agent_name", 64, False, "姓名"),
    _s("certificate_sno", 64, True, "相关法人标识"),
    _s("trust_acct_no", 64, True, "信任标识账号"),
    _s("trust_acct_no_key", 128, True, "信任身份标识账号散列值"),
)
_UP_UC_CORPORATOR_IDENTITY = (
    _s("certificate_key", 128, True, "法人机构代码散列值"),
    _s("certificate_sno", 128, False, "法人机构代码"),
    _s("corp_name", 128, False, "法人名称", accept_length=256),
    _s("corp_status", 6, False, "法人状态"),
    _s("corp_type", 64, True, "法人类型", accept_required=False),
    _s("legal_cert_no", 64, False, "法定代表人证件号", aliases=("legal_certno",)),
    _s("legal_cert_type", 12, False, "法定代表人证件类型"),
    _s("legal_certno_begin_date", 12, False, "法定代表人证件有效期起始日期"),
    _s("legal_certno_end_date", 12, False, "法定代表人证件有效期到期日期"),
    _s("legal_mobile", 64, False, "法人代表人手机号"),
    _s("legal_name", 64, False, "法定代表人姓名"),
)
_UP_UC_GOV_ORG = (
    _s("oper_eff_date", 20, False, "经营期限-起始"),
    _s("oper_exp_date", 20, False, "经营期限-结束"),
    _s("org_cc_code", 128, True, "统一社会信用代码"),
    _s("org_code", 64, True, "组织机构编码"),
    _s("org_name", 256, True, "组织机构名称"),
    _i("org_seq", True, "组织顺序"),
    _s("org_status", 6, True, "组织状态"),
    _s("org_type", 64, True, "组织机构类型"),
    _s("parent_org_code", 64, False, "上级机构组织编码"),
    _s("reg_address", 64, False, "注册地址"),
    _s("reg_date", 8, False, "注册日期"),
    _s("region_code", 64, True, "行政区域编码"),
)
_UP_UC_GOV_REGION = (
    _s("city", 20, False, "地市"),
    _s("county", 20, False, "县"),
    _s("nation", 6, True, "国家", accept_length=20),
    _s("parent_region_code", 64, True, "上级行政区域代码"),
    _s("province", 20, True, "省"),
    _s("region_code", 64, True, "行政区域代码"),
    _s("region_desc", 512, False, "行政区域描述"),
    _s("region_lvl", 6, True, "行政区域登记"),
    _s("region_name", 256, True, "行政区域名称"),
    _s("region_req", 64, True, "区域顺序"),
    _s("region_status", 6, True, "区域状态"),
    _s("town", 20, False, "镇"),
)
_UP_UC_GOV_STAFF = (
    _s("cert_key", 128, True, "行政人员唯一标识"),
    _s("cert_no", 64, False, "证件号码"),
    _s("cert_type", 6, False, "证件类型"),
    _s("is_real", 6, True, "实名状态"),
    _s("login_no", 64, False, "登录账号"),
    _s("org_id", 64, True, "所在组织", accept_required=False),
    _s("real_date", 20, False, "实名日期"),
    _s("real_lvl", 64, True, "实名等级"),
    _s("reg_date", 20, False, "注册日期"),
    _s("region_id", 64, True, "所在区域"),
    _s("staff_code", 64, True, "人员编号"),
    _s("staff_creater", 64, True, "创建用户", accept_required=False),
    _s("staff_duty", 64, False, "人员岗位"),
    _s("staff_lvl", 64, False, "人员级别"),
    _s("staff_name", 64, False, "人员名称"),
    _s("staff_phone", 64, False, "人员联系电话"),
    _s("staff_status", 6, True, "人员状态"),
)
_UP_UC_INFO_ASSOCIATION = (
    _s("act_area", 64, False, "活动地域"),
    _s("association_content", 2000, False, "业务范围"),
    _s("association_owner", 64, False, "法定代表人"),
    _s("begin_date", 20, False, "证书有效期始"),
    _s("certificate_sno", 64, True, "法人标识"),
    _s("charity_org", 6, False, "是否慈善组织"),
    _s("competent_org", 320, False, "业务主管单位"),
    _s("end_date", 20, False, "证书有效期止"),
    _s("fund_kind", 6, False, "基金会类型"),
    _s("industry", 64, False, "所属行业"),
    _s("reg_address", 128, False, "住所"),
    _s("reg_date", 20, False, "登记时间"),
    _s("reg_money", 12, False, "注册资金"),
    _s("social_org_type", 6, False, "社会组织类型"),
)
_UP_UC_INFO_CENTRAL_DEPT = (
    _s("begin_date", 20, False, "期限起始"),
    _s("certificate_sno", 64, True, "法人标识"),
    _s("end_date", 20, False, "期限结束"),
    _s("fund_source", 64, False, "经费来源"),
    _s("reg_address", 128, False, "注册地址"),
    _s("reg_authority", 128, False, "登记管理机关"),
    _s("reg_date", 20, False, "注册时间"),
    _s("reg_money", 12, False, "开办资金"),
    _s("reg_organizer", 128, False, "举办单位"),
    _s("reg_range", 2000, False, "宗旨和业务范围"),
)
_UP_UC_INFO_ENTERPRISE = (
    _s("certificate_sno", 64, True, "法人标识"),
    _s("create_date", 20, True, "创建时间", accept_required=False),
    _s("enterprise_address", 128, False, "企业机构注册地址"),
    _s("enterprise_approval_date", 20, False, "核准日期"),
    _s("enterprise_approver_agency", 64, False, "核准机构"),
    _s("enterprise_begin_date", 20, False, "营业限期起始"),
    _s("enterprise_capital", 12, False, "企业机构注册金额"),
    _s("enterprise_end_date", 20, False, "营业限期截止"),
    _s("enterprise_industry", 64, False, "行业类型"),
    _s("enterprise_range", 4000, False, "企业机构经营范围"),
    _s("enterprise_register_date", 20, False, "企业机构注册日期"),
    _s("enterprise_small_class", 64, False, "行业小类"),
)
_UP_UC_PROVINCE_USER = (
    _s("cert_eff_date", 8, False, "证件有效日期"),
    _s("cert_ext_date", 8, False, "证件失效日期"),
    _s("cert_key", 128, True, "证件散列码"),
    _s("cert_no", 64, False, "证件编号"),
    _s("cert_type", 6, False, "证件类型"),
    _d("create_time", True, "注册时间", accept_kind="str", accept_length=20),
    _s("user_alipay", 64, False, "用户支付宝"),
    _s("user_birthday", 8, False, "用户生日"),
    _s("user_edu", 64, False, "用户学历"),
    _s("user_home_address", 128, False, "用户户籍地址"),
    _s("user_life_address", 128, False, "用户居住地址"),
    _s("user_mail", 64, False, "用户邮箱"),
    _s("user_mobile", 64, False, "用户手机号"),
    _s("user_name", 64, False, "用户名称"),
    _s("user_real_lvl", 64, True, "用户实名等级"),
    _s("user_region", 6, True, "用户来源区别"),
    _s("user_sex", 6, False, "用户性别"),
    _s("user_ssi_location", 128, False, "发卡地"),
    _s("user_ssi_no", 64, False, "社保卡号"),
    _s("user_weixin", 64, False, "用户微信"),
    _s("user_work", 128, False, "用户工作单位"),
)
_UP_ZONE_ORGANIZATION = (
    _s("credit_code", 18, True, "统一社会信用代码"),
    _s("exist_task", 2, True, "部门是否存在并且行使政务服务事项"),
    _i("order_num", True, "排序"),
    _s("org_code", 9, False, "组织机构代码"),
    _s("org_name", 100, True, "部门名称"),
    _s("org_short_name", 50, True, "部门简称"),
)

AUDIT_ABNORMAL: Final = "dn_audit_abnormal"
UC_ABNORMAL: Final = "dn_uc_adult_abnormal"
LIC_ERROR: Final = "dn_lic_data_error"

UP_TABLES: Final[dict[str, NationalTable]] = {
    t.name: t
    for t in (
    NationalTable("up_lic_data", "电子证照共享数据 证照目录信息", "certificate_source_id", _LICENSE, feedback_table=LIC_ERROR, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_pro_accept", "政务服务事项办件信息 办件受理信息", "project_no", _UP_PRO_ACCEPT, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_pro_material", "政务服务事项办件信息 材料目录信息", None, _UP_PRO_MATERIAL, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_pro_process", "政务服务事项办件信息 办件过程信息", None, _UP_PRO_PROCESS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_pro_result", "政务服务事项办件信息 办件结果信息", "project_no", _UP_PRO_RESULT, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_pro_special_procedure", "政务服务事项办件信息 特别程序信息", None, _UP_PRO_SPECIAL_PROCEDURE, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_check_basic", "强制、检查类事项 基本信息", "task_code", _CHECK_BASIC, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_check_questions", "强制、检查类事项 常见问题解答", None, _QUESTIONS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_directory", "政务服务事项基本目录", "catalog_code", _DIRECTORY, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_general_basic", "许可、给付、奖励、确认、裁决、其他类事项 基本信息", "task_code", _GENERAL_BASIC, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_general_extend", "许可、给付、奖励、确认、裁决、其他类事项 扩展信息", "task_code", _GENERAL_EXTEND, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_general_fee_project", "许可、给付、奖励、确认、裁决、其他类事项 收费项目信息", None, _FEE_PROJECT, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_general_material", "许可、给付、奖励、确认、裁决、其他类事项 材料目录信息", None, _MATERIAL, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_general_questions", "许可、给付、奖励、确认、裁决、其他类事项 常见问题解答", None, _QUESTIONS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_handle_basic", "征收类事项 基本信息", "task_code", _HANDLE_BASIC, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_handle_material", "征收类事项 材料目录信息", None, _MATERIAL, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_handle_questions", "征收类事项 常见问题解答", None, _QUESTIONS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_public_basic", "公共服务类事项 基本信息", "task_code", _PUBLIC_BASIC, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_public_extend", "公共服务类事项 扩展信息", "task_code", _UP_PUBLIC_EXTEND, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_public_fee_project", "公共服务类事项 收费项目信息", None, _FEE_PROJECT, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_public_material", "公共服务类事项 材料目录信息", None, _MATERIAL, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_public_questions", "公共服务类事项 常见问题解答", None, _QUESTIONS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_punish_basic", "处罚类事项 基本信息", "task_code", _UP_PUNISH_BASIC, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_task_punish_questions", "处罚类事项 常见问题解答", None, _PUNISH_QUESTIONS, feedback_table=AUDIT_ABNORMAL),
    NationalTable("up_uc_corporator_account", "用户信息数据 法人账号信息", "trust_acct_no_key", _UP_UC_CORPORATOR_ACCOUNT, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_corporator_identity", "用户信息数据 法人身份信息", "certificate_key", _UP_UC_CORPORATOR_IDENTITY, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_gov_org", "用户信息数据 组织结构", None, _UP_UC_GOV_ORG, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_gov_region", "用户信息数据 行政区域", None, _UP_UC_GOV_REGION, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_gov_staff", "用户信息数据 政务人员基础信息", None, _UP_UC_GOV_STAFF, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_info_association", "用户信息数据 社会组织法人信息", None, _UP_UC_INFO_ASSOCIATION, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_info_central_dept", "用户信息数据 事业单位法人信息", None, _UP_UC_INFO_CENTRAL_DEPT, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_info_enterprise", "用户信息数据 企业法人信息", None, _UP_UC_INFO_ENTERPRISE, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_uc_province_user", "用户信息数据 自然人信息资料表", "cert_key", _UP_UC_PROVINCE_USER, feedback_table=UC_ABNORMAL, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("up_zone_organization", "区域内实施 主体信息", None, _UP_ZONE_ORGANIZATION, feedback_table=AUDIT_ABNORMAL),
    )
}  # fmt: skip
DN_TABLES: Final[dict[str, NationalTable]] = {
    t.name: t
    for t in (
    NationalTable("dn_audit_abnormal", "事项办件异常 数据表", None, _ABNORMAL, controls=("row_guid", "cd_time")),
    NationalTable("dn_audit_item_condition", "情形分组表", None, _DN_AUDIT_ITEM_CONDITION, controls=("row_guid",)),
    NationalTable("dn_audit_material_condition", "情形下材料详情表", None, _DN_AUDIT_MATERIAL_CONDITION, controls=("row_guid",)),
    NationalTable("dn_lic_data_error", "电子证照共享异常数据 目录信息", None, _LIC_ERROR, controls=("cd_batch", "cd_operation", "cd_time", "data_source")),
    NationalTable("dn_task_check_basic", "强制、检查类事项 基本信息", "task_code", _CHECK_BASIC),
    NationalTable("dn_task_check_questions", "强制、检查类事项 常见问题解答", None, _QUESTIONS),
    NationalTable("dn_task_directory", "政务服务事项 基本目录", "catalog_code", _DIRECTORY),
    NationalTable("dn_task_general_basic", "许可、给付、奖励、确认、裁决、其他类事项 基本信息", "task_code", _GENERAL_BASIC),
    NationalTable("dn_task_general_extend", "许可、给付、奖励、确认、裁决、其他类事项 扩展信息", "task_code", _GENERAL_EXTEND),
    NationalTable("dn_task_general_fee_project", "许可、给付、奖励、确认、裁决、其他类事项 收费项目信息", None, _FEE_PROJECT),
    NationalTable("dn_task_general_material", "许可、给付、奖励、确认、裁决、其他类事项 材料目录信息", None, _MATERIAL),
    NationalTable("dn_task_general_questions", "许可、给付、奖励、确认、裁决、其他类事项 常见问题解答", None, _QUESTIONS),
    NationalTable("dn_task_handle_basic", "征收类事项 基本信息", "task_code", _HANDLE_BASIC),
    NationalTable("dn_task_handle_material", "征收类事项 材料目录信息", None, _MATERIAL),
    NationalTable("dn_task_handle_questions", "征收类事项 常见问题解答", None, _QUESTIONS),
    NationalTable("dn_task_public_basic", "公共服务类事项 基本信息", "task_code", _PUBLIC_BASIC),
    NationalTable("dn_task_public_extend", "公共服务类事项 扩展信息", "task_code", _DN_PUBLIC_EXTEND),
    NationalTable("dn_task_public_fee_project", "公共服务类事项 收费项目信息", None, _FEE_PROJECT),
    NationalTable("dn_task_public_material", "公共服务类事项 材料信息", None, _MATERIAL),
    NationalTable("dn_task_public_questions", "公共服务类事项 常见问题解答", None, _QUESTIONS),
    NationalTable("dn_task_punish_basic", "处罚类事项 基本信息", "task_code", _DN_PUNISH_BASIC),
    NationalTable("dn_task_punish_questions", "处罚类事项 常见问题解答", None, _PUNISH_QUESTIONS),
    NationalTable("dn_uc_adult_abnormal", "用户信息 异常数据", None, _ABNORMAL, controls=("row_guid", "cd_time")),
    )
}  # fmt: skip
FEEDBACK_TABLES: Final = (AUDIT_ABNORMAL, UC_ABNORMAL, LIC_ERROR)


def table(name: str) -> NationalTable | None:
    """The national table spec called ``name`` (``up_*`` or ``dn_*``), if known."""
    return UP_TABLES.get(name) or DN_TABLES.get(name)


_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=65_536)
def compact_ok(text: str) -> bool:
    """True for a real ``yyyyMMddHHmmss`` moment (fast path: no strptime on the hot path)."""
    if len(text) != 14 or not text.isdigit():
        return False
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    if not (1 <= month <= 12 and 1 <= day <= _DAYS[month - 1]):
        return False
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return False
    return int(text[8:10]) < 24 and int(text[10:12]) < 60 and int(text[12:14]) < 60


def normalise_time(value: Any) -> str | None:
    """A datetime value in national form ``yyyyMMddHHmmss`` (Beijing), read tolerantly: compact
    14 or 8 digits, ISO dates, ISO datetimes (an offset is converted to Beijing time, a naive one is
    taken as Beijing time). None when the value cannot be read."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is None else value.astimezone(BEIJING).replace(tzinfo=None)
        return moment.strftime("%Y%m%d%H%M%S")
    if not isinstance(value, str):
        return None
    if compact_ok(value):
        return value
    return _normalise_text(value)


@lru_cache(maxsize=4096)
def _normalise_text(value: str) -> str | None:
    text = value.strip()
    if compact_ok(text):
        return text
    if re.fullmatch(r"\d{8}", text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(BEIJING).replace(tzinfo=None)
    return moment.strftime("%Y%m%d%H%M%S")


def parse_compact(value: str) -> datetime:
    """``yyyyMMddHHmmss`` Beijing wall time as an aware datetime (ValueError when invalid)."""
    if not COMPACT_RE.match(value):
        raise ValueError("not yyyyMMddHHmmss")
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)


def _fast_ok(columns: tuple[Column, ...], row: Mapping[str, Any], *, send: bool = False) -> bool:
    """True when every column is certainly fine (the common case), without building messages."""
    get = row.get
    for column in columns:
        value = get(column.name)
        kind, length, required = column.send_rule if send else column.accept_rule
        if kind == "str":
            if value is None:
                if required:
                    return False
            elif (
                type(value) is not str
                or (length is not None and len(value) > length)
                or (required and (not value or value.isspace()))
            ):
                return False
        elif value is None:
            if required:
                return False
        elif kind == "datetime":
            if type(value) is not str or not compact_ok(value):
                return False
        elif type(value) is not int:
            return False
    return True


def _rule(column: Column, send: bool) -> tuple[Kind, int | None, bool]:
    """(kind, length, required) of a column: the narrower rule to send, the wider to accept."""
    return column.send_rule if send else column.accept_rule


def check_control(row: Mapping[str, Any]) -> list[RowError]:
    """Check the control columns every exchanged row must carry (standards §3.1)."""
    operation = row.get("cd_operation")
    if _fast_ok(CONTROL_COLUMNS, row) and operation in OPERATIONS:
        return []
    errors: list[RowError] = []
    for column in CONTROL_COLUMNS:
        errors.extend(_check_value(column, row.get(column.name)))
    operation = row.get("cd_operation")
    if isinstance(operation, str) and operation.upper() not in OPERATIONS:
        errors.append(RowError("bad_operation", "同步类型 cd_operation 只能是 I、U 或 D", "cd_operation"))
    return errors


def check_columns(spec: NationalTable, row: Mapping[str, Any]) -> list[RowError]:
    """Check the business columns of a received row against the national table (NOT NULL, lengths,
    types), by the wider rule where the national sources disagree; older column names are read."""
    if spec.aliases and any(name in row for name in spec.aliases):
        row = _renamed(spec, row)
    if _fast_ok(spec.columns, row):
        return []
    errors: list[RowError] = []
    for column in spec.columns:
        errors.extend(_check_value(column, row.get(column.name)))
    return errors


def check_send(spec: NationalTable, row: Mapping[str, Any]) -> list[RowError]:
    """Check the business columns of a row we are about to send, by the narrower rule where the
    national sources disagree: a row that passes is accepted by either reading of the DDL."""
    if _fast_ok(spec.columns, row, send=True):
        return []
    errors: list[RowError] = []
    for column in spec.columns:
        errors.extend(_check_value(column, row.get(column.name), send=True))
    return errors


def outgoing(spec: NationalTable, row: Mapping[str, Any]) -> tuple[dict[str, Any], RowError | None]:
    """A row about to leave for the upper node, as the national table keeps it, and why it may not
    leave (None: it may): its control and national columns by the wider rule, then by the narrower one
    (docs/national-tables.md) — the receiver may apply either. Our own rows and the rows of lower nodes
    we pass on alike (they were accepted by the wider rule)."""
    clean = spec.fast_clean(row)
    errors: list[RowError] = []
    if clean is None:
        errors = check_control(row) + check_columns(spec, row)
        clean = keep_known(spec, row)
    errors = errors or check_send(spec, clean)
    if not errors:
        return clean, None
    return clean, RowError(errors[0].code, "；".join(e.reason for e in errors), errors[0].column)


def unknown_columns(spec: NationalTable, row: Mapping[str, Any]) -> list[RowError]:
    """Columns of ``row`` the national table does not have (receivers drop them; our own nodes may use
    them, e.g. the catalog's ``row_key``)."""
    return [
        RowError("unknown_column", f"国家表 {spec.name} 没有字段 {name}", name)
        for name in row
        if name not in spec.by_name
    ]


def _renamed(spec: NationalTable, row: Mapping[str, Any]) -> dict[str, Any]:
    """The row with older column names read as the current ones (the current name wins)."""
    result = dict(row)
    for old, new in spec.aliases.items():
        if old in result:
            value = result.pop(old)
            result.setdefault(new, value)
    return result


def _label(column: Column) -> str:
    return f"{column.comment or column.name}（{column.name}）"


def _check_value(column: Column, value: Any, *, send: bool = False) -> list[RowError]:
    kind, length, required = _rule(column, send)
    fits = length is None or len(value) <= length if type(value) is str else False
    if fits and kind == "str" and value and not value.isspace():
        return []  # the common case, decided without building any message
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            return [RowError("required", f"必填字段缺失：{_label(column)}", column.name)]
        return []
    label = _label(column)
    if kind == "str":
        if not isinstance(value, str):
            return [RowError("type", f"字段类型应为字符串：{label}", column.name)]
        if length is not None and len(value) > length:
            return [RowError("too_long", f"字段超长（最多 {length} 个字符）：{label}", column.name)]
        return []
    if kind == "int":
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if send and not is_int:
            return [RowError("type", f"字段应为整数：{label}", column.name)]
        if not is_int and not (isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value)):
            return [RowError("type", f"字段应为整数：{label}", column.name)]
        return []
    # sent times are exactly yyyyMMddHHmmss; received ones are read tolerantly (conventions §12)
    ok = isinstance(value, str) and compact_ok(value) if send else normalise_time(value) is not None
    if ok:
        return []
    return [RowError("bad_time", f"时间字段应为 yyyyMMddHHmmss（北京时间）：{label}", column.name)]


def keep_known(spec: NationalTable, row: Mapping[str, Any]) -> dict[str, Any]:
    """Only the columns the national table knows (inbound rows are read tolerantly, conventions §12),
    older column names read as the current ones, datetimes in national form."""
    if spec.aliases and any(name in row for name in spec.aliases):
        row = _renamed(spec, row)
    result: dict[str, Any] = {}
    for name, column in spec.by_name.items():
        if name not in row:
            continue
        value = row[name]
        if column.kind == "datetime" and value is not None:
            value = normalise_time(value) or value
        result[name] = value
    return result


def national_value(value: Any) -> Any:
    """A Python value in national exchange form: aware datetimes become Beijing ``yyyyMMddHHmmss``."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime; national rows need aware datetimes")
        return value.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")
    return value


def national_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """Helper for capabilities that emit rows: convert every value with :func:`national_value`."""
    return {k: national_value(v) for k, v in values.items()}
