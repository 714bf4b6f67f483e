"""Catalog services on a real database: derived codes, lifecycle, versions, outbox, validation."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog_kit import PASSPORT, SOCIAL, credit_code, guide, make_basic, make_department, published_task
from zhengwu.catalog import service
from zhengwu.catalog.errors import InvalidItem, InvalidTransition, ItemExists, ItemNotFound
from zhengwu.catalog.models import History, Material, Status, TaskItem, Version
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.events import OutboxRecord


@pytest.fixture
def city(session: Session):  # type: ignore[no-untyped-def]
    make_basic(session)
    return make_department(session, "130100", "石家庄市公安局", 1)


def outbox(session: Session) -> list[OutboxRecord]:
    return list(
        session.scalars(
            select(OutboxRecord).where(OutboxRecord.topic.like("catalog.%")).order_by(OutboxRecord.seq)
        )
    )


def test_task_code_is_derived_never_typed(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    item = service.create_task(session, guide(city.credit_code), actor="t")
    assert item.task_code == make_task_code(city.credit_code, 3, PASSPORT)
    assert item.status == Status.DRAFT and item.task_version == 0
    assert [h.task_handle_item for h in item.handle_items] == [item.task_code + "01", item.task_code + "02"]
    other = make_department(session, "130200", "唐山市公安局", 2)
    with pytest.raises(InvalidItem) as caught:
        service.create_task(session, guide(other.credit_code, task_code=item.task_code), actor="t")
    assert caught.value.extra["errors"][0]["field"] == "task_code"


def test_duplicate_claim_is_a_conflict(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    service.create_task(session, guide(city.credit_code), actor="t")
    with pytest.raises(ItemExists):
        service.create_task(session, guide(city.credit_code), actor="t")


def test_invalid_claims_write_nothing(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    before = session.scalar(select(func.count()).select_from(TaskItem))
    bad = [
        guide("11130100MB0000174J"[:17] + "0"),  # check character fails
        guide(city.credit_code, use_level="2"),  # level contradicts the body
        guide(city.credit_code, catalog_code="0001"),
        guide(city.credit_code, materials=[{"material_name": "甲"}, {"material_name": "甲"}]),
    ]
    for data in bad:
        with pytest.raises(InvalidItem) as caught:
            service.create_task(session, data, actor="t")
        assert caught.value.extra["errors"], data
        assert all(e["reason"] for e in caught.value.extra["errors"])
    assert session.scalar(select(func.count()).select_from(TaskItem)) == before
    assert session.scalar(select(func.count()).select_from(Material)) == 0


def test_publish_versions_outbox_and_public_view(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    item = published_task(session, city)
    assert item.status == Status.PUBLISHED and item.task_version == 1 and not item.dirty
    rows = outbox(session)
    topics = [(r.topic, r.operation) for r in rows]
    assert ("catalog.up_task_directory", "I") in topics
    assert ("catalog.up_task_general_basic", "I") in topics
    assert ("catalog.up_task_general_extend", "I") in topics
    assert topics.count(("catalog.up_task_general_material", "I")) == 2
    assert ("catalog.up_task_general_fee_project", "I") in topics
    basic = next(r for r in rows if r.topic == "catalog.up_task_general_basic")
    assert basic.key == item.task_code
    assert basic.payload["task_code"] == item.task_code
    assert basic.payload["accept_condition"].startswith("具有中华人民共和国国籍")
    assert basic.payload["promise_day"] == 7 and basic.payload["task_state"] == "1"

    public = service.get_public_item(session, item.task_code)
    assert public["task_name"] == "普通护照签发"
    assert [m["material_name"] for m in public["materials"]] == ["居民身份证", "中国公民出入境证件申请表"]

    # An edit changes the working copy only; the public guide stays at version 1 until published.
    service.update_task(
        session,
        item.task_code,
        {
            "promise_day": 5,
            "materials": [
                {"material_name": "居民身份证", "source_type": "20"},
                {"material_name": "近期照片"},
            ],
        },
        actor="t",
    )
    assert service.get_public_item(session, item.task_code)["promise_day"] == 7
    before = len(outbox(session))
    service.publish_task(session, item.task_code, actor="t")
    assert service.get_public_item(session, item.task_code)["promise_day"] == 5
    new_rows = outbox(session)[before:]
    ops = sorted((r.topic.rsplit("_", 1)[-1], r.operation) for r in new_rows)
    assert ("basic", "U") in ops and ("extend", "U") in ops
    # 居民身份证 changed (accept_stand dropped) → U; the form is gone → D; the photo is new → I.
    assert sorted(op for t, op in ops if t == "material") == ["D", "I", "U"]

    changes = {c["field"] for c in service.diff_versions(session, service.TASK, item.task_code, 1, 2)}
    assert {"promise_day", "materials[近期照片]", "materials[中国公民出入境证件申请表]"} <= changes
    view = service.history(session, service.TASK, item.task_code)
    assert [a.action for a in view.actions] == ["create", "publish", "update", "publish"]
    assert [v.version for v in view.versions] == [1, 2]


def test_versions_are_immutable_snapshots(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    item = published_task(session, city)
    service.update_task(session, item.task_code, {"accept_condition": "新的受理条件"}, actor="t")
    service.publish_task(session, item.task_code, actor="t")
    first = service.get_version(session, service.TASK, item.task_code, 1)
    second = service.get_version(session, service.TASK, item.task_code, 2)
    assert first.snapshot["accept_condition"].startswith("具有中华人民共和国国籍")
    assert first.snapshot["task_version"] == 1
    assert second.snapshot["accept_condition"] == "新的受理条件"


def test_publish_refuses_incomplete_items(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    data = guide(city.credit_code)
    del data["transact_addr"], data["handle_flow"]
    item = service.create_task(session, data, actor="t")
    with pytest.raises(InvalidItem) as caught:
        service.publish_task(session, item.task_code, actor="t")
    assert {e["field"] for e in caught.value.extra["errors"]} == {"transact_addr", "handle_flow"}
    assert (
        session.scalar(select(func.count()).select_from(Version).where(Version.code == item.task_code)) == 0
    )
    assert outbox(session) == [r for r in outbox(session) if r.topic == "catalog.up_task_directory"]


def test_unpublished_basic_entry_blocks_publishing(session: Session) -> None:
    make_basic(session, SOCIAL, "社会保险登记", "20", publish=False)
    dept = make_department(session, "130100", "石家庄市人力资源和社会保障局", 5)
    item = service.create_task(session, guide(dept.credit_code, SOCIAL, power_source=None), actor="t")
    with pytest.raises(InvalidItem) as caught:
        service.publish_task(session, item.task_code, actor="t")
    assert caught.value.extra["errors"][0]["code"] == "catalog_not_published"


def test_suspend_resume_cancel(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    item = published_task(session, city)
    service.change_task_state(session, item.task_code, "suspend", actor="t", reason="系统升级")
    assert service.get_public_item(session, item.task_code)["task_state"] == "2"
    last = outbox(session)[-1]
    assert (
        last.topic == "catalog.up_task_general_basic"
        and last.operation == "U"
        and last.payload["task_state"] == "2"
    )
    item = service.publish_task(session, item.task_code, actor="t")  # resume without a new version
    assert item.task_version == 1 and item.status == Status.PUBLISHED
    service.change_task_state(session, item.task_code, "cancel", actor="t", reason="事项取消")
    assert outbox(session)[-1].payload["task_state"] == "3"
    with pytest.raises(InvalidTransition):
        service.update_task(session, item.task_code, {"promise_day": 1}, actor="t")
    reasons = [h.reason for h in session.scalars(select(History).where(History.code == item.task_code))]
    assert "系统升级" in reasons and "事项取消" in reasons


def test_identity_fields_cannot_change(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    item = service.create_task(session, guide(city.credit_code), actor="t")
    with pytest.raises(InvalidItem) as caught:
        service.update_task(session, item.task_code, {"use_level": "4"}, actor="t")
    assert caught.value.extra["errors"][0]["code"] == "immutable"


def test_delete_only_unpublished_drafts(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    draft = service.create_task(session, guide(city.credit_code), actor="t")
    service.delete_task(session, draft.task_code, actor="t")
    with pytest.raises(ItemNotFound):
        service.get_task(session, draft.task_code)
    item = published_task(session, city)
    with pytest.raises(InvalidTransition):
        service.delete_task(session, item.task_code, actor="t")


def test_validate_codes_checks_only_those_codes_and_against_the_basic_entry(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    task = published_task(session, city)
    county = make_department(session, "130123", "正定县公安局", 3)
    published_task(session, county, anticipate_day=20)
    assert [(i.field, i.other_task_code) for i in service.validate_codes(session, [PASSPORT])] == [
        ("anticipate_day", task.task_code)
    ]
    service.update_directory(session, PASSPORT, {"task_name": "普通护照签发（新）"}, actor="t")
    by_basic = [i for i in service.validate_codes(session, [PASSPORT]) if i.other_task_code is None]
    assert (
        sorted((i.field, i.value, i.other_value) for i in by_basic)
        == [("task_name", "普通护照签发", "普通护照签发（新）")] * 2
    )
    assert service.validate_codes(session, [SOCIAL]) == [] and service.validate_codes(session, []) == []


def test_validate_reports_divergence_and_missing(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    published_task(session, city)
    county = make_department(session, "130123", "正定县公安局", 3)
    other = published_task(session, county, anticipate_day=20)
    incomplete = guide(make_department(session, "130200", "唐山市公安局", 4).credit_code)
    del incomplete["link_way"]
    draft = service.create_task(session, incomplete, actor="t")
    issues = list(service.validate_catalog(session))
    divergence = [i for i in issues if i.kind == "divergence"]
    assert len(divergence) == 1
    found = divergence[0]
    assert found.task_code == other.task_code and found.field == "anticipate_day"
    assert (found.value, found.other_value) == (20, 15)
    assert found.other_task_code == make_task_code(city.credit_code, 3, PASSPORT)
    missing = [i for i in issues if i.kind == "missing"]
    assert [(i.task_code, i.field) for i in missing] == [(draft.task_code, "link_way")]


def test_public_item_requires_publication(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    draft = service.create_task(session, guide(city.credit_code), actor="t")
    with pytest.raises(ItemNotFound):
        service.get_public_item(session, draft.task_code)
    with pytest.raises(ItemNotFound):
        service.get_public_item(session, make_task_code(credit_code("130100", 77), 3, PASSPORT))


def test_directory_lifecycle(session: Session) -> None:
    item = make_basic(session, publish=False)
    assert item.status == Status.DRAFT
    with pytest.raises(ItemExists):
        make_basic(session)
    service.update_directory(session, PASSPORT, {"by_law": "《中华人民共和国护照法》"}, actor="t")
    service.publish_directory(session, PASSPORT, actor="t")
    service.update_directory(session, PASSPORT, {"use_level": "3^4"}, actor="t")
    item = service.publish_directory(session, PASSPORT, actor="t")
    assert item.task_version == 2
    rows = [r for r in outbox(session) if r.topic == "catalog.up_task_directory"]
    assert [r.operation for r in rows] == ["I", "U"] and rows[-1].payload["use_level"] == "3^4"
    service.change_directory_state(session, PASSPORT, "cancel", actor="t", reason="取消")
    assert outbox(session)[-1].payload["task_state"] == "3"


def test_an_implementation_item_s_change_records_name_its_department(session: Session, city) -> None:  # type: ignore[no-untyped-def]
    from zhengwu.audit import changes

    item = published_task(session, city)
    service.change_task_state(session, item.task_code, "suspend", actor="test", reason="系统升级")
    logged = [
        (c.action, c.entity_id)
        for c in changes.list_changes(session, department_ids=[city.id])
        if c.entity == "catalog.task"
    ]
    assert ("catalog.task.create", item.task_code) in logged and (
        "catalog.task.publish",
        item.task_code,
    ) in logged
    assert ("catalog.task.suspend", item.task_code) in logged
    # A basic catalog item belongs to no department.
    basic = changes.list_changes(session, entity="catalog.directory", entity_id=PASSPORT)
    assert basic and all(c.department_id is None for c in basic)
