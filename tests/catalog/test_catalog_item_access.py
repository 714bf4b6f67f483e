"""最低实名等级 and 认证有效时长 of an implementation item: validated, versioned, local (never in the
national rows), and looked up by 实施编码 or 业务办理项编码 from the published version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog_kit import guide, make_basic, make_department, published_task
from zhengwu.catalog import service
from zhengwu.catalog.errors import InvalidItem
from zhengwu.catalog.importexport.exporter import export_file
from zhengwu.catalog.models import TaskItem
from zhengwu.identity.requirements import AuthRequirement
from zhengwu.kernel.events import OutboxRecord
from zhengwu.orgs.models import Department

pytestmark = pytest.mark.db


@pytest.fixture
def city(session: Session) -> Department:
    make_basic(session)
    return make_department(session, "130100", "石家庄市公安局", 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("auth_level", 1, "最低实名等级应为2到5级"),
        ("auth_level", 6, "最低实名等级应为2到5级"),
        ("auth_level", "三级", "最低实名等级应为非负整数"),
        ("auth_max_age", 30, "认证有效时长（秒）应在60到2592000秒之间"),
        ("auth_max_age", 2_592_001, "认证有效时长（秒）应在60到2592000秒之间"),
        ("auth_max_age", 1.5, "认证有效时长（秒）应为整数"),
    ],
)
def test_bad_values_are_refused_in_chinese(
    session: Session, city: Department, field: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidItem) as caught:
        service.create_task(session, guide(city.credit_code, **{field: value}), actor="t")
    errors = caught.value.extra["errors"]
    assert [(e["field"], e["reason"]) for e in errors] == [(field, message)]


def test_values_are_versioned_but_never_sent_upward(session: Session, city: Department) -> None:
    item = published_task(session, city, auth_level="3", auth_max_age=1800.0)
    assert (item.auth_level, item.auth_max_age) == (3, 1800)
    public = service.get_public_item(session, item.task_code)
    assert (public["auth_level"], public["auth_max_age"]) == (3, 1800)
    payloads = session.scalars(select(OutboxRecord.payload).where(OutboxRecord.topic.like("catalog.%"))).all()
    assert payloads and not any("auth_level" in p or "auth_max_age" in p for p in payloads)


def test_lookup_reads_the_published_version_by_either_code(session: Session, city: Department) -> None:
    draft = service.create_task(session, guide(city.credit_code, auth_level=4), actor="t")
    assert service.access_demand(session, draft.task_code) is None  # never published: no such item
    item = service.publish_task(session, draft.task_code, actor="t")
    demand = service.access_demand(session, item.task_code)
    assert demand is not None and demand.requirement == AuthRequirement(4, None)
    assert demand.name == item.task_name
    handle = item.handle_items[1]
    by_handle = service.access_demand(session, handle.task_handle_item)
    assert by_handle is not None and by_handle.requirement == AuthRequirement(4, None)
    assert by_handle.name == f"{item.task_name}（换发）"
    # A draft edit takes effect only when published.
    service.update_task(session, item.task_code, {"auth_level": 5, "auth_max_age": 600}, actor="t")
    assert service.access_demand(session, item.task_code).requirement == AuthRequirement(4, None)  # type: ignore[union-attr]
    service.publish_task(session, item.task_code, actor="t")
    assert service.access_demand(session, item.task_code).requirement == AuthRequirement(5, 600)  # type: ignore[union-attr]
    assert service.access_demand(session, item.task_code[:-1] + "9") is None


def test_requirements_combine_to_the_stricter() -> None:
    client = AuthRequirement(3, 3600)
    assert client.stricter(AuthRequirement(4, None)) == AuthRequirement(4, 3600)
    assert client.stricter(AuthRequirement(None, 600)) == AuthRequirement(3, 600)
    assert client.stricter(AuthRequirement(2, 7200)) == client
    assert AuthRequirement().stricter(None) == AuthRequirement()


def test_export_carries_the_values(
    session: Session, city: Department, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    item = published_task(session, city, auth_level=3, auth_max_age=900)
    session.commit()
    out = tmp_path / "catalog.jsonl"
    export_file(session_factory, out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    exported = next(r for r in rows if r.get("task_code") == item.task_code)
    assert (exported["auth_level"], exported["auth_max_age"]) == (3, 900)


def test_xlsx_import_reads_the_chinese_headers(
    tmp_path: Path, session: Session, session_factory: sessionmaker[Session]
) -> None:
    from openpyxl import Workbook

    from zhengwu.catalog import codetables as ct
    from zhengwu.catalog.importexport import ImportOptions, import_file

    make_basic(session)
    city = make_department(session, "130100", "石家庄市公安局", 31)
    county = make_department(session, "130123", "正定县公安局", 32)
    session.commit()
    # Free items: a charged one would need the fee sheet too.
    good = guide(city.credit_code, auth_level=4, auth_max_age=1200, is_fee="0", fee_basis=None)
    bad = guide(county.credit_code, auth_level=7, is_fee="0", fee_basis=None)
    scalar = [k for k, v in good.items() if not isinstance(v, list)]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "实施清单"
    sheet.append([ct.label(k) if k not in ("dept_code", "catalog_code") else k for k in scalar])
    assert "最低实名等级" in sheet[1][scalar.index("auth_level")].value
    sheet.append([good[k] for k in scalar])
    sheet.append([bad.get(k) for k in scalar])
    path = tmp_path / "items.xlsx"
    workbook.save(path)
    rejects: list[Any] = []
    report = import_file(session_factory, path, options=ImportOptions(), on_reject=rejects.append)
    assert report.inserted == 1 and report.rejected_rows == 1
    assert [(r.field, r.reason) for r in rejects] == [("auth_level", "最低实名等级应为2到5级")]
    item = session.scalar(select(TaskItem).where(TaskItem.dept_code == city.credit_code))
    assert item is not None and (item.auth_level, item.auth_max_age) == (4, 1200)
