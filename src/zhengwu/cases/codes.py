"""The national code values of the ``up_pro_*`` columns, as configurable mappings.

Standards §2.1 marks the codes of ``apply_type``, ``event_name``, ``result_type``, ``get_type``,
``special_type`` and ``satisfaction`` UNCERTAIN: not found in public material. The defaults below are
the closest public equivalents the standards name (the older e-supervision specs); an operator replaces
any of them with ``ZHENGWU_CASES__CODES`` (``{"event_name": {"accept": "4"}}``) once the official
values are known, without a code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from zhengwu.kernel.config import Settings

DEFAULTS: Final[Mapping[str, Mapping[str, str]]] = {
    # 申请类型 / submission channel (e-supervision ``submit``): 0 窗口, 1 网上.
    "apply_type": {"online": "1", "counter": "0"},
    # 办理类型: 1 即办件, 2 承诺件 (the catalog's project_type).
    "project_type": {"immediate": "1", "promised": "2"},
    # 申请人类型: 1 自然人, 2 法人.
    "applyer_type": {"person": "1", "enterprise": "2"},
    # 申请人证件类型 (GA/T 2000.156): 111 居民身份证, 001 统一社会信用代码.
    "applyer_page_type": {"citizen_id": "111", "credit_code": "001"},
    # 业务动作 (Shandong e-supervision NODERESULT): 4 受理, 3 不予受理, 1 同意, 5 补齐补正, 6 特别程序.
    "event_name": {
        "accept": "4",
        "reject": "3",
        "request_supplement": "5",
        "supplement": "5",
        "accept_step": "1",
        "complete_step": "1",
        "add_step": "1",
        "request_opinions": "1",
        "opinion_agree": "1",
        "opinion_refuse": "0",
        "start_special": "6",
        "end_special": "6",
        "conclude": "1",
        "deliver": "1",
        "withdraw": "7",
    },
    # 办结结果 (e-supervision ``doneresult``): 0 出证办结 (准予), 1 不予许可, 6 不予受理, 5 退件 (撤回).
    "result_type": {"approved": "0", "refused": "1", "not_accepted": "6", "withdrawn": "5"},
    # 收取方式: 1 电子, 2 纸质 (no public source; the national list is unknown).
    "get_type": {"upload": "1", "license": "1", "paper": "2"},
    # 特别程序种类 (no public list): 1 听证 … 9 其他.
    "special_type": {
        "hearing": "1",
        "tender": "2",
        "auction": "3",
        "inspection": "4",
        "testing": "5",
        "quarantine": "6",
        "appraisal": "7",
        "expert_review": "8",
        "other": "9",
    },
    # 满意度: 1 非常不满意 … 5 非常满意 (a provincial 好差评 spec).
    "satisfaction": {str(n): str(n) for n in range(1, 6)},
    # 是否快递递送结果.
    "is_delivery_results": {"yes": "1", "no": "0"},
}


#: 特别程序种类名称 of the kinds above.
SPECIAL_NAMES: Final[Mapping[str, str]] = {
    "hearing": "听证",
    "tender": "招标",
    "auction": "拍卖",
    "inspection": "检验",
    "testing": "检测",
    "quarantine": "检疫",
    "appraisal": "鉴定",
    "expert_review": "专家评审",
    "other": "其他",
}


def code(settings: Settings, table: str, name: str) -> str:
    """The national code of ``name`` in the mapping ``table`` (the operator's override first)."""
    override = settings.cases.codes.get(table, {})
    if name in override:
        return override[name]
    return DEFAULTS[table][name]


def names(table: str) -> tuple[str, ...]:
    """The names a mapping knows (what the API accepts, e.g. the special procedure kinds)."""
    return tuple(DEFAULTS[table])
