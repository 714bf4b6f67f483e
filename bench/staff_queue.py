"""The 工作台 queue page (``GET /staff/cases``) next to the query under it (issue 12 target: a
department's queue page p95 ≤ 20 ms with 1,000,000 cases on PostgreSQL).

``--cases`` rows are inserted with SQLAlchemy Core over ten departments (a tenth open, the rest
concluded, deadlines spread over two months); the measured department is one of them. The page is
requested through the application (a clerk's session with a second factor, the policy's decision, the
open-status counts, the 联办 asks, the item filter from the catalog, the first 20 cases with their due
marks, the template); the baseline is ``cases.service.queue`` for the same page in a unit of its own, on
the same database, in the same run; a portal page that reads nothing shows what the HTTP stack and the
template cost by themselves.

On PostgreSQL (an empty database: the bench migrates it) PostgreSQL makes the rows itself with
``generate_series`` and the table is vacuumed and analysed afterwards, as autovacuum would; a status tab
and the overdue filter are measured beside the first page.

    .venv/bin/python bench/staff_queue.py [--cases 100000] [--database postgresql+psycopg://…] [--samples 200]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import latency, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work

TARGET_P95_MS = 20.0
BATCH = 5000


def _generate(
    session: Any,
    cases: int,
    departments: list[str],
    account_id: str,
    open_statuses: list[str],
    today: date,
    now: datetime,
) -> None:
    """The same rows as the SQLite path, made by PostgreSQL itself (one INSERT … SELECT over
    generate_series: a million rows in well under a minute, where client-side batches take many)."""
    from sqlalchemy import text

    from zhengwu.cases import machine

    process = '{"steps": [{"code": "accept", "name": "受理", "role": "case_handler", "days": 1}]}'
    session.execute(
        text(
            """
            INSERT INTO cases_case (id, case_no, task_code, task_name, task_version, catalog_code,
                department_id, division_code, applicant_account_id, applicant_kind, applicant_name,
                applicant_code_type, form, materials, status, process, step_index, promise_days,
                submitted_at, deadline, password_hash, created_at, updated_at)
            SELECT md5('bench' || n), '98' || lpad(n::text, 18, '0'), 'T' || lpad((n % 50)::text, 3, '0'),
                '事项' || (n % 50), 1, '000132001000', (CAST(:departments AS text[]))[1 + (n % 10)::int], '130000',
                :account, 'person', '演示用户', 'citizen_id', '{}'::jsonb, '[]'::jsonb,
                CASE WHEN (n / 10) % 10 = 0
                     THEN (CAST(:open AS text[]))[1 + ((n * 7919 / 100) % cardinality(CAST(:open AS text[])))::int]
                     ELSE :concluded END,
                CAST(:process AS jsonb), 0, 5, :now - n * interval '1 minute',
                CAST(:today AS date) + ((n * 7919) % 61 - 10)::int, repeat('0', 64),
                :now - n * interval '1 minute', :now - n * interval '1 minute'
            FROM generate_series(CAST(1 AS bigint), :cases) AS n
            """
        ),
        {"departments": departments, "account": account_id, "open": open_statuses,
         "concluded": machine.CONCLUDED, "process": process, "now": now, "today": today, "cases": cases},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="a database URL (default: a new SQLite file)")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-queue-"))
    url = args.database or f"sqlite:///{(folder / 'node.db').as_posix()}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, log_level="WARNING")

    from fastapi.testclient import TestClient
    from sqlalchemy import insert, text

    from zhengwu.cases import machine, service
    from zhengwu.cases.models import Case
    from zhengwu.identity import service as identity
    from zhengwu.kernel.db import new_id
    from zhengwu.main import create_app
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

    app = create_app(settings)
    with TestClient(app) as client:
        from zhengwu.kernel.node import node_of

        factory = node_of(app).session_factory
        with unit_of_work(factory) as session:
            departments = [
                orgs.add_department(session, DepartmentCreate(
                    credit_code=government_credit_code("130000", 300 + n), name=f"河北省测试厅{n}",
                    division_code="130000",
                )).id
                for n in range(10)
            ]  # fmt: skip
            person = identity.register_natural_person(
                session, name="演示用户", id_number=nth_citizen_id(1), phone=nth_phone(1), password=None
            )
            clerk = identity.register_staff(session, name="窗口人员", login_name="bench-clerk",
                                            password="Bench-Passw0rd-2026", department_id=departments[0],
                                            roles=["case_handler"])  # fmt: skip
            token = str(identity.start_session(session, clerk, amr=["pwd", "otp"]).token)
            account_id = person.id
        open_statuses = sorted(machine.OPEN - {machine.JOINT})
        today = date.today()
        now = datetime.now(UTC)
        rng = random.Random(12)
        postgres = url.startswith("postgresql")
        loading = time.perf_counter()
        if postgres:
            with unit_of_work(factory) as session:
                _generate(session, args.cases, departments, account_id, open_statuses, today, now)
        for start in range(0, 0 if postgres else args.cases, BATCH):
            rows = []
            for n in range(start, min(start + BATCH, args.cases)):
                status = rng.choice(open_statuses) if (n // 10) % 10 == 0 else machine.CONCLUDED
                rows.append(dict(
                    id=new_id(), case_no=f"98{n:018d}", task_code=f"T{n % 50:03d}", task_name=f"事项{n % 50}",
                    task_version=1, catalog_code="000132001000", department_id=departments[n % 10],
                    division_code="130000", applicant_account_id=account_id, applicant_kind="person",
                    applicant_name="演示用户", applicant_code_type="citizen_id", applicant_code_enc=None,
                    form={}, materials=[], status=status, process={"steps": [
                        {"code": "accept", "name": "受理", "role": "case_handler", "days": 1}]},
                    step_index=0, promise_days=5, submitted_at=now,
                    deadline=today + timedelta(days=rng.randint(-10, 50)), password_hash="0" * 64,
                    created_at=now, updated_at=now,
                ))  # fmt: skip
            with unit_of_work(factory) as session:
                session.execute(insert(Case), rows)
        if postgres:  # statistics and the visibility map after the bulk insert, as autovacuum would
            with node_of(app).engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("VACUUM ANALYZE cases_case")
                )
        print(f"{args.cases:,} cases loaded in {time.perf_counter() - loading:.1f} s")
        client.cookies.set("zw_session", token)
        assert client.get("/staff/cases").status_code == 200

        def page() -> None:
            answer = client.get("/staff/cases")
            assert answer.status_code == 200

        def query() -> None:
            with unit_of_work(factory) as session:
                service.queue(session, department_ids=[departments[0]], statuses=sorted(machine.OPEN), due=None,
                              offset=0, limit=20)  # fmt: skip

        def one_status() -> None:
            with unit_of_work(factory) as session:
                service.queue(session, department_ids=[departments[0]], statuses=[machine.SUBMITTED], due=None,
                              offset=0, limit=20)  # fmt: skip

        def overdue() -> None:
            with unit_of_work(factory) as session:
                service.queue(session, department_ids=[departments[0]], statuses=None, due="overdue",
                              offset=0, limit=20)  # fmt: skip

        def floor() -> None:
            with unit_of_work(factory) as session:
                session.execute(text("SELECT 1"))

        def empty() -> None:
            assert client.get("/cases/lookup").status_code == 200

        ours = latency("GET /staff/cases (queue page, open cases)", page, samples=args.samples)
        base = latency("cases.service.queue (same page)", query, samples=args.samples)
        tab = latency("cases.service.queue (status tab: submitted)", one_status, samples=args.samples)
        late = latency("cases.service.queue (overdue, by deadline)", overdue, samples=args.samples)
        trip = latency("SELECT 1 in a unit of its own (the floor)", floor, samples=args.samples)
        fixed = latency("GET /cases/lookup (a page without data)", empty, samples=args.samples)
    dialect = url.split(":", 1)[0]
    report([ours, base, tab, late, trip, fixed], baseline=base, title=f"{args.cases:,} cases on {dialect}")
    for measured in (ours, base):
        verdict = "met" if measured.percentile(95) <= TARGET_P95_MS else "not met"
        print(
            f"target p95 ≤ {TARGET_P95_MS:.0f} ms, {measured.name}: {verdict} (p95 {measured.percentile(95):.2f} ms)"
        )


if __name__ == "__main__":
    main()
