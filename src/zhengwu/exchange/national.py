"""The national exchange tables (国家政务服务平台 前置库 ``up_*`` / ``dn_*``) as data: columns, keys, checks.

Facts come from the public national DDL (standards §2.1, §3, §4.1, §5.3; JluKobe/MyRepo
``TableConstruct``); the schema below is our own. Where the digest gives no length, the length chosen
here is marked ``# ours`` and is generous — verify against the official 对接规范 before relying on it.
Every exchanged row carries the control columns ``row_guid, cd_batch, cd_operation, cd_time,
data_source`` (standards §3.1); datetimes travel as Beijing ``yyyyMMddHHmmss`` (conventions §13).
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


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a national table."""

    name: str
    kind: Kind
    length: int | None = None
    required: bool = False
    comment: str = ""


@dataclass(frozen=True, slots=True)
class NationalTable:
    """A national exchange table: business columns, the business key, and where its errors come back."""

    name: str
    comment: str
    key_column: str | None
    columns: tuple[Column, ...]
    feedback_table: str | None = None
    by_name: Mapping[str, Column] = field(init=False, repr=False, compare=False)
    # Precomputed for the hot path: (name, length, required) of text columns, names of the others.
    plan: tuple[
        tuple[tuple[str, int | None, bool], ...], tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]
    ] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        every = (*self.columns, *CONTROL_COLUMNS)
        object.__setattr__(self, "by_name", {c.name: c for c in every})
        object.__setattr__(
            self,
            "plan",
            (
                tuple((c.name, c.length, c.required) for c in every if c.kind == "str"),
                tuple((c.name, c.required) for c in every if c.kind == "datetime"),
                tuple((c.name, c.required) for c in every if c.kind == "int"),
            ),
        )

    def fast_clean(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """The row as stored when it is certainly valid (the common case), else None — then the
        slow checks say why. Control columns included; unknown columns dropped."""
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


def _s(name: str, length: int, required: bool = False, comment: str = "") -> Column:
    return Column(name, "str", length, required, comment)


def _i(name: str, required: bool = False, comment: str = "") -> Column:
    return Column(name, "int", None, required, comment)


def _d(name: str, required: bool = False, comment: str = "") -> Column:
    return Column(name, "datetime", None, required, comment)


# Standards §3.1: the exchange control columns of every up_/dn_ row.
CONTROL_COLUMNS: Final = (
    _s("row_guid", 50, True, "记录唯一标识"),
    _s("cd_batch", 32, True, "批次号"),
    _s("cd_operation", 2, True, "同步类型"),
    _d("cd_time", True, "同步时间"),
    _s("data_source", 3, True, "数据来源"),
)
CONTROL_NAMES: Final = frozenset(c.name for c in CONTROL_COLUMNS)

_TASK_COMMON = (
    _s("by_law", 256, True, "设定依据"),
    _s("catalog_code", 12, True, "基本编码"),
    _s("dept_code", 50, True, "实施主体编码"),
    _s("dept_name", 200, True, "实施主体"),
    _s("dept_type", 2, True, "实施主体性质"),
    _s("entrust_name", 100, comment="委托部门"),
    _s("handle_flow", 256, True, "办理流程"),
    _s("link_way", 256, True, "咨询方式"),
    _s("local_catalog_code", 50, comment="地方基本编码"),
    _s("local_task_code", 50, comment="地方实施编码"),
    _d("plan_cancel_date", comment="计划取消日期"),
    _d("plan_effective_date", comment="计划生效日期"),
    _s("supervise_way", 256, True, "监督投诉方式"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 11, True, "行使层级"),
)
_TASK_GUIDE = (
    _s("accept_condition", 256, True, "受理条件"),
    _s("anticipate_explain", 256, comment="法定办结时限说明"),
    _s("app_is_single_login", 2, True, "移动端是否对接单点登录"),
    _s("fee_basis", 256, comment="收费依据"),
    _s("handle_type", 5, comment="办理形式"),
    _s("is_fee", 2, True, "是否收费"),
    _s("is_single_login", 2, True, "计算机端是否对接单点登录"),
    _i("limit_scene_num", True, "到办事现场次数"),
    _s("link_addr", 256, comment="计算机端在线办理跳转地址"),
    _s("mobile_terminal_url", 500, comment="移动端办理地址"),
    _s("project_type", 2, True, "办件类型"),
    _s("promise_explain", 256, comment="承诺办结时限说明"),
    _s("server_type", 32, True, "服务对象"),
    _s("special_procedure", 500, True, "特别程序"),
    _s("transact_addr", 500, True, "办理地点"),
    _s("transact_time", 500, True, "办理时间"),
)
_GENERAL_BASIC = (
    *_TASK_COMMON,
    *_TASK_GUIDE,
    _i("anticipate_day", True, "法定办结时限"),
    _s("anticipate_type", 2, True, "法定办结时限单位"),
    _s("power_source", 2, True, "权力来源"),
    _i("promise_day", True, "承诺办结时限"),
    _i("promise_type", True, "承诺办结时限单位"),
)
_PUBLIC_BASIC = (
    *_TASK_COMMON,
    *_TASK_GUIDE,
    _i("anticipate_day", comment="法定办结时限"),
    _s("anticipate_type", 2, comment="法定办结时限单位"),
    _i("promise_day", comment="承诺办结时限"),
    _i("promise_type", comment="承诺办结时限单位"),
)
_MATERIAL = (
    _s("accept_stand", 256, comment="受理标准"),
    _s("by_law", 256, comment="要求提供材料的依据"),
    _s("example_guid", 256, comment="示例样表"),
    _s("fill_explain", 500, comment="填报须知"),
    _s("form_guid", 256, comment="空白表格"),
    _s("is_need", 2, True, "材料必要性"),
    _s("material_format", 2, comment="材料形式"),
    _s("material_name", 200, True, "材料名称"),
    _s("material_type", 2, comment="材料类型"),
    _i("order_num", True, "排序"),
    _s("page_format", 200, comment="纸质材料规格"),
    _i("page_num", comment="纸质材料份数"),
    _s("remark", 256, comment="备注"),
    _s("source_explain", 500, comment="来源渠道说明"),
    _s("source_type", 2, comment="来源渠道"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 50, True, "事项唯一标识"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
)
_EXTEND_COMMON = (
    _s("corp_character_topic_type", 100, comment="面向法人地方特色主题分类"),
    _s("corp_topic_type", 40, comment="面向法人事项主题分类"),
    _s("extend_field", 2000, comment="扩展字段"),
    _s("handle_area", 2, comment="通办范围"),
    _s("is_entry_center", 2, True, "是否进驻政务大厅"),
    _s("is_express", 2, True, "是否支持物流快递"),
    _s("is_online", 2, True, "是否网办"),
    _s("is_pay_online", 2, True, "是否支持网上支付"),
    _s("is_schedule", 2, comment="是否支持预约办理"),
    _s("is_service_terminals", 2, comment="是否支持终端办理"),
    _s("limit_scene_explain", 1000, comment="办理现场办理原因说明"),
    _s("online_handle_depth", 20, comment="网上办理深度"),
    _s("online_handle_url", 256, comment="网办地址"),
    _s("other_dept", 200, comment="联办机构"),
    _s("result_guid", 256, comment="审批结果样本"),
    _s("result_name", 200, comment="审批结果名称"),
    _s("service_type", 500, comment="中介服务"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 50, True, "事项唯一标识"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
    _s("town_code", 18, comment="乡镇街道代码"),
    _s("town_name", 200, comment="乡镇街道名称"),
    _s("user_character_topic_type", 100, comment="面向自然人地方特色主题分类"),
    _s("user_topic_type", 40, comment="面向自然人事项主题分类"),
    _s("village_code", 18, comment="村居社区代码"),
    _s("village_name", 200, comment="村居社区名称"),
)
_GENERAL_EXTEND = (
    *_EXTEND_COMMON,
    _s("limit_explain", 256, comment="数量限制"),
    _s("result_type", 30, True, "审批结果类型"),
)
_PUBLIC_EXTEND = (*_EXTEND_COMMON, _s("result_type", 2, True, "审批结果类型"))
_FEE_PROJECT = (
    _s("by_law", 256, comment="收费依据"),
    _s("desc_explain", 256, comment="允许减免依据"),
    _s("fee_name", 200, True, "收费项目名称"),
    _s("fee_stand", 256, True, "收费标准"),
    _s("is_desc", 2, comment="是否允许减免"),
    _i("order_num", True, "排序"),
    _s("remark", 1000, comment="备注"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 50, True, "事项唯一标识"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
)
_QUESTIONS = (
    _s("answer", 256, True, "答案"),
    _i("order_num", True, "排序"),
    _s("question", 1000, True, "问题"),
    _s("task_code", 36, True, "实施编码"),
    _s("task_guid", 50, True, "事项唯一标识"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
)
_DIRECTORY = (
    _s("by_law", 256, True, "设定依据"),
    _s("catalog_code", 12, True, "基本编码"),
    _s("local_catalog_code", 50, comment="地方基本编码"),
    _d("plan_cancel_date", comment="计划取消日期"),
    _d("plan_effective_date", comment="计划生效日期"),
    _s("task_name", 1000, True, "事项名称"),
    _s("task_state", 2, True, "事项状态"),
    _s("task_type", 2, True, "事项类型"),
    _i("task_version", True, "事项版本"),
    _s("use_level", 11, True, "行使层级"),
)
# Standards §5.3; lengths as in dn_lic_data_error, which repeats up_lic_data's columns.
_LICENSE = (
    _s("certificate_source_id", 128, True, "电子证照源标识"),
    _s("certificate_name", 512, True, "证照名称"),
    _s("certificate_number", 128, True, "证照编码"),
    _s("certificate_type", 256, True, "证照类型名称"),
    _s("certificate_type_code", 64, True, "证照类型代码"),
    _s("certificate_holder", 256, True, "持证主体"),
    _s("certificate_holder_code", 256, True, "持证主体代码"),
    _s("certificate_holder_type", 2000, comment="持证主体代码类型"),
    _s("issue_dept", 256, True, "证照颁发机构"),
    _s("issue_dept_code", 32, True, "证照颁发机构代码"),
    _s("issue_date", 32, True, "证照颁发日期"),
    _s("certificate_area_code", 32, True, "证照所属管辖属地编码"),
)
# Standards §4.1 (lengths given there are kept; the others are ours).
_PROVINCE_USER = (
    _s("cert_type", 6, comment="证件类型"),
    _s("cert_no", 64, comment="证件编号"),  # ours
    _s("cert_key", 128, True, "证件散列码"),
    _s("cert_eff_date", 8, comment="证件有效期起"),
    _s("cert_ext_date", 8, comment="证件有效期止"),
    _s("user_name", 100, comment="姓名"),  # ours
    _s("user_sex", 2, comment="性别"),  # ours
    _s("user_birthday", 8, comment="出生日期"),  # ours
    _s("user_mobile", 32, comment="手机号码"),  # ours
    _s("user_mail", 100, comment="电子邮箱"),  # ours
    _s("user_home_address", 500, comment="户籍地址"),  # ours
    _s("user_life_address", 500, comment="居住地址"),  # ours
    _s("user_edu", 10, comment="学历"),  # ours
    _s("user_work", 200, comment="职业"),  # ours
    _s("user_ssi_no", 64, comment="社保卡号"),  # ours
    _s("user_ssi_location", 100, comment="社保卡发卡地"),  # ours
    _s("user_alipay", 100, comment="支付宝账号"),  # ours
    _s("user_weixin", 100, comment="微信账号"),  # ours
    _s("user_real_lvl", 2, True, "用户实名等级"),
    _s("user_region", 6, comment="用户来源区别"),
    _d("create_time", comment="注册时间"),
)
_CORPORATOR_IDENTITY = (
    _s("certificate_sno", 64, comment="法人机构代码"),  # ours
    _s("certificate_key", 128, True, "法人机构代码散列值"),  # ours
    _s("corp_name", 200, comment="法人名称"),  # ours
    _s("corp_type", 10, True, "法人类型"),  # ours
    _s("corp_status", 10, comment="法人状态"),  # ours
    _s("legal_name", 100, comment="法定代表人姓名"),  # ours
    _s("legal_cert_type", 6, comment="法定代表人证件类型"),  # ours
    _s("legal_cert_no", 64, comment="法定代表人证件号码"),  # ours
    _s("legal_certno_begin_date", 8, comment="证件有效期起"),  # ours
    _s("legal_certno_end_date", 8, comment="证件有效期止"),  # ours
    _s("legal_mobile", 32, comment="法定代表人手机"),  # ours
)
_CORPORATOR_ACCOUNT = (
    _s("acct_type", 10, True, "账号类型"),  # ours
    _s("certificate_sno", 64, True, "相关法人标识"),  # ours
    _s("agent_name", 100, comment="经办人姓名"),  # ours
    _s("agent_mobile", 32, comment="经办人手机"),  # ours
    _s("agent_cert_type", 6, comment="经办人证件类型"),  # ours
    _s("agent_cert", 64, comment="经办人证件号码"),  # ours
    _s("agent_cert_key", 128, comment="经办人证件散列值"),  # ours
    _s("agent_channel", 6, True, "账号来源代码"),
    _s("agent_eff_date", 8, comment="生效日期"),  # ours
    _s("agent_exp_date", 8, comment="失效日期"),  # ours
    _s("trust_acct_no", 128, True, "信任标识账号"),  # ours
    _s("trust_acct_no_key", 128, True, "信任身份标识账号散列值"),  # ours
)
# Standards §2.1.
_PRO_ACCEPT = (
    _s("project_no", 50, True, "办件编号"),
    _s("project_name", 1000, comment="办理摘要"),
    _s("task_code", 36, comment="实施编码"),
    _s("task_handle_item", 50, comment="业务办理项编码"),
    _s("task_name", 1000, comment="事项名称"),
    _i("task_version", comment="事项版本"),
    _s("catalog_code", 12, comment="基本编码"),
    _s("local_catalog_code", 50, comment="地方基本编码"),
    _s("local_task_code", 50, comment="地方实施编码"),
    _s("apply_type", 2, True, "申请类型"),
    _s("project_type", 2, True, "办理类型"),
    _s("applyer_type", 2, True, "申请人类型"),
    _s("applyer_name", 200, True, "申请人名称"),  # ours
    _s("applyer_page_type", 6, True, "申请人证件类型"),  # ours
    _s("applyer_page_code", 64, True, "申请人证件号码"),  # ours
    _s("legal", 100, comment="法定代表人"),  # ours
    _s("contact_name", 100, comment="联系人/代理人姓名"),  # ours
    _s("contact_type", 6, comment="联系人/代理人证件类型"),  # ours
    _s("contact_code", 64, comment="联系人/代理人证件号码"),  # ours
    _s("contact_mobile", 32, comment="联系人手机号码"),  # ours
    _s("address", 500, comment="通讯地址"),  # ours
    _s("zip_code", 6, comment="邮政编码"),
    _s("org_name", 200, True, "受理部门"),  # ours
    _s("org_code", 64, True, "受理部门编码"),
    _s("handle_user_name", 100, comment="受理人员"),  # ours
    _d("apply_date", True, "申请时间"),
    _d("accept_date", True, "受理时间"),
    _s("accept_doc_no", 100, comment="受理文书编号"),  # ours
    _d("promise_date", comment="承诺办结时间"),
)
_PRO_PROCESS = (
    _s("project_no", 50, True, "办件编号"),
    _s("process_name", 200, comment="办理环节名称"),  # ours
    _s("event_name", 2, True, "业务动作"),
    _d("event_start_time", comment="环节开始时间"),
    _d("event_end_time", comment="环节结束时间"),
    _s("handle_user_name", 100, comment="办理人员"),  # ours
    _s("handle_explain", 1000, True, "办理意见"),  # ours
    _s("remark", 1000, comment="备注"),  # ours
)
_PRO_RESULT = (
    _s("project_no", 50, True, "办件编号"),
    _s("result_type", 2, True, "办结结果"),
    _d("result_date", True, "办结时间"),
    _s("result_explain", 1000, comment="办件结果描述"),  # ours
    _s("result_cetr_name", 200, comment="结果证照名称"),  # ours
    _s("result_cetr_no", 128, comment="结果证照编号"),  # ours
    _s("is_delivery_results", 2, True, "是否快递递送结果"),
    _s("satisfaction", 2, comment="满意度"),
    _s("handle_user_name", 100, comment="办理人员"),  # ours
    _s("remark", 1000, comment="备注"),  # ours
)
_PRO_MATERIAL = (
    _s("project_no", 50, True, "办件编号"),
    _s("material_name", 200, True, "材料名称"),
    _s("material_attach_name", 200, comment="附件名称"),
    _s("get_type", 2, comment="收取方式"),
    _s("get_name", 5, comment="收取数量"),
    _s("remark", 1000, comment="备注"),  # ours
)
_PRO_SPECIAL = (
    _s("project_no", 50, True, "办件编号"),
    _s("special_type", 2, True, "特别程序种类"),
    _s("special_name", 1000, True, "特别程序种类名称"),
    _s("special_reason", 2000, True, "特别程序启动理由或依据"),
    _d("special_time", True, "特别程序开始时间"),
    _d("end_time", True, "特别程序结束时间"),
    _s("special_explain", 2000, comment="特别程序办理意见"),
    _s("result", 2000, comment="特别程序结果"),
    _s("applyer_user_name", 100, comment="申请人"),
    _s("handle_user", 100, comment="办理人"),
    _s("remark", 1000, comment="备注"),
)
# Standards §3.1: the abnormal-data feedback shape shared by dn_audit_abnormal and dn_uc_adult_abnormal.
_ABNORMAL = (
    _s("err_type", 100, True, "异常类型"),
    _s("remark", 1000, comment="备注"),
    _s("table_cd_batch", 32, True, "批次号"),
    _s("table_cd_source", 10, True, "数据来源"),
    _d("table_cd_time", True, "上传日期"),
    _s("table_name", 50, True, "数据表中文名"),
    _s("table_row_guid", 50, True, "数据表主键"),
    _s("table_sql_name", 50, True, "数据表英文名"),
    _d("table_update_time", True, "进入汇聚区日期"),
)

AUDIT_ABNORMAL: Final = "dn_audit_abnormal"
UC_ABNORMAL: Final = "dn_uc_adult_abnormal"
LIC_ERROR: Final = "dn_lic_data_error"

UP_TABLES: Final[dict[str, NationalTable]] = {
    t.name: t
    for t in (
        NationalTable("up_task_directory", "政务服务事项基本目录", "catalog_code", _DIRECTORY, AUDIT_ABNORMAL),
        NationalTable(
            "up_task_general_basic", "许可、给付、奖励、确认、裁决、其他类事项 基本信息", "task_code",
            _GENERAL_BASIC, AUDIT_ABNORMAL,
        ),
        NationalTable(
            "up_task_general_material", "许可、给付、奖励、确认、裁决、其他类事项 材料目录信息", None,
            _MATERIAL, AUDIT_ABNORMAL,
        ),
        NationalTable(
            "up_task_general_extend", "许可、给付、奖励、确认、裁决、其他类事项 扩展信息", "task_code",
            _GENERAL_EXTEND, AUDIT_ABNORMAL,
        ),
        NationalTable(
            "up_task_general_fee_project", "许可、给付、奖励、确认、裁决、其他类事项 收费项目信息", None,
            _FEE_PROJECT, AUDIT_ABNORMAL,
        ),
        NationalTable(
            "up_task_general_questions", "许可、给付、奖励、确认、裁决、其他类事项 常见问题解答", None,
            _QUESTIONS, AUDIT_ABNORMAL,
        ),
        NationalTable("up_task_public_basic", "公共服务类事项 基本信息", "task_code", _PUBLIC_BASIC, AUDIT_ABNORMAL),
        NationalTable("up_task_public_extend", "公共服务类事项 扩展信息", "task_code", _PUBLIC_EXTEND, AUDIT_ABNORMAL),
        NationalTable("up_task_public_material", "公共服务类事项 材料目录信息", None, _MATERIAL, AUDIT_ABNORMAL),
        NationalTable("up_task_public_fee_project", "公共服务类事项 收费项目信息", None, _FEE_PROJECT, AUDIT_ABNORMAL),
        NationalTable("up_task_public_questions", "公共服务类事项 常见问题解答", None, _QUESTIONS, AUDIT_ABNORMAL),
        NationalTable("up_lic_data", "电子证照目录信息", "certificate_source_id", _LICENSE, LIC_ERROR),
        NationalTable("up_uc_province_user", "自然人信息资料表", "cert_key", _PROVINCE_USER, UC_ABNORMAL),
        NationalTable(
            "up_uc_corporator_identity", "法人身份信息", "certificate_key", _CORPORATOR_IDENTITY, UC_ABNORMAL
        ),
        NationalTable(
            "up_uc_corporator_account", "法人账号信息", "trust_acct_no_key", _CORPORATOR_ACCOUNT, UC_ABNORMAL
        ),
        NationalTable("up_pro_accept", "办件受理信息", "project_no", _PRO_ACCEPT, AUDIT_ABNORMAL),
        NationalTable("up_pro_process", "办件过程信息", None, _PRO_PROCESS, AUDIT_ABNORMAL),
        NationalTable("up_pro_result", "办件结果信息", "project_no", _PRO_RESULT, AUDIT_ABNORMAL),
        NationalTable("up_pro_material", "办件材料目录", None, _PRO_MATERIAL, AUDIT_ABNORMAL),
        NationalTable("up_pro_special_procedure", "办件特别程序信息", None, _PRO_SPECIAL, AUDIT_ABNORMAL),
    )
}  # fmt: skip
DN_TABLES: Final[dict[str, NationalTable]] = {
    t.name: t
    for t in (
        NationalTable(AUDIT_ABNORMAL, "事项办件异常 数据表", None, _ABNORMAL),
        NationalTable(UC_ABNORMAL, "用户信息 异常数据", None, _ABNORMAL),
        NationalTable(LIC_ERROR, "电子证照共享异常数据 目录信息", None, (*_LICENSE, _s("error_remark", 512, True, "异常说明"))),
        NationalTable(
            "dn_task_general_basic", "许可、给付、奖励、确认、裁决、其他类事项 基本信息（下发）", "task_code",
            _GENERAL_BASIC,
        ),
        NationalTable("dn_task_public_basic", "公共服务类事项 基本信息（下发）", "task_code", _PUBLIC_BASIC),
        NationalTable(
            "dn_task_directory", "政务服务事项基本目录（下发）", "catalog_code",
            tuple(c for c in _DIRECTORY if c.name != "local_catalog_code"),
        ),
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


def _fast_ok(columns: tuple[Column, ...], row: Mapping[str, Any]) -> bool:
    """True when every column is certainly fine (the common case), without building messages."""
    get = row.get
    for column in columns:
        value = get(column.name)
        kind = column.kind
        if kind == "str":
            if value is None:
                if column.required:
                    return False
            elif (
                type(value) is not str
                or (column.length is not None and len(value) > column.length)
                or (column.required and (not value or value.isspace()))
            ):
                return False
        elif value is None:
            if column.required:
                return False
        elif kind == "datetime":
            if type(value) is not str or not compact_ok(value):
                return False
        elif type(value) is not int:
            return False
    return True


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
    """Check the business columns of ``row`` against the national table (NOT NULL, lengths, types)."""
    if _fast_ok(spec.columns, row):
        return []
    errors: list[RowError] = []
    for column in spec.columns:
        errors.extend(_check_value(column, row.get(column.name)))
    return errors


def _label(column: Column) -> str:
    return f"{column.comment or column.name}（{column.name}）"


def _check_value(column: Column, value: Any) -> list[RowError]:
    fits = column.length is None or len(value) <= column.length if type(value) is str else False
    if fits and column.kind == "str" and value and not value.isspace():
        return []  # the common case, decided without building any message
    if value is None or (isinstance(value, str) and not value.strip()):
        if column.required:
            return [RowError("required", f"必填字段缺失：{_label(column)}", column.name)]
        return []
    label = _label(column)
    if column.kind == "str":
        if not isinstance(value, str):
            return [RowError("type", f"字段类型应为字符串：{label}", column.name)]
        if column.length is not None and len(value) > column.length:
            return [RowError("too_long", f"字段超长（最多 {column.length} 个字符）：{label}", column.name)]
        return []
    if column.kind == "int":
        is_int = isinstance(value, int) and not isinstance(value, bool)
        if not is_int and not (isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value)):
            return [RowError("type", f"字段应为整数：{label}", column.name)]
        return []
    if normalise_time(value) is None:
        return [RowError("bad_time", f"时间字段应为 yyyyMMddHHmmss（北京时间）：{label}", column.name)]
    return []


def keep_known(spec: NationalTable, row: Mapping[str, Any]) -> dict[str, Any]:
    """Only the columns the national table knows (inbound rows are read tolerantly, conventions §12),
    datetimes in national form."""
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
