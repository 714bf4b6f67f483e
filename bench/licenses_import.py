"""Historical license import (metadata only) next to a raw multi-row INSERT of the same number of rows.

Issue 11's target: 100,000 metadata-only rows in < 60 s. The import is measured as the command runs it:
the CSV read, each row checked against the type (holder code check digits, face schema, dates), the
holder code SM4-encrypted and indexed, identifiers allocated, the license, its status event, its import
record and its ``up_lic_data`` outbox row inserted, one transaction per chunk, on SQLite. The baseline
inserts the same number of rows of similar width into a bare table with the same chunking, in the same
process and database, so the ratio says what the checks and the four tables cost.

    .venv/bin/python bench/licenses_import.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert

from harness import Result, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.seed import government_credit_code
from zhengwu.seed.synthetic import enterprise_credit_code

HEADER = [
    "holder_code",
    "holder_name",
    "issue_date",
    "name",
    "kind",
    "legal_rep",
    "founded",
    "address",
    "scope",
]


def write_rows(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n in range(rows):
            name = f"石家庄历史企业{n}有限公司"
            writer.writerow([enterprise_credit_code("130100", 10_000 + n), name, "2018-06-01", name,
                             "有限责任公司", "历史法人", "2018-05-01", "河北省石家庄市长安区", "零售"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-import-"))
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, log_level="WARNING")
    source = folder / "history.csv"
    write_rows(source, args.rows)

    from zhengwu.commands.node import open_node
    from zhengwu.licenses import importer, service
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.pki import authority
    from zhengwu.seed.licenses import seed_license_types

    with open_node(settings) as node:
        with node.unit() as session:
            authority.init_pki(session, settings)
            department = orgs.add_department(session, DepartmentCreate(
                credit_code=government_credit_code("130000", 77), name="河北省市场监督管理局",
                division_code="130000"))  # fmt: skip
            seed_license_types(session)
            department_id = department.id
            type_code = next(t.code for t in service.list_types(session) if t.name == "营业执照")

        start = time.perf_counter()
        table = importer.read_table(source)
        with node.unit() as session:
            p = importer.plan(session, type_code=type_code, department_id=department_id, header=table.header,
                              actor="bench")  # fmt: skip
        total = importer.Outcome()
        for chunk in importer.chunks(table.rows):
            with node.unit() as session:
                total.add(importer.import_rows(session, settings, p.bound(session), chunk, bus=node.bus))
        imported = Result("import (checked, encrypted, 4 tables, outbox)", total.imported,
                          time.perf_counter() - start, unit="rows")  # fmt: skip
        assert total.imported == args.rows and total.rejected == 0, total.as_json()

        raw_table = Table("bench_raw", MetaData(), Column("id", Integer, primary_key=True),
                          Column("identifier", String(128)), Column("holder", String(256)),
                          Column("code", String(64)), Column("face", JSON))  # fmt: skip
        raw_table.create(node.engine)
        start = time.perf_counter()
        with source.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            batch: list[dict[str, object]] = []
            for n, cells in enumerate(reader):
                batch.append({"identifier": f"raw{n}", "holder": cells[1], "code": cells[0],
                              "face": dict(zip(HEADER[3:], cells[3:], strict=True))})  # fmt: skip
                if len(batch) >= importer.CHUNK:
                    with node.unit() as session:
                        session.execute(insert(raw_table), batch)
                    batch = []
            if batch:
                with node.unit() as session:
                    session.execute(insert(raw_table), batch)
        raw = Result(
            "raw multi-row INSERT (same chunks)", args.rows, time.perf_counter() - start, unit="rows"
        )
    report([raw, imported], baseline=raw, title=f"historical import of {args.rows:,} rows (target < 60 s)")
    print(f"import took {imported.seconds:.1f} s for {args.rows:,} rows; raw insert {raw.seconds:.1f} s")


if __name__ == "__main__":
    main()
