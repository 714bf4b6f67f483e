"""Every ``up_task_*`` row the catalog emits for the demo data fits the national 前置库 tables.

The receiving side's column specs (``zhengwu.exchange.national``, from the national DDL) are the
reference: no value longer than its column, every NOT NULL column present, ints as ints, datetimes
as ``yyyyMMddHHmmss``, no column the national table does not have. The catalog's own field rules
(``catalog.rules``) must never allow more than the national column either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog import codetables as ct
from zhengwu.catalog import rules, service
from zhengwu.catalog.importexport import ImportOptions, import_records, task_records
from zhengwu.catalog.models import BasicItem, FeeProject, Material, Question, TaskItem
from zhengwu.exchange import national  # the receiving side (tests are not layer-checked)
from zhengwu.kernel.events import OutboxRecord
from zhengwu.seed import catalog as demo
from zhengwu.seed import seed_departments
from zhengwu.seed.catalog_items import ITEMS

# Columns the catalog adds to child rows on purpose: the stable identity the exchange keys them by.
CATALOG_EXTRA = frozenset({"row_key"})
CATALOG_TABLES = frozenset(
    {"up_task_directory"}
    | {
        f"up_task_{family}_{table}"
        for family in ("general", "public")
        for table in ("basic", "extend", "material", "fee_project", "questions")
    }
)


@dataclass(frozen=True)
class Emitted:
    """The catalog's outbox rows of one demo run."""

    rows: list[OutboxRecord]
    tasks: int


def _place(places: list[demo.Place], level: int, *, skip: int = 0) -> demo.Place:
    return [p for p in places if p.level == level][skip]


@pytest.fixture
def emitted(session: Session, session_factory: sessionmaker[Session]) -> Emitted:
    """Publish the whole demo basic catalog and a representative set of demo implementations.

    Service path: every demo item at province level (where it is implemented there), in one city and
    in one district; bulk import path: another city and county; then republications with changed child
    rows (U and D rows), suspension and cancellation.
    """
    seed_departments(session)
    places = demo.demo_places(session)
    by_service = [_place(places, 3), _place(places, 4)]
    by_import = [_place(places, 3, skip=1), _place(places, 4, skip=1)]
    departments = demo.ensure_departments(session, by_service + by_import)
    for row in demo.directory_rows():
        service.create_directory(session, row, actor="test")
        service.publish_directory(session, row["catalog_code"], actor="test")
    codes: list[str] = []
    for row in demo.implementations(by_service, departments):
        item = service.create_task(session, row, actor="test")
        codes.append(service.publish_task(session, item.task_code, actor="test").task_code)
    session.commit()
    rejects: list[str] = []
    report = import_records(
        session_factory,
        task_records(demo.implementations(by_import, departments)),
        options=ImportOptions(publish=True, chunk_size=200, actor="test", workers=1),
        on_reject=lambda r: rejects.append(f"{r.where} {r.field}: {r.reason}"),
    )
    assert rejects == [] and report.inserted > 100
    session.expire_all()
    # Republish a few items with changed child rows, suspend and cancel others.
    for code in codes[:6]:
        guide = service.get_task(session, code)
        materials = [{"material_name": m.material_name} for m in guide.materials[1:]]
        materials.append({"material_name": "补充说明材料", "is_need": "2", "source_type": "10"})
        service.update_task(session, code, {"materials": materials, "transact_time": "工作日全天"}, actor="t")
        service.publish_task(session, code, actor="test")
    # No demo public service charges a fee: give one a fee so that *_public_fee_project is covered too.
    public = next(c for c in codes if service.get_task(session, c).task_type == ct.PUBLIC_SERVICE_TYPE)
    fee = {"fee_name": "证明工本费", "fee_stand": "每份5元", "by_law": "省价格主管部门核定", "is_desc": "1"}
    service.update_task(session, public, {"is_fee": "1", "fee_projects": [fee]}, actor="test")
    service.publish_task(session, public, actor="test")
    service.change_task_state(session, codes[6], "suspend", actor="test", reason="测试暂停")
    service.change_task_state(session, codes[7], "cancel", actor="test", reason="测试取消")
    service.update_directory(session, ITEMS[0].code, {"plan_effective_date": "2026-01-01"}, actor="test")
    service.publish_directory(session, ITEMS[0].code, actor="test")
    session.flush()
    rows = list(
        session.scalars(
            select(OutboxRecord).where(OutboxRecord.topic.like("catalog.%")).order_by(OutboxRecord.seq)
        )
    )
    return Emitted(rows, len(codes) + report.inserted)


