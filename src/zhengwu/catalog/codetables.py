"""Code tables (字典) of catalog data, national numbering (standards §1.3), and the national column sets.

Every value the API, the import and the exchange use is the national code; Chinese labels are for
people. Tables marked SINGLE-SOURCE/UNCERTAIN in the standards digest are accepted as listed here.
"""

from __future__ import annotations

from zhengwu.kernel.codes.task_code import LEVELS, TASK_TYPES

__all__ = ["LEVELS", "TASK_TYPES"]

# 行使层级 of a catalog item may also be 7 分级管理 (standards §1.3).
USE_LEVELS: dict[str, str] = {str(k): v for k, v in LEVELS.items()} | {"7": "分级管理"}
# 事项状态 (standards §1.3, SINGLE-SOURCE): 1 在用 2 暂停 3 取消.
TASK_STATES = {"1": "在用", "2": "暂停", "3": "取消"}
POWER_SOURCES = {
    "1": "法定本级行使",
    "2": "上级下放",
    "3": "上级授权",
    "4": "同级授权",
    "5": "上级委托",
    "6": "同级委托",
}
DEPT_TYPES = {"1": "法定机关", "2": "授权组织", "3": "受委托组织"}
SERVER_TYPES = {
    "1": "自然人",
    "2": "企业法人",
    "3": "事业法人",
    "4": "社会组织法人",
    "5": "非法人企业",
    "6": "行政机关",
    "9": "其他组织",
}
PROJECT_TYPES = {"1": "即办件", "2": "承诺件", "3": "联办件", "4": "上报件"}
TIME_UNITS = {"1": "工作日", "2": "自然日", "3": "小时", "4": "分钟", "5": "月"}
ONLINE_DEPTHS = {
    "1": "互联网咨询",
    "2": "互联网收件",
    "3": "互联网预审",
    "4": "互联网受理",
    "5": "互联网办理",
    "6": "互联网办理结果信息反馈",
    "7": "互联网电子证照反馈",
    "8": "其他",
}
# 办理形式 (handle_type): the national column is varchar(5) multi-valued; numbering is UNCERTAIN.
HANDLE_TYPES = {"1": "窗口办理", "2": "网上办理", "3": "快递申请"}
SOURCE_TYPES = {"10": "申请人自备", "20": "政府部门核发", "30": "中介机构出具", "99": "其他"}
IS_NEED = {"1": "必要", "2": "非必要", "3": "容缺后补"}
MATERIAL_FORMATS = {"1": "纸质", "2": "电子", "3": "纸质+电子"}
MATERIAL_TYPES = {"1": "原件", "2": "复印件", "3": "原件和复印件"}
RESULT_TYPES = {"10": "证照", "20": "批文", "30": "其他"}
# 通办范围 (handle_area): the national column is varchar(2), so a code, not free text. UNCERTAIN: no
# public source confirms the numbering; the names follow the State Council's 全国通办/跨省通办 wording.
HANDLE_AREAS = {
    "1": "全国通办",
    "2": "跨省通办",
    "3": "全省通办",
    "4": "全市通办",
    "5": "全县通办",
    "6": "本行政区域",
}
FLAGS = {"1": "是", "0": "否"}

# Service objects for the public filter: 个人 = 自然人, 法人 = every organisation type.
PERSON_TYPES = frozenset({"1"})
LEGAL_TYPES = frozenset({"2", "3", "4", "5", "6", "9"})
OBJECT_PERSON = 1
OBJECT_LEGAL = 2

# National tables (standards §1.4–1.5): 公共服务 (20) uses the *_public_* set, the others *_general_*.
PUBLIC_SERVICE_TYPE = "20"


def table_family(task_type: str) -> str:
    """``public`` for 公共服务 items, ``general`` for 许可、给付、奖励、确认、裁决、其他 and the rest."""
    return "public" if task_type == PUBLIC_SERVICE_TYPE else "general"


DIRECTORY_FIELDS: tuple[str, ...] = (
    "catalog_code",
    "local_catalog_code",
    "task_name",
    "task_type",
    "use_level",
    "by_law",
    "task_state",
    "task_version",
    "plan_effective_date",
    "plan_cancel_date",
)

