"""Case submissions per second next to a raw insert of the same rows (issue 12 target: >= 300/s with
3 small materials on SQLite).

A submission is ``cases.service.save(submit=True)`` committed in its own unit: the item and its guide
read, the form and three uploaded materials checked against the guide (files looked up in the store),
the applicant's ID number decrypted and re-encrypted, the case number from the counter row, the query
password sealed (HMAC-SM3), the projected deadline in working days, the history
entry and the audit change record. The baseline inserts the same case and history rows with plain
SQLAlchemy Core in one unit each, on the same database, in the same run.

    .venv/bin/python bench/cases.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

from harness import rate, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-cases-"))
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, log_level="WARNING")

    from sqlalchemy import insert

    from zhengwu.cases import service
    from zhengwu.cases.models import Case, CaseHistory
    from zhengwu.catalog import service as catalog
    from zhengwu.commands.node import open_node
    from zhengwu.identity import service as identity
    from zhengwu.kernel.db import new_id
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code
    from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

    node = open_node(settings)
    factory = node.session_factory
    code = government_credit_code("130000", 88)
    with unit_of_work(factory) as session:
        dept = orgs.add_department(
            session, DepartmentCreate(credit_code=code, name="河北省住房和城乡建设厅", division_code="130000")
        )
        catalog.create_directory(
            session,
            {"catalog_code": "000132001000", "task_name": "建筑施工特种作业人员操作资格认定", "task_type": "01",
             "use_level": "2^3^4", "by_law": "《建设工程安全生产管理条例》"},
            actor="bench",
        )  # fmt: skip
        catalog.publish_directory(session, "000132001000", actor="bench")
        item = catalog.create_task(session, _guide(dept.credit_code), actor="bench")
        item = catalog.publish_task(session, item.task_code, actor="bench")
        task_code = item.task_code
        ids = [str(m["row_guid"]) for m in catalog.get_public_item(session, task_code)["materials"]]
        person = identity.register_natural_person(
            session, name="演示用户", id_number=nth_citizen_id(1), phone=nth_phone(1), password=None
        )
        account_id, department_id = person.id, dept.id
    files = [node.files.put(f"材料{n}".encode() * 50) for n in range(3)]
    materials = [service.MaterialInput(mid, file_sm3=digest) for mid, digest in zip(ids, files, strict=True)]

    def submit() -> None:
        with unit_of_work(factory) as session:
            account = session.get(identity.Account, account_id)
            service.save(session, account, task_code=task_code, form={"note": "bench"}, materials=materials,
                         submit=True)  # fmt: skip

    serial = count(1)

    def raw() -> None:
        now = datetime.now(UTC)
        case_id = new_id()
        with unit_of_work(factory) as session:
            session.execute(insert(Case).values(
                id=case_id, case_no=f"99{next(serial):018d}", task_code=task_code, task_name="x", task_version=1,
                catalog_code="000132001000", department_id=department_id, division_code="130000",
                applicant_account_id=account_id, applicant_kind="person", applicant_name="演示用户",
                applicant_code_type="citizen_id", applicant_code_enc=b"x" * 48, form={"note": "bench"},
                materials=[{"material_id": m.material_id, "file_sm3": m.file_sm3, "kind": "upload"} for m in materials],
                status="submitted", process={"steps": []}, step_index=0, promise_days=5, submitted_at=now,
                password_hash="0" * 64, created_at=now, updated_at=now,
            ))  # fmt: skip
            session.execute(insert(CaseHistory).values(
                id=new_id(), case_id=case_id, seq=1, action="submit", from_status="draft", to_status="submitted",
                actor="bench", at=now,
            ))  # fmt: skip

    cpu = time.process_time()
    ours = rate("cases.service.save (submit, 3 materials)", submit, seconds=args.seconds, unit="cases")
    ours_cpu, cpu = time.process_time() - cpu, time.process_time()
    base = rate("raw insert of case + history rows", raw, seconds=args.seconds, unit="cases")
    base_cpu = time.process_time() - cpu
    report([ours, base], baseline=base)
    # On a shared machine the wall-clock rates follow the load; the CPU this process spent per case does
    # much less: 1000 / (ms per case) is what one free core would do.
    for result, spent in ((ours, ours_cpu), (base, base_cpu)):
        per = spent / (result.ops + 1) * 1000  # the warm-up call is not counted in ops
        print(f"{result.name}: {per:.2f} ms CPU per case (one free core: about {1000 / per:,.0f}/s)")
    node.close()


def _guide(dept_code: str) -> dict[str, object]:
    return {
        "dept_code": dept_code, "catalog_code": "000132001000", "dept_type": "1", "power_source": "1",
        "accept_condition": "年满18周岁", "anticipate_day": 20, "anticipate_type": "1", "promise_day": 5,
        "promise_type": "1", "handle_flow": "申请、受理、审查、决定", "handle_type": "1^2",
        "transact_addr": "政务服务中心", "transact_time": "工作日", "is_fee": "0", "server_type": "1",
        "project_type": "2", "limit_scene_num": 0, "link_way": "12345", "supervise_way": "12345",
        "special_procedure": "无", "is_single_login": "1", "app_is_single_login": "1", "is_entry_center": "1",
        "is_express": "1", "is_online": "1", "is_pay_online": "0", "result_type": "10",
        "online_handle_depth": "1^2^3^4", "user_topic_type": "职业资格",
        "materials": [{"material_name": n, "source_type": "10"} for n in ("申请表", "身份证明", "培训证明")],
    }  # fmt: skip


if __name__ == "__main__":
    main()
