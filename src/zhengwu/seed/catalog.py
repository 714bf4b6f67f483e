"""The Hebei demo catalog: basic items claimed at province, city and county level, published in bulk.

Deterministic: the same departments and items on every run, and a second run changes nothing. A few
implementations deliberately diverge from the rest of their tier group (and one draft lacks required
elements) so that ``zhengwu catalog validate`` has something real to report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import service
from zhengwu.catalog.errors import ItemExists
from zhengwu.catalog.importexport import ImportOptions, directory_records, import_records, task_records
from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.session import unit_of_work
from zhengwu.orgs import service as orgs
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed.catalog_items import ITEMS, DemoItem

PROVINCE_CODE = "130000"
PROVINCE_DEPARTMENTS = {
    "police": "河北省公安厅",
    "market": "河北省市场监督管理局",
    "hrss": "河北省人力资源和社会保障厅",
    "medical": "河北省医疗保障局",
    "civil": "河北省民政厅",
    "housing": "河北省住房和城乡建设厅",
    "land": "河北省自然资源厅",
    "eco": "河北省生态环境厅",
    "transport": "河北省交通运输厅",
    "health": "河北省卫生健康委员会",
    "edu": "河北省教育厅",
    "dev": "河北省发展和改革委员会",
}
# Department of each kind in a city and in a county (None: counties have no such body).
LOCAL_DEPARTMENTS: dict[str, tuple[str, str | None]] = {
    "approval": ("行政审批局", "行政审批局"),
    "market": ("市场监督管理局", "市场监督管理局"),
    "police": ("公安局", "公安局"),
    "hrss": ("人力资源和社会保障局", "人力资源和社会保障局"),
    "medical": ("医疗保障局", "医疗保障局"),
    "civil": ("民政局", "民政局"),
    "housing": ("住房和城乡建设局", "住房和城乡建设局"),
    "land": ("自然资源和规划局", "自然资源和规划局"),
    "eco": ("生态环境局", None),  # county offices are branches of the city bureau
    "transport": ("交通运输局", "交通运输局"),
    "health": ("卫生健康委员会", "卫生健康局"),
    "edu": ("教育局", "教育局"),
}
FLOW = {
    "01": "1. 申请：申请人通过河北政务服务网或到窗口提交申请材料；2. 受理：窗口人员对材料进行形式审查，材料齐全、符合法定形式的予以受理，"
    "不予受理的出具不予受理通知书；3. 审查：审查人员对申请材料进行实质审查，需要现场核查的组织核查；4. 决定：作出准予或不予许可的决定；"
    "5. 送达：通过窗口领取、邮寄或电子证照方式送达。",
    "05": "1. 申请：申请人提出给付申请并提交材料；2. 受理：经办机构审核材料完整性；3. 审核：核对申请人资格条件，必要时入户调查；"
    "4. 公示：按规定进行公示；5. 发放：审核通过的按月或一次性发放至申请人社会保障卡或银行账户。",
    "07": "1. 申请：申请人提交确认申请及材料；2. 受理：窗口人员核验身份和材料；3. 审核：对申请事项进行审核确认；4. 办结：出具确认结果或发放证件。",
    "08": "1. 申报：符合条件的个人或单位提出奖励申请；2. 审核：主管部门调查核实；3. 公示：拟奖励对象公示不少于五个工作日；"
    "4. 决定：作出奖励决定；5. 发放：发放奖金或荣誉证书。",
    "09": "1. 申请：当事人提交裁决申请书及证据；2. 受理：审查是否属于受理范围；3. 调查：调查取证、组织质证；4. 调解：先行调解；"
    "5. 裁决：调解不成的依法作出裁决并送达当事人。",
    "10": "1. 申请：申请人提交材料；2. 受理：窗口审核材料；3. 办理：主管部门依法办理；4. 办结：出具办理结果。",
    "20": "1. 申请：申请人通过网上、掌上或窗口提出申请；2. 受理：工作人员核验材料；3. 办理：即时或在承诺时限内办理；4. 办结：告知或送达办理结果。",
}
SPECIAL = {
    "01": "需要听证、招标、拍卖、检验、检测、检疫、鉴定和专家评审的，所需时间不计算在办理时限内，并书面告知申请人。",
    "09": "需要鉴定、评估的，所需时间不计算在裁决时限内。",
}
TRANSACT_TIME = "法定工作日 上午9:00—12:00，下午13:30—17:30（夏季14:00—18:00）；网上办理全天候受理。"

# Deliberate divergences across tiers (catalog validate must report each of them).
DIVERGENCES: dict[tuple[str, str], dict[str, Any]] = {
    ("食品经营许可", "130123"): {"accept_condition_suffix": "；另需提供经营场所租赁合同备案证明"},
    ("居民身份证换领", "130200"): {"extra_material": "户口簿复印件"},
    ("建设工程规划许可证核发", "130600"): {"anticipate_day": 30},
    ("城乡居民养老保险参保登记", "130400"): {"by_law": "《河北省城乡居民基本养老保险实施办法》"},
}
# A claim still in draft with required elements missing.
INCOMPLETE_DRAFT = ("有限责任公司设立登记", "130181")


@dataclass(frozen=True, slots=True)
class Place:
    """A city or county of the demo: division code, name and level (3 city, 4 county)."""

    code: str
    name: str
    level: int


# Every county and district of this city takes part, to show one city's whole tier structure.
FULL_CITY = "130100"


def _place_of(code: str) -> Place:
    name = divisions.name_of(code) or code
    if name.endswith("区") and not code.endswith("00"):
        # Districts carry their city's name (石家庄市长安区): district names repeat across cities.
        name = f"{divisions.name_of(code[:4] + '00') or ''}{name}"
    return Place(code, name, 3 if code.endswith("00") else 4)


def demo_places(session: Session) -> list[Place]:
    """Places of the demo: divisions with a registered 行政审批局 (seed.py) and every county of 石家庄."""
    rows, _ = orgs.list_departments(session, division_prefix="13", limit=100_000)
    codes = {
        d.division_code for d in rows if d.name.endswith("行政审批局") and d.division_code != PROVINCE_CODE
    }
    codes.update(d.code for d in divisions.children(FULL_CITY) if d.current)
    return [_place_of(c) for c in sorted(codes)]


def _credit_code(division_code: str, serial: int) -> str:
    # Same construction as the seed's government bodies, in a serial range of its own (MC…).
    body = f"MC{serial:06d}"
    return complete_uscc(f"11{division_code}{body}{org_check_digit(body)}")


def local_department(place: Place, kind: str) -> str | None:
    """Name of the department of ``kind`` in a place (None when counties have none)."""
    city, county = LOCAL_DEPARTMENTS[kind]
    suffix = city if place.level == 3 else county
    return f"{place.name}{suffix}" if suffix else None


def ensure_departments(session: Session, places: list[Place]) -> dict[str, str]:
    """Register the city and county departments the demo catalog needs; returns name → credit code."""
    rows, _ = orgs.list_departments(session, division_prefix="13", limit=100_000)
    known = {d.name: d.credit_code for d in rows}
    serial = 1
    for place in places:
        for kind in sorted(LOCAL_DEPARTMENTS):
            name = local_department(place, kind)
            if name is None:
                continue
            if name not in known:
                code = _credit_code(place.code, serial)
                orgs.add_department(
                    session,
                    DepartmentCreate(
                        credit_code=code, name=name, short_name=name[-6:], division_code=place.code
                    ),
                )
                known[name] = code
            serial += 1
    return known


def directory_rows() -> list[dict[str, Any]]:
    """The basic catalog entries (up_task_directory columns)."""
    return [
        {
            "catalog_code": i.code,
            "task_name": i.name,
            "task_type": i.task_type,
            "use_level": i.levels,
            "by_law": i.law,
        }
        for i in ITEMS
    ]


def _materials(item: DemoItem, extra: str | None) -> list[dict[str, Any]]:
    names = [m for m in item.materials.split("、") if m]
    if extra:
        names.append(extra)
    rows = []
    for raw in names:
        optional, issued = raw.startswith("!"), raw.startswith("@")
        name = raw.lstrip("!@")
        row: dict[str, Any] = {
            "material_name": name,
            "is_need": "2" if optional else "1",
            "material_format": "3" if item.online == "1^2^3^4^5^6" else "1",
            "material_type": "1",
            "page_format": "A4",
            "page_num": 1,
            "source_type": "20" if issued else "10",
            "source_explain": "由有关政府部门核发，可通过电子证照共享获取" if issued else "申请人自备",
            "accept_stand": f"{name}应真实、有效、完整，信息清晰可辨",
        }
        if name.endswith(("申请表", "申请书", "登记表")):
            row["fill_explain"] = (
                "可在河北政务服务网在线填写，或到窗口领取空白表格，按示例样表如实填写并签字（盖章）"
            )
        rows.append(row)
    return rows


def _questions(item: DemoItem) -> list[dict[str, str]]:
    first = (
        f"办理{item.name}需要本人到现场吗？",
        "全程网办事项可通过河北政务服务网或“冀时办”办理，无需到现场；需要核验身份或采集信息的，"
        f"须本人到现场{item.visits}次。"
        if item.visits
        else "本事项可全程网上办理，无需到现场。",
    )
    second = (
        f"{item.name}的办理进度怎样查询？",
        "可登录河北政务服务网“我的办件”查询，或拨打12345政务服务便民热线查询。",
    )
    return [{"question": q, "answer": a} for q, a in (first, second)]


def task_row(
    item: DemoItem, level: int, dept_code: str, dept_name: str, place_name: str, division: str
) -> dict[str, Any]:
    """The implementation item of ``item`` by one department (national column names)."""
    divergence = DIVERGENCES.get((item.name, division), {})
    anticipate, promise = item.days
    public = item.task_type == "20"
    hall = f"{place_name}政务服务中心"
    row: dict[str, Any] = {
        "catalog_code": item.code,
        "dept_code": dept_code,
        "use_level": str(level),
        "dept_type": "1",
        "by_law": divergence.get("by_law", item.law),
        "accept_condition": item.condition + divergence.get("accept_condition_suffix", ""),
        "anticipate_day": divergence.get("anticipate_day", anticipate),
        "anticipate_type": "1" if anticipate is not None else None,
        "anticipate_explain": "自受理之日起计算" if anticipate is not None else None,
        "promise_day": promise,
        "promise_type": "1" if promise is not None else None,
        "promise_explain": "即来即办" if promise == 0 else "自受理之日起计算，不含补正材料时间",
        "handle_flow": FLOW[item.task_type],
        "handle_type": "1^2" if item.online != "1^2" else "1",
        "transact_addr": f"{hall}{dept_name.removeprefix(place_name)}窗口",
        "transact_time": TRANSACT_TIME,
        "is_fee": "1" if item.fee else "0",
        "fee_basis": "按照国家和河北省规定的收费标准执行" if item.fee else None,
        "server_type": item.objects,
        "project_type": "1" if promise == 0 else "2",
        "limit_scene_num": item.visits,
        "link_way": f"咨询电话：12345（{place_name}政务服务便民热线）；{hall}现场咨询",
        "supervise_way": f"投诉电话：12345；{place_name}政务服务管理部门投诉窗口；河北政务服务网“好差评”",
        "special_procedure": SPECIAL.get(item.task_type, "无"),
        "link_addr": f"https://zwfw.hebei.example/item/{item.code}",
        "mobile_terminal_url": f"https://m.zwfw.hebei.example/item/{item.code}",
        "is_single_login": "1",
        "app_is_single_login": "1",
        "is_entry_center": "1",
        "handle_area": "3" if item.online == "1^2^3^4^5^6" else "6",  # 全省通办 / 本行政区域
        "result_type": item.result[1] if item.result[0] else None,
        "result_name": item.result[0] or None,
        "is_schedule": "1",
        "is_pay_online": "1" if item.fee else "0",
        "is_express": "1" if item.result[1] == "10" else "0",
        "is_service_terminals": "1" if "1" in item.objects.split("^") else "0",
        "user_topic_type": (item.theme or None) if "1" in item.objects.split("^") else None,
        "corp_topic_type": (item.theme or None) if item.objects != "1" else None,
        "is_online": "1" if item.online == "1^2^3^4^5^6" else "0",
        "online_handle_depth": item.online,
        "online_handle_url": f"https://zwfw.hebei.example/apply/{item.code}",
        "limit_scene_explain": "需现场核验身份、采集人像或提交原件" if item.visits else None,
        # 全程网办 items are applied for without a visit: they demand a registry-matched identity and a
        # login at most half an hour old (issue #3; department systems name the item at /oidc/authorize).
        "auth_level": 3 if item.online == "1^2^3^4^5^6" else None,
        "auth_max_age": 1800 if item.online == "1^2^3^4^5^6" else None,
        "materials": _materials(item, divergence.get("extra_material")),
        "questions": _questions(item),
        "handle_items": [{"handle_item_name": h} for h in item.handle_items.split("、") if h],
    }
    row["power_source"] = None if public else "1"  # 公共服务 has no 权力来源 (standards §1.5)
    if item.fee:
        row["fee_projects"] = [
            {
                "fee_name": item.fee[0],
                "fee_stand": item.fee[1],
                "by_law": "国家和河北省价格主管部门核定的收费标准",
                "is_desc": "0",
            }
        ]
    return row


def implementations(places: list[Place], departments: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every implementation item of the demo (province, then each city and county)."""
    for item in ITEMS:
        levels = {int(x) for x in item.levels.split("^")}
        if 2 in levels and item.province:
            name = PROVINCE_DEPARTMENTS[item.province]
            yield task_row(item, 2, departments[name], name, "河北省", PROVINCE_CODE)
        for place in places:
            if place.level not in levels or not item.local:
                continue
            if (item.name, place.code) == INCOMPLETE_DRAFT:
                continue
            local = local_department(place, item.local)
            if local is None or local not in departments:
                continue
            yield task_row(item, place.level, departments[local], local, place.name, place.code)