BASIC_FIELDS: tuple[str, ...] = (
    "task_code",
    "local_task_code",
    "catalog_code",
    "local_catalog_code",
    "task_name",
    "task_type",
    "task_state",
    "task_version",
    "dept_name",
    "dept_code",
    "dept_type",
    "entrust_name",
    "use_level",
    "power_source",
    "by_law",
    "accept_condition",
    "anticipate_day",
    "anticipate_type",
    "anticipate_explain",
    "promise_day",
    "promise_type",
    "promise_explain",
    "handle_flow",
    "handle_type",
    "transact_addr",
    "transact_time",
    "is_fee",
    "fee_basis",
    "server_type",
    "project_type",
    "limit_scene_num",
    "link_way",
    "supervise_way",
    "special_procedure",
    "link_addr",
    "mobile_terminal_url",
    "is_single_login",
    "app_is_single_login",
    "plan_effective_date",
    "plan_cancel_date",
)

EXTEND_FIELDS: tuple[str, ...] = (
    "task_guid",
    "is_entry_center",
    "handle_area",
    "other_dept",
    "service_type",
    "limit_explain",
    "result_type",
    "result_name",
    "result_guid",
    "is_schedule",
    "is_pay_online",
    "is_express",
    "is_service_terminals",
    "user_topic_type",
    "corp_topic_type",
    "is_online",
    "online_handle_depth",
    "online_handle_url",
    "limit_scene_explain",
    "town_code",
    "town_name",
    "village_code",
    "village_name",
    "extend_field",
)

# Not national columns: what signing in for this item demands (issue #3: items can demand a minimum
# real-name level and a maximum authentication age). They travel in snapshots, imports and exports of
# this platform, never in the up_task_* rows.
ACCESS_FIELDS: tuple[str, ...] = ("auth_level", "auth_max_age")

# Every scalar element of an implementation item's guide, national and local.
GUIDE_FIELDS: tuple[str, ...] = (*BASIC_FIELDS, *EXTEND_FIELDS, *ACCESS_FIELDS)

MATERIAL_FIELDS: tuple[str, ...] = (
    "material_name",
    "is_need",
    "material_format",
    "material_type",
    "page_format",
    "page_num",
    "source_type",
    "source_explain",
    "form_guid",
    "example_guid",
    "fill_explain",
    "accept_stand",
    "by_law",
    "remark",
    # Not a national column: the e-license type (GB/T 36904 type code) that can stand in for it.
    "license_type_code",
)
FEE_FIELDS: tuple[str, ...] = ("fee_name", "fee_stand", "by_law", "is_desc", "desc_explain", "remark")
QUESTION_FIELDS: tuple[str, ...] = ("question", "answer")
HANDLE_ITEM_FIELDS: tuple[str, ...] = ("task_handle_item", "handle_item_name", "remark")

# Elements of the service guide that must be identical at every tier for one 基本编码 (issue #4:
# name, conditions, review standards, process, materials, time limit, legal basis).
UNIFIED_FIELDS: tuple[str, ...] = (
    "task_name",
    "task_type",
    "by_law",
    "accept_condition",
    "handle_flow",
    "anticipate_day",
    "anticipate_type",
    "materials",
    "accept_stand",
)

# Required elements (NOT NULL in up_task_general_basic and _extend; standards §1.5). 公共服务 items may
# leave the time limits empty and have no 权力来源.
REQUIRED_GENERAL: tuple[str, ...] = (
    "task_name",
    "task_type",
    "dept_type",
    "use_level",
    "power_source",
    "by_law",
    "accept_condition",
    "anticipate_day",
    "anticipate_type",
    "promise_day",
    "promise_type",
    "handle_flow",
    "transact_addr",
    "transact_time",
    "is_fee",
    "server_type",
    "project_type",
    "limit_scene_num",
    "link_way",
    "supervise_way",
    "special_procedure",
    "is_single_login",
    "app_is_single_login",
    # NOT NULL in up_task_general_extend / up_task_public_extend
    "is_entry_center",
    "is_express",
    "is_online",
    "is_pay_online",
    "result_type",
)
# 公共服务 items have no 权力来源 and may lack a statutory time limit, but must promise one: the
# stricter national DDL (per-table files) makes promise_day/promise_type NOT NULL in up_task_public_basic.
REQUIRED_PUBLIC: tuple[str, ...] = tuple(
    f for f in REQUIRED_GENERAL if f not in {"power_source", "anticipate_day", "anticipate_type"}
)
REQUIRED_DIRECTORY: tuple[str, ...] = ("catalog_code", "task_name", "task_type", "use_level", "by_law")

