"""Import and export: JSON lines, XLSX (national or Chinese headers), the 前置库 layout, and garbage."""

from __future__ import annotations

import csv
import json
import os
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from catalog_kit import PASSPORT, credit_code, guide, make_basic, make_department
from zhengwu.catalog import codetables as ct
from zhengwu.catalog import service
from zhengwu.catalog.errors import ImportRefused
from zhengwu.catalog.importexport import (
    ImportOptions,
    Reject,
    RejectWriter,
    export_file,
    import_file,
)
from zhengwu.catalog.importexport import importer as importer_module
from zhengwu.catalog.models import Material, SearchDept, SearchEntry, SearchName, Status, TaskItem
from zhengwu.catalog.search import search
from zhengwu.kernel.codes import make_task_code
from zhengwu.kernel.events import OutboxRecord


@pytest.fixture
def bodies(session: Session) -> dict[str, Any]:
    make_basic(session)
    session.commit()
    return {
        "city": make_department(session, "130100", "石家庄市公安局", 21),
        "county": make_department(session, "130123", "正定县公安局", 22),
        "other": make_department(session, "130200", "唐山市公安局", 23),
    }


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n")
    return path


def run(factory: sessionmaker[Session], path: Path, **options: Any) -> tuple[Any, list[Reject]]:
    rejects: list[Reject] = []
    report = import_file(factory, path, options=ImportOptions(**options), on_reject=rejects.append)
    return report, rejects


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_jsonl_good_rows_go_in_bad_rows_are_reported(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    city, county, other = bodies["city"], bodies["county"], bodies["other"]
    rows = [
        guide(city.credit_code),
        guide(county.credit_code),
        guide(city.credit_code[:17] + ("0" if city.credit_code[17] != "0" else "1")),  # check character fails
        guide(other.credit_code, use_level="2"),  # level contradicts the body
        guide(other.credit_code, catalog_code="12AB"),  # malformed basic code
        {
            **guide(other.credit_code),
            "accept_condition": None,
            "handle_flow": "",
        },  # missing required elements
        guide(city.credit_code),  # duplicate of row 1
        guide(
            other.credit_code, materials=[{"material_name": "甲"}, {"is_need": "9"}]
        ),  # bad child, nothing written
        "{not json",
        "[1, 2, 3]",
        guide(
            other.credit_code, task_code=make_task_code(city.credit_code, 3, PASSPORT)
        ),  # typed code ≠ derived
    ]
    report, rejects = run(session_factory, write_jsonl(tmp_path / "items.jsonl", rows))
    assert report.inserted == 2 and report.rejected_rows == 9
    by_row: dict[int, set[str]] = {}
    for r in rejects:
        by_row.setdefault(r.row, set()).add(r.field)
        assert r.reason and not r.reason.isascii()  # Chinese reasons
    assert by_row[3] == {"dept_code"}
    assert by_row[4] == {"use_level"}
    assert by_row[5] == {"catalog_code"}
    assert by_row[6] == {"accept_condition", "handle_flow"}
    assert by_row[7] == {"task_code"}
    assert by_row[8] == {"materials[2].material_name", "materials[2].is_need"}
    assert by_row[9] == {""} and by_row[10] == {""}
    assert by_row[11] == {"task_code"}
    assert count(session, TaskItem) == 2
    assert count(session, Material) == 4  # two per imported item, none of the refused row 8


def test_worker_processes_give_the_same_result(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    city, county, other = bodies["city"], bodies["county"], bodies["other"]
    directory = {"_table": "up_task_directory", "catalog_code": "002030001000", "task_name": "社会保险登记",
                 "task_type": "20", "use_level": "3^4", "by_law": "《中华人民共和国社会保险法》"}  # fmt: skip
    rows = [
        guide(city.credit_code),
        guide(county.credit_code, use_level="3"),  # refused in a worker
        "{broken",
        directory,  # a basic entry in the middle: later rows may claim it
        guide(other.credit_code, "002030001000", power_source=None),
        guide(city.credit_code),  # duplicate across batches
    ]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    report, rejects = run(session_factory, path, publish=True, workers=1, chunk_size=2)
    assert (report.inserted, report.directory_created, report.rejected_rows) == (2, 1, 3)
    assert sorted((r.row, r.field) for r in rejects) == [(2, "use_level"), (3, ""), (6, "task_code")]
    assert search(session, "社会保险").total == 1 and search(session, "护照").total == 1
    code = make_task_code(city.credit_code, 3, PASSPORT)
    assert service.get_public_item(session, code)["materials"][0]["material_name"] == "居民身份证"


def _die(lines: Any, basics: Any) -> Any:
    os._exit(3)  # a worker killed mid-batch


def test_a_lost_worker_does_not_lose_rows(
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    session: Session,
    bodies: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer_module, "prepare_lines", _die)
    rows = [
        guide(bodies["city"].credit_code),
        guide(bodies["county"].credit_code),
        {"extra_column": 1, **guide(bodies["other"].credit_code)},
    ]
    report, rejects = run(session_factory, write_jsonl(tmp_path / "w.jsonl", rows), workers=1, chunk_size=1)
    assert (report.inserted, rejects) == (3, [])
    assert report.unknown_columns == {"extra_column": 1}


def test_publish_import_versions_outbox_search(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    path = write_jsonl(
        tmp_path / "items.jsonl", [guide(bodies["city"].credit_code), guide(bodies["county"].credit_code)]
    )
    report, rejects = run(session_factory, path, publish=True)
    assert report.inserted == 2 and not rejects
    code = make_task_code(bodies["city"].credit_code, 3, PASSPORT)
    public = service.get_public_item(session, code)
    assert public["task_version"] == 1 and public["materials"][0]["material_name"] == "居民身份证"
    topics = {r.topic for r in session.scalars(select(OutboxRecord).where(OutboxRecord.key == code))}
    assert {"catalog.up_task_general_basic", "catalog.up_task_general_material"} <= topics
    assert search(session, "护照").total == 2
    # Importing the same file again changes nothing.
    report, rejects = run(session_factory, path, publish=True)
    assert (report.inserted, report.unchanged, report.updated, len(rejects)) == (0, 2, 0, 0)
    # A changed row updates and republishes (version 2), nothing else.
    changed = guide(bodies["city"].credit_code, promise_day=3)
    report, _ = run(session_factory, write_jsonl(tmp_path / "changed.jsonl", [changed]), publish=True)
    assert report.updated == 1
    assert service.get_public_item(session, code)["promise_day"] == 3
    assert service.get_task(session, code).task_version == 2


def test_draft_import_stays_out_of_the_public_view(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    report, _ = run(session_factory, write_jsonl(tmp_path / "d.jsonl", [guide(bodies["city"].credit_code)]))
    assert report.inserted == 1
    item = service.get_task(session, make_task_code(bodies["city"].credit_code, 3, PASSPORT))
    assert item.status == Status.DRAFT and search(session, "护照").total == 0


def test_xlsx_with_chinese_headers_and_child_sheets(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    city = bodies["city"]
    data = guide(city.credit_code)
    scalar = [k for k, v in data.items() if not isinstance(v, list)]
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "实施清单"
    sheet.append([ct.label(k) if k not in ("dept_code", "catalog_code") else k for k in scalar])
    sheet.append([data[k] for k in scalar])
    sheet.append(["x"] * len(scalar))  # garbage row
    materials = workbook.create_sheet("申请材料")
    materials.append(["实施主体编码", "行使层级", "基本编码", "材料名称", "来源渠道", "序号"])
    materials.append([city.credit_code, "3", PASSPORT, "居民身份证", "政府部门核发", 1])
    materials.append([city.credit_code, "3", PASSPORT, "照片", "10", 2])
    fees = workbook.create_sheet("dn_task_general_fee_project")  # national table names work as sheet titles
    fees.append(["task_code", "fee_name", "fee_stand"])
    fees.append([make_task_code(city.credit_code, 3, PASSPORT), "护照费", "每本120元"])
    path = tmp_path / "items.xlsx"
    workbook.save(path)
    report, rejects = run(session_factory, path)
    assert report.format == "xlsx" and report.inserted == 1
    assert {r.where.split("!")[0] for r in rejects} == {"实施清单"} and report.rejected_rows == 1
    item = service.get_task(session, make_task_code(city.credit_code, 3, PASSPORT))
    assert [(m.material_name, m.source_type) for m in item.materials] == [
        ("居民身份证", "20"),
        ("照片", "10"),
    ]


def test_frontdb_layout_joins_child_lines_and_cancels(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    city = bodies["city"]
    code = make_task_code(city.credit_code, 3, PASSPORT)
    base = guide(city.credit_code)
    materials = base.pop("materials")
    base.pop("fee_projects")
    base.update(is_fee="0")
    control = {
        "row_guid": "r1",
        "cd_batch": "b1",
        "cd_operation": "I",
        "cd_time": "20261126120000",
        "data_source": "111",
    }
    lines = [
        {"_table": "dn_task_general_material", "task_code": code, **m, "order_num": i, **control}
        for i, m in enumerate(materials, 1)
    ]
    lines.append({"_table": "dn_task_general_basic", "task_code": code, **base, **control})
    report, rejects = run(session_factory, write_jsonl(tmp_path / "dn.jsonl", lines), publish=True)
    assert report.inserted == 1 and not rejects, rejects
    assert [m.material_name for m in service.get_task(session, code).materials] == [
        "居民身份证",
        "中国公民出入境证件申请表",
    ]
    deletion = {"_table": "dn_task_general_basic", "task_code": code, **control, "cd_operation": "D"}
    report, rejects = run(session_factory, write_jsonl(tmp_path / "dn2.jsonl", [deletion]))
    assert report.cancelled == 1 and service.get_task(session, code).status == Status.CANCELLED


def test_directory_lines_are_imported_first(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    directory = {"_table": "up_task_directory", "catalog_code": "002030001000", "task_name": "社会保险登记",
                 "task_type": "20", "use_level": "3^4", "by_law": "《中华人民共和国社会保险法》"}  # fmt: skip
    item = guide(bodies["city"].credit_code, "002030001000", power_source=None)
    report, rejects = run(
        session_factory, write_jsonl(tmp_path / "mixed.jsonl", [directory, item]), publish=True
    )
    assert (report.directory_created, report.inserted, rejects) == (1, 1, [])
    assert service.get_directory(session, "002030001000").status == Status.PUBLISHED


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("fake.xlsx", b"this is not a spreadsheet at all"),
        ("fake.xlsx", b'{"dept_code": "x"}\n'),  # JSON that claims to be XLSX
        ("binary.jsonl", bytes(range(256)) * 40),
        ("empty.jsonl", b""),
        ("zip.xlsx", None),  # a ZIP that is no workbook
    ],
)
def test_unusable_files_are_refused(
    tmp_path: Path, session_factory: sessionmaker[Session], name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
    else:
        path.write_bytes(content)
    with pytest.raises(ImportRefused) as caught:
        import_file(session_factory, path)
    assert caught.value.detail and not caught.value.detail.isascii()


def test_two_gigabyte_xlsx_is_refused_before_reading(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    path = tmp_path / "huge.xlsx"
    with path.open("wb") as handle:
        handle.write(b"PK\x03\x04")
        handle.truncate(2 * 1024 * 1024 * 1024)  # sparse: no 2 GB written to disk
    with pytest.raises(ImportRefused) as caught:
        import_file(session_factory, path)
    assert "过大" in caught.value.detail


def test_corrupt_xlsx_body_is_a_reject_not_a_crash(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<garbage")
        archive.writestr("xl/workbook.xml", "<not-xml")
    rejects: list[Reject] = []
    report = import_file(session_factory, path, on_reject=rejects.append)
    assert report.inserted == 0 and len(rejects) == 1 and "XLSX" in rejects[0].reason


def test_export_round_trip_jsonl_and_xlsx(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    city, county = bodies["city"], bodies["county"]
    first = service.create_task(session, guide(city.credit_code), actor="t")
    service.publish_task(session, first.task_code, actor="t")
    service.create_task(session, guide(county.credit_code), actor="t")
    session.commit()
    for fmt in ("jsonl", "xlsx"):
        path = tmp_path / f"export.{fmt}"
        report = export_file(session_factory, path, fmt=fmt)
        assert (report.directory, report.items) == (1, 2)
        again, rejects = run(session_factory, path)
        assert not rejects, rejects
        assert (again.inserted, again.updated, again.unchanged, again.directory_updated) == (0, 0, 2, 0)
    workbook = load_workbook(tmp_path / "export.xlsx", read_only=True)
    assert workbook.sheetnames[:3] == ["基本目录", "实施清单", "申请材料"]
    workbook.close()


def test_reject_report_files(tmp_path: Path) -> None:
    reject = Reject("第3行", 3, "materials[2].is_need", "材料必要性取值无效")
    writer, handle = RejectWriter.open(tmp_path / "rejects.csv")
    writer.write(reject)
    handle.close()
    with (tmp_path / "rejects.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        list(RejectWriter.HEADER),
        ["第3行", "3", "materials[2].is_need", "材料必要性", "材料必要性取值无效"],
    ]
    writer, handle = RejectWriter.open(tmp_path / "rejects.jsonl")
    writer.write(reject)
    handle.close()
    assert json.loads((tmp_path / "rejects.jsonl").read_text(encoding="utf-8"))["label"] == "材料必要性"


def test_unknown_body_is_reported_without_its_code(
    tmp_path: Path, session_factory: sessionmaker[Session], bodies: dict[str, Any]
) -> None:
    stranger = credit_code("130300", 77)
    _, rejects = run(session_factory, write_jsonl(tmp_path / "s.jsonl", [guide(stranger)]))
    assert [r.field for r in rejects] == ["dept_code"]
    assert stranger not in rejects[0].reason  # credit codes stay out of reasons (they end up in logs)


def test_search_counters_add_up_across_chunks_and_imports(
    tmp_path: Path, session_factory: sessionmaker[Session], session: Session, bodies: dict[str, Any]
) -> None:
    # The bulk indexer sums a chunk's items per department and name and writes each counter once:
    # new departments, departments an earlier chunk or import created, several items of one department.
    city, county = bodies["city"], bodies["county"]
    social = {"_table": "up_task_directory", "catalog_code": "002030001000", "task_name": "社会保险登记",
              "task_type": "20", "use_level": "3^4", "by_law": "《中华人民共和国社会保险法》"}  # fmt: skip
    pension = {**social, "catalog_code": "002030002000", "task_name": "城乡居民养老保险参保登记"}
    first = [social, guide(city.credit_code), guide(city.credit_code, "002030001000", power_source=None),
             guide(county.credit_code)]  # fmt: skip
    report, rejects = run(
        session_factory, write_jsonl(tmp_path / "1.jsonl", first), publish=True, chunk_size=2
    )
    assert (report.inserted, rejects) == (3, [])
    second = [pension, guide(city.credit_code, "002030002000", power_source=None),
              guide(county.credit_code, "002030001000", power_source=None)]  # fmt: skip
    report, rejects = run(
        session_factory, write_jsonl(tmp_path / "2.jsonl", second), publish=True, chunk_size=1
    )
    assert (report.inserted, rejects) == (2, [])
    depts = {d.dept_code: (d.dept_name, d.item_count) for d in session.scalars(select(SearchDept))}
    entries = Counter(session.scalars(select(SearchEntry.dept_code)))
    assert {code: n for code, (_, n) in depts.items()} == dict(entries)
    assert depts[city.credit_code] == (city.name, 3) and depts[county.credit_code] == (county.name, 2)
    names = {n.task_name: n.item_count for n in session.scalars(select(SearchName))}
    assert names == {"普通护照签发": 2, "社会保险登记": 2, "城乡居民养老保险参保登记": 1}
