"""Deterministic Hebei demo data (``zhengwu seed --demo``).

Every credit code and ID number generated here passes the national checks; every person and
enterprise name is visibly fictional (演示/示例). Running the seed twice changes nothing.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from zhengwu.kernel.codes import divisions
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.config import Settings
from zhengwu.orgs import service as orgs
from zhengwu.orgs.errors import DepartmentNotFound
from zhengwu.orgs.schemas import DepartmentCreate
from zhengwu.seed.accounts import demo_account_lines, seed_demo_accounts

PROVINCE = "130000"
# 11 prefecture-level cities plus the two county-level cities the province administers directly.
CITIES = [
    "130100", "130200", "130300", "130400", "130500", "130600",
    "130700", "130800", "130900", "131000", "131100",
]  # fmt: skip
DIRECT_COUNTIES = ["130181", "130682"]  # 辛集市, 定州市
COUNTIES = ["130123", "130131", "130283", "130681", "130984", "131082"]

PROVINCE_DEPARTMENTS = [
    ("河北省人民政府办公厅", "省政府办公厅"),
    ("河北省政务服务管理办公室", "省政务服务办"),
    ("河北省发展和改革委员会", "省发展改革委"),
    ("河北省教育厅", "省教育厅"),
    ("河北省公安厅", "省公安厅"),
    ("河北省民政厅", "省民政厅"),
    ("河北省人力资源和社会保障厅", "省人社厅"),
    ("河北省自然资源厅", "省自然资源厅"),
    ("河北省生态环境厅", "省生态环境厅"),
    ("河北省住房和城乡建设厅", "省住建厅"),
    ("河北省交通运输厅", "省交通运输厅"),
    ("河北省卫生健康委员会", "省卫健委"),
    ("河北省市场监督管理局", "省市场监管局"),
    ("河北省医疗保障局", "省医保局"),
]
CITY_DEPARTMENTS = [("行政审批局", "审批局"), ("市场监督管理局", "市场监管局"), ("公安局", "公安局")]
COUNTY_DEPARTMENTS = [("行政审批局", "审批局")]

DEMO_ACCOUNTS: list[str] = demo_account_lines()


@dataclass(frozen=True)
class DemoDepartment:
    """One department of the demo seed."""

    credit_code: str
    name: str
    short_name: str
    division_code: str
    parent_credit_code: str | None


def government_credit_code(division_code: str, serial: int) -> str:
    """A check-valid USCC of a government body (登记管理部门 1 机构编制, 类别 1 机关)."""
    body = f"MB{serial:06d}"
    return complete_uscc(f"11{division_code}{body}{org_check_digit(body)}")


def demo_departments() -> list[DemoDepartment]:
    """The about-60 provincial, city and county departments of the Hebei demo."""
    result: list[DemoDepartment] = []
    serial = 1
    province_market = None
    for name, short in PROVINCE_DEPARTMENTS:
        code = government_credit_code(PROVINCE, serial)
        serial += 1
        result.append(DemoDepartment(code, name, short, PROVINCE, None))
        if name.endswith("市场监督管理局"):
            province_market = code
    for division_code in [*CITIES, *DIRECT_COUNTIES]:
        place = _name(division_code)
        for suffix, short in CITY_DEPARTMENTS:
            code = government_credit_code(division_code, serial)
            serial += 1
            parent = province_market if suffix == "市场监督管理局" else None
            result.append(
                DemoDepartment(code, f"{place}{suffix}", f"{place[:2]}{short}", division_code, parent)
            )
    for division_code in COUNTIES:
        place = _name(division_code)
        for suffix, short in COUNTY_DEPARTMENTS:
            code = government_credit_code(division_code, serial)
            serial += 1
            result.append(
                DemoDepartment(code, f"{place}{suffix}", f"{place[:2]}{short}", division_code, None)
            )
    return result


def _name(code: str) -> str:
    info = divisions.lookup(code)
    if info is None:
        raise LookupError(f"division {code} missing from the GB/T 2260 data")
    return info.name


NATIONAL_DEPARTMENTS = [
    ("国务院办公厅", "国办"),
    ("国家市场监督管理总局", "市场监管总局"),
    ("中华人民共和国公安部", "公安部"),
    ("中华人民共和国人力资源和社会保障部", "人社部"),
    ("中华人民共和国住房和城乡建设部", "住建部"),
]


def national_departments() -> list[DemoDepartment]:
    """A few central departments for the national demo node (fictional credit codes, check-valid)."""
    return [
        DemoDepartment(government_credit_code("100000", 900 + i), name, short, "000000", None)
        for i, (name, short) in enumerate(NATIONAL_DEPARTMENTS, start=1)
    ]


def seed_departments(session: Session, *, national: bool = False) -> int:
    """Register the demo departments that are not there yet; returns how many were added."""
    added = 0
    for dept in national_departments() if national else demo_departments():
        try:
            orgs.get_by_credit_code(session, dept.credit_code)
            continue
        except DepartmentNotFound:
            pass
        orgs.add_department(
            session,
            DepartmentCreate(
                credit_code=dept.credit_code,
                name=dept.name,
                short_name=dept.short_name,
                division_code=dept.division_code,
                parent_credit_code=dept.parent_credit_code,
            ),
        )
        added += 1
    return added


class DemoSeedRefused(RuntimeError):
    """Demo data (well-known passwords, synthetic registries) never goes into a production node."""


def seed_demo(settings: Settings) -> dict[str, Any]:
    """Load the whole demo seed into the node's database."""
    if settings.production:
        raise DemoSeedRefused("演示数据不能载入生产节点 / demo data is refused on a production node")
    from zhengwu.commands.node import open_node

    frozen_before = gc.get_freeze_count()
    try:
        with open_node(settings) as node:
            # The node's start-up heap (modules, models, mappers) lives as long as the seed: frozen, the
            # full collections that the seed's hundreds of thousands of new objects trigger skip it.
            gc.freeze()
            with node.unit() as session:
                national = settings.tier.value == "national"
                summary: dict[str, Any] = {"departments_added": seed_departments(session, national=national)}
                summary["accounts_added"] = seed_demo_accounts(session)
                if not national:
                    from zhengwu.seed.seals import seed_demo_seals

                    codes = [d.credit_code for d in demo_departments()]
                    summary["seals_added"] = seed_demo_seals(session, settings, credit_codes=codes)
                    from zhengwu.seed.licenses import seed_license_types

                    summary["license_types_added"] = seed_license_types(session)
            if settings.tier.value == "province":
                from zhengwu.seed.catalog import seed_catalog

                summary["catalog"] = seed_catalog(node.session_factory)
    finally:
        if not frozen_before:  # a caller's own freeze stays in place
            gc.unfreeze()
    return summary
