"""Factories for catalog tests: bodies, basic entries, complete guides, staff sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from zhengwu.catalog import service
from zhengwu.catalog.models import BasicItem, TaskItem
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.orgs import service as orgs
from zhengwu.orgs.models import Department
from zhengwu.orgs.schemas import DepartmentCreate

PASSPORT = "000101001000"
SOCIAL = "002030001000"


def credit_code(division: str, serial: int) -> str:
    """A check-valid credit code of a government body registered in ``division``."""
    body = f"MT{serial:06d}"
    return complete_uscc(f"11{division}{body}{org_check_digit(body)}")


def make_department(session: Session, division: str, name: str, serial: int) -> Department:
    """Register a body (or return it when it exists)."""
    code = credit_code(division, serial)
    try:
        return orgs.get_by_credit_code(session, code)
    except Exception:
        return orgs.add_department(
            session,
            DepartmentCreate(credit_code=code, name=name, short_name=name[-4:], division_code=division),
        )


def make_basic(
    session: Session,
    code: str = PASSPORT,
    name: str = "普通护照签发",
    task_type: str = "01",
    use_level: str = "2^3^4",
    *,
    publish: bool = True,
) -> BasicItem:
    """A basic catalog entry, published unless asked otherwise."""
    item = service.create_directory(
        session,
        {
            "catalog_code": code,
            "task_name": name,
            "task_type": task_type,
            "use_level": use_level,
            "by_law": "《中华人民共和国护照法》第五条",
        },
        actor="test",
    )
    if publish:
        item = service.publish_directory(session, code, actor="test")
    return item


def guide(dept_code: str, catalog_code: str = PASSPORT, **overrides: Any) -> dict[str, Any]:
    """A complete guide of an implementation item (every required element present)."""
    data: dict[str, Any] = {
        "dept_code": dept_code,
        "catalog_code": catalog_code,
        "dept_type": "1",
        "power_source": "1",
        "accept_condition": "具有中华人民共和国国籍、定居在国内的中国公民",
        "anticipate_day": 15,
        "anticipate_type": "1",
        "promise_day": 7,
        "promise_type": "1",
        "handle_flow": "申请、受理、审查、决定、送达",
        "handle_type": "1^2",
        "transact_addr": "政务服务中心出入境窗口",
        "transact_time": "法定工作日 9:00-17:00",
        "is_fee": "1",
        "fee_basis": "按国家规定的收费标准",
        "server_type": "1",
        "project_type": "2",
        "limit_scene_num": 1,
        "link_way": "12345",
        "supervise_way": "12345 政务服务便民热线",
        "special_procedure": "无",
        "is_single_login": "1",
        "app_is_single_login": "1",
        "is_entry_center": "1",
        "is_express": "1",
        "is_online": "0",
        "is_pay_online": "1",
        "result_type": "10",
        "online_handle_depth": "1^2^3",
        "user_topic_type": "出入境",
        "materials": [
            {"material_name": "居民身份证", "source_type": "20", "accept_stand": "真实有效"},
            {"material_name": "中国公民出入境证件申请表", "source_type": "10"},
        ],
        "fee_projects": [{"fee_name": "护照费", "fee_stand": "每本120元"}],
        "questions": [{"question": "需要本人到场吗？", "answer": "需要本人到场采集指纹。"}],
        "handle_items": [{"handle_item_name": "首次申请"}, {"handle_item_name": "换发"}],
    }
    data.update(overrides)
    return data


def published_task(
    session: Session, dept: Department, catalog_code: str = PASSPORT, **overrides: Any
) -> TaskItem:
    """Create and publish an implementation item."""
    item = service.create_task(session, guide(dept.credit_code, catalog_code, **overrides), actor="test")
    return service.publish_task(session, item.task_code, actor="test")


def staff_cookie(session: Session, dept: Department, roles: list[str], login: str) -> str:
    """A logged-in staff session token for ``dept`` with ``roles``."""
    from zhengwu.identity import service as identity

    account = identity.register_staff(
        session,
        name="测试管理员",
        login_name=login,
        password="Staff-Passw0rd!x",
        department_id=dept.id,
        roles=roles,
    )
    # A login with password and TOTP: staff actions need the second factor (identity.policy).
    return identity.start_session(session, account, amr=["pwd", "otp"]).token