def seed_catalog(factory: sessionmaker[Session]) -> dict[str, Any]:
    """Load the demo catalog (published), the divergent items and one incomplete draft; idempotent."""
    with unit_of_work(factory) as session:
        places = demo_places(session)
        departments = ensure_departments(session, places)
    options = ImportOptions(publish=True, chunk_size=1000, actor="demo", skip_existing=True)
    rejects: list[str] = []
    directory = import_records(factory, directory_records(directory_rows()), options=options)
    tasks = import_records(
        factory,
        task_records(implementations(places, departments)),
        options=options,
        on_reject=lambda r: rejects.append(f"{r.where} {r.field}: {r.reason}"),
    )
    draft = _incomplete_draft(factory, places, departments)
    return {
        "basic_items": directory.directory_created + directory.directory_updated,
        "implementation_items": tasks.inserted + tasks.updated + tasks.unchanged,
        "inserted": tasks.inserted,
        "rejected": rejects[:5],
        "incomplete_draft": draft,
    }


def _incomplete_draft(
    factory: sessionmaker[Session], places: list[Place], departments: dict[str, str]
) -> str | None:
    name, division = INCOMPLETE_DRAFT
    place = next((p for p in places if p.code == division), None)
    item = next(i for i in ITEMS if i.name == name)
    if place is None:
        return None
    dept = local_department(place, item.local)
    if dept is None or dept not in departments:
        return None
    row = task_row(item, place.level, departments[dept], dept, place.name, place.code)
    for missing in ("transact_addr", "handle_flow", "supervise_way"):
        row.pop(missing)
    try:
        with unit_of_work(factory) as session:
            return service.create_task(session, row, actor="demo").task_code
    except ItemExists as exc:
        return str(exc.extra.get("task_code"))
