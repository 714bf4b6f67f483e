"""Historical import on a real database: CSV and XLSX rows become imported licenses with their
``up_lic_data`` rows; broken rows go to a rejects file a person can fix and re-import; re-import is
idempotent; identifiers that break GB/T 36904 are kept with a warning; OFD files are stored."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from licenses_kit import COMPANY, Issuing
from zhengwu.kernel.codes import make_license_id, validate_license_id
from zhengwu.kernel.events import OutboxRecord
from zhengwu.licenses import abnormal, importer, service, topics
from zhengwu.licenses.datamodels import LicenseAbnormal, LicenseImport
from zhengwu.licenses.errors import LicenseNotFound
from zhengwu.licenses.models import License
from zhengwu.seed.synthetic import enterprise_credit_code

HEADER = ["holder_code", "持证主体", "issue_date", "identifier", "name", "类型", "legal_rep", "capital",
          "founded", "address", "scope"]  # fmt: skip


def _row(n: int, **over: str) -> list[str]:
    values = {
        "holder_code": enterprise_credit_code("130100", 5000 + n),
        "持证主体": f"石家庄历史企业{n}有限公司",
        "issue_date": "2019-03-01",
        "identifier": "",
        "name": f"石家庄历史企业{n}有限公司",
        "类型": "有限责任公司",
        "legal_rep": "历史法人",
        "capital": "50",
        "founded": "2019-02-01",
        "address": "河北省石家庄市",
        "scope": "零售",
    }
    values.update(over)
    return [values[h] for h in HEADER]


def _csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _run(env: Issuing, path: Path, rejects: Path, files: Path | None = None) -> importer.Outcome:
    table = importer.read_table(path)
    p = importer.plan(env.session, type_code=env.type_code("营业执照"), department_id=env.department.id,
                      header=table.header, actor="test", files_dir=files)  # fmt: skip
    writer = importer.RejectsWriter(rejects, table.fmt, table.header)
    total = importer.Outcome()
    for chunk in importer.chunks(table.rows, 3):  # small chunks: several transactions' worth of work
        outcome = importer.import_rows(env.session, env.settings, p, chunk)
        for line, cells, reason in outcome.rejects:
            writer.add(cells, f"第{line}行：{reason}")
        total.add(outcome)
    writer.close()
    return total


def _imported(env: Issuing) -> list[License]:
    return list(
        env.session.scalars(select(License).where(License.source == "imported").order_by(License.number))
    )


def test_good_rows_become_imported_licenses_with_their_rows_queued(issuing: Issuing, tmp_path: Path) -> None:
    outcome = _run(issuing, _csv(tmp_path / "in.csv", [_row(i) for i in range(7)]), tmp_path / "rejects.csv")
    assert (outcome.imported, outcome.rejected, outcome.duplicates, outcome.allocated) == (7, 0, 0, 7)
    licenses = _imported(issuing)
    assert len(licenses) == 7
    first = licenses[0]
    assert validate_license_id(first.identifier).ok and first.status == "valid" and first.file_sm3 == ""
    assert first.issued_at.date().isoformat() == "2019-03-01" and first.face["kind"] == "有限责任公司"
    assert len({lic.serial for lic in licenses}) == 7
    rows = issuing.session.scalars(select(OutboxRecord).where(OutboxRecord.topic == topics.TOPIC)).all()
    assert {r.key for r in rows} == {lic.identifier for lic in licenses}
    assert {r.payload["issue_date"] for r in rows} == {"20190301"}
    assert service.metadata(first)["source"] == "imported"
    with pytest.raises(LicenseNotFound) as missing:
        service.license_file(issuing.settings, first)  # metadata only: a 404 for the holder, never a 500
    assert "没有电子文件" in missing.value.detail
    answer = service.verify_by_identifier(
        issuing.session, first.identifier, enterprise_credit_code("130100", 5000), caller=service.Caller("t")
    )
    assert answer.valid is True  # serials follow the rows: the first license is row 0's
    # Re-import of the same file stores nothing twice.
    again = _run(issuing, tmp_path / "in.csv", tmp_path / "rejects2.csv")
    assert (again.imported, again.duplicates, again.rejected) == (0, 7, 0)
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 7


def test_broken_rows_go_to_rejects_and_the_fixed_file_imports(issuing: Issuing, tmp_path: Path) -> None:
    good = _row(1)
    bad_holder = _row(2, holder_code=COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1"))
    bad_face = _row(3, 类型="无限公司", founded="2019-13-01")
    bad_date = _row(4, issue_date="去年")
    outcome = _run(
        issuing, _csv(tmp_path / "in.csv", [good, bad_holder, bad_face, bad_date]), tmp_path / "r.csv"
    )
    assert (outcome.imported, outcome.rejected) == (1, 3)
    with (tmp_path / "r.csv").open(encoding="utf-8-sig") as f:
        report = list(csv.reader(f))
    assert report[0] == [*HEADER, importer.REASON_COLUMN]
    reasons = [r[-1] for r in report[1:]]
    assert reasons[0].startswith("第3行：") and "持证主体代码" in reasons[0]
    assert "类型" in reasons[1] and "成立日期" in reasons[1]
    assert "颁发日期" in reasons[2]
    queued = issuing.session.scalars(select(LicenseAbnormal).where(LicenseAbnormal.status == "open")).all()
    assert len(queued) == 3 and {q.source for q in queued} == {"import"}
    # A person fixes the rejects file (keeping the reason column) and imports it again.
    fixed = [r[:] for r in report]
    fixed[1][0] = enterprise_credit_code("130100", 5002)
    fixed[2][5], fixed[2][8] = "有限责任公司", "2019-01-13"
    fixed[3][2] = "2019-03-02"
    _csv(tmp_path / "fixed.csv", fixed[1:], fixed[0])
    second = _run(issuing, tmp_path / "fixed.csv", tmp_path / "r2.csv")
    assert (second.imported, second.rejected) == (3, 0)
    # Entries whose row now imported are resolved; the one whose holder name/date changed stays open.
    still_open = issuing.session.scalars(
        select(LicenseAbnormal).where(LicenseAbnormal.status == "open")
    ).all()
    assert len(still_open) == 1 and "颁发日期" in still_open[0].reason


def test_existing_identifiers_are_kept_even_when_invalid(issuing: Issuing, tmp_path: Path) -> None:
    kind = issuing.type_code("营业执照")
    valid = make_license_id(kind, issuing.department.credit_code, "2019HIST001", 1)
    broken = "1.2.156.3005.2.OLD-NUMBER-42"
    rows = [_row(1, identifier=valid), _row(2, identifier=broken)]
    outcome = _run(issuing, _csv(tmp_path / "in.csv", rows), tmp_path / "r.csv")
    assert (outcome.imported, outcome.allocated) == (2, 0)
    assert [line for line, _ in outcome.warnings] == [3]
    assert "GB/T 36904" in outcome.warnings[0][1]
    stored = {lic.identifier for lic in _imported(issuing)}
    assert stored == {valid, broken}
    record = issuing.session.scalars(
        select(LicenseImport).where(LicenseImport.original_identifier == broken)
    ).one()
    assert record.warning and not record.identifier_allocated
    # The same identifier for another holder is refused, for the same holder it is a duplicate.
    clash = _run(issuing, _csv(tmp_path / "c.csv", [_row(3, identifier=valid)]), tmp_path / "rc.csv")
    assert (clash.imported, clash.duplicates, clash.rejected) == (0, 0, 1)
    same = _run(issuing, _csv(tmp_path / "s.csv", [_row(1, identifier=valid)]), tmp_path / "rs.csv")
    assert (same.imported, same.duplicates, same.rejected) == (0, 1, 0)


def test_xlsx_with_ofd_files(issuing: Issuing, tmp_path: Path) -> None:
    from openpyxl import Workbook, load_workbook

    files = tmp_path / "files"
    files.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("OFD.xml", "<ofd:OFD/>")
    (files / "a.ofd").write_bytes(buffer.getvalue())
    (files / "b.ofd").write_bytes(b"not a zip")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*HEADER, "file"])
    sheet.append([*_row(1), "a.ofd"])
    sheet.append([*_row(2), "b.ofd"])
    sheet.append([*_row(3), "../secret.ofd"])
    book.save(tmp_path / "in.xlsx")
    outcome = _run(issuing, tmp_path / "in.xlsx", tmp_path / "r.xlsx", files)
    assert (outcome.imported, outcome.rejected) == (1, 2)
    [lic] = _imported(issuing)
    assert service.license_file(issuing.settings, lic) == buffer.getvalue()
    report = load_workbook(tmp_path / "r.xlsx").worksheets[0]
    rows = [[c.value for c in r] for r in report.iter_rows()]
    assert rows[0][-1] == importer.REASON_COLUMN and "不是 OFD" in rows[1][-1] and "路径" in rows[2][-1]


def test_a_bad_header_stores_nothing(issuing: Issuing, tmp_path: Path) -> None:
    cases = [
        ([*HEADER[:-1], "经营范围X"], "没有这些列"),
        (HEADER[1:], "缺少必需的列"),
        ([*HEADER, "file"], "--files"),
        ([*HEADER, "name"], "重复"),
    ]
    for header, expected in cases:
        with pytest.raises(importer.ImportFileInvalid) as caught:
            _run(issuing, _csv(tmp_path / "in.csv", [_row(1)], header), tmp_path / "r.csv")
        assert expected in caught.value.detail
    assert issuing.session.scalar(select(func.count()).select_from(License)) == 0
    assert abnormal.open_count(issuing.session) == 0