def problems(table: national.NationalTable, payload: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(column, what is wrong) for one payload, judged by the national table's column specs."""
    for name in sorted(set(payload) - set(table.by_name) - CATALOG_EXTRA):
        yield name, "not a column of the national table"
    for name in sorted(set(payload) & national.CONTROL_NAMES):
        yield name, "control column set by the catalog (the exchange sets it)"
    for column in table.columns:
        value = payload.get(column.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if column.required:
                yield column.name, "required but empty"
            continue
        if column.kind == "str":
            if type(value) is not str:
                yield column.name, f"should be a string, is {type(value).__name__}"
            elif column.length is not None and len(value) > column.length:
                yield column.name, f"too long ({len(value)} > {column.length})"
        elif column.kind == "int":
            if type(value) is not int:
                yield column.name, f"should be an int, is {type(value).__name__}"
        elif type(value) is not str or not national.compact_ok(value):
            yield column.name, f"should be yyyyMMddHHmmss, is {value!r}"
    for error in national.check_columns(table, payload):  # the receiver's own verdict, as a cross-check
        yield error.column or "?", f"receiver: {error.code}"


def test_every_catalog_row_fits_the_national_tables(emitted: Emitted) -> None:
    found: Counter[tuple[str, str, str]] = Counter()
    example: dict[tuple[str, str, str], str] = {}
    for record in emitted.rows:
        table = national.table(record.topic.removeprefix("catalog."))
        assert table is not None, record.topic
        for column, what in problems(table, record.payload):
            key = (table.name, column, what.split(" (")[0])
            found[key] += 1
            example.setdefault(key, f"{record.key}: {what}: {str(record.payload.get(column))[:40]!r}")
    report = "\n".join(f"{n:6d} × {t}.{c}: {example[(t, c, w)]}" for (t, c, w), n in sorted(found.items()))
    assert not found, f"rows the national node would refuse:\n{report}"
    # The run was representative: every catalog table, every operation, every demo item.
    tables = Counter(r.topic.removeprefix("catalog.") for r in emitted.rows)
    assert set(tables) == CATALOG_TABLES
    assert {r.operation for r in emitted.rows} == {"I", "U", "D"}
    assert tables["up_task_directory"] == len(ITEMS) + 1
    basic = tables["up_task_general_basic"] + tables["up_task_public_basic"]
    assert basic == emitted.tasks + 6 + 1 + 2  # first publications, republications, suspend, cancel
    assert {(r.key or "")[-12:] for r in emitted.rows if r.topic.endswith("_basic")} == {
        i.code for i in ITEMS
    }


def _emitting_tables() -> list[national.NationalTable]:
    return [t for name in sorted(CATALOG_TABLES) if (t := national.table(name)) is not None]


# Every column the catalog puts into its national rows.
EMITTED = frozenset(
    {*ct.DIRECTORY_FIELDS, *ct.BASIC_FIELDS, *ct.EXTEND_FIELDS, *ct.MATERIAL_FIELDS, *ct.FEE_FIELDS}
    | {*ct.QUESTION_FIELDS, "task_handle_item", "order_num"}
)


@pytest.mark.parametrize("table", _emitting_tables(), ids=lambda t: t.name)
def test_catalog_rules_never_allow_more_than_the_national_column(table: national.NationalTable) -> None:
    checked = 0
    for column in table.columns:
        if column.kind != "str" or column.name not in EMITTED:
            continue
        allowed = rules.max_length(column.name)
        assert allowed is not None, column.name
        assert column.length is not None and allowed <= column.length, (
            f"{table.name}.{column.name}: the catalog allows {allowed}, the national column {column.length}"
        )
        checked += 1
    assert checked >= 5


def test_rules_know_the_national_lengths_of_the_receiving_side() -> None:
    lengths: dict[str, int] = {}
    for table in _emitting_tables():
        for column in table.columns:
            if column.kind == "str" and column.length is not None and column.name in EMITTED:
                lengths[column.name] = min(column.length, lengths.get(column.name, column.length))
    assert lengths == rules.NATIONAL_LENGTHS


def test_int_columns_of_the_national_tables_are_ints_in_the_catalog() -> None:
    ints = {c.name for t in _emitting_tables() for c in t.columns if c.kind == "int" and c.name in EMITTED}
    # order_num and task_version are set by the catalog; promise_type is converted in the payload.
    assert ints - rules.INT_FIELDS == {"order_num", "promise_type"}


@pytest.mark.parametrize("model", [BasicItem, TaskItem, Material, FeeProject, Question])
def test_catalog_storage_holds_whatever_the_rules_allow(model: type[Any]) -> None:
    for column in model.__table__.columns:
        if column.name not in rules.NATIONAL_LENGTHS or column.name in rules.DERIVED_LENGTHS:
            continue
        if model is TaskItem and column.name == "use_level":
            continue  # one level 1–6 (rules.check_level), unlike the directory's level set
        if isinstance(column.type, String) and column.type.length is not None:
            allowed = rules.max_length(column.name)
            assert allowed is not None and allowed <= column.type.length, column.name
        else:
            assert not isinstance(column.type, Integer), column.name
            assert column.name in rules.TEXT_LIMITS, column.name  # a Text column: the rule is the bound


def test_too_long_and_too_many_values_are_refused_with_a_field_reason() -> None:
    checked = rules.Checked()
    assert rules.clean_field(checked, "link_way", "电" * 256) == "电" * 256
    assert rules.clean_field(checked, "link_way", "电" * 257) is None
    assert rules.clean_use_levels(checked, "1^2^3^4^5^6") == "1^2^3^4^5^6"
    assert rules.clean_use_levels(checked, "1^2^3^4^5^6^7") is None
    assert [(p.field, p.code) for p in checked.problems] == [
        ("link_way", "too_long"),
        ("use_level", "too_long"),
    ]
    assert checked.problems[0].reason_zh == "咨询方式过长：最多256个字符，实为257个"
    assert "超过国家前置库该字段的11个字符" in checked.problems[1].reason_zh


def test_handle_area_is_a_national_code() -> None:
    checked = rules.Checked()
    assert rules.clean_field(checked, "handle_area", "全省通办") == "3"
    assert rules.clean_field(checked, "handle_area", "6") == "6"
    assert rules.clean_field(checked, "handle_area", " 跨省通办 ") == "2"
    assert rules.clean_field(checked, "handle_area", 4) == "4"
    assert checked.ok
    assert rules.clean_field(checked, "handle_area", "全球通办") is None
    (problem,) = checked.problems
    assert (problem.field, problem.code) == ("handle_area", "code")
    assert problem.reason_zh.startswith("通办范围取值“全球通办”无效") and "3 全省通办" in problem.reason_zh
    assert ct.HANDLE_AREAS["6"] == "本行政区域"


def test_fee_rows_need_a_fee_standard() -> None:
    checked = rules.Checked()
    rules.check_children(checked, {"fee_projects": [{"fee_name": "工本费"}]})
    assert [(p.field, p.code) for p in checked.problems] == [("fee_projects[1].fee_stand", "required")]
