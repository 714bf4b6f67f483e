"""The set-up of the 工作台 browser journey, run against a node's database with its env.

``clerk DEPT_CODE LOGIN SECRET [ROLES]`` makes a case handler (who may also issue licenses; or the roles
named, comma-separated) of the department,
with the password ``PASSWORD`` and a TOTP authenticator on ``SECRET``; ``submit TASK_CODE ID_NUMBER``
submits an application for the person through the cases service, attaching the licenses they hold
and uploading the other materials; ``process TASK_CODE JSON`` gives the item a process. Each prints one
JSON line.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from zhengwu.commands.node import node_unit
from zhengwu.commands.seals import settings

PASSWORD = "Clerk-Passw0rd-2026!"


def clerk(
    dept_code: str, login: str, secret: str, roles: str = "case_handler,license_issuer"
) -> dict[str, object]:
    from zhengwu.identity import service as identity
    from zhengwu.identity.context import of
    from zhengwu.identity.protection import encrypt_field
    from zhengwu.kernel.clock import utcnow
    from zhengwu.orgs import service as orgs

    with node_unit(settings()) as (_node, session):
        department = orgs.get_by_credit_code(session, dept_code)
        account = identity.register_staff(session, name=f"窗口人员{login[-1]}", login_name=login, password=PASSWORD,
                                          department_id=department.id, roles=roles.split(","))  # fmt: skip
        account.totp_secret_enc = encrypt_field(of(session).keys, secret, purpose=identity.PURPOSE_TOTP)
        account.totp_enabled_at = utcnow()
        account.recovery_code_hashes = []
        return {"login": login, "department": department.name}


def submit(task_code: str, id_number: str) -> dict[str, object]:
    from zhengwu.cases import service as cases
    from zhengwu.identity import service as identity

    with node_unit(settings()) as (node, session):
        account = identity.find_account_by_citizen_id(session, id_number)
        assert account is not None
        form = cases.application_form(session, account, task_code)
        materials = []
        for m in form["materials"]:
            if m["held_licenses"]:
                materials.append(
                    cases.MaterialInput(m["material_id"], license_id=m["held_licenses"][0]["id"])
                )
            else:
                digest = node.files.put(b"%PDF-1.7 the signed application form")
                materials.append(
                    cases.MaterialInput(m["material_id"], file_sm3=digest, file_name="申请表.pdf")
                )
        done = cases.save(session, account, task_code=task_code, form={"phone": "13812345678"},
                          materials=materials, submit=True, bus=node.bus)  # fmt: skip
        return {"case_no": done.case.case_no}


def process(task_code: str, body: str) -> dict[str, object]:
    """Give the item the process ``body`` (JSON: its steps, 联办 and parallel ones included)."""
    from zhengwu.cases import service as cases

    with node_unit(settings()) as (_node, session):
        cases.set_process(session, task_code, json.loads(body), actor="test")
        return {"task_code": task_code}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    commands: dict[str, Any] = {"clerk": clerk, "submit": submit, "process": process}
    answer = commands[command](*args)
    sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")