# Chinese names of the national columns: error messages, the Chinese header row of XLSX files.
LABELS: dict[str, str] = {
    "catalog_code": "基本编码",
    "local_catalog_code": "地方基本编码",
    "task_code": "实施编码",
    "local_task_code": "地方实施编码",
    "task_handle_item": "业务办理项编码",
    "handle_item_name": "业务办理项名称",
    "task_name": "事项名称",
    "task_type": "事项类型",
    "task_state": "事项状态",
    "task_version": "事项版本",
    "dept_name": "实施主体",
    "dept_code": "实施主体编码",
    "dept_type": "实施主体性质",
    "entrust_name": "委托部门",
    "use_level": "行使层级",
    "power_source": "权力来源",
    "by_law": "设定依据",
    "accept_condition": "受理条件",
    "anticipate_day": "法定办结时限",
    "anticipate_type": "法定办结时限单位",
    "anticipate_explain": "法定办结时限说明",
    "promise_day": "承诺办结时限",
    "promise_type": "承诺办结时限单位",
    "promise_explain": "承诺办结时限说明",
    "handle_flow": "办理流程",
    "handle_type": "办理形式",
    "transact_addr": "办理地点",
    "transact_time": "办理时间",
    "is_fee": "是否收费",
    "fee_basis": "收费依据",
    "server_type": "服务对象",
    "project_type": "办件类型",
    "limit_scene_num": "到办事现场次数",
    "link_way": "咨询方式",
    "supervise_way": "监督投诉方式",
    "special_procedure": "特别程序",
    "link_addr": "计算机端在线办理跳转地址",
    "mobile_terminal_url": "移动端办理地址",
    "is_single_login": "计算机端是否对接单点登录",
    "auth_level": "最低实名等级",
    "auth_max_age": "认证有效时长（秒）",
    "app_is_single_login": "移动端是否对接单点登录",
    "plan_effective_date": "计划生效日期",
    "plan_cancel_date": "计划取消日期",
    "task_guid": "事项唯一标识",
    "is_entry_center": "是否进驻政务大厅",
    "handle_area": "通办范围",
    "other_dept": "联办机构",
    "service_type": "中介服务",
    "limit_explain": "数量限制",
    "result_type": "审批结果类型",
    "result_name": "审批结果名称",
    "result_guid": "审批结果样本",
    "is_schedule": "是否支持预约办理",
    "is_pay_online": "是否支持网上支付",
    "is_express": "是否支持物流快递",
    "is_service_terminals": "是否支持自助终端办理",
    "user_topic_type": "自然人主题分类",
    "corp_topic_type": "法人主题分类",
    "is_online": "是否网办",
    "online_handle_depth": "网上办理深度",
    "online_handle_url": "网上办理地址",
    "limit_scene_explain": "到现场原因说明",
    "town_code": "乡镇街道代码",
    "town_name": "乡镇街道名称",
    "village_code": "村居社区代码",
    "village_name": "村居社区名称",
    "extend_field": "扩展字段",
    "material_name": "材料名称",
    "is_need": "材料必要性",
    "material_format": "材料形式",
    "material_type": "材料类型",
    "page_format": "纸质材料规格",
    "page_num": "材料份数",
    "source_type": "来源渠道",
    "source_explain": "来源渠道说明",
    "form_guid": "空白表格",
    "example_guid": "示例样表",
    "fill_explain": "填报须知",
    "accept_stand": "受理标准",
    "remark": "备注",
    "license_type_code": "可替代的电子证照类型",
    "fee_name": "收费项目名称",
    "fee_stand": "收费标准",
    "is_desc": "是否允许减免",
    "desc_explain": "允许减免依据",
    "question": "问题",
    "answer": "解答",
    "materials": "申请材料",
    "fee_projects": "收费项目",
    "questions": "常见问题",
    "handle_items": "业务办理项",
}


def label(field: str) -> str:
    """The Chinese name of a national column (the column name itself when unknown)."""
    return LABELS.get(field, field)
